//! The host buffer: a vector of one dtype ([`CpuStorage`]), and [`Element`], the element types
//! a buffer can hold.

use crate::DType;

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

    /// `n` copies of `v` (cast to `dtype`).
    pub fn full(n: usize, v: f64, dtype: DType) -> CpuStorage {
        match dtype {
            DType::F32 => CpuStorage::F32(vec![v as f32; n]),
            DType::F64 => CpuStorage::F64(vec![v; n]),
            DType::I64 => CpuStorage::I64(vec![v as i64; n]),
        }
    }

    /// The values as f64 (cast), in buffer order.
    pub fn into_f64s(self) -> Vec<f64> {
        match self {
            CpuStorage::F32(v) => v.iter().map(|&x| x as f64).collect(),
            CpuStorage::F64(v) => v,
            CpuStorage::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
}

/// Element types that can fill a storage buffer.
pub trait Element: Copy + Send + Sync + 'static {
    const DTYPE: DType;
    fn into_storage(v: Vec<Self>) -> CpuStorage;
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    fn into_vec(s: CpuStorage) -> Option<Vec<Self>>;
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
            fn into_vec(s: CpuStorage) -> Option<Vec<Self>> {
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
