//! Where a tensor lives. Only `Cpu` has a backend today; `Cuda(n)` is accepted as a value so
//! that asking for it gives a clear "CUDA not available" error instead of a panic.

use std::fmt;

/// A compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda(usize),
}

impl Device {
    /// Parses `cpu`, `cuda` or `cuda:N`.
    pub fn parse(s: &str) -> crate::Result<Device> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(Device::Cuda(n)),
                _ => crate::error::invalid(format!(
                    "unknown device '{s}': expected cpu, cuda or cuda:N"
                )),
            },
        }
    }

    /// Checks that a backend for this device exists in this build and on this machine.
    pub fn ensure_available(self) -> crate::Result<()> {
        match self {
            Device::Cpu => Ok(()),
            Device::Cuda(n) => Err(crate::Error::CudaUnavailable(format!(
                "cuda:{n} requested, but this build of maxl-engine has no CUDA backend yet"
            ))),
        }
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
