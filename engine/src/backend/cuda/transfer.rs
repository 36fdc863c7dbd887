//! Copies between host and device: uploading a CPU tensor's elements, downloading a CUDA
//! tensor (any view, gathered to contiguous on the device first), and device-to-device moves.

use super::device::{device, CudaDevice};
use super::launch::{block, grid_for, operand, output, strided, Args};
use super::{launch, CudaBuffer};
use crate::error::Result;
use crate::layout::Layout;
use crate::storage::{CpuStorage, Storage};
use crate::{DType, Tensor};
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
pub(crate) fn upload(data: &CpuStorage, ordinal: usize) -> Result<CudaBuffer> {
    upload_to(&device(ordinal)?, data)
}

/// Uploads contiguous host elements to a new buffer of `dev`.
pub(crate) fn upload_to(dev: &Arc<CudaDevice>, data: &CpuStorage) -> Result<CudaBuffer> {
    let buf = output(dev, data.len(), data.dtype())?;
    let bytes = bytes_of(data);
    if !bytes.is_empty() {
        // SAFETY: the buffer holds exactly `data.len()` elements of this dtype.
        unsafe { dev.rt().htod(buf.ptr(), bytes)? };
    }
    Ok(buf)
}

/// A contiguous device copy of a CUDA tensor's view (the same buffer when already dense).
pub(crate) fn contiguous(t: &Tensor) -> Result<Storage> {
    let dev = super::launch::device_of(t)?;
    let n = t.numel();
    let out = output(&dev, n, t.dtype())?;
    let (_, src) = operand(t)?;
    copy_view(&dev, src, t.layout(), t.dtype(), out.ptr(), n)?;
    Ok(Storage::new_cuda(out))
}

/// Gathers the view `layout` at `src` into `n` dense elements at `dst`.
pub(crate) fn copy_view(
    dev: &CudaDevice,
    src: u64,
    layout: &Layout,
    dtype: DType,
    dst: u64,
    n: usize,
) -> Result<()> {
    let s = strided(&layout.shape, &[layout])?;
    if s.contiguous != 0 {
        // SAFETY: both ranges hold `n` elements of `dtype` on this device.
        return unsafe { dev.rt().dtod(dst, src, n * dtype.size_in_bytes()) };
    }
    let name = match dtype {
        DType::F32 => "copy_f32",
        DType::F64 => "copy_f64",
        DType::I64 => "copy_i64",
    };
    let args = Args::new().arg(n as i64).arg(src).arg(dst);
    let args = match dtype {
        DType::I64 => args.arg(s),
        DType::F32 => args.arg(0f32).arg(0f32).arg(s),
        DType::F64 => args.arg(0f64).arg(0f64).arg(s),
    };
    launch::launch(dev, name, grid_for(n), block(), args)
}

/// The elements of a CUDA tensor's view, downloaded as a contiguous host buffer.
pub(crate) fn download(t: &Tensor) -> Result<CpuStorage> {
    let dense = if t.layout().is_contiguous() {
        None
    } else {
        Some(contiguous(t)?)
    };
    let (dev, src) = match &dense {
        Some(s) => {
            let b = s
                .cuda()
                .ok_or_else(|| crate::Error::Cuda("lost a device copy".into()))?;
            (b.dev().clone(), b.ptr())
        }
        None => {
            let (b, a) = operand(t)?;
            (b.dev().clone(), a)
        }
    };
    read(&dev, src, t.numel(), t.dtype())
}

/// `n` dense elements of `dtype` at `src` on `dev`, copied to the host (after queued work).
pub(crate) fn read(dev: &CudaDevice, src: u64, n: usize, dtype: DType) -> Result<CpuStorage> {
    let mut host = match dtype {
        DType::F32 => CpuStorage::F32(vec![0.0; n]),
        DType::F64 => CpuStorage::F64(vec![0.0; n]),
        DType::I64 => CpuStorage::I64(vec![0; n]),
    };
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

/// Copies a CUDA tensor's view to a new dense buffer on another CUDA device (through the host:
/// the devices may be different processes' emulators or GPUs without peer access).
pub(crate) fn to_other_device(t: &Tensor, ordinal: usize) -> Result<CudaBuffer> {
    upload(&download(t)?, ordinal)
}

/// Host results placed on `device` (uploaded for a CUDA device): for ops that run on the host.
pub(crate) fn place(data: CpuStorage, device: crate::Device) -> Result<Storage> {
    match device {
        crate::Device::Cpu => Ok(Storage::new(data)),
        crate::Device::Cuda(n) => Ok(Storage::new_cuda(upload(&data, n)?)),
    }
}

/// `parts` joined along `axis` into a dense tensor of `shape`: each part is written as one
/// dense block of a `[S, pre, post]` buffer (axis first), which is then gathered into
/// `[pre, S, post]` order.
pub(crate) fn concat(parts: &[Tensor], axis: usize, shape: &[usize]) -> Result<Storage> {
    let first = &parts[0];
    let dev = super::launch::device_of(first)?;
    let dtype = first.dtype();
    let total: usize = shape.iter().product();
    let out = output(&dev, total, dtype)?;
    let pre: usize = shape[..axis].iter().product();
    let post: usize = shape[axis + 1..].iter().product();
    let big_s = shape[axis];
    if total == 0 {
        return Ok(Storage::new_cuda(out));
    }
    let es = dtype.size_in_bytes() as u64;
    let tmp = if pre == 1 {
        None
    } else {
        Some(output(&dev, total, dtype)?)
    };
    let dst_base = tmp.as_ref().map_or(out.ptr(), |t| t.ptr());
    let mut off = 0usize;
    for p in parts {
        let s = p.shape()[axis];
        let n = p.numel();
        if n > 0 {
            // The part, dense as [pre, s, post], read in [s, pre, post] order.
            let dense_part = p.detach().contiguous()?;
            let (_, src) = operand(&dense_part)?;
            let l3 = Layout {
                shape: vec![pre, s, post],
                strides: vec![s * post, post, 1],
                offset: 0,
            };
            let lp = l3.permute(&[1, 0, 2])?;
            copy_view(
                &dev,
                src,
                &lp,
                dtype,
                dst_base + (off * pre * post) as u64 * es,
                n,
            )?;
        }
        off += s;
    }
    if let Some(t) = tmp {
        // tmp is [S, pre, post]; read it in [pre, S, post] order.
        let l = Layout {
            shape: vec![pre, big_s, post],
            strides: vec![post, pre * post, 1],
            offset: 0,
        };
        copy_view(&dev, t.ptr(), &l, dtype, out.ptr(), total)?;
    }
    Ok(Storage::new_cuda(out))
}
