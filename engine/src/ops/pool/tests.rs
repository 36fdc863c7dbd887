//! Pooling against direct loops, max-pool indices and backward by hand, NaN propagation,
//! adaptive averages by hand and bad parameters.

use crate::{DType, Rng, Tensor};

/// Reference pooling by direct loops; `max` picks the max, else the sum over `div`.
#[allow(clippy::too_many_arguments)]
fn naive_pool(
    x: &[f64],
    s: [usize; 4],
    k: [usize; 2],
    st: [usize; 2],
    p: [usize; 2],
    max: bool,
) -> Vec<f64> {
    let [n, c, h, w] = s;
    let ho = (h + 2 * p[0] - k[0]) / st[0] + 1;
    let wo = (w + 2 * p[1] - k[1]) / st[1] + 1;
    let mut out = Vec::new();
    for pl in 0..n * c {
        for oy in 0..ho {
            for ox in 0..wo {
                let mut best = f64::NEG_INFINITY;
                let mut sum = 0.0;
                for i in 0..k[0] {
                    for j in 0..k[1] {
                        let iy = (oy * st[0] + i) as isize - p[0] as isize;
                        let ix = (ox * st[1] + j) as isize - p[1] as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let v = x[pl * h * w + iy as usize * w + ix as usize];
                        best = best.max(v);
                        sum += v;
                    }
                }
                out.push(if max {
                    best
                } else {
                    sum / (k[0] * k[1]) as f64
                });
            }
        }
    }
    out
}

#[test]
fn pools_match_direct_loops() {
    let mut rng = Rng::new(1);
    type Cfg = ([usize; 4], [usize; 2], [usize; 2], [usize; 2]);
    let cfgs: [Cfg; 4] = [
        ([2, 3, 6, 6], [2, 2], [2, 2], [0, 0]),
        ([1, 5, 7, 5], [3, 3], [2, 2], [1, 1]),
        ([3, 2, 5, 8], [2, 3], [1, 2], [1, 0]),
        ([1, 1, 3, 3], [3, 3], [1, 1], [1, 1]),
    ];
    for (s, k, st, p) in cfgs {
        let x = Tensor::randn(&s, DType::F64, &mut rng);
        let xv = x.to_vec::<f64>().unwrap();
        let m = x.max_pool2d(k, st, p).unwrap();
        assert_eq!(
            m.to_vec::<f64>().unwrap(),
            naive_pool(&xv, s, k, st, p, true)
        );
        let a = x.avg_pool2d(k, st, p).unwrap();
        let want = naive_pool(&xv, s, k, st, p, false);
        for (u, v) in a.to_vec::<f64>().unwrap().iter().zip(&want) {
            assert!((u - v).abs() < 1e-12);
        }
        let x32 = Tensor::from_f64s(&xv, &s, DType::F32);
        let m32 = x32.max_pool2d(k, st, p).unwrap().to_f64_vec();
        for (u, v) in m32.iter().zip(naive_pool(&xv, s, k, st, p, true)) {
            assert!((u - v).abs() < 1e-6);
        }
    }
}

#[test]
fn max_pool_indices_and_backward_by_hand() {
    let x = Tensor::from_vec(
        vec![1.0f32, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 1.0, 8.0],
        &[1, 1, 3, 3],
    )
    .unwrap();
    let (y, idx) = x.max_pool2d_with_indices([2, 2], [1, 1], [0, 0]).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![5.0, 5.0, 9.0, 8.0]);
    assert_eq!(idx.to_vec::<i64>().unwrap(), vec![1, 1, 6, 8]);
    let g = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 1, 2, 2]).unwrap();
    let dx = g.max_pool2d_backward(&idx, [3, 3]).unwrap();
    assert_eq!(
        dx.to_vec::<f32>().unwrap(),
        vec![0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 4.0]
    );
    let bad = Tensor::from_vec(vec![0i64, 1, 2, 9], &[1, 1, 2, 2]).unwrap();
    assert!(g.max_pool2d_backward(&bad, [3, 3]).is_err());
}

#[test]
fn max_pool_propagates_nan() {
    for (k, s) in [([2, 2], [2, 2]), ([3, 3], [1, 1])] {
        let mut v = vec![1.0f32; 16];
        v[5] = f32::NAN;
        let x = Tensor::from_vec(v, &[1, 1, 4, 4]).unwrap();
        let (y, idx) = x.max_pool2d_with_indices(k, s, [0, 0]).unwrap();
        let (y, idx) = (y.to_vec::<f32>().unwrap(), idx.to_vec::<i64>().unwrap());
        assert!(y[0].is_nan(), "{y:?}");
        assert_eq!(idx[0], 5);
        assert!(!y[y.len() - 1].is_nan() || k == [3, 3]);
    }
}

#[test]
fn adaptive_average_by_hand() {
    // 1x5 -> 1x3: windows [0,2), [1,4), [3,5).
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0], &[1, 1, 1, 5]).unwrap();
    let y = x.adaptive_avg_pool2d([1, 3]).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![1.5, 3.0, 4.5]);
    let g = x.adaptive_avg_pool2d([1, 1]).unwrap();
    assert_eq!(g.to_vec::<f64>().unwrap(), vec![3.0]);
    // avg_pool2d with padding counts the pad: a corner window of 3x3 sees 4 values / 9.
    let ones = Tensor::ones(&[1, 1, 2, 2], DType::F64);
    let a = ones.avg_pool2d([3, 3], [1, 1], [1, 1]).unwrap();
    assert_eq!(a.to_vec::<f64>().unwrap(), vec![4.0 / 9.0; 4]);
}

