//! CUDA kernels of maxl-engine's CUDA backend: the `.cu` sources (embedded with `include_str!`,
//! listed with every kernel name in [`modules`]; the names are derived from the sources at
//! build time by [`kernel_names`]), their run-time compilation with NVRTC
//! ([`nvrtc`]: a CUBIN for the GPU's own architecture, PTX as the fallback), a per-device module
//! cache ([`cache`]) over an on-disk cache shared by processes ([`disk_cache`]), loading modules
//! through the driver ([`driver`]) and CUDA's launch-shape limits ([`launch_limits`]). Nothing
//! here needs a CUDA toolkit at build time: libnvrtc and libcuda are loaded at run time, and
//! their absence is an [`Error`] ("NVRTC not available: ...", "CUDA not available: ..."), never
//! a panic.
//!
//! Without a GPU, [`Emulator`] runs any kernel on the CPU (built with the system C++ compiler
//! against `emu/emu.h`), with cuLaunchKernel's calling convention.
//!
//! Launch shapes are documented at the top of each `.cu` file and above each kernel.

pub mod cache;
pub mod disk_cache;
pub mod driver;
pub mod emulator;
pub mod error;
pub mod kernel_names;
pub mod launch_limits;
pub mod modules;
pub mod nvrtc;
pub mod params;

pub use cache::{compile_cached, global_cache, ptx, PtxCache};
pub use disk_cache::{DiskCache, Origin, KERNEL_CACHE_ENV};
pub use driver::{cuda_available, driver_version, gpus, GpuInfo};
pub use emulator::Emulator;
pub use error::{Error, Result};
pub use launch_limits::check_launch;
pub use modules::{all_kernels, module, module_of, Header, KernelModule, MODULES};
pub use nvrtc::{
    compile_image, compile_module, compile_module_image, compile_source, nvrtc_available,
    nvrtc_version, ptx_entries, supported_archs, target_for, CompileOptions, ModuleImage,
    DEFAULT_ARCH,
};
pub use params::{ConvGeom, PoolGeom, Strided};
