//! Matrix product: 2-D and batched, with NumPy broadcasting of the batch axes. Operands are
//! passed to the kernels with their strides, so transposed views cost no copy. Backward:
//! `dA = dC B^T`, `dB = A^T dC`, each summed back over broadcast batch axes, each only when
//! its operand needs it.

pub(crate) mod cases;
mod cpu_kernel;
mod cuda_kernel;

use super::checks::{check_float, check_same, when};
use crate::autograd::op::OpKind;
use crate::backend::BackendStorage;
use crate::error::{Error, Result};
use crate::layout::{broadcast_shapes, Layout};
use crate::storage::{on_device, AsBackend, Storage};
use crate::{Op, Tensor};

/// The matmul kernel of a backend.
pub(crate) trait MatmulKernel: BackendStorage {
    /// `a @ b` for `a` viewed as `la` `[batch.., m, k]` and `b` as `lb` `[batch.., k, n]` (the
    /// same batch shape, broadcast already), into a dense `[batch.., m, n]`.
    fn matmul(&self, la: &Layout, b: &Self, lb: &Layout) -> Result<Self>;
}

/// The recorded product.
struct Matmul;

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
        let data = on_device!(self.storage(), |s| s
            .matmul(&la, other.storage().as_backend()?, &lb)
            .map(Storage::from))?;
        Ok(Tensor::from_op(data, &with(m, n), Matmul, &[self, other]))
    }
}

impl Op for Matmul {
    fn kind(&self) -> OpKind {
        OpKind::Matmul
    }

    fn backward(
        &self,
        x: &[Tensor],
        _y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![
            when(needs[0], || g.matmul(&x[1].t()?)?.sum_to(x[0].shape()))?,
            when(needs[1], || x[0].t()?.matmul(g)?.sum_to(x[1].shape()))?,
        ])
    }
}
