//! 2-D convolution (NCHW, groups = 1) as three ops that are closed under differentiation:
//! `conv2d(x, w)`, `conv_transpose2d(z, w)` (PyTorch semantics, its input gradient) and
//! `conv2d_weight(x, g)` (its weight gradient); each one's backward rule uses the other two.

use super::{check_float, check_same};
use crate::autograd::op::Op;
use crate::backend::cpu::conv::{self as k, ConvGeom, Scratch};
use crate::backend::cpu::strided::to_contiguous;
use crate::error::{invalid, Error, Result};
use crate::storage::{CpuStorage, Element};
use crate::Tensor;

/// Which of the three convolution ops.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// `(x [n,c,H,W], w [k,c,kh,kw]) -> [n,k,Ho,Wo]`
    Forward,
    /// `(z [n,k,Ho,Wo], w [k,c,kh,kw]) -> [n,c,H,W]`
    Transpose,
    /// `(x [n,c,H,W], g [n,k,Ho,Wo]) -> [k,c,kh,kw]`
    Weight,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Dir::Forward => "conv2d",
            Dir::Transpose => "conv_transpose2d",
            Dir::Weight => "conv2d_weight",
        }
    }
}

fn dims4(op: &'static str, t: &Tensor, what: &str) -> Result<[usize; 4]> {
    match *t.shape() {
        [a, b, c, d] => Ok([a, b, c, d]),
        _ => invalid(format!(
            "{op}: {what} must be 4-D, got shape {:?}",
            t.shape()
        )),
    }
}

fn check_params(op: &'static str, stride: [usize; 2], dilation: [usize; 2]) -> Result<()> {
    if stride.contains(&0) || dilation.contains(&0) {
        return invalid(format!(
            "{op}: stride {stride:?} and dilation {dilation:?} must be positive"
        ));
    }
    Ok(())
}

/// The natural output size of a convolution along each axis, or an error naming the input and
/// kernel when the (dilated) kernel does not fit the padded input.
/// `spd` is `[stride, padding, dilation]`.
fn out_size(
    op: &'static str,
    x: &Tensor,
    w: &Tensor,
    input: [usize; 2],
    kernel: [usize; 2],
    [stride, padding, dilation]: [[usize; 2]; 3],
) -> Result<[usize; 2]> {
    let mut out = [0; 2];
    for a in 0..2 {
        if kernel[a] == 0 {
            return invalid(format!(
                "{op}: empty kernel {kernel:?} (input {:?}, weight {:?})",
                x.shape(),
                w.shape()
            ));
        }
        let ek = dilation[a] * (kernel[a] - 1) + 1;
        let padded = input[a] + 2 * padding[a];
        if ek > padded {
            return invalid(format!(
                "{op}: kernel {kernel:?} with dilation {dilation:?} is larger than the padded \
                 input {:?} (input {:?}, padding {padding:?}, weight {:?})",
                [input[0] + 2 * padding[0], input[1] + 2 * padding[1]],
                x.shape(),
                w.shape()
            ));
        }
        out[a] = (padded - ek) / stride[a] + 1;
    }
    Ok(out)
}

fn check_bias(op: &'static str, w: &Tensor, bias: Option<&Tensor>, channels: usize) -> Result<()> {
    if let Some(b) = bias {
        check_same(op, w, b)?;
        if b.shape() != [channels] {
            return Err(Error::ShapeMismatch {
                op,
                lhs: w.shape().to_vec(),
                rhs: b.shape().to_vec(),
            });
        }
    }
    Ok(())
}

fn compute<T: Scratch + Element>(
    dir: Dir,
    a: &[T],
    b: &[T],
    bias: Option<&[T]>,
    nck: [usize; 3],
    geom: &ConvGeom,
) -> Vec<T> {
    let [n, c, kk] = nck;
    match dir {
        Dir::Forward => k::conv2d(a, b, bias, n, c, kk, geom),
        Dir::Transpose => k::conv_transpose2d(a, b, bias, n, c, kk, geom),
        Dir::Weight => k::conv2d_weight(a, b, n, c, kk, geom),
    }
}

