//! NaN propagates as in PyTorch (and IEEE 754-2019 `maximum`/`minimum`) through relu, clamp,
//! maximum, minimum, max reductions and max pooling, on the CPU and on the CUDA backend (the
//! kernel emulator without a GPU): a diverged network must not turn NaN into finite values
//! (issue 14: ReLU used to map NaN to 0, so a NaN trunk gave finite losses). Gradients at a NaN
//! input follow PyTorch: relu's is 0 there (its mask `x > 0` is false).

use maxl_engine::backend::cuda;
use maxl_engine::{DType, Device, Tensor};

const NAN: f64 = f64::NAN;

fn devices() -> Vec<Device> {
    let mut d = vec![Device::Cpu];
    match cuda::gpu_or_emulator() {
        Ok(dev) => d.push(dev),
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "CI=true but neither a GPU nor the kernel emulator: {e}"
            );
            eprintln!("CUDA part SKIPPED: {e}");
        }
    }
    d
}

fn on(vals: &[f64], shape: &[usize], dt: DType, dev: Device) -> Tensor {
    Tensor::from_vec(vals.to_vec(), shape)
        .unwrap()
        .to_dtype(dt)
        .unwrap()
        .to_device(dev)
        .unwrap()
}

/// Equal as PyTorch prints them: NaN where NaN is expected, else the same value.
fn same(what: &str, got: &Tensor, want: &[f64]) {
    let got = got.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g.is_nan() && w.is_nan()) || g == w,
            "{what}: element {i} is {g}, want {w} (all: {got:?})"
        );
    }
}

#[test]
fn elementwise_ops_propagate_nan() {
    for dev in devices() {
        for dt in [DType::F32, DType::F64] {
            let tag = |op: &str| format!("{op} on {dev:?} in {dt:?}");
            let x = on(&[NAN, -1.0, 0.0, 2.0], &[4], dt, dev);
            same(&tag("relu"), &x.relu().unwrap(), &[NAN, 0.0, 0.0, 2.0]);
            same(
                &tag("clamp"),
                &x.clamp(-0.5, 1.0).unwrap(),
                &[NAN, -0.5, 0.0, 1.0],
            );
            // NaN on the left, on the right, on both sides, and none.
            let a = on(&[NAN, 1.0, NAN, 3.0], &[4], dt, dev);
            let b = on(&[1.0, NAN, NAN, -3.0], &[4], dt, dev);
            same(
                &tag("maximum"),
                &a.maximum(&b).unwrap(),
                &[NAN, NAN, NAN, 3.0],
            );
            same(
                &tag("minimum"),
                &a.minimum(&b).unwrap(),
                &[NAN, NAN, NAN, -3.0],
            );
        }
    }
}

#[test]
fn max_reductions_and_max_pooling_propagate_nan() {
    for dev in devices() {
        for dt in [DType::F32, DType::F64] {
            let tag = |op: &str| format!("{op} on {dev:?} in {dt:?}");
            let x = on(&[1.0, NAN, 5.0, 2.0, 3.0, 4.0], &[2, 3], dt, dev);
            same(&tag("max"), &x.max(&[1], false).unwrap(), &[NAN, 4.0]);
            same(&tag("min"), &x.min(&[1], false).unwrap(), &[NAN, 2.0]);
            // One NaN in the first 2x2 window of a 4x4 plane.
            let mut v: Vec<f64> = (0..16).map(f64::from).collect();
            v[1] = NAN;
            let p = on(&v, &[1, 1, 4, 4], dt, dev);
            same(
                &tag("max_pool2d"),
                &p.max_pool2d([2, 2], [2, 2], [0, 0]).unwrap(),
                &[NAN, 7.0, 13.0, 15.0],
            );
        }
    }
}

/// PyTorch's ReLU backward is `threshold_backward(grad, result, 0)`: the gradient passes
/// wherever the value is not `<= 0`, a NaN included (checked with PyTorch 2.15: the gradient of
/// `relu([nan, -1, 2, 0]).sum()` is `[1, 0, 1, 0]`).
#[test]
fn relu_gradient_at_nan_passes_as_in_pytorch() {
    for dev in devices() {
        let x = on(&[NAN, -1.0, 2.0], &[3], DType::F64, dev)
            .set_requires_grad(true)
            .unwrap();
        let y = x.relu().unwrap().sum_all().unwrap();
        let g = maxl_engine::grad(&[y], &[x], None, false).unwrap();
        same(
            &format!("relu gradient on {dev:?}"),
            &g[0],
            &[1.0, 0.0, 1.0],
        );
    }
}
