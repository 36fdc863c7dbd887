//! CUDA backend against the CPU backend: every registered op case, its value and its first and
//! second derivatives (f64), its value in f32, gradcheck in f64 on the device, transfers, the
//! caching allocator and mixed-device errors. On a machine with a GPU this runs on `cuda:0`;
//! without one it runs on the kernel emulator (the same `.cu` kernels compiled for the CPU), so
//! the backend's dispatch, launch shapes and argument lists are exercised everywhere. Skipped
//! with a message only when there is neither a GPU nor a C++ compiler (an error under CI=true).

use maxl_engine::backend::cuda;
use maxl_engine::gradcheck::{gradcheck_order, GradcheckOptions, Mode};
use maxl_engine::ops::cases::{all_cases, OpCase};
use maxl_engine::{grad_with, DType, Device, Rng, Tensor};
use std::sync::OnceLock;

/// Tests of this file take turns (the memory test reads the device's allocator figures).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The device under test: a real GPU when there is one, else the emulator.
fn device() -> Option<Device> {
    static DEV: OnceLock<Option<Device>> = OnceLock::new();
    *DEV.get_or_init(|| match cuda::gpu_or_emulator() {
        Ok(d) => {
            let name = cuda::device(0).map(|x| x.describe()).unwrap_or_default();
            eprintln!("cuda parity: on {d}, {name}");
            Some(d)
        }
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "CI=true but neither a GPU nor the kernel emulator: {e}"
            );
            // benches/gpu_check.sh sets MAXL_REQUIRE_GPU=1: there, no GPU is a failure.
            let required = std::env::var("MAXL_REQUIRE_GPU").is_ok_and(|v| v == "1" || v == "true");
            assert!(!required, "{e}");
            eprintln!("SKIPPED: no GPU and no C++ compiler for the kernel emulator: {e}");
            None
        }
    })
}

fn close(what: &str, got: &[f64], want: &[f64], rtol: f64, atol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: {} values vs {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= atol + rtol * w.abs() || (g.is_nan() && w.is_nan());
        if !ok {
            return Err(format!("{what}: element {i}: device {g} vs cpu {w}"));
        }
    }
    Ok(())
}

fn leaves(xs: &[Tensor], dev: Device) -> Vec<Tensor> {
    xs.iter()
        .map(|t| {
            let t = t.to_device(dev).expect("to_device");
            if t.dtype().is_float() {
                t.set_requires_grad(true).expect("requires_grad")
            } else {
                t
            }
        })
        .collect()
}

/// Value, gradient and gradient-of-gradient of a case on `dev`, as host vectors.
fn derivatives(case: &OpCase, xs: &[Tensor], dev: Device, seed: u64) -> Vec<Vec<f64>> {
    let xs = leaves(xs, dev);
    let y = (case.f)(&xs).unwrap_or_else(|e| panic!("{} on {dev}: {e}", case.op));
    assert_eq!(y.device(), dev, "{}: result on the wrong device", case.op);
    let mut out = vec![y.to_vec_f64().expect("read y")];
    let diff: Vec<Tensor> = xs.iter().filter(|t| t.requires_grad()).cloned().collect();
    if !y.requires_grad() || diff.is_empty() {
        return out;
    }
    let mut rng = Rng::new(seed ^ 0xc0da);
    let v = Tensor::randn(y.shape(), y.dtype(), &mut rng)
        .to_device(dev)
        .expect("v");
    let l = y.mul(&v).and_then(|t| t.sum_all()).expect("loss");
    let g = grad_with(&[l], &diff, None, true, true).expect("grad");
    let mut l2: Option<Tensor> = None;
    for gi in &g {
        out.push(gi.to_vec_f64().expect("read g"));
        if gi.requires_grad() {
            let u = Tensor::randn(gi.shape(), gi.dtype(), &mut rng)
                .to_device(dev)
                .expect("u");
            let term = gi.mul(&u).and_then(|t| t.sum_all()).expect("term");
            l2 = Some(match l2 {
                Some(a) => a.add(&term).expect("sum"),
                None => term,
            });
        }
    }
    if let Some(l2) = l2 {
        for gg in grad_with(&[l2], &diff, None, false, true).expect("grad of grad") {
            out.push(gg.to_vec_f64().expect("read gg"));
        }
    }
    out
}

trait ToVecF64 {
    fn to_vec_f64(&self) -> maxl_engine::Result<Vec<f64>>;
}
impl ToVecF64 for Tensor {
    fn to_vec_f64(&self) -> maxl_engine::Result<Vec<f64>> {
        Ok(self.to_device(Device::Cpu)?.to_f64_vec())
    }
}

