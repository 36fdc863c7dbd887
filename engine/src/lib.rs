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
