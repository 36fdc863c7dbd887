//! The CUDA driver (libcuda): whether it loads, its version, the GPUs it sees, and loading the
//! kernel modules into a context: the CUBIN for the GPU's own architecture (compiled by NVRTC,
//! or read from the disk cache), its PTX when the CUBIN cannot be made or loaded. The engine's
//! CUDA backend builds its contexts and streams on cudarc itself.

use crate::cache::global_cache;
use crate::disk_cache::Origin;
use crate::error::{no_panic, Error, Result};
use crate::modules::KernelModule;
use crate::nvrtc::{supported_archs, target_for, CompileOptions};
use cudarc::driver::{result, sys};
use std::ffi::{c_void, CString};
use std::sync::OnceLock;
use std::time::Instant;

/// One GPU as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInfo {
    pub ordinal: usize,
    pub name: String,
    /// Compute capability `(major, minor)`: `(9, 0)` for H100/H200.
    pub compute_capability: (u32, u32),
    pub total_memory_bytes: usize,
}

/// `Ok(())` when libcuda loads and `cuInit` succeeds (checked once per process).
pub fn cuda_available() -> Result<()> {
    static STATE: OnceLock<Result<()>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            // SAFETY: only tries to dlopen the library names cudarc would use, and closes them.
            if !unsafe { sys::is_culib_present() } {
                return Err(Error::CudaUnavailable(format!(
                    "libcuda (the NVIDIA driver library) could not be loaded (tried {}); \
                     this machine has no NVIDIA driver",
                    crate::nvrtc::lib_candidates("cuda")
                )));
            }
            no_panic(
                || {
                    result::init()
                        .map_err(|e| Error::CudaUnavailable(format!("cuInit failed: {e:?}")))
                },
                Error::CudaUnavailable,
            )
        })
        .clone()
}

fn driver_err(call: &'static str) -> impl Fn(result::DriverError) -> Error {
    move |e| Error::Driver {
        call,
        message: format!("{e:?}"),
    }
}

/// The driver's CUDA version, as `(major, minor)` (`(13, 0)` for driver 580).
pub fn driver_version() -> Result<(i32, i32)> {
    cuda_available()?;
    no_panic(
        || {
            let mut v = 0;
            // SAFETY: a valid out-pointer; the driver is loaded and initialised.
            unsafe { sys::cuDriverGetVersion(&mut v) }
                .result()
                .map_err(driver_err("cuDriverGetVersion"))?;
            Ok((v / 1000, (v % 1000) / 10))
        },
        Error::CudaUnavailable,
    )
}

/// Every GPU the driver sees (empty when there is none).
pub fn gpus() -> Result<Vec<GpuInfo>> {
    cuda_available()?;
    no_panic(
        || {
            let n = result::device::get_count().map_err(driver_err("cuDeviceGetCount"))?;
            (0..n)
                .map(|i| {
                    let dev = result::device::get(i).map_err(driver_err("cuDeviceGet"))?;
                    let name =
                        result::device::get_name(dev).map_err(driver_err("cuDeviceGetName"))?;
                    use sys::CUdevice_attribute::*;
                    // SAFETY: `dev` came from cuDeviceGet.
                    let (major, minor, mem) = unsafe {
                        (
                            result::device::get_attribute(
                                dev,
                                CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                            )
                            .map_err(driver_err("cuDeviceGetAttribute"))?,
                            result::device::get_attribute(
                                dev,
                                CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                            )
                            .map_err(driver_err("cuDeviceGetAttribute"))?,
                            result::device::total_mem(dev)
                                .map_err(driver_err("cuDeviceTotalMem"))?,
                        )
                    };
                    Ok(GpuInfo {
                        ordinal: i as usize,
                        name,
                        compute_capability: (major.max(0) as u32, minor.max(0) as u32),
                        total_memory_bytes: mem,
                    })
                })
                .collect()
        },
        Error::CudaUnavailable,
    )
}

/// The compile target of GPU `ordinal`: a CUBIN for its own architecture (`sm_90` on an H200)
/// when this NVRTC supports it, else PTX that the driver compiles (see [`target_for`]).
pub fn device_target(ordinal: usize) -> Result<CompileOptions> {
    let gpus = gpus()?;
    let g = gpus.get(ordinal).ok_or_else(|| {
        Error::CudaUnavailable(format!(
            "cuda:{ordinal} requested, but the driver sees {} GPU(s)",
            gpus.len()
        ))
    })?;
    let (major, minor) = g.compute_capability;
    target_for(major, minor, &supported_archs()?)
}

/// What a module was loaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedFrom {
    /// The GPU's machine code, as NVRTC made it.
    Cubin,
    /// PTX, compiled by the driver at load time.
    Ptx,
}

/// A module loaded into a context.
#[derive(Debug)]
pub struct LoadedModule {
    pub module: sys::CUmodule,
    pub from: LoadedFrom,
    /// Where the compiled image came from (NVRTC, the disk cache, this process).
    pub origin: Origin,
    /// The architecture it was compiled for.
    pub arch: String,
    /// Why the CUBIN was not used, when the module was loaded from PTX.
    pub cubin_problem: Option<String>,
}

fn load_image(image: &[u8]) -> std::result::Result<sys::CUmodule, result::DriverError> {
    // SAFETY: `image` is a CUBIN (ELF) or NUL-terminated PTX that outlives the call; the
    // caller of `load_module` keeps a context current.
    unsafe { result::module::load_data(image.as_ptr() as *const c_void) }
}

