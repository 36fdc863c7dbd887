//! A typed buffer in device memory; dropping it hands the block back to the device's caching
//! allocator.

use super::device::CudaDevice;
use crate::{DType, Device};
use std::fmt;
use std::sync::Arc;

pub struct CudaBuffer {
    dev: Arc<CudaDevice>,
    ptr: u64,
    len: usize,
    dtype: DType,
    block: usize,
}

impl CudaBuffer {
    pub(crate) fn new(
        dev: Arc<CudaDevice>,
        ptr: u64,
        len: usize,
        dtype: DType,
        block: usize,
    ) -> Self {
        CudaBuffer {
            dev,
            ptr,
            len,
            dtype,
            block,
        }
    }

    /// Device address of element 0.
    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> Device {
        Device::Cuda(self.dev.ordinal())
    }

    pub(crate) fn dev(&self) -> &Arc<CudaDevice> {
        &self.dev
    }
}

impl Drop for CudaBuffer {
    fn drop(&mut self) {
        self.dev.release(self.ptr, self.block);
    }
}

impl fmt::Debug for CudaBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CudaBuffer({}, {} x {:?} at {:#x})",
            self.device(),
            self.len,
            self.dtype,
            self.ptr
        )
    }
}