/// Runs one of the three ops on operands whose shapes fit `geom`, and records it.
fn run(dir: Dir, a: &Tensor, b: &Tensor, bias: Option<&Tensor>, geom: ConvGeom) -> Result<Tensor> {
    let op = dir.name();
    check_same(op, a, b)?;
    check_float(op, a)?;
    let sa = dims4(op, a, "first operand")?;
    let sb = dims4(op, b, "second operand")?;
    let [kh, kw] = geom.kernel;
    let [h, w] = geom.input;
    let [ho, wo] = geom.output;
    let mismatch = || Error::ShapeMismatch {
        op,
        lhs: a.shape().to_vec(),
        rhs: b.shape().to_vec(),
    };
    // (n, c, k) and the expected shapes of both operands.
    let (nck, ea, eb, out) = match dir {
        Dir::Forward => {
            let (n, c, kk) = (sa[0], sa[1], sb[0]);
            (
                [n, c, kk],
                [n, c, h, w],
                [kk, c, kh, kw],
                vec![n, kk, ho, wo],
            )
        }
        Dir::Transpose => {
            let (n, kk, c) = (sa[0], sa[1], sb[1]);
            (
                [n, c, kk],
                [n, kk, ho, wo],
                [kk, c, kh, kw],
                vec![n, c, h, w],
            )
        }
        Dir::Weight => {
            let (n, c, kk) = (sa[0], sa[1], sb[1]);
            (
                [n, c, kk],
                [n, c, h, w],
                [n, kk, ho, wo],
                vec![kk, c, kh, kw],
            )
        }
    };
    if sa != ea || sb != eb {
        return Err(mismatch());
    }
    let bias_ch = if dir == Dir::Forward { nck[2] } else { nck[1] };
    check_bias(op, b, bias, bias_ch)?;
    let recorded = match dir {
        Dir::Forward => Op::Conv2d { geom },
        Dir::Transpose => Op::ConvTranspose2d { geom },
        Dir::Weight => Op::Conv2dWeight { geom },
    };
    let inputs: Vec<&Tensor> = [Some(a), Some(b), bias].into_iter().flatten().collect();
    if a.device().is_cuda() {
        use crate::backend::cuda::conv::{conv, ConvDir};
        let d = match dir {
            Dir::Forward => ConvDir::Forward,
            Dir::Transpose => ConvDir::Transpose,
            Dir::Weight => ConvDir::Weight,
        };
        let data = conv(d, a, b, bias, nck, &geom, &out)?;
        return Ok(Tensor::from_op(data, &out, recorded, &inputs));
    }
    let (la, lb) = (a.layout(), b.layout());
    macro_rules! go {
        ($v:ident, $x:expr, $y:expr) => {{
            let xa = to_contiguous($x, la);
            let yb = to_contiguous($y, lb);
            let bias_v = match bias.map(|t| (t.cpu(), t.layout())) {
                Some((CpuStorage::$v(bv), l)) => Some(to_contiguous(bv, l)),
                _ => None,
            };
            CpuStorage::$v(compute(dir, &xa, &yb, bias_v.as_deref(), nck, &geom))
        }};
    }
    let data = match (a.cpu(), b.cpu()) {
        (CpuStorage::F32(x), CpuStorage::F32(y)) => go!(F32, x, y),
        (CpuStorage::F64(x), CpuStorage::F64(y)) => go!(F64, x, y),
        _ => unreachable!("dtypes checked"),
    };
    Ok(Tensor::from_op(data, &out, recorded, &inputs))
}