#[test]
fn bad_pool_parameters_are_errors() {
    let x = Tensor::zeros(&[1, 1, 3, 3], DType::F32);
    let e = x.max_pool2d([5, 5], [1, 1], [0, 0]).unwrap_err();
    assert!(e.to_string().contains("[1, 1, 3, 3]"), "{e}");
    assert!(x.max_pool2d([2, 2], [0, 1], [0, 0]).is_err());
    assert!(x.max_pool2d([2, 2], [1, 1], [2, 2]).is_err());
    assert!(x.avg_pool2d([2, 2], [1, 1], [0, 0]).is_ok());
    assert!(Tensor::zeros(&[3, 3], DType::F32)
        .max_pool2d([2, 2], [1, 1], [0, 0])
        .is_err());
    assert!(x.adaptive_avg_pool2d([0, 1]).is_err());
}

/// The 2x2, stride-2 pool (16 outputs at a time in AVX-512 where the CPU has it, then a scalar
/// tail) against the first maximum of each window by direct loops, in f32 and f64, on planes
/// whose rows hold 0, 1 and 2 vectors plus tails, with many ties (values on a coarse grid,
/// `-0.0` beside `0.0`) and an odd last column and row that no window reads.
#[test]
fn max_pool_2x2_is_the_first_maximum() {
    let mut rng = Rng::new(7);
    for (h, w) in [(4, 6), (7, 33), (32, 32), (5, 71), (2, 64)] {
        let x: Vec<f64> = (0..2 * h * w)
            .map(|_| match rng.below(6) {
                0 => -0.0,
                1 => 0.0,
                r => (r as f64 - 3.0) * 0.5,
            })
            .collect();
        let (ho, wo) = (h / 2, w / 2);
        let mut want = Vec::new();
        let mut want_idx = Vec::new();
        for plane in x.chunks(h * w) {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut at = 2 * oy * w + 2 * ox;
                    for i in [
                        2 * oy * w + 2 * ox + 1,
                        (2 * oy + 1) * w + 2 * ox,
                        (2 * oy + 1) * w + 2 * ox + 1,
                    ] {
                        if plane[i] > plane[at] {
                            at = i;
                        }
                    }
                    want.push(plane[at]);
                    want_idx.push(at as i64);
                }
            }
        }
        for dtype in [DType::F32, DType::F64] {
            let t = Tensor::from_vec(x.clone(), &[1, 2, h, w])
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let (y, idx) = t.max_pool2d_with_indices([2, 2], [2, 2], [0, 0]).unwrap();
            let y = y.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
            let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&want), "{dtype:?} {h}x{w}: values");
            assert_eq!(
                idx.to_vec::<i64>().unwrap(),
                want_idx,
                "{dtype:?} {h}x{w}: indices"
            );
        }
    }
}

/// The 2x2, stride-2 pool's input gradient through the tape (which writes each input position
/// once, 16 windows at a time in AVX-512 where the CPU has it) against zeros plus the output
/// gradient scattered to the indices, bit for bit, in f32 and f64: odd sizes (uncovered last
/// row and column), rows of 1, 16 and 35 windows, output gradients with `-0.0`.
#[test]
fn max_pool_2x2_gradient_is_the_scatter_into_zeros() {
    let mut rng = Rng::new(8);
    for (h, w) in [(7, 7), (4, 32), (5, 71), (3, 3)] {
        let (ho, wo) = (h / 2, w / 2);
        let x: Vec<f64> = (0..2 * h * w).map(|_| rng.normal()).collect();
        let g: Vec<f64> = (0..2 * ho * wo)
            .map(|i| if i % 5 == 0 { -0.0 } else { rng.normal() })
            .collect();
        for dtype in [DType::F32, DType::F64] {
            let xt = Tensor::from_vec(x.clone(), &[2, 1, h, w])
                .unwrap()
                .to_dtype(dtype)
                .unwrap()
                .set_requires_grad(true)
                .unwrap();
            let gt = Tensor::from_vec(g.clone(), &[2, 1, ho, wo])
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let idx = xt
                .max_pool2d_with_indices([2, 2], [2, 2], [0, 0])
                .unwrap()
                .1;
            let y = xt.max_pool2d([2, 2], [2, 2], [0, 0]).unwrap();
            let loss = y.mul(&gt).unwrap().sum_all().unwrap();
            let dx = crate::grad(&[loss], std::slice::from_ref(&xt), None, false).unwrap();
            let got = dx[0].to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
            // The reference: zeros, plus each output gradient (rounded to dtype) at its index.
            let gd = gt.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
            let idx = idx.to_vec::<i64>().unwrap();
            let mut want = vec![0.0f64; 2 * h * w];
            for (j, (&v, &i)) in gd.iter().zip(&idx).enumerate() {
                want[j / (ho * wo) * h * w + i as usize] += v;
            }
            let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{dtype:?} {h}x{w}");
        }
    }
}
