//! Tensor storage: a typed buffer on a device (a CPU vector or a CUDA buffer). Storage is
//! immutable once made and shared by every view of it; the engine counts live buffers and bytes
//! (CPU and device alike) so tests can show that nothing leaks across iterations.

use crate::backend::cuda::CudaBuffer;
use crate::{DType, Device};
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE_STORAGE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_STORAGES: AtomicUsize = AtomicUsize::new(0);

/// Bytes held by all live storage buffers of this process.
pub fn live_storage_bytes() -> usize {
    LIVE_STORAGE_BYTES.load(Ordering::Relaxed)
}

/// Number of live storage buffers of this process.
pub fn live_storages() -> usize {
    LIVE_STORAGES.load(Ordering::Relaxed)
}

/// A CPU buffer of one dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum CpuStorage {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
}

impl CpuStorage {
    pub fn dtype(&self) -> DType {
        match self {
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F64(_) => DType::F64,
            CpuStorage::I64(_) => DType::I64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            CpuStorage::F32(v) => v.len(),
            CpuStorage::F64(v) => v.len(),
            CpuStorage::I64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A buffer of `dtype` from f64 values (cast).
    pub fn from_f64s(vals: &[f64], dtype: DType) -> CpuStorage {
        match dtype {
            DType::F32 => CpuStorage::F32(vals.iter().map(|&v| v as f32).collect()),
            DType::F64 => CpuStorage::F64(vals.to_vec()),
            DType::I64 => CpuStorage::I64(vals.iter().map(|&v| v as i64).collect()),
        }
    }
}

/// Where a storage buffer's elements are.
#[derive(Debug)]
pub(crate) enum StorageData {
    Cpu(CpuStorage),
    Cuda(CudaBuffer),
}

/// A storage buffer with its accounting. Dropping it releases the bytes (a CUDA buffer goes
/// back to its device's caching allocator).
#[derive(Debug)]
pub struct Storage {
    data: StorageData,
    /// For i64 buffers uploaded to a device: the host values they were made from. Storage is
    /// immutable, so the copy stays exact; reading indices back (they are bounds-checked on
    /// the host before any device access) then costs no device synchronisation.
    host_mirror: Option<CpuStorage>,
}

impl Storage {
    pub fn new(data: CpuStorage) -> Storage {
        Storage::account(StorageData::Cpu(data))
    }

    pub(crate) fn new_cuda(buf: CudaBuffer) -> Storage {
        Storage::account(StorageData::Cuda(buf))
    }

    /// A device buffer uploaded from `host` (kept as its mirror when it holds i64 indices).
    pub(crate) fn uploaded(buf: CudaBuffer, host: CpuStorage) -> Storage {
        let mut s = Storage::new_cuda(buf);
        if matches!(host, CpuStorage::I64(_)) {
            s.host_mirror = Some(host);
        }
        s
    }

    /// The host copy of an uploaded index buffer, if there is one.
    pub(crate) fn host_mirror(&self) -> Option<&CpuStorage> {
        self.host_mirror.as_ref()
    }

    fn account(data: StorageData) -> Storage {
        let s = Storage {
            data,
            host_mirror: None,
        };
        LIVE_STORAGE_BYTES.fetch_add(s.bytes(), Ordering::Relaxed);
        LIVE_STORAGES.fetch_add(1, Ordering::Relaxed);
        s
    }

    fn bytes(&self) -> usize {
        self.len() * self.dtype().size_in_bytes()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            StorageData::Cpu(c) => c.len(),
            StorageData::Cuda(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The CPU buffer. Only CPU code paths call this, after dispatching on the device; a CUDA
    /// storage here is a bug in the engine's dispatch, reported as such.
    pub fn cpu(&self) -> &CpuStorage {
        match &self.data {
            StorageData::Cpu(c) => c,
            StorageData::Cuda(b) => panic!(
                "maxl-engine internal error: a CPU kernel was given a {} buffer",
                b.device()
            ),
        }
    }

    /// The CUDA buffer, if the storage is on a CUDA device.
    pub(crate) fn cuda(&self) -> Option<&CudaBuffer> {
        match &self.data {
            StorageData::Cpu(_) => None,
            StorageData::Cuda(b) => Some(b),
        }
    }

    pub fn dtype(&self) -> DType {
        match &self.data {
            StorageData::Cpu(c) => c.dtype(),
            StorageData::Cuda(b) => b.dtype(),
        }
    }

    pub fn device(&self) -> Device {
        match &self.data {
            StorageData::Cpu(_) => Device::Cpu,
            StorageData::Cuda(b) => b.device(),
        }
    }
}

impl From<CpuStorage> for Storage {
    fn from(c: CpuStorage) -> Storage {
        Storage::new(c)
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        LIVE_STORAGE_BYTES.fetch_sub(self.bytes(), Ordering::Relaxed);
        LIVE_STORAGES.fetch_sub(1, Ordering::Relaxed);
        if let StorageData::Cpu(c) = &mut self.data {
            let buf = std::mem::replace(c, CpuStorage::I64(Vec::new()));
            crate::backend::cpu::recycle::recycle(buf);
        }
    }
}

/// Element types that can fill a storage buffer.
pub trait Element: Copy + Send + Sync + 'static {
    const DTYPE: DType;
    fn into_storage(v: Vec<Self>) -> CpuStorage;
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn into_storage(v: Vec<Self>) -> CpuStorage {
                CpuStorage::$variant(v)
            }
            fn slice(s: &CpuStorage) -> Option<&[Self]> {
                match s {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
element!(f32, F32);
element!(f64, F64);
element!(i64, I64);
