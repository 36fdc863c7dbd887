//! 2-D convolution (NCHW, groups = 1) as three ops that are closed under differentiation:
//! `conv2d(x, w)`, `conv_transpose2d(z, w)` (PyTorch semantics, its input gradient) and
//! `conv2d_weight(x, g)` (its weight gradient); each one's backward rule uses the other two.

pub mod algo;
pub(crate) mod cases;
mod cpu_kernel;
mod cuda_kernel;
mod direct;
mod geom;
#[cfg(test)]
mod kernel_tests;
mod pairs;
#[cfg(test)]
mod tests;
mod winograd;

pub use geom::ConvGeom;

use super::checks::{check_float, check_same, when};
use crate::autograd::op::OpKind;
use crate::backend::BackendStorage;
use crate::error::{invalid, Error, Result};
use crate::layout::Layout;
use crate::storage::{on_device, AsBackend, Storage};
use crate::{Op, Tensor};

/// The convolution kernels of a backend.
pub(crate) trait ConvKernel: BackendStorage {
    /// `dir` on `self` (viewed as `la`), `b` (as `lb`) and an optional `bias`, with
    /// `nck = [n, c, k]`, into a dense buffer of `out_shape`.
    #[allow(clippy::too_many_arguments)]
    fn conv(
        &self,
        dir: Dir,
        la: &Layout,
        b: &Self,
        lb: &Layout,
        bias: Option<(&Self, &Layout)>,
        nck: [usize; 3],
        geom: &ConvGeom,
        out_shape: &[usize],
    ) -> Result<Self>;
}

/// Which of the three convolution ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// `(x [n,c,H,W], w [k,c,kh,kw]) -> [n,k,Ho,Wo]`
    Forward,
    /// `(z [n,k,Ho,Wo], w [k,c,kh,kw]) -> [n,c,H,W]`
    Transpose,
    /// `(x [n,c,H,W], g [n,k,Ho,Wo]) -> [k,c,kh,kw]`
    Weight,
}

impl Dir {
    /// The op's name: `conv2d`, `conv_transpose2d` or `conv2d_weight`.
    pub fn name(self) -> &'static str {
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
    let inputs: Vec<&Tensor> = [Some(a), Some(b), bias].into_iter().flatten().collect();
    let data = on_device!(a.storage(), |s| {
        let bias = match bias {
            Some(t) => Some((t.storage().as_backend()?, t.layout())),
            None => None,
        };
        s.conv(
            dir,
            a.layout(),
            b.storage().as_backend()?,
            b.layout(),
            bias,
            nck,
            &geom,
            &out,
        )
        .map(Storage::from)
    })?;
    Ok(Tensor::from_op(data, &out, Conv { dir, geom }, &inputs))
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
fn channel_sum(g: &Tensor) -> Result<Tensor> {
    g.sum(&[2, 3], false)?.sum(&[0], false)
}

/// A recorded convolution op.
struct Conv {
    dir: Dir,
    geom: ConvGeom,
}

impl Op for Conv {
    fn kind(&self) -> OpKind {
        match self.dir {
            Dir::Forward => OpKind::Conv2d,
            Dir::Transpose => OpKind::ConvTranspose2d,
            Dir::Weight => OpKind::Conv2dWeight,
        }
    }

    fn backward(
        &self,
        x: &[Tensor],
        _y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let geom = self.geom;
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        Ok(match self.dir {
            Dir::Forward => vec![
                when(need(0), || run(Dir::Transpose, g, &x[1], None, geom))?,
                when(need(1), || run(Dir::Weight, &x[0], g, None, geom))?,
                when(need(2), || channel_sum(g))?,
            ],
            Dir::Transpose => vec![
                when(need(0), || run(Dir::Forward, g, &x[1], None, geom))?,
                when(need(1), || run(Dir::Weight, g, &x[0], None, geom))?,
                when(need(2), || channel_sum(g))?,
            ],
            Dir::Weight => vec![
                when(need(0), || run(Dir::Transpose, &x[1], g, None, geom))?,
                when(need(1), || run(Dir::Forward, &x[0], g, None, geom))?,
            ],
        })
    }
}
