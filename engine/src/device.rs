//! Where a tensor lives: the CPU or a CUDA device by ordinal. Parsing a device name, checking
//! that a device is available and waiting for it are backend services (`crate::backend`);
//! asking for a CUDA device that this machine lacks gives a clear `CUDA not available:
//! <reason>` error, never a panic.

use std::fmt;

/// A compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda(usize),
}

impl Device {
    pub fn is_cuda(self) -> bool {
        matches!(self, Device::Cuda(_))
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}