impl Tensor {
    /// 2-D convolution of `self` `[N, C, H, W]` with `weight` `[K, C, kh, kw]` and an optional
    /// `bias` `[K]` (PyTorch's `conv2d`, groups = 1): `[N, K, Ho, Wo]` with
    /// `Ho = (H + 2 pad - dil (kh - 1) - 1) / stride + 1`.
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Result<Tensor> {
        let op = "conv2d";
        check_same(op, self, weight)?;
        check_float(op, self)?;
        check_params(op, stride, dilation)?;
        let [_, c, h, w] = dims4(op, self, "input")?;
        let [kk, cw, kh, kw] = dims4(op, weight, "weight")?;
        if c != cw {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: weight.shape().to_vec(),
            });
        }
        check_bias(op, weight, bias, kk)?;
        let output = out_size(
            op,
            self,
            weight,
            [h, w],
            [kh, kw],
            [stride, padding, dilation],
        )?;
        let geom = ConvGeom {
            kernel: [kh, kw],
            stride,
            padding,
            dilation,
            input: [h, w],
            output,
        };
        run(Dir::Forward, self, weight, bias, geom)
    }

    /// Transposed 2-D convolution of `self` `[N, Cin, H, W]` with `weight` `[Cin, Cout, kh, kw]`
    /// and an optional `bias` `[Cout]` (PyTorch's `conv_transpose2d`, groups = 1): the input
    /// gradient of `conv2d`, of size `(H - 1) stride - 2 pad + dil (kh - 1) + output_padding + 1`.
    /// `output_padding` must be smaller than the stride or the dilation.
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: [usize; 2],
        padding: [usize; 2],
        output_padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Result<Tensor> {
        let op = "conv_transpose2d";
        check_same(op, self, weight)?;
        check_float(op, self)?;
        check_params(op, stride, dilation)?;
        let [_, cin, hz, wz] = dims4(op, self, "input")?;
        let [kw0, cout, kh, kw] = dims4(op, weight, "weight")?;
        if cin != kw0 {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: weight.shape().to_vec(),
            });
        }
        check_bias(op, weight, bias, cout)?;
        let mut input = [0; 2];
        for a in 0..2 {
            if output_padding[a] >= stride[a] && output_padding[a] >= dilation[a] {
                return invalid(format!(
                    "{op}: output_padding {output_padding:?} must be smaller than the stride \
                     {stride:?} or the dilation {dilation:?}"
                ));
            }
            let k = [kh, kw][a];
            let z = [hz, wz][a] as isize;
            let size = (z - 1) * stride[a] as isize - 2 * padding[a] as isize
                + (dilation[a] * k.saturating_sub(1)) as isize
                + output_padding[a] as isize
                + 1;
            if k == 0 || z == 0 || size <= 0 {
                return invalid(format!(
                    "{op}: input {:?} with weight {:?}, stride {stride:?}, padding {padding:?} \
                     and dilation {dilation:?} gives an empty output",
                    self.shape(),
                    weight.shape()
                ));
            }
            input[a] = size as usize;
        }
        let geom = ConvGeom {
            kernel: [kh, kw],
            stride,
            padding,
            dilation,
            input,
            output: [hz, wz],
        };
        run(Dir::Transpose, self, weight, bias, geom)
    }

    /// The weight gradient of `conv2d`: for the input `self` `[N, C, H, W]` and an output
    /// gradient `grad_out` `[N, K, Ho, Wo]` (Ho, Wo the conv's output size), the gradient of the
    /// weight, `[K, C, kh, kw]` (PyTorch's `torch.nn.grad.conv2d_weight`).
    pub fn conv2d_weight(
        &self,
        grad_out: &Tensor,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Result<Tensor> {
        let op = "conv2d_weight";
        check_same(op, self, grad_out)?;
        check_float(op, self)?;
        check_params(op, stride, dilation)?;
        let [n, _, h, w] = dims4(op, self, "input")?;
        let [ng, _, ho, wo] = dims4(op, grad_out, "grad_out")?;
        let output = out_size(
            op,
            self,
            grad_out,
            [h, w],
            kernel,
            [stride, padding, dilation],
        )?;
        if n != ng || output != [ho, wo] {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: grad_out.shape().to_vec(),
            });
        }
        let geom = ConvGeom {
            kernel,
            stride,
            padding,
            dilation,
            input: [h, w],
            output,
        };
        run(Dir::Weight, self, grad_out, None, geom)
    }
}

/// Sum over every axis but 1 of a 4-D tensor (a bias gradient), reading it in memory order.
pub(crate) fn channel_sum(g: &Tensor) -> Result<Tensor> {
    g.sum(&[2, 3], false)?.sum(&[0], false)
}

/// `Some(f())` when `t` needs a gradient.
fn want(t: Option<&Tensor>, f: impl FnOnce() -> Result<Tensor>) -> Result<Option<Tensor>> {
    match t {
        Some(t) if t.requires_grad() => f().map(Some),
        _ => Ok(None),
    }
}

/// Backward rules of the convolution ops.
pub(crate) fn backward(
    op: &Op,
    x: &[Tensor],
    _y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    match op {
        Op::Conv2d { geom } => Ok(vec![
            want(x.first(), || run(Dir::Transpose, g, &x[1], None, *geom))?,
            want(x.get(1), || run(Dir::Weight, &x[0], g, None, *geom))?,
            want(x.get(2), || channel_sum(g))?,
        ]),
        Op::ConvTranspose2d { geom } => Ok(vec![
            want(x.first(), || run(Dir::Forward, g, &x[1], None, *geom))?,
            want(x.get(1), || run(Dir::Weight, g, &x[0], None, *geom))?,
            want(x.get(2), || channel_sum(g))?,
        ]),
        Op::Conv2dWeight { geom } => Ok(vec![
            want(x.first(), || run(Dir::Transpose, &x[1], g, None, *geom))?,
            want(x.get(1), || run(Dir::Forward, &x[0], g, None, *geom))?,
        ]),
        _ => unreachable!("not a convolution: {}", op.name()),
    }
}

