//! Matrix product: 2-D and batched, with NumPy broadcasting of the batch axes. Operands are
//! passed to `gemm` with their strides, so transposed views cost no copy. Backward:
//! `dA = dC B^T`, `dB = A^T dC`, each summed back over broadcast batch axes.

use super::{check_float, check_same};
use crate::autograd::op::Op;
use crate::backend::cpu::matmul as k;
use crate::error::{Error, Result};
use crate::layout::broadcast_shapes;
use crate::storage::{CpuStorage, Storage};
use crate::Tensor;

impl Tensor {
    /// `self @ other` for tensors of rank >= 2: `[.., m, k] @ [.., k, n] -> [.., m, n]`.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        check_same("matmul", self, other)?;
        check_float("matmul", self)?;
        let mismatch = || Error::ShapeMismatch {
            op: "matmul",
            lhs: self.shape().to_vec(),
            rhs: other.shape().to_vec(),
        };
        let (ra, rb) = (self.rank(), other.rank());
        if ra < 2 || rb < 2 {
            return Err(mismatch());
        }
        let (m, ka) = (self.shape()[ra - 2], self.shape()[ra - 1]);
        let (kb, n) = (other.shape()[rb - 2], other.shape()[rb - 1]);
        if ka != kb {
            return Err(mismatch());
        }
        let batch = broadcast_shapes("matmul", &self.shape()[..ra - 2], &other.shape()[..rb - 2])
            .map_err(|_| mismatch())?;
        let with = |a: usize, b: usize| {
            let mut s = batch.clone();
            s.extend([a, b]);
            s
        };
        let la = self.layout().broadcast_to(&with(m, ka))?;
        let lb = other.layout().broadcast_to(&with(ka, n))?;
        let data: Storage = if self.device().is_cuda() {
            crate::backend::cuda::matmul::matmul(self, &la, other, &lb)?
        } else {
            match (self.cpu(), other.cpu()) {
                (CpuStorage::F32(a), CpuStorage::F32(b)) => {
                    CpuStorage::F32(k::matmul(a, &la, b, &lb))
                }
                (CpuStorage::F64(a), CpuStorage::F64(b)) => {
                    CpuStorage::F64(k::matmul(a, &la, b, &lb))
                }
                _ => unreachable!("dtypes checked"),
            }
            .into()
        };
        Ok(Tensor::from_op(
            data,
            &with(m, n),
            Op::Matmul,
            &[self, other],
        ))
    }
}

/// Backward rule of matmul.
pub(crate) fn backward(
    op: &Op,
    x: &[Tensor],
    _y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    match op {
        Op::Matmul => {
            let ga = g.matmul(&x[1].t()?)?.sum_to(x[0].shape())?;
            let gb = x[0].t()?.matmul(g)?.sum_to(x[1].shape())?;
            Ok(vec![Some(ga), Some(gb)])
        }
        _ => unreachable!("not matmul: {}", op.name()),
    }
}

/// Gradcheck cases of matmul.
pub(crate) fn gradcheck_cases() -> Vec<super::cases::OpCase> {
    use super::cases::{normal, OpCase};
    vec![
        OpCase {
            op: "matmul",
            what: "[3,4] @ [4,2]",
            inputs: |r| vec![normal(r, &[3, 4]), normal(r, &[4, 2])],
            f: |x| x[0].matmul(&x[1]),
        },
        OpCase {
            op: "matmul",
            what: "batched [2,1,3,4] @ [3,4,2]",
            inputs: |r| vec![normal(r, &[2, 1, 3, 4]), normal(r, &[3, 4, 2])],
            f: |x| x[0].matmul(&x[1]),
        },
        OpCase {
            op: "matmul",
            what: "transposed operand [4,3]^T @ [4,1]",
            inputs: |r| vec![normal(r, &[4, 3]), normal(r, &[4, 1])],
            f: |x| x[0].t()?.matmul(&x[1]),
        },
    ]
}
