//! 2-D pooling (NCHW): `max_pool2d` (a gather at constant argmax indices; its backward, a
//! scatter-add to them, has the gather as backward), and `avg_pool2d` (`count_include_pad`, as
//! PyTorch's default) and `adaptive_avg_pool2d`, one windowed-average op (its windows an
//! [`AvgPlan`], an op-level constant) and its adjoint.

pub(crate) mod cases;
mod cpu_kernel;
mod cuda_kernel;
mod max_2x2;
mod plan;
#[cfg(test)]
mod tests;

pub use plan::AvgPlan;

use super::checks::{check_float, check_index, when};
use crate::autograd::op::OpKind;
use crate::backend::BackendStorage;
use crate::error::{invalid, Error, Result};
use crate::layout::Layout;
use crate::storage::{on_device, AsBackend, Storage};
use crate::{Op, Tensor};
use std::sync::Arc;

/// The pooling kernels of a backend. Index buffers hold i64 in-plane offsets `h * W + w`.
pub(crate) trait PoolKernel: BackendStorage {
    /// Max pooling of `planes` planes of `input` into `output` by `[kernel, stride,
    /// padding]`: the maxima and the in-plane argmax of each (NaN wins, as in PyTorch).
    fn max_pool2d(
        &self,
        l: &Layout,
        planes: usize,
        input: [usize; 2],
        output: [usize; 2],
        kernel_stride_padding: [[usize; 2]; 3],
    ) -> Result<(Self, Self)>;
    /// `out[p, j] = x[p, idx[p, j]]` for planes of `hw` inputs and `plane` outputs.
    fn plane_gather(
        &self,
        l: &Layout,
        idx: (&Self, &Layout),
        planes: usize,
        hw: usize,
        plane: usize,
    ) -> Result<Self>;
    /// The adjoint of `plane_gather`: zeros of `planes * hw` with `g[p, j]` added at
    /// `idx[p, j]`, in order. `window`: the `[kernel, stride, padding]` of the max pooling
    /// whose argmax indices these are (`None`: indices of any origin), so that a backend may
    /// gather per input element over the windows that cover it instead of scattering (CUDA
    /// does: one thread per input, no atomics, no serial loop per plane).
    fn plane_scatter(
        &self,
        l: &Layout,
        idx: (&Self, &Layout),
        planes: usize,
        hw: [usize; 2],
        plane: [usize; 2],
        window: Option<[[usize; 2]; 3]>,
    ) -> Result<Self>;
    /// Average pooling of `planes` planes by `plan` (`backward`: its adjoint, from
    /// output-sized planes to input-sized ones).
    fn avg_pool2d(&self, l: &Layout, planes: usize, plan: &AvgPlan, backward: bool)
        -> Result<Self>;
}

fn dims4(op: &'static str, t: &Tensor) -> Result<[usize; 4]> {
    match *t.shape() {
        [a, b, c, d] => Ok([a, b, c, d]),
        _ => invalid(format!(
            "{op}: input must be 4-D [N, C, H, W], got shape {:?}",
            t.shape()
        )),
    }
}

