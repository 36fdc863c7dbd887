//! 2-D pooling (NCHW): `max_pool2d` (a gather at constant argmax indices; its backward, a
//! scatter-add to them, has the gather as backward), and `avg_pool2d` (`count_include_pad`, as
//! PyTorch's default) and `adaptive_avg_pool2d`, one windowed-average op and its adjoint.

use super::{check_float, check_index};
use crate::autograd::op::Op;
use crate::backend::cpu::float_map;
use crate::backend::cpu::pool::{self as k, AvgPlan};
use crate::backend::cpu::strided::to_contiguous;
use crate::backend::cuda::pool as cuda;
use crate::error::{invalid, Error, Result};
use crate::storage::CpuStorage;
use crate::Tensor;
use std::borrow::Cow;
use std::sync::Arc;

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

/// The i64 values of an index tensor (copied from the device when it is on one).
fn index_values(t: &Tensor) -> Result<Cow<'_, [i64]>> {
    match t.cpu_or_none() {
        Some(CpuStorage::I64(v)) => Ok(to_contiguous(v, t.layout())),
        None if t.dtype() == crate::DType::I64 => Ok(Cow::Owned(t.to_vec::<i64>()?)),
        _ => Err(Error::UnsupportedDType {
            op: "max_pool2d indices",
            dtype: t.dtype(),
        }),
    }
}

/// `out[n, c, j] = x[n, c, indices[n, c, j]]` over flattened planes, recorded as max pooling.
fn pool_gather(x: &Tensor, indices: &Tensor) -> Result<Tensor> {
    let [n, c, h, w] = dims4("max_pool2d", x)?;
    let out: Vec<usize> = indices.shape().to_vec();
    let (planes, hw) = (n * c, h * w);
    let plane = indices.numel() / planes.max(1);
    let op = Op::MaxPool2d {
        indices: indices.detach(),
    };
    if x.device().is_cuda() {
        let idx = indices.to_device(x.device())?;
        let data = cuda::plane_gather(x, &idx, planes, hw, plane)?;
        return Ok(Tensor::from_op(data, &out, op, &[x]));
    }
    let idx = index_values(indices)?;
    let l = x.layout();
    let data = float_map!(x.cpu(), "max_pool2d", |v| k::plane_gather(
        &to_contiguous(v, l),
        &idx,
        planes,
        hw,
        plane
    ))?;
    Ok(Tensor::from_op(data, &out, op, &[x]))
}

