//! Convolution against direct loops, adjointness of the three ops, hand-computed transposed
//! convolutions and bad-input errors.

use crate::{DType, Rng, Tensor};

/// Direct convolution loops: `x` `[n,c,h,w]`, `w` `[k,c,kh,kw]`.
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[f64],
    xs: [usize; 4],
    w: &[f64],
    ws: [usize; 4],
    b: Option<&[f64]>,
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
) -> (Vec<f64>, [usize; 4]) {
    let [n, c, h, wd] = xs;
    let [k, _, kh, kw] = ws;
    let ho = (h + 2 * p[0] - d[0] * (kh - 1) - 1) / s[0] + 1;
    let wo = (wd + 2 * p[1] - d[1] * (kw - 1) - 1) / s[1] + 1;
    let mut out = vec![0.0; n * k * ho * wo];
    for ni in 0..n {
        for ki in 0..k {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = b.map_or(0.0, |b| b[ki]);
                    for ci in 0..c {
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (oy * s[0] + i * d[0]) as isize - p[0] as isize;
                                let ix = (ox * s[1] + j * d[1]) as isize - p[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                acc += x[((ni * c + ci) * h + iy as usize) * wd + ix as usize]
                                    * w[((ki * c + ci) * kh + i) * kw + j];
                            }
                        }
                    }
                    out[((ni * k + ki) * ho + oy) * wo + ox] = acc;
                }
            }
        }
    }
    (out, [n, k, ho, wo])
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "at {i}: {x} vs {y}");
    }
}

type Cfg = (
    [usize; 4],
    [usize; 4],
    [usize; 2],
    [usize; 2],
    [usize; 2],
    bool,
);

const CONFIGS: [Cfg; 8] = [
    ([2, 3, 7, 6], [5, 3, 3, 3], [1, 1], [1, 1], [1, 1], true),
    // "Same" convolutions with dilation and an asymmetric kernel: whole-plane tap copies.
    ([2, 2, 6, 5], [3, 2, 3, 3], [1, 1], [2, 2], [2, 2], true),
    ([1, 3, 4, 7], [2, 3, 1, 3], [1, 1], [0, 1], [1, 1], false),
    // Enough samples for several chunks per group and several weight-gradient groups.
    ([40, 2, 5, 5], [3, 2, 3, 3], [1, 1], [1, 1], [1, 1], true),
    ([1, 2, 8, 5], [3, 2, 3, 2], [2, 1], [1, 0], [1, 2], false),
    // Many small samples: several samples per chunk.
    ([21, 3, 4, 3], [4, 3, 2, 2], [1, 1], [1, 1], [1, 1], true),
    ([3, 4, 9, 9], [2, 4, 3, 3], [2, 2], [2, 2], [2, 2], true),
    ([2, 1, 5, 5], [6, 1, 1, 1], [2, 2], [0, 0], [1, 1], false),
];

#[test]
fn conv2d_matches_direct_loops() {
    let mut rng = Rng::new(3);
    for (xs, ws, s, p, d, bias) in CONFIGS {
        let x = Tensor::randn(&xs, DType::F64, &mut rng);
        let w = Tensor::randn(&ws, DType::F64, &mut rng);
        let b = Tensor::randn(&[ws[0]], DType::F64, &mut rng);
        let y = x.conv2d(&w, bias.then_some(&b), s, p, d).unwrap();
        let bv = b.to_vec::<f64>().unwrap();
        let (want, shape) = naive_conv(
            &x.to_vec().unwrap(),
            xs,
            &w.to_vec().unwrap(),
            ws,
            bias.then_some(bv.as_slice()),
            s,
            p,
            d,
        );
        assert_eq!(y.shape(), shape);
        close(&y.to_vec::<f64>().unwrap(), &want, 1e-12);
        // f32 agrees with f64.
        let (x32, w32, b32) = (to32(&x), to32(&w), to32(&b));
        let y32 = x32.conv2d(&w32, bias.then_some(&b32), s, p, d).unwrap();
        close(&y32.to_f64_vec(), &want, 1e-4);
    }
}

fn to32(t: &Tensor) -> Tensor {
    Tensor::from_f64s(&t.to_f64_vec(), t.shape(), DType::F32)
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| x * y)
        .sum()
}

