//! The CUDA driver runtime (cudarc's `result` layer over libcuda, loaded at run time): the
//! device's primary context, memory, copies on the legacy default stream, and kernel modules
//! loaded by `maxl_kernels::driver::load_module`: the CUBIN for the GPU's own architecture
//! (compiled by NVRTC once, kept in the on-disk cache), its PTX only when that fails. Every
//! launch shape is checked against CUDA's limits first (`maxl_kernels::check_launch`).

use super::runtime::Runtime;
use crate::error::{Error, Result};
use cudarc::driver::{result, sys};
use maxl_kernels::module_of;
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::sync::Mutex;

/// One GPU through the driver API.
pub(crate) struct DriverRuntime {
    ordinal: usize,
    ctx: sys::CUcontext,
    description: String,
    modules: Mutex<HashMap<&'static str, sys::CUmodule>>,
    functions: Mutex<HashMap<String, sys::CUfunction>>,
}

// SAFETY: the context and the module/function handles are plain driver handles, valid in any
// thread once the context is made current there (`bind` does so before every call).
unsafe impl Send for DriverRuntime {}
// SAFETY: as above; the maps are behind mutexes.
unsafe impl Sync for DriverRuntime {}

fn driver_err(call: &'static str) -> impl Fn(result::DriverError) -> Error {
    move |e| Error::Cuda(format!("{call} failed: {e:?}"))
}

impl DriverRuntime {
    /// Opens GPU `ordinal`: "CUDA not available: ..." when the driver or the GPU is missing.
    pub(crate) fn new(ordinal: usize) -> Result<DriverRuntime> {
        let gpus = maxl_kernels::gpus().map_err(|e| Error::CudaUnavailable(strip(&e)))?;
        let info = gpus.get(ordinal).ok_or_else(|| {
            Error::CudaUnavailable(format!(
                "cuda:{ordinal} requested, but the driver sees {} GPU(s)",
                gpus.len()
            ))
        })?;
        let (major, minor) = info.compute_capability;
        let dev = result::device::get(ordinal as i32).map_err(driver_err("cuDeviceGet"))?;
        // SAFETY: `dev` came from cuDeviceGet; the primary context lives as long as the process.
        let ctx = unsafe { result::primary_ctx::retain(dev) }
            .map_err(driver_err("cuDevicePrimaryCtxRetain"))?;
        let rt = DriverRuntime {
            ordinal,
            ctx,
            description: format!("{} (sm_{major}{minor})", info.name),
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
        };
        rt.bind()?;
        Ok(rt)
    }

    fn bind(&self) -> Result<()> {
        // SAFETY: `ctx` is the retained primary context of this device.
        unsafe { result::ctx::set_current(self.ctx) }.map_err(driver_err("cuCtxSetCurrent"))
    }

    fn function(&self, name: &str) -> Result<sys::CUfunction> {
        if let Some(f) = lock(&self.functions).get(name) {
            return Ok(*f);
        }
        let m = module_of(name)
            .ok_or_else(|| Error::Cuda(format!("no kernel module defines {name}")))?;
        let module = {
            let mut mods = lock(&self.modules);
            match mods.get(m.name) {
                Some(h) => *h,
                None => {
                    // SAFETY: `function` is only called after `bind`, so this device's context
                    // is current.
                    let loaded = unsafe { maxl_kernels::driver::load_module(self.ordinal, m) }
                        .map_err(|e| Error::Cuda(e.to_string()))?;
                    mods.insert(m.name, loaded.module);
                    loaded.module
                }
            }
        };
        let cname = CString::new(name).map_err(|_| Error::Cuda("bad kernel name".into()))?;
        // SAFETY: `module` is loaded and never unloaded.
        let f = unsafe { result::module::get_function(module, cname) }
            .map_err(driver_err("cuModuleGetFunction"))?;
        lock(&self.functions).insert(name.to_string(), f);
        Ok(f)
    }
}

fn strip(e: &maxl_kernels::Error) -> String {
    let s = e.to_string();
    s.strip_prefix("CUDA not available: ")
        .map(str::to_string)
        .unwrap_or(s)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Runtime for DriverRuntime {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn alloc(&self, bytes: usize) -> Result<u64> {
        self.bind()?;
        // SAFETY: the context is current.
        unsafe { result::malloc_sync(bytes) }.map_err(|e| {
            Error::Cuda(format!(
                "cuMemAlloc of {bytes} bytes on cuda:{} failed: {e:?}",
                self.ordinal
            ))
        })
    }

    unsafe fn free(&self, ptr: u64) {
        if self.bind().is_ok() {
            // A failure here leaks the block; nothing better can be done while dropping.
            let _ = result::free_sync(ptr);
        }
    }

    unsafe fn htod(&self, dst: u64, src: &[u8]) -> Result<()> {
        self.bind()?;
        // Async on the stream: from pageable memory the driver copies `src` to a staging buffer
        // before returning (no device synchronisation, unlike cuMemcpyHtoD, which waits for
        // the queued kernels), so `src` may be dropped afterwards and the copy stays ordered
        // with the launches.
        result::memcpy_htod_async(dst, src, std::ptr::null_mut())
            .map_err(driver_err("cuMemcpyHtoDAsync"))
    }

    unsafe fn dtoh(&self, dst: &mut [u8], src: u64) -> Result<()> {
        self.bind()?;
        result::memcpy_dtoh_sync(dst, src).map_err(driver_err("cuMemcpyDtoH"))
    }

    unsafe fn dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        self.bind()?;
        result::memcpy_dtod_async(dst, src, bytes, std::ptr::null_mut())
            .map_err(driver_err("cuMemcpyDtoDAsync"))
    }

    unsafe fn launch(
        &self,
        name: &str,
        grid: [u32; 3],
        block: [u32; 3],
        shared_mem_bytes: u32,
        params: &mut [*mut c_void],
    ) -> Result<()> {
        self.bind()?;
        let f = self.function(name)?;
        result::launch_kernel(
            f,
            (grid[0], grid[1], grid[2]),
            (block[0], block[1], block[2]),
            shared_mem_bytes,
            std::ptr::null_mut(),
            params,
        )
        .map_err(|e| Error::Cuda(format!("launching {name} failed: {e:?}")))
    }

    fn synchronize(&self) -> Result<()> {
        self.bind()?;
        result::ctx::synchronize().map_err(driver_err("cuCtxSynchronize"))
    }
}
