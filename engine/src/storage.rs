//! Tensor storage: a typed buffer of one backend ([`CpuStorage`] or a CUDA device's
//! [`CudaStorage`]), immutable once made and shared by every view of it. This is the one place
//! that matches on the device: `Storage::backend` and the `on_device!`
//! macro hand an op's kernel call to the buffer's backend, written once, generically over the
//! family's kernel trait (see [`crate::backend`]). The engine counts live buffers and bytes
//! (CPU and device alike) so tests can show that nothing leaks across iterations.

pub use crate::backend::cpu::buffer::{CpuStorage, Element};
use crate::backend::cpu::{recycle, strided};
use crate::backend::cuda::{self, transfer, CudaStorage};
use crate::backend::BackendStorage;
use crate::error::{Error, Result};
use crate::layout::Layout;
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

/// Where a storage buffer's elements are.
#[derive(Debug)]
enum StorageData {
    Cpu(CpuStorage),
    Cuda(CudaStorage),
}

/// A borrowed backend buffer: what `on_device!` matches on.
pub(crate) enum BackendRef<'a> {
    Cpu(&'a CpuStorage),
    Cuda(&'a CudaStorage),
}

/// Runs `$body` with `$s` bound to the backend buffer of `$storage` (a `&Storage`): the one
/// device match. The body is written once and compiled for each backend (`$s` is a
/// `&CpuStorage` in one expansion and a `&CudaStorage` in the other), so it calls the op
/// family's kernel trait generically; further operands come in with
/// [`AsBackend::as_backend`], and results go back with `Storage::from`.
macro_rules! on_device {
    ($storage:expr, |$s:ident| $body:expr) => {
        match $storage.backend() {
            $crate::storage::BackendRef::Cpu($s) => $body,
            $crate::storage::BackendRef::Cuda($s) => $body,
        }
    };
}
pub(crate) use on_device;

/// The backend buffer of a further operand, of the same backend as the first.
pub(crate) trait AsBackend<S> {
    fn as_backend(&self) -> Result<&S>;
}

fn wrong_backend<T>(found: Device, wanted: &str) -> Result<T> {
    Err(Error::Invalid(format!(
        "maxl-engine internal error: a kernel operand on {found} where a {wanted} buffer was \
         expected (operands are checked to share a device first)"
    )))
}

impl AsBackend<CpuStorage> for Storage {
    fn as_backend(&self) -> Result<&CpuStorage> {
        match &self.data {
            StorageData::Cpu(c) => Ok(c),
            StorageData::Cuda(c) => wrong_backend(c.device(), "CPU"),
        }
    }
}

impl AsBackend<CudaStorage> for Storage {
    fn as_backend(&self) -> Result<&CudaStorage> {
        match &self.data {
            StorageData::Cuda(c) => Ok(c),
            StorageData::Cpu(_) => wrong_backend(Device::Cpu, "CUDA"),
        }
    }
}

/// A storage buffer with its accounting. Dropping it releases the bytes (a CPU buffer goes to
/// the recycled outputs, a CUDA buffer back to its device's caching allocator).
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

    pub(crate) fn new_cuda(buf: CudaStorage) -> Storage {
        Storage::account(StorageData::Cuda(buf))
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

    /// The backend buffer, for the device match of `on_device!`.
    pub(crate) fn backend(&self) -> BackendRef<'_> {
        match &self.data {
            StorageData::Cpu(c) => BackendRef::Cpu(c),
            StorageData::Cuda(c) => BackendRef::Cuda(c),
        }
    }

    /// Host values placed on `device` (uploaded to a CUDA device, where i64 values keep their
    /// host copy as the buffer's mirror).
    pub(crate) fn from_host(data: CpuStorage, device: Device) -> Result<Storage> {
        match device {
            Device::Cpu => Ok(Storage::new(data)),
            Device::Cuda(n) => {
                let buf = transfer::upload(&data, n)?;
                let mut s = Storage::new_cuda(buf);
                if matches!(data, CpuStorage::I64(_)) {
                    s.host_mirror = Some(data);
                }
                Ok(s)
            }
        }
    }

    /// `n` elements of `dtype` equal to `v` on `device` (filled there: no host buffer for a
    /// CUDA device).
    pub(crate) fn full(n: usize, v: f64, dtype: DType, device: Device) -> Result<Storage> {
        match device {
            Device::Cpu => Ok(Storage::new(CpuStorage::full(n, v, dtype))),
            Device::Cuda(o) => Ok(Storage::new_cuda(cuda::copy::fill(
                &cuda::device(o)?,
                n,
                dtype,
                v,
            )?)),
        }
    }

    /// The view `l` as a new dense buffer on the same device.
    pub(crate) fn copy_strided(&self, l: &Layout) -> Result<Storage> {
        on_device!(self, |s| s.copy_strided(l).map(Storage::from))
    }

    /// The view `l` converted to `dtype`, as a new dense buffer on the same device.
    pub(crate) fn to_dtype(&self, l: &Layout, dtype: DType) -> Result<Storage> {
        on_device!(self, |s| s.to_dtype(l, dtype).map(Storage::from))
    }

    /// The elements of the view `l` on the host, in row-major order (an uploaded index
    /// buffer answers from its mirror, without waiting for the device).
    pub(crate) fn to_cpu(&self, l: &Layout) -> Result<CpuStorage> {
        if let Some(m) = &self.host_mirror {
            return Ok(strided::contiguous_storage(m, l));
        }
        on_device!(self, |s| s.to_cpu(l))
    }

    /// The view `l` as a dense buffer on `device`.
    pub(crate) fn to_device(&self, l: &Layout, device: Device) -> Result<Storage> {
        match (&self.data, device) {
            (StorageData::Cuda(c), Device::Cuda(n)) if self.device() != device => {
                Ok(Storage::new_cuda(transfer::to_other_device(c, l, n)?))
            }
            (_, Device::Cuda(_)) if self.device() != device => {
                Storage::from_host(self.to_cpu(l)?, device)
            }
            (_, Device::Cuda(_)) => self.copy_strided(l),
            (_, Device::Cpu) => Ok(Storage::new(self.to_cpu(l)?)),
        }
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

impl From<CudaStorage> for Storage {
    fn from(c: CudaStorage) -> Storage {
        Storage::new_cuda(c)
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        LIVE_STORAGE_BYTES.fetch_sub(self.bytes(), Ordering::Relaxed);
        LIVE_STORAGES.fetch_sub(1, Ordering::Relaxed);
        if let StorageData::Cpu(c) = &mut self.data {
            let buf = std::mem::replace(c, CpuStorage::I64(Vec::new()));
            recycle::recycle(buf);
        }
    }
}
