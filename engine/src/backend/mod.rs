//! Compute backends. Only the CPU backend exists today; the CUDA backend (kernels from
//! `maxl-kernels`, compiled through NVRTC) is a later issue.

pub mod cpu;
