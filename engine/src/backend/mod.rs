//! Compute backends: the CPU backend (rayon, `gemm`) and the CUDA backend (kernels from
//! `maxl-kernels`, compiled at run time through NVRTC, or run by the kernel emulator).

pub mod cpu;
pub mod cuda;
