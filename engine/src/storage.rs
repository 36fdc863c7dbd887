//! Tensor storage: a typed buffer on a device. Storage is immutable once made and shared by
//! every view of it; the engine counts live buffers and bytes so tests can show that nothing
//! leaks across iterations.

use crate::DType;
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
}

/// A storage buffer with its accounting. Dropping it releases the bytes.
#[derive(Debug)]
pub struct Storage {
    data: CpuStorage,
}

impl Storage {
    pub fn new(data: CpuStorage) -> Storage {
        LIVE_STORAGE_BYTES.fetch_add(data.len() * data.dtype().size_in_bytes(), Ordering::Relaxed);
        LIVE_STORAGES.fetch_add(1, Ordering::Relaxed);
        Storage { data }
    }

    pub fn cpu(&self) -> &CpuStorage {
        &self.data
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        LIVE_STORAGE_BYTES.fetch_sub(
            self.data.len() * self.data.dtype().size_in_bytes(),
            Ordering::Relaxed,
        );
        LIVE_STORAGES.fetch_sub(1, Ordering::Relaxed);
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
