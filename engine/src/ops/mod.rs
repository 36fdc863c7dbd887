//! Tensor operations, one folder per family (`ops/<family>/`, as dfdx's `tensor_ops/<op>/`):
//! `mod.rs` holds the family's public methods on [`Tensor`](crate::Tensor), their argument
//! checks, the recorded op kinds with their backward rules (written only in differentiable
//! tensor ops, so gradients of any order work) and the family's kernel trait (storage and
//! layout in, storage out); `cpu_kernel.rs` and `cuda_kernel.rs` implement that trait for the
//! two backends (the `.cu` sources stay in `maxl-kernels`, whose kernel names are derived from
//! them), and `cases.rs` holds the family's gradcheck cases. A family is registered here (its
//! `mod` line), in [`cases`] (its gradcheck cases) and its op kinds in
//! [`OpKind`](crate::OpKind).

pub mod cases;
pub(crate) mod checks;
pub mod conv;
pub mod elementwise;
pub mod focal;
pub mod index;
pub mod matmul;
pub mod nn;
pub mod norm;
pub mod op_case;
pub mod pool;
pub mod reduce;
pub mod shape;
pub mod softmax;
