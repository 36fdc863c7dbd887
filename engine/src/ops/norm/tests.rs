//! Batch norm by hand (training forward, running statistics, eval mode), the fused ops against
//! the same formulas in plain tensor ops, gradients through training mode, bad inputs.

use super::*;
use crate::{grad, DType, Rng};

#[test]
fn training_forward_and_running_stats_by_hand() {
    // One channel, values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased var 14/3.
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 6.0], &[2, 1, 2]).unwrap();
    let w = Tensor::from_vec(vec![2.0f64], &[1]).unwrap();
    let b = Tensor::from_vec(vec![0.5f64], &[1]).unwrap();
    let rm = Tensor::from_vec(vec![1.0f64], &[1]).unwrap();
    let rv = Tensor::from_vec(vec![2.0f64], &[1]).unwrap();
    let eps = 1e-5;
    let (y, run) =
        batch_norm(&x, Some(&rm), Some(&rv), Some(&w), Some(&b), true, 0.1, eps).unwrap();
    let r = 1.0 / (3.5f64 + eps).sqrt();
    let want: Vec<f64> = [1.0, 2.0, 3.0, 6.0]
        .iter()
        .map(|v| 2.0 * (v - 3.0) * r + 0.5)
        .collect();
    for (a, b) in y.to_vec::<f64>().unwrap().iter().zip(&want) {
        assert!((a - b).abs() < 1e-12);
    }
    let (nm, nv) = run.unwrap();
    assert!((nm.item().unwrap() - (0.9 + 0.3)).abs() < 1e-12);
    assert!((nv.item().unwrap() - (0.9 * 2.0 + 0.1 * 14.0 / 3.0)).abs() < 1e-9);
    // Eval mode with the new running stats.
    let (ye, none) = batch_norm(
        &x,
        Some(&nm),
        Some(&nv),
        Some(&w),
        Some(&b),
        false,
        0.1,
        eps,
    )
    .unwrap();
    assert!(none.is_none());
    let (m, v) = (nm.item().unwrap(), nv.item().unwrap());
    let want: Vec<f64> = [1.0, 2.0, 3.0, 6.0]
        .iter()
        .map(|x| 2.0 * (x - m) / (v + eps).sqrt() + 0.5)
        .collect();
    for (a, b) in ye.to_vec::<f64>().unwrap().iter().zip(&want) {
        assert!((a - b).abs() < 1e-12);
    }
}

/// The fused ops against the same formulas written with plain tensor ops, f32 and f64.
#[test]
fn fused_ops_match_composite_formulas() {
    let mut rng = Rng::new(9);
    for dt in [DType::F64, DType::F32] {
        let tol = if dt == DType::F64 { 1e-10 } else { 2e-4 };
        let x = Tensor::randn(&[4, 3, 5, 2], dt, &mut rng);
        let w = Tensor::randn(&[3], dt, &mut rng);
        let b = Tensor::randn(&[3], dt, &mut rng);
        let g = Tensor::randn(&[4, 3, 5, 2], dt, &mut rng);
        let m = 40.0;
        let bs = [1, 3, 1, 1];
        let mean = x.mean(&[0, 2, 3], true).unwrap();
        let xc = x.sub(&mean).unwrap();
        let var = xc.mul(&xc).unwrap().mean(&[0, 2, 3], true).unwrap();
        let r = var.add_scalar(1e-5).unwrap().pow(-0.5).unwrap();
        let xhat = xc.mul(&r).unwrap();
        let want_y = xhat
            .mul(&w.reshape(&bs).unwrap())
            .unwrap()
            .add(&b.reshape(&bs).unwrap())
            .unwrap();
        let (y, _) = batch_norm(&x, None, None, Some(&w), Some(&b), true, 0.1, 1e-5).unwrap();
        assert_close(&y, &want_y, tol);
        let gm = g.mean(&[0, 2, 3], true).unwrap();
        let gx = g.mul(&xhat).unwrap().sum(&[0, 2, 3], true).unwrap();
        let want_dx = g
            .sub(&gm)
            .unwrap()
            .sub(&xhat.mul(&gx.mul_scalar(1.0 / m).unwrap()).unwrap())
            .unwrap()
            .mul(&r.mul(&w.reshape(&bs).unwrap()).unwrap())
            .unwrap();
        let dx = batch_norm_backward(&x, Some(&w), &g, 1e-5).unwrap();
        assert_close(&dx, &want_dx, tol);
        let dw = batch_norm_weight_grad(&x, &g, 1e-5).unwrap();
        assert_close(&dw, &gx.reshape(&[3]).unwrap(), tol);
    }
}

