//! The CUDA backend: kernels from `maxl-kernels` (compiled once per device with NVRTC) launched
//! on one stream per device, device buffers from a caching allocator, and host transfers.
//! Each op family has a file of launchers that the engine's `ops/` files call when their
//! operands live on a `Cuda(n)` device. Index ops check their indices on the host before any
//! device access (an uploaded i64 tensor keeps its host values, so this costs no device
//! synchronisation); `gather`, `index_select` and `scatter_add` then run on the device
//! (`scatter_add` with an index smaller than its target on other axes, and `one_hot`, run on
//! the host). Uploads are asynchronous; downloads (`to_vec`, `item`, batch-norm statistics)
//! wait for the queued work.
//!
//! Runtimes: the CUDA driver, or (with `MAXL_CUDA_EMULATOR=1` or [`use_emulator`]) the kernel
//! emulator, which runs the same kernels on the CPU so that this backend is tested without a
//! GPU. f32 matmuls and convolutions use plain FP32 kernels unless [`set_allow_tf32`] allows
//! tensor-core TF32 (PyTorch's `allow_tf32`).

mod allocator;
mod buffer;
pub mod conv;
mod device;
mod driver;
pub mod elementwise;
mod emulated;
pub mod index;
pub mod launch;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod reduce;
mod runtime;
pub mod softmax;
pub mod transfer;

pub use buffer::CudaBuffer;
pub use device::{device, emulated, use_emulator, CudaDevice, MemoryStats};

use std::sync::atomic::{AtomicBool, Ordering};

static ALLOW_TF32: AtomicBool = AtomicBool::new(false);

/// Lets f32 matmuls and convolutions use TF32 tensor cores (10-bit mantissa products, f32
/// accumulation) where the shapes pay; off by default, as PyTorch's matmul default.
pub fn set_allow_tf32(on: bool) {
    ALLOW_TF32.store(on, Ordering::Relaxed);
}

pub fn allow_tf32() -> bool {
    ALLOW_TF32.load(Ordering::Relaxed)
}

/// The device for GPU tests and checks: `cuda:0` when the driver sees a GPU, else the kernel
/// emulator (switched on here) when a C++ compiler can build it; `Err` says why neither works.
/// With `MAXL_REQUIRE_GPU=1` (set by benches/gpu_check.sh) only a GPU will do: one that is
/// missing or fails to open (its context, say) is an `Err`, never the emulator.
pub fn gpu_or_emulator() -> std::result::Result<crate::Device, String> {
    let require = std::env::var("MAXL_REQUIRE_GPU").is_ok_and(|v| v == "1" || v == "true");
    if require {
        if emulated() {
            return Err(
                "MAXL_REQUIRE_GPU=1, but MAXL_CUDA_EMULATOR=1 asks for the kernel \
                        emulator"
                    .to_string(),
            );
        }
        return match maxl_kernels::gpus() {
            Ok(g) if !g.is_empty() => device(0)
                .map(|_| crate::Device::Cuda(0))
                .map_err(|e| format!("MAXL_REQUIRE_GPU=1, but cuda:0 failed to open: {e}")),
            Ok(_) => Err("MAXL_REQUIRE_GPU=1, but the driver sees no GPU".to_string()),
            Err(e) => Err(format!("MAXL_REQUIRE_GPU=1, but {e}")),
        };
    }
    if maxl_kernels::gpus().is_ok_and(|g| !g.is_empty()) {
        return Ok(crate::Device::Cuda(0));
    }
    match maxl_kernels::emulator::compiler_available() {
        Ok(_) => {
            use_emulator();
            Ok(crate::Device::Cuda(0))
        }
        Err(e) => Err(format!("no GPU and no kernel emulator: {e}")),
    }
}
