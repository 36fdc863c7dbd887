//! Copies between host and device: uploading host elements, downloading a view (gathered to
//! dense on the device first), and moves to another device (through the host). Each download
//! waits for the device's queued work and is counted as a host synchronisation.

use super::copy::contiguous;
use super::device::{device, CudaDevice};
use super::launch::{addr, output};
use super::storage::CudaStorage;
use crate::backend::cpu::buffer::CpuStorage;
use crate::error::Result;
use crate::layout::Layout;
use crate::DType;
use std::sync::Arc;

fn bytes_of(c: &CpuStorage) -> &[u8] {
    fn cast<T>(v: &[T]) -> &[u8] {
        // SAFETY: plain numbers; the byte view covers exactly the slice.
        unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
    }
    match c {
        CpuStorage::F32(v) => cast(v),
        CpuStorage::F64(v) => cast(v),
        CpuStorage::I64(v) => cast(v),
    }
}

/// Uploads contiguous host elements to a new buffer of device `ordinal`.
pub(crate) fn upload(data: &CpuStorage, ordinal: usize) -> Result<CudaStorage> {
    upload_to(&device(ordinal)?, data)
}

/// Uploads contiguous host elements to a new buffer of `dev`.
pub(crate) fn upload_to(dev: &Arc<CudaDevice>, data: &CpuStorage) -> Result<CudaStorage> {
    let buf = output(dev, data.len(), data.dtype())?;
    let bytes = bytes_of(data);
    if !bytes.is_empty() {
        // SAFETY: the buffer holds exactly `data.len()` elements of this dtype.
        unsafe { dev.rt().htod(buf.ptr(), bytes)? };
    }
    Ok(buf)
}

/// The elements of the view `l` of `s`, downloaded as a contiguous host buffer.
pub(crate) fn download(s: &CudaStorage, l: &Layout) -> Result<CpuStorage> {
    if l.is_contiguous() {
        return read(s.dev(), addr(s, l), l.numel(), s.dtype());
    }
    let dense = contiguous(s, l)?;
    read(s.dev(), dense.ptr(), l.numel(), s.dtype())
}

/// `n` dense elements of `dtype` at `src` on `dev`, copied to the host (after queued work).
pub(crate) fn read(dev: &CudaDevice, src: u64, n: usize, dtype: DType) -> Result<CpuStorage> {
    let mut host = CpuStorage::full(n, 0.0, dtype);
    if n > 0 {
        fn bytes_mut<T>(v: &mut [T]) -> &mut [u8] {
            // SAFETY: plain numbers; the byte view covers exactly the slice.
            unsafe {
                std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, std::mem::size_of_val(v))
            }
        }
        let dst = match &mut host {
            CpuStorage::F32(v) => bytes_mut(v),
            CpuStorage::F64(v) => bytes_mut(v),
            CpuStorage::I64(v) => bytes_mut(v),
        };
        crate::stats::count_host_sync();
        // SAFETY: `src` holds `n` dense elements of `dtype`.
        unsafe { dev.rt().dtoh(dst, src)? };
    }
    Ok(host)
}

/// A dense copy of the view `l` of `s` on another CUDA device (through the host: the devices
/// may be different processes' emulators or GPUs without peer access).
pub(crate) fn to_other_device(s: &CudaStorage, l: &Layout, ordinal: usize) -> Result<CudaStorage> {
    upload(&download(s, l)?, ordinal)
}
