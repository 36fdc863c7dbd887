//! maxl-engine: tensors with strided views, a tape-based reverse-mode autodiff whose backward
//! rules are themselves recorded tensor ops (so gradients of any order work), a CPU backend
//! (rayon, `gemm`), a CUDA backend (`Device::Cuda(n)`, kernels from `maxl-kernels` compiled
//! with NVRTC, or run on the CPU by the kernel emulator for tests), and
//! `gradcheck`/`gradgradcheck` against finite differences.
//!
//! ```
//! use maxl_engine::{grad, DType, Tensor};
//! let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap().set_requires_grad(true).unwrap();
//! let y = x.pow(3.0).unwrap().sum_all().unwrap();
//! let g = grad(&[y], &[x.clone()], None, true).unwrap();      // 3x^2
//! let gg = grad(&[g[0].sum_all().unwrap()], &[x], None, false).unwrap(); // 6x
//! assert_eq!(gg[0].to_vec::<f64>().unwrap(), vec![6.0, 12.0]);
//! ```
//!
//! # Public API
//! - [`Tensor`]: constructors (`from_vec`, `full`/`full_on`, `zeros`, `ones`, `arange`,
//!   `rand`/`randn` from a seeded [`Rng`], `from_f64s`), transfers (`to_device`, `to_dtype`,
//!   `to_vec`, `to_f64_vec`, `item`), autograd state (`set_requires_grad`, `detach`, `grad`,
//!   `backward`, `op_name`) and the ops, one family per module of [`ops`]: elementwise
//!   arithmetic, math and masks, reductions, matmul, shape views and `concat`/`stack`, index
//!   ops, softmax family (with MAXL's Mask SoftMax), the focal loss, convolutions, pooling, batch norm ([`batch_norm`] and the fused
//!   gradient ops in [`ops::norm`]), and `linear`/`dropout`.
//! - Autodiff: [`grad`], [`grad_with`] (PyTorch's `autograd.grad`), [`Tensor::backward`],
//!   [`no_grad`]/[`set_grad_enabled`]; [`Op`] (a recorded op with its backward rule) and
//!   [`OpKind`] (the registry of op kinds); [`gradcheck`] (finite-difference checks of any
//!   order) and [`ops::cases`] (every op's gradcheck cases).
//! - [`Device`] (with `parse`, `ensure_available`, `synchronize`), [`DType`], [`Float`],
//!   [`Error`]/[`Result`]; the CUDA runtime in [`backend::cuda`] (`device`, `use_emulator`,
//!   `gpu_or_emulator`, `set_allow_tf32`, memory figures).
//! - Figures for tests and benchmarks: [`stats()`] (ops run and recorded, backward rules, kernel
//!   launches, host synchronisations of this thread; [`stats::record_kernel_names`] for the
//!   names of the kernels launched), [`live_tensors`], [`live_storages`], [`live_storage_bytes`].
//!
//! # Layout (DESIGN.md, "Second edition")
//! - `tensor.rs` (the handle and its tape node), `layout.rs`, `dtype.rs`, `device.rs`,
//!   `error.rs`, `rng.rs`, `stats.rs`, `gradcheck.rs`.
//! - `storage.rs`: a buffer of either backend; the one place that matches on the device.
//! - `backend/`: the contract ([`backend::BackendStorage`]: storage and layout in, storage
//!   out), `backend/cpu/` the generic host infrastructure (strided copies, the once-only dtype
//!   dispatch `Map1`/`Map2`, recycled outputs, rayon helpers, the `gemm` wrapper) and
//!   `backend/cuda/` the device runtime (devices, allocator, driver and emulator, launches,
//!   copies and transfers). It knows nothing of tensors, the tape or the ops.
//! - `autograd/`: grad mode, the tape walk (which runs only the backward rules whose inputs
//!   someone needs, and tells each rule which of its inputs are needed), the op-kind registry.
//! - `ops/<family>/`: a family's public functions, argument checks, recorded op kinds with
//!   their backward rules, its kernel trait (implemented in `cpu_kernel.rs` and
//!   `cuda_kernel.rs`) and its gradcheck cases (`cases.rs`); op-level constants (convolution
//!   geometry, pooling plans, batch-norm statistics) live with their family.

pub mod autograd;
pub mod backend;
pub mod device;
pub mod dtype;
pub mod error;
pub mod gradcheck;
pub mod layout;
pub mod ops;
pub mod rng;
pub mod stats;
pub mod storage;
pub mod tensor;

pub use autograd::op::OpKind;
pub use autograd::{grad, grad_with, is_grad_enabled, no_grad, set_grad_enabled, NoGradGuard};
pub use device::Device;
pub use dtype::{DType, Float};
pub use error::{Error, Result};
pub use ops::norm::batch_norm;
pub use rng::Rng;
pub use stats::{reset_stats, stats, Stats};
pub use storage::{live_storage_bytes, live_storages};
pub use tensor::{live_tensors, Op, Tensor};