fn assert_close(a: &Tensor, b: &Tensor, tol: f64) {
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.to_f64_vec().iter().zip(b.to_f64_vec()) {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
    }
}

#[test]
fn gradients_through_training_mode() {
    let mut rng = Rng::new(4);
    let x = Tensor::randn(&[3, 2, 2, 2], DType::F64, &mut rng)
        .set_requires_grad(true)
        .unwrap();
    let (y, _) = batch_norm(&x, None, None, None, None, true, 0.1, 1e-5).unwrap();
    // Normalised output: the sum over a channel is constant, so its gradient is 0.
    let gx = grad(&[y.sum_all().unwrap()], &[x], None, false).unwrap();
    assert!(gx[0].to_f64_vec().iter().all(|v| v.abs() < 1e-10));
}

#[test]
fn bad_inputs_are_errors() {
    let x = Tensor::zeros(&[2, 3, 2, 2], DType::F32);
    let w = Tensor::ones(&[4], DType::F32);
    let e = batch_norm(&x, None, None, Some(&w), None, true, 0.1, 1e-5).unwrap_err();
    assert!(e.to_string().contains("[2, 3, 2, 2]") && e.to_string().contains("[4]"));
    let one = Tensor::zeros(&[1, 3, 1, 1], DType::F32);
    assert!(batch_norm(&one, None, None, None, None, true, 0.1, 1e-5).is_err());
    assert!(batch_norm(&x, None, None, None, None, false, 0.1, 1e-5).is_err());
    let rm = Tensor::zeros(&[3], DType::F32);
    assert!(batch_norm(&x, Some(&rm), None, None, None, true, 0.1, 1e-5).is_err());
    assert!(batch_norm(
        &Tensor::zeros(&[3], DType::F32),
        None,
        None,
        None,
        None,
        true,
        0.1,
        1e-5
    )
    .is_err());
}

/// The statistics in f32 on channels whose mean is far from zero next to their
/// spread (offsets 0, 1e3 and -5e4, standard deviation 1e-2 .. 1) and whose first rows differ,
/// against the two-pass formula in f64: the running variance (unbiased, momentum 1) within
/// 1e-4 relative, the running mean within 1e-6 of the offset. A one-pass sum of squares about
/// zero in f32 would lose every digit of the variance at offset 5e4 (checked: it fails here).
#[test]
fn f32_statistics_with_a_large_mean_stay_accurate() {
    let mut rng = Rng::new(12);
    let (n, c, l) = (7, 3, 37);
    let offsets = [0.0f64, 1e3, -5e4];
    let spreads = [1.0f64, 1e-2, 0.5];
    let mut x = vec![0.0f64; n * c * l];
    for ni in 0..n {
        for ci in 0..c {
            for j in 0..l {
                let z = rng.normal() + if ni == 0 { 0.7 } else { 0.0 };
                x[(ni * c + ci) * l + j] = offsets[ci] + spreads[ci] * z;
            }
        }
    }
    // The f32 values the kernel sees, in f64 for the reference.
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let xr: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
    let t = Tensor::from_vec(x32, &[n, c, l]).unwrap();
    let (rm, rv) = (
        Tensor::zeros(&[c], DType::F32),
        Tensor::zeros(&[c], DType::F32),
    );
    let (_, run) = batch_norm(&t, Some(&rm), Some(&rv), None, None, true, 1.0, 1e-5).unwrap();
    let (nm, nv) = run.unwrap();
    let (nm, nv) = (nm.to_vec::<f32>().unwrap(), nv.to_vec::<f32>().unwrap());
    let m = (n * l) as f64;
    for ci in 0..c {
        let vals: Vec<f64> = (0..n)
            .flat_map(|ni| xr[(ni * c + ci) * l..(ni * c + ci + 1) * l].to_vec())
            .collect();
        let mean = vals.iter().sum::<f64>() / m;
        let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (m - 1.0);
        let (got_m, got_v) = (nm[ci] as f64, nv[ci] as f64);
        assert!(
            (got_m - mean).abs() <= 1e-6 * mean.abs().max(1.0),
            "channel {ci}: mean {got_m} vs {mean}"
        );
        assert!(
            (got_v - var).abs() <= 1e-4 * var,
            "channel {ci}: variance {got_v} vs {var}"
        );
    }
}
