//! The CUDA backend's runtime: devices opened once per ordinal ([`device`]), each with one
//! stream, a caching allocator and its runtime (the CUDA driver, or with
//! `MAXL_CUDA_EMULATOR=1` / [`use_emulator`] the kernel emulator, which runs the same `.cu`
//! kernels on the CPU so that this backend is tested without a GPU); [`CudaStorage`], the
//! device buffer; kernel launches (`launch`: argument lists, grids, kernel names per dtype);
//! copies on the device (`copy`) and host transfers (`transfer`). The op families'
//! launchers (`ops/<family>/cuda_kernel.rs`) are built on these. Uploads are asynchronous;
//! downloads wait for the queued work. f32 matmuls and convolutions use plain FP32 kernels
//! unless [`set_allow_tf32`] allows tensor-core TF32 (PyTorch's `allow_tf32`).

mod allocator;
pub(crate) mod copy;
mod device;
mod driver;
mod emulated;
pub(crate) mod launch;
mod runtime;
mod storage;
pub(crate) mod transfer;

pub use device::{device, emulated, use_emulator, CudaDevice, MemoryStats};
pub use storage::CudaStorage;

use crate::backend::cpu::buffer::CpuStorage;
use crate::backend::BackendStorage;
use crate::error::Result;
use crate::layout::Layout;
use crate::{DType, Device};
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
pub fn gpu_or_emulator() -> std::result::Result<Device, String> {
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
                .map(|_| Device::Cuda(0))
                .map_err(|e| format!("MAXL_REQUIRE_GPU=1, but cuda:0 failed to open: {e}")),
            Ok(_) => Err("MAXL_REQUIRE_GPU=1, but the driver sees no GPU".to_string()),
            Err(e) => Err(format!("MAXL_REQUIRE_GPU=1, but {e}")),
        };
    }
    if maxl_kernels::gpus().is_ok_and(|g| !g.is_empty()) {
        return Ok(Device::Cuda(0));
    }
    match maxl_kernels::emulator::compiler_available() {
        Ok(_) => {
            use_emulator();
            Ok(Device::Cuda(0))
        }
        Err(e) => Err(format!("no GPU and no kernel emulator: {e}")),
    }
}

impl BackendStorage for CudaStorage {
    fn dtype(&self) -> DType {
        CudaStorage::dtype(self)
    }

    fn len(&self) -> usize {
        CudaStorage::len(self)
    }

    fn device(&self) -> Device {
        CudaStorage::device(self)
    }

    fn copy_strided(&self, l: &Layout) -> Result<Self> {
        copy::contiguous(self, l)
    }

    fn to_dtype(&self, l: &Layout, dtype: DType) -> Result<Self> {
        copy::cast(self, l, dtype)
    }

    fn full_like(&self, n: usize, v: f64, dtype: DType) -> Result<Self> {
        copy::fill(self.dev(), n, dtype, v)
    }

    fn to_cpu(&self, l: &Layout) -> Result<CpuStorage> {
        transfer::download(self, l)
    }
}