/// conv_transpose2d is the adjoint of conv2d: <conv(x), z> = <x, convT(z)>, and
/// conv2d_weight is the gradient of <conv(x, w), g> in w: <conv(x, w), g> = <w, dW>.
#[test]
fn transpose_and_weight_are_adjoints() {
    let mut rng = Rng::new(5);
    for (xs, ws, s, p, d, _) in CONFIGS {
        let x = Tensor::randn(&xs, DType::F64, &mut rng);
        let w = Tensor::randn(&ws, DType::F64, &mut rng);
        let y = x.conv2d(&w, None, s, p, d).unwrap();
        let z = Tensor::randn(y.shape(), DType::F64, &mut rng);
        let (h, wd) = (xs[2], xs[3]);
        let mut op = [0; 2];
        for a in 0..2 {
            let natural = (y.shape()[2 + a] - 1) * s[a] + d[a] * (ws[2 + a] - 1) + 1 - 2 * p[a];
            op[a] = [h, wd][a] - natural;
        }
        let xt = z.conv_transpose2d(&w, None, s, p, op, d).unwrap();
        assert_eq!(xt.shape(), x.shape());
        let lhs = dot(&y, &z);
        assert!((lhs - dot(&x, &xt)).abs() < 1e-9 * (1.0 + lhs.abs()));
        let dw = x.conv2d_weight(&z, [ws[2], ws[3]], s, p, d).unwrap();
        assert_eq!(dw.shape(), w.shape());
        assert!((lhs - dot(&w, &dw)).abs() < 1e-9 * (1.0 + lhs.abs()));
    }
}

#[test]
fn conv_transpose2d_by_hand() {
    // One 1x1 input pixel, stride 2: the output is the kernel itself plus bias.
    let z = Tensor::from_vec(vec![2.0f64], &[1, 1, 1, 1]).unwrap();
    let w = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[1, 1, 2, 2]).unwrap();
    let b = Tensor::from_vec(vec![0.5f64], &[1]).unwrap();
    let y = z
        .conv_transpose2d(&w, Some(&b), [2, 2], [0, 0], [0, 0], [1, 1])
        .unwrap();
    assert_eq!(y.shape(), [1, 1, 2, 2]);
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![2.5, 4.5, 6.5, 8.5]);
    // Two pixels with stride 1 overlap in the middle column.
    let z = Tensor::from_vec(vec![1.0f64, 10.0], &[1, 1, 1, 2]).unwrap();
    let w = Tensor::from_vec(vec![1.0f64, 2.0], &[1, 1, 1, 2]).unwrap();
    let y = z
        .conv_transpose2d(&w, None, [1, 1], [0, 0], [0, 0], [1, 1])
        .unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![1.0, 12.0, 20.0]);
}

#[test]
fn bad_shapes_are_errors() {
    let x = Tensor::zeros(&[1, 3, 4, 4], DType::F32);
    let w = Tensor::zeros(&[2, 4, 3, 3], DType::F32);
    let e = x.conv2d(&w, None, [1, 1], [0, 0], [1, 1]).unwrap_err();
    assert!(e.to_string().contains("[1, 3, 4, 4]") && e.to_string().contains("[2, 4, 3, 3]"));
    let w = Tensor::zeros(&[2, 3, 7, 3], DType::F32);
    let e = x.conv2d(&w, None, [1, 1], [1, 1], [1, 1]).unwrap_err();
    assert!(
        e.to_string().contains("larger than the padded input"),
        "{e}"
    );
    let w = Tensor::zeros(&[2, 3, 3, 3], DType::F32);
    assert!(x.conv2d(&w, None, [0, 1], [0, 0], [1, 1]).is_err());
    let b = Tensor::zeros(&[3], DType::F32);
    assert!(x.conv2d(&w, Some(&b), [1, 1], [0, 0], [1, 1]).is_err());
    let w64 = Tensor::zeros(&[2, 3, 3, 3], DType::F64);
    assert!(x.conv2d(&w64, None, [1, 1], [0, 0], [1, 1]).is_err());
    let z = Tensor::zeros(&[1, 2, 3, 3], DType::F32);
    assert!(z
        .conv_transpose2d(&w, None, [1, 1], [0, 0], [1, 1], [1, 1])
        .is_err());
    let g = Tensor::zeros(&[1, 2, 3, 3], DType::F32);
    assert!(x.conv2d_weight(&g, [3, 3], [1, 1], [0, 0], [1, 1]).is_err());
}
