//! Errors of the kernel crate: a missing CUDA library is an error value, never a panic.

/// What can go wrong when compiling or looking up kernels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// libcuda (the driver) cannot be loaded or initialised.
    #[error("CUDA not available: {0}")]
    CudaUnavailable(String),
    /// libnvrtc cannot be loaded.
    #[error("NVRTC not available: {0}")]
    NvrtcUnavailable(String),
    /// NVRTC rejected a module; `log` is NVRTC's log, whose lines name `<module>.cu(<line>)`.
    #[error("NVRTC failed to compile {module}: {log}")]
    Compile { module: String, log: String },
    /// No kernel module of that name.
    #[error("unknown kernel module {0:?}")]
    UnknownModule(String),
    /// A CUDA driver call failed.
    #[error("CUDA driver error in {call}: {message}")]
    Driver { call: &'static str, message: String },
    /// A launch shape out of CUDA's limits (gridDim.y/z at most 65535, ...).
    #[error("kernel {kernel}: launch shape out of CUDA's limits: {detail}")]
    Launch { kernel: String, detail: String },
    /// The CPU kernel emulator (`emulator`) cannot be built or loaded, or rejected a launch.
    #[error("kernel emulator: {0}")]
    Emulator(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Runs `f`, turning a panic inside cudarc (a missing symbol in an old library, say) into
/// `err(message)`, so callers only ever see an `Error`.
pub(crate) fn no_panic<T>(
    f: impl FnOnce() -> Result<T>,
    err: impl FnOnce(String) -> Error,
) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic in cudarc".to_string());
            Err(err(msg))
        }
    }
}