/// Checks pooling parameters as PyTorch does and returns the output size.
fn pool_out(
    op: &'static str,
    x: &Tensor,
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<[usize; 2]> {
    if kernel.contains(&0) || stride.contains(&0) {
        return invalid(format!(
            "{op}: kernel {kernel:?} and stride {stride:?} must be positive"
        ));
    }
    let mut out = [0; 2];
    for a in 0..2 {
        if 2 * padding[a] > kernel[a] {
            return invalid(format!(
                "{op}: padding {padding:?} must be at most half the kernel {kernel:?}"
            ));
        }
        let padded = input[a] + 2 * padding[a];
        if kernel[a] > padded {
            return invalid(format!(
                "{op}: kernel {kernel:?} is larger than the padded input {:?} (input {:?}, \
                 padding {padding:?})",
                [input[0] + 2 * padding[0], input[1] + 2 * padding[1]],
                x.shape()
            ));
        }
        out[a] = (padded - kernel[a]) / stride[a] + 1;
    }
    Ok(out)
}

/// `[kernel, stride, padding]` of a max pooling, when argmax indices are its own.
type Window = Option<[[usize; 2]; 3]>;

/// The recorded pooling ops; the indices and plans are constants.
enum PoolOp {
    /// Max pooling seen as a gather of each plane at the argmax `indices` (of `window`).
    MaxPool2d { indices: Tensor, window: Window },
    /// Scatter-add of a max pool's output gradient to its argmax `indices` (of `window`).
    MaxPool2dBackward { indices: Tensor, window: Window },
    /// Average pooling over the windows of `plan` (fixed-stride or adaptive).
    AvgPool2d { plan: Arc<AvgPlan> },
    /// The adjoint of `AvgPool2d`: spreads gradients over the windows.
    AvgPool2dBackward { plan: Arc<AvgPlan> },
}

/// `out[n, c, j] = x[n, c, indices[n, c, j]]` over flattened planes, recorded as max pooling.
fn pool_gather(x: &Tensor, indices: &Tensor, window: Window) -> Result<Tensor> {
    let [n, c, h, w] = dims4("max_pool2d", x)?;
    let out: Vec<usize> = indices.shape().to_vec();
    let (planes, hw) = (n * c, h * w);
    let plane = indices.numel() / planes.max(1);
    let idx = indices.to_device(x.device())?;
    let data = on_device!(x.storage(), |s| s
        .plane_gather(
            x.layout(),
            (idx.storage().as_backend()?, idx.layout()),
            planes,
            hw,
            plane
        )
        .map(Storage::from))?;
    let op = PoolOp::MaxPool2d {
        indices: indices.detach(),
        window,
    };
    Ok(Tensor::from_op(data, &out, op, &[x]))
}

/// The adjoint of [`pool_gather`]: `g` scatter-added at `indices` into planes of `input`.
fn pool_scatter(g: &Tensor, indices: &Tensor, input: [usize; 2], window: Window) -> Result<Tensor> {
    let [n, c, ho, wo] = dims4("max_pool2d_backward", g)?;
    let (planes, hw, plane) = (n * c, input, [ho, wo]);
    let idx = indices.to_device(g.device())?;
    let data = on_device!(g.storage(), |s| s
        .plane_scatter(
            g.layout(),
            (idx.storage().as_backend()?, idx.layout()),
            planes,
            hw,
            plane,
            window
        )
        .map(Storage::from))?;
    let op = PoolOp::MaxPool2dBackward {
        indices: indices.detach(),
        window,
    };
    Ok(Tensor::from_op(data, &[n, c, input[0], input[1]], op, &[g]))
}

/// Windowed average (`backward = false`) or its adjoint (`backward = true`) by `plan`.
fn avg(x: &Tensor, plan: &Arc<AvgPlan>, backward: bool) -> Result<Tensor> {
    let name = if backward {
        "avg_pool2d_backward"
    } else {
        "avg_pool2d"
    };
    check_float(name, x)?;
    let [n, c, h, w] = dims4(name, x)?;
    let [ho, wo] = plan.output();
    let (have, out) = if backward {
        ([ho, wo], plan.input)
    } else {
        (plan.input, [ho, wo])
    };
    if [h, w] != have {
        return Err(Error::ShapeMismatch {
            op: name,
            lhs: x.shape().to_vec(),
            rhs: vec![n, c, have[0], have[1]],
        });
    }
    let data = on_device!(x.storage(), |s| s
        .avg_pool2d(x.layout(), n * c, plan, backward)
        .map(Storage::from))?;
    let op = if backward {
        PoolOp::AvgPool2dBackward { plan: plan.clone() }
    } else {
        PoolOp::AvgPool2d { plan: plan.clone() }
    };
    Ok(Tensor::from_op(data, &[n, c, out[0], out[1]], op, &[x]))
}

/// Checks that every index lies in a plane of `hw` elements.
fn check_plane_indices(op: &'static str, idx: &[i64], hw: usize) -> Result<()> {
    match idx.iter().find(|&&i| i < 0 || i as usize >= hw) {
        Some(&i) => Err(Error::IndexOutOfRange {
            op,
            index: i,
            size: hw,
        }),
        None => Ok(()),
    }
}

impl Tensor {
    /// 2-D max pooling of `[N, C, H, W]` (PyTorch's `max_pool2d`, dilation 1, floor mode):
    /// padding counts as minus infinity and must be at most half the kernel.
    pub fn max_pool2d(
        &self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Tensor> {
        Ok(self.max_pool2d_with_indices(kernel, stride, padding)?.0)
    }

    /// [`Tensor::max_pool2d`] and the i64 argmax of each output, as a flat index `h * W + w`
    /// into its input plane (PyTorch's `return_indices = True`).
    pub fn max_pool2d_with_indices(
        &self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Result<(Tensor, Tensor)> {
        let op = "max_pool2d";
        check_float(op, self)?;
        let [n, c, h, w] = dims4(op, self)?;
        let output = pool_out(op, self, [h, w], kernel, stride, padding)?;
        if h * w > u32::MAX as usize {
            return invalid(format!("{op}: input planes of {h}x{w} are too large"));
        }
        let shape = [n, c, output[0], output[1]];
        let (data, idx) = on_device!(self.storage(), |s| s
            .max_pool2d(
                self.layout(),
                n * c,
                [h, w],
                output,
                [kernel, stride, padding]
            )
            .map(|(y, i)| (Storage::from(y), Storage::from(i))))?;
        let indices = Tensor::from_storage(idx, &shape);
        // Recorded as a gather at the argmax indices (its backward scatters to them).
        let op = PoolOp::MaxPool2d {
            indices: indices.clone(),
            window: Some([kernel, stride, padding]),
        };
        Ok((Tensor::from_op(data, &shape, op, &[self]), indices))
    }

    /// The input gradient of max pooling: `self` (the output gradient, `[N, C, Ho, Wo]`)
    /// scatter-added at `indices` (from [`Tensor::max_pool2d_with_indices`]) into planes of
    /// size `input` (H, W).
    pub fn max_pool2d_backward(&self, indices: &Tensor, input: [usize; 2]) -> Result<Tensor> {
        let op = "max_pool2d_backward";
        check_float(op, self)?;
        check_index(op, indices)?;
        dims4(op, self)?;
        if indices.shape() != self.shape() {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: indices.shape().to_vec(),
            });
        }
        // Checked on the host: an index out of its plane must be an error, never a write
        // outside the buffer (for indices made on a device this copies them back, a
        // synchronisation).
        check_plane_indices(op, &indices.to_vec::<i64>()?, input[0] * input[1])?;
        pool_scatter(self, indices, input, None)
    }

    /// 2-D average pooling of `[N, C, H, W]` (PyTorch's `avg_pool2d` with
    /// `count_include_pad = true`, floor mode): every window divides by `kh * kw`.
    pub fn avg_pool2d(
        &self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Tensor> {
        let [_, _, h, w] = dims4("avg_pool2d", self)?;
        let out = pool_out("avg_pool2d", self, [h, w], kernel, stride, padding)?;
        let plan = AvgPlan::fixed([h, w], out, kernel, stride, padding);
        avg(self, &Arc::new(plan), false)
    }

    /// The input gradient of [`Tensor::avg_pool2d`] for an input of spatial size `input`.
    pub fn avg_pool2d_backward(
        &self,
        input: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Tensor> {
        let out = pool_out("avg_pool2d_backward", self, input, kernel, stride, padding)?;
        let plan = AvgPlan::fixed(input, out, kernel, stride, padding);
        avg(self, &Arc::new(plan), true)
    }

    /// Adaptive average pooling to `output` (oh, ow) (PyTorch's `adaptive_avg_pool2d`): window
    /// `i` covers `floor(i H / oh) .. ceil((i + 1) H / oh)`; `[1, 1]` is a global average.
    pub fn adaptive_avg_pool2d(&self, output: [usize; 2]) -> Result<Tensor> {
        let [_, _, h, w] = dims4("adaptive_avg_pool2d", self)?;
        if output.contains(&0) || h == 0 || w == 0 {
            return invalid(format!(
                "adaptive_avg_pool2d: cannot pool input {:?} to {output:?}",
                self.shape()
            ));
        }
        avg(self, &Arc::new(AvgPlan::adaptive([h, w], output)), false)
    }

    /// The input gradient of [`Tensor::adaptive_avg_pool2d`] for an input of spatial size
    /// `input`; `self` is the output gradient.
    pub fn adaptive_avg_pool2d_backward(&self, input: [usize; 2]) -> Result<Tensor> {
        let [_, _, ho, wo] = dims4("adaptive_avg_pool2d_backward", self)?;
        if input.contains(&0) || ho == 0 || wo == 0 {
            return invalid(format!(
                "adaptive_avg_pool2d_backward: cannot spread {:?} over {input:?}",
                self.shape()
            ));
        }
        avg(self, &Arc::new(AvgPlan::adaptive(input, [ho, wo])), true)
    }
}

impl Op for PoolOp {
    fn kind(&self) -> OpKind {
        match self {
            PoolOp::MaxPool2d { .. } => OpKind::MaxPool2d,
            PoolOp::MaxPool2dBackward { .. } => OpKind::MaxPool2dBackward,
            PoolOp::AvgPool2d { .. } => OpKind::AvgPool2d,
            PoolOp::AvgPool2dBackward { .. } => OpKind::AvgPool2dBackward,
        }
    }

    fn backward(
        &self,
        x: &[Tensor],
        _y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let gx = when(needs[0], || match self {
            PoolOp::MaxPool2d { indices, window } => {
                let s = x[0].shape();
                pool_scatter(g, indices, [s[2], s[3]], *window)
            }
            PoolOp::MaxPool2dBackward { indices, window } => pool_gather(g, indices, *window),
            PoolOp::AvgPool2d { plan } => avg(g, plan, true),
            PoolOp::AvgPool2dBackward { plan } => avg(g, plan, false),
        })?;
        Ok(vec![gx])
    }
}
