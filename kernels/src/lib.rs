//! CUDA kernels of maxl-engine's CUDA backend: the `.cu` sources (embedded with `include_str!`,
//! listed with every kernel name in [`modules`]; the names are derived from the sources at
//! build time by [`kernel_names`]), their run-time compilation to PTX with NVRTC
//! ([`nvrtc`]) and a per-device PTX cache ([`cache`]). Nothing here needs a CUDA toolkit at build
//! time: libnvrtc and libcuda are loaded at run time, and their absence is an [`Error`]
//! ("NVRTC not available: ...", "CUDA not available: ..."), never a panic.
//!
//! Without a GPU, [`Emulator`] runs any kernel on the CPU (built with the system C++ compiler
//! against `emu/emu.h`), with cuLaunchKernel's calling convention.
//!
//! Launch shapes are documented at the top of each `.cu` file and above each kernel.

pub mod cache;
pub mod driver;
pub mod emulator;
pub mod error;
pub mod kernel_names;
pub mod modules;
pub mod nvrtc;
pub mod params;

pub use cache::{global_cache, ptx, PtxCache};
pub use driver::{cuda_available, driver_version, gpus, GpuInfo};
pub use emulator::Emulator;
pub use error::{Error, Result};
pub use modules::{all_kernels, module, module_of, Header, KernelModule, MODULES};
pub use nvrtc::{
    compile_module, compile_source, nvrtc_available, nvrtc_version, ptx_entries, CompileOptions,
    DEFAULT_ARCH,
};
pub use params::{ConvGeom, PoolGeom, Strided};