/// A hint for load errors that an NVRTC newer than the driver causes.
fn hint(e: &result::DriverError) -> &'static str {
    use sys::cudaError_enum::*;
    match e.0 {
        CUDA_ERROR_UNSUPPORTED_PTX_VERSION | CUDA_ERROR_INVALID_IMAGE | CUDA_ERROR_INVALID_PTX => {
            " (is libnvrtc newer than the driver? use the CUDA toolkit's libnvrtc that matches \
             the driver's version, via MAXL_NVRTC_LIB)"
        }
        _ => "",
    }
}

/// Loads kernel module `m` for GPU `ordinal` into the current context: the CUBIN for the GPU's
/// architecture (compiled once per process through [`global_cache`], which keeps compiled
/// modules on disk across processes), else its PTX: when NVRTC does not know the GPU (PTX of
/// an older architecture, compiled by the driver), or when the driver refuses the CUBIN.
///
/// # Safety
/// A context of device `ordinal` must be current on the calling thread.
pub unsafe fn load_module(ordinal: usize, m: &'static KernelModule) -> Result<LoadedModule> {
    let cache = global_cache();
    if !cache.has_options(ordinal) {
        cache.set_options(ordinal, device_target(ordinal)?);
    }
    let (img, origin) = cache.image_of(ordinal, m)?;
    let mut cubin_problem = None;
    if let Some(cubin) = &img.cubin {
        match no_panic(
            || load_image(cubin).map_err(driver_err("cuModuleLoadData")),
            Error::CudaUnavailable,
        ) {
            Ok(module) => {
                return Ok(LoadedModule {
                    module,
                    from: LoadedFrom::Cubin,
                    origin,
                    arch: img.arch.clone(),
                    cubin_problem: None,
                })
            }
            Err(e) => cubin_problem = Some(e.to_string()),
        }
    }
    let ptx = img.ptx_image();
    let module = no_panic(
        || {
            load_image(&ptx).map_err(|e| Error::Driver {
                call: "cuModuleLoadData",
                message: format!(
                    "module {} (PTX for {}){}: {e:?}{}",
                    m.name,
                    img.arch,
                    hint(&e),
                    cubin_problem
                        .as_ref()
                        .map(|c| format!("; its CUBIN failed too: {c}"))
                        .unwrap_or_default()
                ),
            })
        },
        Error::CudaUnavailable,
    )?;
    Ok(LoadedModule {
        module,
        from: LoadedFrom::Ptx,
        origin,
        arch: img.arch.clone(),
        cubin_problem,
    })
}

/// The primary context of one GPU, retained and made current on the calling thread for the life
/// of the value (for checks such as `maxl-cli doctor`; the engine keeps its own).
pub struct PrimaryContext {
    dev: sys::CUdevice,
    pub ordinal: usize,
}

impl PrimaryContext {
    pub fn open(ordinal: usize) -> Result<PrimaryContext> {
        cuda_available()?;
        no_panic(
            || {
                let dev = result::device::get(ordinal as i32).map_err(driver_err("cuDeviceGet"))?;
                // SAFETY: `dev` came from cuDeviceGet; released on drop.
                let ctx = unsafe { result::primary_ctx::retain(dev) }
                    .map_err(driver_err("cuDevicePrimaryCtxRetain"))?;
                // SAFETY: a retained context.
                if let Err(e) = unsafe { result::ctx::set_current(ctx) } {
                    // SAFETY: retained above.
                    let _ = unsafe { result::primary_ctx::release(dev) };
                    return Err(driver_err("cuCtxSetCurrent")(e));
                }
                Ok(PrimaryContext { dev, ordinal })
            },
            Error::CudaUnavailable,
        )
    }
}

impl Drop for PrimaryContext {
    fn drop(&mut self) {
        // SAFETY: retained in `open`.
        let _ = unsafe { result::primary_ctx::release(self.dev) };
    }
}

/// The outcome of loading one module and looking up each of its kernels.
#[derive(Debug)]
pub struct ModuleCheck {
    pub from: LoadedFrom,
    pub origin: Origin,
    pub arch: String,
    pub cubin_problem: Option<String>,
    /// Milliseconds to compile (or read) and load the module.
    pub ms: f64,
    /// Kernels that `cuModuleGetFunction` did not find, with its error.
    pub missing: Vec<(String, String)>,
}

/// Loads module `m` in `ctx` (as [`load_module`]), looks up every kernel it lists, and unloads
/// it again.
pub fn check_module_loads(ctx: &PrimaryContext, m: &'static KernelModule) -> Result<ModuleCheck> {
    let t = Instant::now();
    // SAFETY: `ctx` is current on this thread (PrimaryContext::open made it so).
    let loaded = unsafe { load_module(ctx.ordinal, m) }?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let mut missing = Vec::new();
    for k in m.kernels {
        let name = CString::new(*k).map_err(|_| Error::UnknownModule((*k).to_string()))?;
        // SAFETY: a loaded module.
        if let Err(e) = unsafe { result::module::get_function(loaded.module, name) } {
            missing.push((k.to_string(), format!("{e:?}")));
        }
    }
    // SAFETY: loaded above, not used afterwards.
    let _ = unsafe { result::module::unload(loaded.module) };
    Ok(ModuleCheck {
        from: loaded.from,
        origin: loaded.origin,
        arch: loaded.arch,
        cubin_problem: loaded.cubin_problem,
        ms,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_driver_is_an_error_not_a_panic() {
        match gpus() {
            Ok(g) => assert!(g.iter().enumerate().all(|(i, d)| d.ordinal == i)),
            Err(e) => assert!(e.to_string().starts_with("CUDA not available"), "{e}"),
        }
    }
}