#[test]
fn every_op_and_its_first_and_second_derivatives_match_the_cpu_in_f64() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let mut failures = Vec::new();
    let cases = all_cases();
    for case in &cases {
        let xs = case.make_inputs(5);
        let cpu = derivatives(case, &xs, Device::Cpu, 5);
        let gpu = derivatives(case, &xs, dev, 5);
        if cpu.len() != gpu.len() {
            failures.push(format!(
                "{} ({}): {} results vs {}",
                case.op,
                case.what,
                gpu.len(),
                cpu.len()
            ));
            continue;
        }
        for (k, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
            let what = format!("{} ({}) result {k}", case.op, case.what);
            if let Err(e) = close(&what, g, c, 1e-9, 1e-11) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} cases: values, gradients and second derivatives agree",
        cases.len()
    );
}

#[test]
fn every_op_matches_the_cpu_in_f32() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let mut failures = Vec::new();
    for case in all_cases() {
        let xs: Vec<Tensor> = case
            .make_inputs(9)
            .into_iter()
            .map(|t| {
                if t.dtype() == DType::F64 {
                    Tensor::from_f64s(&t.to_f64_vec(), t.shape(), DType::F32)
                } else {
                    t
                }
            })
            .collect();
        let want = (case.f)(&xs).map(|y| y.to_f64_vec());
        let on_dev: Vec<Tensor> = xs.iter().map(|t| t.to_device(dev).unwrap()).collect();
        let got = (case.f)(&on_dev).and_then(|y| y.to_vec_f64());
        match (got, want) {
            (Ok(g), Ok(w)) => {
                if let Err(e) = close(case.op, &g, &w, 2e-5, 2e-5) {
                    failures.push(format!("{} ({}): {e}", case.op, case.what));
                }
            }
            (g, w) => failures.push(format!(
                "{} ({}): {:?} vs {:?}",
                case.op,
                case.what,
                g.err(),
                w.err()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn gradcheck_in_f64_on_the_device() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let opts = GradcheckOptions {
        mode: Mode::Fast,
        seed: 2,
        ..GradcheckOptions::default()
    };
    // Order 2 for every case; order 3 for the ops whose third derivatives the meta step's
    // checks rely on.
    let third = [
        "exp",
        "log",
        "mul",
        "matmul",
        "softmax",
        "tanh",
        "log_softmax",
    ];
    let mut failures = Vec::new();
    for case in all_cases() {
        let orders: &[usize] = if third.contains(&case.op) {
            &[2, 3]
        } else {
            &[2]
        };
        let xs: Vec<Tensor> = case
            .make_inputs(2)
            .iter()
            .map(|t| t.to_device(dev).unwrap())
            .collect();
        let f = |ys: &[Tensor]| (case.f)(ys).map(|y| vec![y]);
        for &order in orders {
            match gradcheck_order(&f, &xs, order, &opts) {
                Ok(r) if r.passed && r.compared > 0 => {}
                other => failures.push(format!(
                    "{} ({}) order {order}: {other:?}",
                    case.op, case.what
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn transfers_round_trip_and_views_download_in_order() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let x = Tensor::from_vec((0..24).map(|v| v as f32).collect::<Vec<_>>(), &[2, 3, 4]).unwrap();
    let d = x.to_device(dev).unwrap();
    assert_eq!(d.device(), dev);
    assert_eq!(d.to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
    // A permuted, narrowed view reads in its own logical order.
    let v = d.permute(&[2, 0, 1]).unwrap().narrow(0, 1, 2).unwrap();
    let w = x.permute(&[2, 0, 1]).unwrap().narrow(0, 1, 2).unwrap();
    assert_eq!(v.to_vec::<f32>().unwrap(), w.to_vec::<f32>().unwrap());
    assert_eq!(
        v.contiguous().unwrap().to_vec::<f32>().unwrap(),
        w.to_vec::<f32>().unwrap()
    );
    let i = Tensor::from_vec(vec![3i64, -1, 7], &[3])
        .unwrap()
        .to_device(dev)
        .unwrap();
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![3, -1, 7]);
    assert_eq!(d.sum_all().unwrap().item().unwrap(), 276.0);
    let z = Tensor::full_on(&[5], 2.5, DType::F64, dev).unwrap();
    assert_eq!(z.to_vec::<f64>().unwrap(), vec![2.5; 5]);
    assert_eq!(z.zeros_like().unwrap().device(), dev);
}

#[test]
fn large_f32_matmuls_take_every_tile_path_and_match_the_cpu() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let mut rng = Rng::new(8);
    // 128 x 128 tiles (both sizes >= 128), with transposed operands, a broadcast batch and
    // edge tiles; and a product below the large-tile sizes.
    for (m, k, n, ta, tb) in [
        (200, 37, 140, false, false),
        (130, 64, 129, true, true),
        (90, 20, 300, false, true),
    ] {
        let a = Tensor::randn(
            &[2, if ta { k } else { m }, if ta { m } else { k }],
            DType::F32,
            &mut rng,
        );
        let b = Tensor::randn(
            &[if tb { n } else { k }, if tb { k } else { n }],
            DType::F32,
            &mut rng,
        );
        let f = |a: &Tensor, b: &Tensor| {
            let a = if ta {
                a.transpose(1, 2).unwrap()
            } else {
                a.clone()
            };
            let b = if tb { b.t().unwrap() } else { b.clone() };
            a.matmul(&b).unwrap()
        };
        let want = f(&a, &b).to_f64_vec();
        let got = f(&a.to_device(dev).unwrap(), &b.to_device(dev).unwrap());
        assert_eq!(got.shape(), &[2, m, n]);
        close(
            &format!("matmul {m}x{k}x{n}"),
            &got.to_vec_f64().unwrap(),
            &want,
            1e-4,
            1e-4,
        )
        .unwrap();
    }
}

#[test]
fn tf32_matmul_and_convolutions_match_the_cpu_within_tf32_rounding() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let mut rng = Rng::new(12);
    let x = Tensor::randn(&[2, 8, 12, 12], DType::F32, &mut rng);
    let w = Tensor::randn(&[70, 8, 3, 3], DType::F32, &mut rng);
    let a = Tensor::randn(&[96, 64], DType::F32, &mut rng);
    let b = Tensor::randn(&[64, 80], DType::F32, &mut rng);
    let f = |x: &Tensor, w: &Tensor, a: &Tensor, b: &Tensor| -> Vec<Vec<f64>> {
        let x = x.set_requires_grad(true).unwrap();
        let w = w.set_requires_grad(true).unwrap();
        let y = x.conv2d(&w, None, [1, 1], [1, 1], [1, 1]).unwrap();
        let l = y.mul(&y).unwrap().sum_all().unwrap();
        // The input gradient runs conv dgrad, the weight gradient conv wgrad.
        let g = maxl_engine::grad(&[l], &[x, w], None, false).unwrap();
        [y, g[0].clone(), g[1].clone(), a.matmul(b).unwrap()]
            .iter()
            .map(|t| t.to_vec_f64().unwrap())
            .collect()
    };
    let want = f(&x, &w, &a, &b);
    cuda::set_allow_tf32(true);
    let on = |t: &Tensor| t.to_device(dev).unwrap();
    let got = f(&on(&x), &on(&w), &on(&a), &on(&b));
    cuda::set_allow_tf32(false);
    let fp32 = f(&on(&x), &on(&w), &on(&a), &on(&b));
    for k in 0..4 {
        assert_ne!(got[k], fp32[k], "result {k}: the TF32 kernels did not run");
    }
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        // TF32 keeps 10 mantissa bits: errors of a few 1e-3 of the largest value.
        close(&format!("tf32 result {k}"), g, w, 0.0, 1e-2 * scale).unwrap();
    }
}

/// Convolutions whose output is too small to fill a large GPU (VGG's 4x4 and 2x2 layers) split
/// their reduction over grid layers (split-K) in the forward pass and the input gradient: the
/// result matches the CPU in f64 and f32 (with a bias, added once), and the split kernels ran.
#[test]
fn split_k_convolutions_match_the_cpu() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let mut rng = Rng::new(21);
    for dt in [DType::F64, DType::F32] {
        for (n, c, k, hw) in [(1, 64, 64, 4), (2, 96, 80, 2)] {
            let x = Tensor::randn(&[n, c, hw, hw], dt, &mut rng);
            let w = Tensor::randn(&[k, c, 3, 3], dt, &mut rng);
            let b = Tensor::randn(&[k], dt, &mut rng);
            let f = |x: &Tensor, w: &Tensor, b: &Tensor| -> Vec<Vec<f64>> {
                let x = x.set_requires_grad(true).unwrap();
                let y = x.conv2d(w, Some(b), [1, 1], [1, 1], [1, 1]).unwrap();
                let l = y.mul(&y).unwrap().sum_all().unwrap();
                let g = maxl_engine::grad(&[l], &[x], None, false).unwrap();
                [y, g[0].clone()]
                    .iter()
                    .map(|t| t.to_vec_f64().unwrap())
                    .collect()
            };
            let want = f(&x, &w, &b);
            let on = |t: &Tensor| t.to_device(dev).unwrap();
            maxl_engine::stats::record_kernel_names(true);
            let got = f(&on(&x), &on(&w), &on(&b));
            maxl_engine::stats::record_kernel_names(false);
            let ran = maxl_engine::stats::launched_kernel_names();
            let sfx = if dt == DType::F32 { "f32" } else { "f64" };
            for kernel in ["conv2d_fwd_splitk", "conv2d_dgrad_splitk", "splitk_reduce"] {
                assert!(
                    ran.contains(&format!("{kernel}_{sfx}")),
                    "{kernel} did not run"
                );
            }
            let tol = if dt == DType::F32 { 1e-4 } else { 1e-10 };
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let scale = w.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                close(
                    &format!("{dt:?} {n}x{c}x{hw}x{hw} result {i}"),
                    g,
                    w,
                    0.0,
                    tol * scale,
                )
                .unwrap();
            }
        }
    }
}

/// Max pooling's input gradient on the device gathers per input element over the windows that
/// cover it (max_pool2d_bwd), overlapping windows included, and matches the CPU's scatter; its
/// own gradient (a gather at the indices) too.
#[test]
fn max_pool_backward_gathers_and_matches_the_cpu() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let mut rng = Rng::new(22);
    for (kernel, stride, padding) in [([2, 2], [2, 2], [0, 0]), ([3, 3], [2, 2], [1, 1])] {
        let x = Tensor::randn(&[2, 3, 7, 6], DType::F64, &mut rng);
        let v = Tensor::randn(&[2, 3, 7, 6], DType::F64, &mut rng);
        let f = |x: &Tensor, v: &Tensor| -> Vec<Vec<f64>> {
            let x = x.set_requires_grad(true).unwrap();
            let y = x.max_pool2d(kernel, stride, padding).unwrap();
            let l = y.mul(&y).unwrap().sum_all().unwrap();
            let g = maxl_engine::grad(&[l], std::slice::from_ref(&x), None, true).unwrap();
            let l2 = g[0].mul(v).unwrap().sum_all().unwrap();
            let gg = maxl_engine::grad(&[l2], &[x], None, false).unwrap();
            [g[0].clone(), gg[0].clone()]
                .iter()
                .map(|t| t.to_vec_f64().unwrap())
                .collect()
        };
        let want = f(&x, &v);
        let on = |t: &Tensor| t.to_device(dev).unwrap();
        maxl_engine::stats::record_kernel_names(true);
        let got = f(&on(&x), &on(&v));
        maxl_engine::stats::record_kernel_names(false);
        let ran = maxl_engine::stats::launched_kernel_names();
        assert!(ran.contains("max_pool2d_bwd_f64"), "{ran:?}");
        assert!(!ran.contains("plane_scatter_add_f64"), "{ran:?}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            close(
                &format!("max pool {kernel:?} result {i}"),
                g,
                w,
                1e-12,
                1e-12,
            )
            .unwrap();
        }
    }
}

#[test]
fn bad_indices_are_errors_before_any_device_access() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let x = Tensor::ones(&[3, 4], DType::F32).to_device(dev).unwrap();
    for bad in [vec![0i64, 4], vec![-1, 0]] {
        let idx = Tensor::from_vec(bad.clone(), &[2])
            .unwrap()
            .to_device(dev)
            .unwrap();
        let e = x.index_select(1, &idx).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{bad:?}: {e}");
        let g = idx.reshape(&[1, 2]).unwrap();
        assert!(x
            .gather(1, &g)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        let src = Tensor::ones(&[3, 2], DType::F32).to_device(dev).unwrap();
        let g3 = Tensor::from_vec([bad.clone(), bad.clone(), bad].concat(), &[3, 2])
            .unwrap()
            .to_device(dev)
            .unwrap();
        let e = x.scatter_add(1, &g3, &src).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
    }
    // Indices made on the device (max pooling's) read back like uploaded ones.
    let img = Tensor::randn(&[1, 2, 4, 4], DType::F32, &mut Rng::new(3));
    let (_, want) = img.max_pool2d_with_indices([2, 2], [2, 2], [0, 0]).unwrap();
    let (_, got) = img
        .to_device(dev)
        .unwrap()
        .max_pool2d_with_indices([2, 2], [2, 2], [0, 0])
        .unwrap();
    assert_eq!(got.device(), dev);
    assert_eq!(got.to_vec::<i64>().unwrap(), want.to_vec::<i64>().unwrap());
}

#[test]
fn mixing_devices_is_an_error_naming_both() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let a = Tensor::ones(&[2], DType::F32);
    let b = a.to_device(dev).unwrap();
    let e = a.add(&b).unwrap_err().to_string();
    assert!(e.contains("cpu") && e.contains("cuda:0"), "{e}");
    let e = b
        .matmul(&a.reshape(&[2, 1]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("device mismatch"), "{e}");
}

/// Batch norm's statistics, gradient sums and coefficients stay on the device: a training-mode
/// forward pass with running statistics and first and second derivatives never copy to the
/// host (the engine counts device-to-host copies).
#[test]
fn batch_norm_on_the_device_never_waits_for_the_host() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let mut rng = Rng::new(4);
    let on = |t: Tensor| t.to_device(dev).unwrap();
    let x = on(Tensor::randn(&[3, 2, 2, 2], DType::F64, &mut rng))
        .set_requires_grad(true)
        .unwrap();
    let w = on(Tensor::randn(&[2], DType::F64, &mut rng))
        .set_requires_grad(true)
        .unwrap();
    let b = on(Tensor::randn(&[2], DType::F64, &mut rng));
    let (rm, rv) = (
        on(Tensor::zeros(&[2], DType::F64)),
        on(Tensor::ones(&[2], DType::F64)),
    );
    let g = on(Tensor::randn(&[3, 2, 2, 2], DType::F64, &mut rng));
    let before = maxl_engine::stats();
    let (y, running) = x
        .batch_norm(Some(&rm), Some(&rv), Some(&w), Some(&b), true, 0.1, 1e-5)
        .unwrap();
    let l = y.mul(&g).unwrap().sum_all().unwrap();
    let gs = maxl_engine::grad(&[l], &[x.clone(), w.clone()], None, true).unwrap();
    let l2 = gs[0].mul(&gs[0]).unwrap().sum_all().unwrap();
    let gg = maxl_engine::grad(&[l2], &[x, w], None, false).unwrap();
    let work = maxl_engine::stats() - before;
    assert!(work.kernel_launches > 0);
    assert_eq!(work.host_syncs, 0, "{work:?}");
    // The results are there (reading them is a synchronisation, after the count).
    assert!(running.is_some());
    assert!(gg[0].to_vec_f64().unwrap().iter().all(|v| v.is_finite()));
}

