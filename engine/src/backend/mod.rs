//! The backend contract: storage and layout in, storage out.
//!
//! A backend is a buffer type of one device kind that implements [`BackendStorage`] (its
//! dtype, length and device, strided copies, casts, fills and the copy to the host):
//! [`cpu::buffer::CpuStorage`] on host memory and [`cuda::CudaStorage`] on device memory. The op
//! kernels are the rest of the contract, one trait per op family, declared by the family
//! (`ops/<family>/mod.rs`, e.g. `ConvKernel: BackendStorage`) and implemented for each buffer
//! type beside it (`ops/<family>/cpu_kernel.rs`, `cuda_kernel.rs`), as dfdx's tensor ops are.
//! `crate::storage::Storage` holds either buffer and is the one place that matches on the
//! device; nothing in `backend/` knows tensors, the tape or the ops.
//!
//! What lives here is what every family shares: for the host, the generic infrastructure
//! (strided copies, the dtype dispatch [`cpu::dispatch`], recycled outputs, rayon helpers, the
//! `gemm` wrapper, scratch pools); for CUDA devices, the runtime (devices, the caching
//! allocator, the driver and the kernel emulator, kernel launches, copies and transfers).

pub mod cpu;
pub mod cuda;

use crate::backend::cpu::buffer::CpuStorage;
use crate::error::Result;
use crate::layout::Layout;
use crate::{DType, Device};

impl Device {
    /// Parses `cpu`, `cuda` or `cuda:N`.
    pub fn parse(s: &str) -> crate::Result<Device> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(Device::Cuda(n)),
                _ => crate::error::invalid(format!(
                    "unknown device '{s}': expected cpu, cuda or cuda:N"
                )),
            },
        }
    }

    /// Checks that this device can be used on this machine (opens a CUDA device: loads the
    /// driver, retains its context).
    pub fn ensure_available(self) -> crate::Result<()> {
        match self {
            Device::Cpu => Ok(()),
            Device::Cuda(n) => cuda::device(n).map(|_| ()),
        }
    }

    /// Waits until the device has finished all queued work (a no-op on the CPU); for timing.
    pub fn synchronize(self) -> crate::Result<()> {
        match self {
            Device::Cpu => Ok(()),
            Device::Cuda(n) => cuda::device(n)?.synchronize(),
        }
    }
}

/// A buffer of one dtype on one device, as every backend provides it. Views are described by a
/// [`Layout`] (shape, strides, offset) into the buffer; every result is a new dense buffer.
pub trait BackendStorage: Sized + Send + Sync + 'static {
    fn dtype(&self) -> DType;
    /// Number of elements.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn device(&self) -> Device;
    /// The view's elements as a new dense buffer, in row-major order.
    fn copy_strided(&self, l: &Layout) -> Result<Self>;
    /// The view's elements converted to `dtype` (a dense copy; float to integer truncates).
    fn to_dtype(&self, l: &Layout, dtype: DType) -> Result<Self>;
    /// `n` elements of `dtype` equal to `v`, on this buffer's device.
    fn full_like(&self, n: usize, v: f64, dtype: DType) -> Result<Self>;
    /// The view's elements on the host, in row-major order (from a device, this waits for the
    /// work queued before it).
    fn to_cpu(&self, l: &Layout) -> Result<CpuStorage>;
}
