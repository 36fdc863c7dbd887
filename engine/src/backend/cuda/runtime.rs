//! The few device services the CUDA backend needs (memory, copies, kernel launches), as a trait
//! with two implementations: the CUDA driver ([`super::driver`]) and the kernel emulator
//! ([`super::emulated`]), which runs the same `.cu` kernels on the CPU so that the backend's
//! dispatch can be tested on machines without a GPU.

use crate::error::Result;
use std::ffi::c_void;

/// Device memory, copies and launches of one device. All work is ordered on one stream.
pub(crate) trait Runtime: Send + Sync {
    /// A one-line description (GPU name and compute capability, or "kernel emulator").
    fn describe(&self) -> String;
    /// `bytes` of device memory (`bytes > 0`).
    fn alloc(&self, bytes: usize) -> Result<u64>;
    /// Returns memory from [`Runtime::alloc`] to the device.
    ///
    /// # Safety
    /// `ptr` came from `alloc` of this runtime and is not used afterwards.
    unsafe fn free(&self, ptr: u64);
    /// Copies host bytes to device memory.
    ///
    /// # Safety
    /// `dst .. dst + src.len()` is device memory of this runtime.
    unsafe fn htod(&self, dst: u64, src: &[u8]) -> Result<()>;
    /// Copies device memory to host bytes, after all work queued before it.
    ///
    /// # Safety
    /// `src .. src + dst.len()` is device memory of this runtime.
    unsafe fn dtoh(&self, dst: &mut [u8], src: u64) -> Result<()>;
    /// Copies between device buffers, ordered with the launches.
    ///
    /// # Safety
    /// Both ranges are device memory of this runtime.
    unsafe fn dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()>;
    /// Launches kernel `name` (cuLaunchKernel's conventions: `params[i]` points at the value of
    /// argument `i`).
    ///
    /// # Safety
    /// `params` match the kernel's signature; every pointer argument is valid device memory.
    unsafe fn launch(
        &self,
        name: &str,
        grid: [u32; 3],
        block: [u32; 3],
        shared_mem_bytes: u32,
        params: &mut [*mut c_void],
    ) -> Result<()>;
    /// Waits for all queued work.
    fn synchronize(&self) -> Result<()>;
}
