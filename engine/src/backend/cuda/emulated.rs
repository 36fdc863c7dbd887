//! The emulated CUDA device: "device" memory is host memory and kernels run on the CPU through
//! `maxl-kernels`' emulator (the same `.cu` sources, compiled with the host C++ compiler). It is
//! slow and exists for testing: the CUDA backend's dispatch, launch shapes and argument lists
//! run for real on machines without a GPU. Selected with `MAXL_CUDA_EMULATOR=1` or
//! [`super::use_emulator`].

use super::runtime::Runtime;
use crate::error::{Error, Result};
use std::alloc::{alloc, dealloc, Layout};
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Mutex;

/// Alignment of emulated allocations (as cudaMalloc's 256 bytes).
const ALIGN: usize = 256;

pub(crate) struct EmulatedRuntime {
    emulator: &'static maxl_kernels::Emulator,
    sizes: Mutex<HashMap<u64, usize>>,
}

impl EmulatedRuntime {
    pub(crate) fn new() -> Result<EmulatedRuntime> {
        let emulator = maxl_kernels::Emulator::global().map_err(|e| {
            Error::CudaUnavailable(format!("the kernel emulator could not be built: {e}"))
        })?;
        Ok(EmulatedRuntime {
            emulator,
            sizes: Mutex::new(HashMap::new()),
        })
    }

    fn sizes(&self) -> std::sync::MutexGuard<'_, HashMap<u64, usize>> {
        self.sizes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Runtime for EmulatedRuntime {
    fn describe(&self) -> String {
        "kernel emulator (CUDA kernels run on the CPU)".into()
    }

    fn alloc(&self, bytes: usize) -> Result<u64> {
        let layout = Layout::from_size_align(bytes.max(1), ALIGN)
            .map_err(|e| Error::Cuda(format!("emulated alloc of {bytes} bytes: {e}")))?;
        // SAFETY: a non-zero size.
        let p = unsafe { alloc(layout) };
        if p.is_null() {
            return Err(Error::Cuda(format!(
                "emulated alloc of {bytes} bytes failed"
            )));
        }
        self.sizes().insert(p as u64, bytes.max(1));
        Ok(p as u64)
    }

    unsafe fn free(&self, ptr: u64) {
        if let Some(bytes) = self.sizes().remove(&ptr) {
            if let Ok(layout) = Layout::from_size_align(bytes, ALIGN) {
                dealloc(ptr as *mut u8, layout);
            }
        }
    }

    unsafe fn htod(&self, dst: u64, src: &[u8]) -> Result<()> {
        std::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len());
        Ok(())
    }

    unsafe fn dtoh(&self, dst: &mut [u8], src: u64) -> Result<()> {
        std::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len());
        Ok(())
    }

    unsafe fn dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        std::ptr::copy(src as *const u8, dst as *mut u8, bytes);
        Ok(())
    }

    unsafe fn launch(
        &self,
        name: &str,
        grid: [u32; 3],
        block: [u32; 3],
        shared_mem_bytes: u32,
        params: &mut [*mut c_void],
    ) -> Result<()> {
        self.emulator
            .launch(name, grid, block, shared_mem_bytes, params)
            .map_err(|e| Error::Cuda(format!("emulated launch of {name}: {e}")))
    }

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}
