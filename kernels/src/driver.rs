//! The CUDA driver (libcuda), only as far as reporting goes: whether it loads, its version, and
//! the GPUs it sees. The engine's CUDA backend builds its contexts and streams on cudarc itself.

use crate::error::{no_panic, Error, Result};
use cudarc::driver::{result, sys};
use std::sync::OnceLock;

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
