//! A typed buffer in device memory, the CUDA backend's storage; dropping it hands the block
//! back to its device's caching allocator.

use super::device::CudaDevice;
use crate::error::Result;
use crate::{DType, Device};
use std::fmt;
use std::sync::Arc;

pub struct CudaStorage {
    dev: Arc<CudaDevice>,
    ptr: u64,
    len: usize,
    dtype: DType,
    block: usize,
}

impl CudaStorage {
    /// An uninitialised buffer of `len` elements of `dtype` on `dev`.
    pub(crate) fn alloc(dev: &Arc<CudaDevice>, len: usize, dtype: DType) -> Result<CudaStorage> {
        let (ptr, block) = dev.alloc_block(len * dtype.size_in_bytes())?;
        Ok(CudaStorage {
            dev: dev.clone(),
            ptr,
            len,
            dtype,
            block,
        })
    }

    /// Device address of element 0.
    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    /// Device address of element `offset`.
    pub fn addr_at(&self, offset: usize) -> u64 {
        self.ptr + (offset * self.dtype.size_in_bytes()) as u64
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

impl Drop for CudaStorage {
    fn drop(&mut self) {
        self.dev.release(self.ptr, self.block);
    }
}

impl fmt::Debug for CudaStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CudaStorage({}, {} x {:?} at {:#x})",
            self.device(),
            self.len,
            self.dtype,
            self.ptr
        )
    }
}