/// The adjoint of [`pool_gather`]: `g` scatter-added at `indices` into planes of `input`.
fn pool_scatter(g: &Tensor, indices: &Tensor, input: [usize; 2]) -> Result<Tensor> {
    let [n, c, ho, wo] = dims4("max_pool2d_backward", g)?;
    let (planes, hw, plane) = (n * c, input[0] * input[1], ho * wo);
    let op = Op::MaxPool2dBackward {
        indices: indices.detach(),
        input,
    };
    if g.device().is_cuda() {
        let idx = indices.to_device(g.device())?;
        let data = cuda::plane_scatter(g, &idx, planes, hw, plane)?;
        return Ok(Tensor::from_op(data, &[n, c, input[0], input[1]], op, &[g]));
    }
    let idx = index_values(indices)?;
    let l = g.layout();
    let data = float_map!(g.cpu(), "max_pool2d_backward", |v| k::plane_scatter(
        &to_contiguous(v, l),
        &idx,
        planes,
        hw,
        plane
    ))?;
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
    let l = x.layout();
    let planes = n * c;
    let op = if backward {
        Op::AvgPool2dBackward { plan: plan.clone() }
    } else {
        Op::AvgPool2d { plan: plan.clone() }
    };
    let shape = [n, c, out[0], out[1]];
    if x.device().is_cuda() {
        let data = cuda::avg_pool2d(x, planes, plan, backward)?;
        return Ok(Tensor::from_op(data, &shape, op, &[x]));
    }
    let data = float_map!(x.cpu(), name, |v| {
        let v = to_contiguous(v, l);
        if backward {
            k::avg_pool2d_backward(&v, planes, plan)
        } else {
            k::avg_pool2d(&v, planes, plan)
        }
    })?;
    Ok(Tensor::from_op(data, &shape, op, &[x]))
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
        let l = self.layout();
        let planes = n * c;
        let shape = [n, c, output[0], output[1]];
        if self.device().is_cuda() {
            let (data, idx) =
                cuda::max_pool2d(self, planes, [h, w], output, [kernel, stride, padding])?;
            let indices = Tensor::from_storage(idx, &shape);
            let op = Op::MaxPool2d {
                indices: indices.clone(),
            };
            return Ok((Tensor::from_op(data, &shape, op, &[self]), indices));
        }
        let (data, idx) = match self.cpu() {
            CpuStorage::F32(v) => {
                let v = to_contiguous(v, l);
                let (y, i) = k::max_pool2d(&v, planes, [h, w], output, kernel, stride, padding);
                (CpuStorage::F32(y), i)
            }
            CpuStorage::F64(v) => {
                let v = to_contiguous(v, l);
                let (y, i) = k::max_pool2d(&v, planes, [h, w], output, kernel, stride, padding);
                (CpuStorage::F64(y), i)
            }
            CpuStorage::I64(_) => unreachable!("checked float"),
        };
        let indices = Tensor::from_vec(idx, &shape)?;
        // Recorded as a gather at the argmax indices (its backward scatters to them).
        let op = Op::MaxPool2d {
            indices: indices.clone(),
        };
        let y = Tensor::from_op(data, &shape, op, &[self]);
        Ok((y, indices))
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
        // outside the buffer (for CUDA indices this copies them back, a synchronisation).
        k::check_plane_indices(op, &index_values(indices)?, input[0] * input[1])?;
        pool_scatter(self, indices, input)
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

/// Backward rules of the pooling ops.
pub(crate) fn backward(
    op: &Op,
    x: &[Tensor],
    _y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let gx = match op {
        Op::MaxPool2d { indices } => {
            let s = x[0].shape();
            pool_scatter(g, indices, [s[2], s[3]])?
        }
        Op::MaxPool2dBackward { indices, .. } => pool_gather(g, indices)?,
        Op::AvgPool2d { plan } => avg(g, plan, true)?,
        Op::AvgPool2dBackward { plan } => avg(g, plan, false)?,
        _ => unreachable!("not a pooling op: {}", op.name()),
    };
    Ok(vec![Some(gx)])
}

/// Gradcheck cases of the pooling ops.
pub(crate) fn gradcheck_cases() -> Vec<super::cases::OpCase> {
    use super::cases::{distinct, normal, OpCase};
    vec![
        OpCase {
            op: "max_pool2d",
            what: "[2,3,4,6] kernel 2 stride 2",
            inputs: |r| vec![distinct(r, &[2, 3, 4, 6])],
            f: |x| x[0].max_pool2d([2, 2], [2, 2], [0, 0]),
        },
        OpCase {
            op: "max_pool2d",
            what: "[1,5,5,4] kernel [3,2] stride [2,1] pad [1,1] (overlapping)",
            inputs: |r| vec![distinct(r, &[1, 5, 5, 4])],
            f: |x| x[0].max_pool2d([3, 2], [2, 1], [1, 1]),
        },
        OpCase {
            op: "max_pool2d_backward",
            what: "g [1,3,3,2] into [5,4], indices of a kernel-3 stride-2 pool",
            inputs: |r| vec![normal(r, &[1, 3, 3, 2])],
            f: |x| {
                let probe = distinct(&mut crate::Rng::new(11), &[1, 3, 5, 4]);
                let (_, idx) = probe.max_pool2d_with_indices([3, 2], [2, 2], [1, 0])?;
                x[0].max_pool2d_backward(&idx, [5, 4])
            },
        },
        OpCase {
            op: "avg_pool2d",
            what: "[2,3,5,4] kernel 3 stride 2 pad 1 (pad counted)",
            inputs: |r| vec![normal(r, &[2, 3, 5, 4])],
            f: |x| x[0].avg_pool2d([3, 3], [2, 2], [1, 1]),
        },
        OpCase {
            op: "avg_pool2d",
            what: "[1,5,4,6] kernel [2,3] stride [1,3]",
            inputs: |r| vec![normal(r, &[1, 5, 4, 6])],
            f: |x| x[0].avg_pool2d([2, 3], [1, 3], [0, 0]),
        },
        OpCase {
            op: "avg_pool2d_backward",
            what: "g [1,3,3,2] into [5,4], kernel 3 stride 2 pad 1",
            inputs: |r| vec![normal(r, &[1, 3, 3, 2])],
            f: |x| x[0].avg_pool2d_backward([5, 4], [3, 3], [2, 2], [1, 1]),
        },
        OpCase {
            op: "adaptive_avg_pool2d",
            what: "[2,3,5,4] to [1,1] (global)",
            inputs: |r| vec![normal(r, &[2, 3, 5, 4])],
            f: |x| x[0].adaptive_avg_pool2d([1, 1]),
        },
        OpCase {
            op: "adaptive_avg_pool2d",
            what: "[1,3,5,7] to [3,2] (overlapping windows)",
            inputs: |r| vec![normal(r, &[1, 3, 5, 7])],
            f: |x| x[0].adaptive_avg_pool2d([3, 2]),
        },
        OpCase {
            op: "adaptive_avg_pool2d_backward",
            what: "g [1,2,3,2] into [5,7]",
            inputs: |r| vec![normal(r, &[1, 2, 3, 2])],
            f: |x| x[0].adaptive_avg_pool2d_backward([5, 7]),
        },
    ]
}

#[cfg(test)]
mod tests {
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
}