#[test]
fn freed_buffers_are_reused_and_nothing_leaks() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let Device::Cuda(n) = dev else { unreachable!() };
    let d = cuda::device(n).unwrap();
    let x = Tensor::randn(&[64, 64], DType::F32, &mut Rng::new(1))
        .to_device(dev)
        .unwrap()
        .set_requires_grad(true)
        .unwrap();
    let step = || {
        let y = x.matmul(&x).unwrap().tanh().unwrap().sum_all().unwrap();
        let g = maxl_engine::grad(&[y], std::slice::from_ref(&x), None, true).unwrap();
        g[0].sum_all().unwrap().item().unwrap()
    };
    let first = step();
    let after_first = d.memory_stats();
    for _ in 0..5 {
        assert_eq!(step(), first, "same inputs, same bits");
    }
    let after = d.memory_stats();
    assert_eq!(
        after.in_use, after_first.in_use,
        "blocks in use return to the same level"
    );
    assert_eq!(
        after.peak, after_first.peak,
        "later steps reuse cached blocks"
    );
}

/// `empty_cache` waits for the queued work before it hands cached blocks back to the driver
/// (one synchronisation, counted), frees them all, and costs nothing when the cache is empty.
#[test]
fn empty_cache_synchronises_before_freeing() {
    let _turn = serial();
    let Some(dev) = device() else { return };
    let Device::Cuda(n) = dev else { unreachable!() };
    let d = cuda::device(n).unwrap();
    let x = Tensor::randn(&[256, 256], DType::F32, &mut Rng::new(2))
        .to_device(dev)
        .unwrap();
    // Queued work whose inputs and temporaries go back to the cache when dropped.
    let y = x.matmul(&x).unwrap().tanh().unwrap();
    drop(x);
    assert!(d.memory_stats().cached > 0, "{:?}", d.memory_stats());
    let before = maxl_engine::stats();
    d.empty_cache();
    assert_eq!((maxl_engine::stats() - before).host_syncs, 1);
    assert_eq!(d.memory_stats().cached, 0);
    let before = maxl_engine::stats();
    d.empty_cache();
    assert_eq!(
        (maxl_engine::stats() - before).host_syncs,
        0,
        "nothing cached: no wait"
    );
    // The queued result is intact.
    assert!(y.to_vec::<f32>().unwrap().iter().all(|v| v.abs() <= 1.0));
}
