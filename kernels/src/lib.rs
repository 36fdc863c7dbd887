//! CUDA kernel sources (`src/*.cu`) for the engine's CUDA backend and, later, their NVRTC
//! compile cache. Nothing here is built yet: the CUDA backend is a later issue, and this crate
//! holds no kernel until then.