/// Gradcheck cases of the convolution ops.
pub(crate) fn gradcheck_cases() -> Vec<super::cases::OpCase> {
    use super::cases::{normal, OpCase};
    vec![
        OpCase {
            op: "conv2d",
            what: "x [1,3,5,4], w [5,3,3,2], bias, stride [2,1], pad [1,1]",
            inputs: |r| {
                vec![
                    normal(r, &[1, 3, 5, 4]),
                    normal(r, &[5, 3, 3, 2]),
                    normal(r, &[5]),
                ]
            },
            f: |x| x[0].conv2d(&x[1], Some(&x[2]), [2, 1], [1, 1], [1, 1]),
        },
        OpCase {
            op: "conv2d",
            what: "x [2,2,5,4], w [3,2,2,3], no bias, stride [1,2], pad [0,1], dilation [2,1]",
            inputs: |r| vec![normal(r, &[2, 2, 5, 4]), normal(r, &[3, 2, 2, 3])],
            f: |x| x[0].conv2d(&x[1], None, [1, 2], [0, 1], [2, 1]),
        },
        OpCase {
            op: "conv2d",
            what: "x [1,2,7,6], w [3,2,3,3], bias, stride 2, pad 2, dilation 2",
            inputs: |r| {
                vec![
                    normal(r, &[1, 2, 7, 6]),
                    normal(r, &[3, 2, 3, 3]),
                    normal(r, &[3]),
                ]
            },
            f: |x| x[0].conv2d(&x[1], Some(&x[2]), [2, 2], [2, 2], [2, 2]),
        },
        OpCase {
            op: "conv2d",
            what: "3x3 same, x [2,3,4,5], w [2,3,3,3], bias",
            inputs: |r| {
                vec![
                    normal(r, &[2, 3, 4, 5]),
                    normal(r, &[2, 3, 3, 3]),
                    normal(r, &[2]),
                ]
            },
            f: |x| x[0].conv2d(&x[1], Some(&x[2]), [1, 1], [1, 1], [1, 1]),
        },
        OpCase {
            op: "conv2d",
            what: "1x1 kernel, x [3,3,2,3], w [4,3,1,1], bias",
            inputs: |r| {
                vec![
                    normal(r, &[3, 3, 2, 3]),
                    normal(r, &[4, 3, 1, 1]),
                    normal(r, &[4]),
                ]
            },
            f: |x| x[0].conv2d(&x[1], Some(&x[2]), [1, 1], [0, 0], [1, 1]),
        },
        OpCase {
            op: "conv_transpose2d",
            what: "z [1,3,3,2], w [3,2,3,3], bias, stride 2, pad 1, output_padding 1",
            inputs: |r| {
                vec![
                    normal(r, &[1, 3, 3, 2]),
                    normal(r, &[3, 2, 3, 3]),
                    normal(r, &[2]),
                ]
            },
            f: |x| x[0].conv_transpose2d(&x[1], Some(&x[2]), [2, 2], [1, 1], [1, 1], [1, 1]),
        },
        OpCase {
            op: "conv_transpose2d",
            what: "z [2,2,3,3], w [2,5,2,2], no bias, stride [1,2], pad [0,1], op [0,1], dil [2,1]",
            inputs: |r| vec![normal(r, &[2, 2, 3, 3]), normal(r, &[2, 5, 2, 2])],
            f: |x| x[0].conv_transpose2d(&x[1], None, [1, 2], [0, 1], [0, 1], [2, 1]),
        },
        OpCase {
            op: "conv_transpose2d",
            what: "output_padding 1 >= stride 1 with dilation 2, z [1,2,3,3], w [2,3,2,2]",
            inputs: |r| {
                vec![
                    normal(r, &[1, 2, 3, 3]),
                    normal(r, &[2, 3, 2, 2]),
                    normal(r, &[3]),
                ]
            },
            f: |x| x[0].conv_transpose2d(&x[1], Some(&x[2]), [1, 1], [0, 0], [1, 1], [2, 2]),
        },
        OpCase {
            op: "conv2d_weight",
            what: "x [1,3,5,4], g [1,2,3,2], kernel 3, stride 2, pad 1",
            inputs: |r| vec![normal(r, &[1, 3, 5, 4]), normal(r, &[1, 2, 3, 2])],
            f: |x| x[0].conv2d_weight(&x[1], [3, 3], [2, 2], [1, 1], [1, 1]),
        },
        OpCase {
            op: "conv2d_weight",
            what: "x [2,2,5,4], g [2,5,3,3], kernel [2,2], stride [1,2], pad [0,1], dil [2,1]",
            inputs: |r| vec![normal(r, &[2, 2, 5, 4]), normal(r, &[2, 5, 3, 3])],
            f: |x| x[0].conv2d_weight(&x[1], [2, 2], [1, 2], [0, 1], [2, 1]),
        },
    ]
}

#[cfg(test)]
mod tests {
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
}
