//! Every compiled kernel is launched by some code path of the engine: with kernel-name recording
//! on, every registered op case runs on the CUDA device (its value, gradient and gradient of
//! gradient, in f64 and f32), plus the paths that only some shapes or settings take (TF32, the
//! large-tile f32 gemm, split-K weight gradients, two-stage sums, casts, integer fills and
//! copies, the comparison masks); the names launched must be every kernel that `maxl-kernels`
//! compiles. On a machine without a GPU this runs on the kernel
//! emulator; skipped with a message only when there is neither a GPU nor a C++ compiler (an
//! error under CI=true).

use maxl_engine::backend::cuda;
use maxl_engine::ops::cases::{all_cases, OpCase};
use maxl_engine::stats::{launched_kernel_names, record_kernel_names};
use maxl_engine::{grad_with, DType, Device, Rng, Tensor};
use std::collections::BTreeSet;

fn device() -> Option<Device> {
    match cuda::gpu_or_emulator() {
        Ok(d) => Some(d),
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "CI=true but neither a GPU nor the kernel emulator: {e}"
            );
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

/// A case's value, gradient and gradient of gradient on `dev` in `dtype`.
fn derivatives(case: &OpCase, dtype: DType, dev: Device) -> maxl_engine::Result<()> {
    let xs = case
        .make_inputs(3)
        .into_iter()
        .map(|t| {
            let t = if t.dtype().is_float() {
                t.to_dtype(dtype)?
            } else {
                t
            };
            let t = t.to_device(dev)?;
            if t.dtype().is_float() {
                t.set_requires_grad(true)
            } else {
                Ok(t)
            }
        })
        .collect::<maxl_engine::Result<Vec<_>>>()?;
    let y = (case.f)(&xs)?;
    let diff: Vec<Tensor> = xs.iter().filter(|t| t.requires_grad()).cloned().collect();
    if !y.requires_grad() || diff.is_empty() {
        return Ok(());
    }
    let mut rng = Rng::new(7);
    let v = Tensor::randn(y.shape(), dtype, &mut rng).to_device(dev)?;
    let g = grad_with(&[y.mul(&v)?.sum_all()?], &diff, None, true, true)?;
    let mut l2: Option<Tensor> = None;
    for gi in g.iter().filter(|t| t.requires_grad()) {
        let u = Tensor::randn(gi.shape(), dtype, &mut rng).to_device(dev)?;
        let term = gi.mul(&u)?.sum_all()?;
        l2 = Some(match l2 {
            Some(a) => a.add(&term)?,
            None => term,
        });
    }
    if let Some(l2) = l2 {
        grad_with(&[l2], &diff, None, false, true)?;
    }
    Ok(())
}

/// The paths that only some shapes or settings take.
fn special_paths(dev: Device) -> maxl_engine::Result<()> {
    let mut rng = Rng::new(1);
    let on = |t: Tensor| t.to_device(dev);
    for dt in [DType::F32, DType::F64] {
        // Split-K weight gradient: many output pixels for few weights.
        let x = on(Tensor::randn(&[4, 2, 20, 20], dt, &mut rng))?;
        let w = on(Tensor::randn(&[3, 2, 3, 3], dt, &mut rng))?.set_requires_grad(true)?;
        let y = x.conv2d(&w, None, [1, 1], [1, 1], [1, 1])?;
        grad_with(&[y.sum_all()?], &[w], None, false, false)?;
        // Split-K forward and input gradient: a 4x4 output of a long reduction (VGG's last
        // layers).
        let x = on(Tensor::randn(&[1, 64, 4, 4], dt, &mut rng))?.set_requires_grad(true)?;
        let w = on(Tensor::randn(&[64, 64, 3, 3], dt, &mut rng))?;
        let y = x.conv2d(&w, None, [1, 1], [1, 1], [1, 1])?;
        grad_with(&[y.sum_all()?], &[x], None, false, false)?;
        // A long sum in two stages.
        on(Tensor::randn(&[40_000], dt, &mut rng))?
            .sum_all()?
            .item()?;
        // The comparison masks and casts.
        let a = on(Tensor::randn(&[5], dt, &mut rng))?;
        let b = on(Tensor::randn(&[5], dt, &mut rng))?;
        for m in [
            a.lt_mask(&b)?,
            a.le_mask(&b)?,
            a.gt_mask(&b)?,
            a.ge_mask(&b)?,
        ] {
            m.eq_mask(&a)?.to_vec::<f64>().ok();
        }
        let other = if dt == DType::F32 {
            DType::F64
        } else {
            DType::F32
        };
        a.to_dtype(other)?;
        let i = on(Tensor::from_vec(vec![1i64, -2, 3], &[3])?)?;
        i.to_dtype(dt)?;
    }
    // Integer fills and strided integer copies.
    Tensor::full_on(&[4], 2.0, DType::I64, dev)?;
    let idx = on(Tensor::from_vec((0..6).collect::<Vec<i64>>(), &[2, 3])?)?;
    idx.t()?.contiguous()?;
    // The large-tile f32 gemm, then TF32 products and convolutions.
    let a = on(Tensor::randn(&[130, 40], DType::F32, &mut rng))?;
    let b = on(Tensor::randn(&[40, 140], DType::F32, &mut rng))?;
    a.matmul(&b)?;
    cuda::set_allow_tf32(true);
    let tf32 = (|| {
        let a = on(Tensor::randn(&[96, 64], DType::F32, &mut rng))?;
        let b = on(Tensor::randn(&[64, 80], DType::F32, &mut rng))?;
        a.matmul(&b)?;
        let x =
            on(Tensor::randn(&[2, 8, 12, 12], DType::F32, &mut rng))?.set_requires_grad(true)?;
        let w = on(Tensor::randn(&[70, 8, 3, 3], DType::F32, &mut rng))?.set_requires_grad(true)?;
        let y = x.conv2d(&w, None, [1, 1], [1, 1], [1, 1])?;
        grad_with(&[y.sum_all()?], &[x, w], None, false, false)?;
        // Input gradients in one pass (a short reduction) and split (a long one).
        for (shape, k) in [([4, 8, 32, 32], 16), ([1, 64, 4, 4], 64)] {
            let x = on(Tensor::randn(&shape, DType::F32, &mut rng))?.set_requires_grad(true)?;
            let w = on(Tensor::randn(&[k, shape[1], 3, 3], DType::F32, &mut rng))?;
            let y = x.conv2d(&w, None, [1, 1], [1, 1], [1, 1])?;
            grad_with(&[y.sum_all()?], &[x], None, false, false)?;
        }
        Ok(())
    })();
    cuda::set_allow_tf32(false);
    tf32
}

#[test]
fn every_compiled_kernel_is_launched_by_some_code_path() {
    let Some(dev) = device() else { return };
    let compiled: BTreeSet<String> = maxl_kernels::all_kernels().map(str::to_string).collect();
    record_kernel_names(true);
    let mut failures = Vec::new();
    for case in all_cases() {
        for dt in [DType::F64, DType::F32] {
            if let Err(e) = derivatives(&case, dt, dev) {
                failures.push(format!("{} ({}) in {dt}: {e}", case.op, case.what));
            }
        }
    }
    if let Err(e) = special_paths(dev) {
        failures.push(format!("special paths: {e}"));
    }
    record_kernel_names(false);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let launched = launched_kernel_names();
    let unknown: Vec<&String> = launched.difference(&compiled).collect();
    assert!(unknown.is_empty(), "launched but not compiled: {unknown:?}");
    let orphans: Vec<&String> = compiled.difference(&launched).collect();
    assert!(
        orphans.is_empty(),
        "compiled kernels that no code path launches (wire them or delete them): {orphans:?}"
    );
    eprintln!(
        "{} of {} compiled kernels launched",
        launched.len(),
        compiled.len()
    );
}
