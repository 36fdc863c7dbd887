//! Kernel launch plumbing: argument lists in cuLaunchKernel's form, the launch shapes the `.cu`
//! files document, kernel names per dtype (the CUDA side of the dtype dispatch: `<base>_f32` or
//! `<base>_f64`), output buffers, and `Strided` descriptions of views (with adjacent dims merged
//! so that views of any rank fit the kernels' 6 dims when they can). Every launch is counted
//! ([`crate::stats`]).

use super::device::CudaDevice;
use super::storage::CudaStorage;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::DType;
use maxl_kernels::params::{Strided, MAX_DIMS};
use std::ffi::c_void;
use std::sync::Arc;

/// Threads per block of the elementwise-style kernels.
pub(crate) const BLOCK: u32 = 256;
/// Grid cap of the grid-stride kernels (`65535 * 4`, as the .cu files say).
const GRID_CAP: usize = 262_140;

/// Kernel arguments: the values packed into one buffer of 8-byte words (each argument starting
/// on a word), and their word offsets; the pointers cuLaunchKernel wants are taken at launch,
/// once the buffer no longer moves. Two allocations a launch, whatever the argument count.
pub(crate) struct Args {
    words: Vec<u64>,
    offsets: Vec<usize>,
}

impl Args {
    pub(crate) fn new() -> Args {
        Args {
            words: Vec::with_capacity(48),
            offsets: Vec::with_capacity(20),
        }
    }

    /// Appends an argument passed by value (`i64`, `i32`, `f32`, `f64`, a `#[repr(C)]` struct,
    /// or a device pointer as `u64`).
    pub(crate) fn arg<T: Copy + 'static>(mut self, v: T) -> Args {
        const { assert!(std::mem::align_of::<T>() <= 8) };
        let at = self.words.len();
        let n = std::mem::size_of::<T>().div_ceil(8).max(1);
        self.words.resize(at + n, 0);
        // SAFETY: words at..at + n are in bounds, 8-byte aligned (T needs at most 8) and hold
        // at least size_of::<T>() bytes.
        unsafe { (self.words.as_mut_ptr().add(at) as *mut T).write(v) };
        self.offsets.push(at);
        self
    }

    /// Pointers to each argument, in order (valid while `self` is not changed).
    fn pointers(&mut self) -> Vec<*mut c_void> {
        let base = self.words.as_mut_ptr();
        // SAFETY: every offset is within `words`.
        self.offsets
            .iter()
            .map(|&o| unsafe { base.add(o) } as *mut c_void)
            .collect()
    }

    /// Appends a float argument of the kernel's element type.
    pub(crate) fn float(self, dtype: DType, v: f64) -> Args {
        match dtype {
            DType::F32 => self.arg(v as f32),
            _ => self.arg(v),
        }
    }
}

/// Launches `name` on `dev`.
pub(crate) fn launch(
    dev: &CudaDevice,
    name: &str,
    grid: [u32; 3],
    block: [u32; 3],
    mut args: Args,
) -> Result<()> {
    if grid.contains(&0) {
        return Ok(()); // nothing to do (an empty tensor)
    }
    // A shape CUDA refuses is an error naming the kernel and the axis, before the driver sees it.
    maxl_kernels::check_launch(name, grid, block, 0).map_err(|e| Error::Cuda(e.to_string()))?;
    crate::stats::count_launch(name);
    let mut ptrs = args.pointers();
    // SAFETY: each launcher in this backend passes the argument list its kernel declares,
    // with pointers into live buffers of `dev`; `args` outlives the call.
    unsafe { dev.rt().launch(name, grid, block, 0, &mut ptrs) }
}

/// Grid of a grid-stride kernel over `n` items.
pub(crate) fn grid_for(n: usize) -> [u32; 3] {
    [n.div_ceil(BLOCK as usize).clamp(1, GRID_CAP) as u32, 1, 1]
}

/// 1-D block of `BLOCK` threads.
pub(crate) const fn block() -> [u32; 3] {
    [BLOCK, 1, 1]
}

/// `base_f32` or `base_f64` for a float dtype.
pub(crate) fn kname(base: &str, dtype: DType, op: &'static str) -> Result<String> {
    match dtype {
        DType::F32 => Ok(format!("{base}_f32")),
        DType::F64 => Ok(format!("{base}_f64")),
        DType::I64 => Err(Error::UnsupportedDType { op, dtype }),
    }
}

/// A fresh (uninitialised) output buffer.
pub(crate) fn output(dev: &Arc<CudaDevice>, len: usize, dtype: DType) -> Result<CudaStorage> {
    CudaStorage::alloc(dev, len, dtype)
}

/// The device address of the first element of the view `l` of `s`.
pub(crate) fn addr(s: &CudaStorage, l: &Layout) -> u64 {
    s.addr_at(l.offset)
}

/// `Strided` for operands viewed with `layouts` (each of the output's `shape`, strides 0 on
/// broadcast axes). Dims that every operand walks as one run are merged first; an error when
/// more than 6 dims remain.
pub(crate) fn strided(shape: &[usize], layouts: &[&Layout]) -> Result<Strided> {
    debug_assert!(layouts.len() <= 3 && layouts.iter().all(|l| l.shape == shape));
    // Drop size-1 dims, then merge d into d + 1 where every operand has stride[d] =
    // stride[d + 1] * dims[d + 1].
    let mut dims: Vec<usize> = Vec::new();
    let mut strides: Vec<Vec<usize>> = vec![Vec::new(); layouts.len()];
    for (d, &n) in shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let mergeable = !dims.is_empty()
            && layouts.iter().enumerate().all(|(o, l)| {
                let prev = *strides[o].last().unwrap_or(&0);
                prev == l.strides[d] * n
            });
        if mergeable {
            let last = dims.len() - 1;
            dims[last] *= n;
            for (o, l) in layouts.iter().enumerate() {
                let s = strides[o].len() - 1;
                strides[o][s] = l.strides[d];
            }
        } else {
            dims.push(n);
            for (o, l) in layouts.iter().enumerate() {
                strides[o].push(l.strides[d]);
            }
        }
    }
    if dims.len() > MAX_DIMS {
        return Err(Error::Invalid(format!(
            "the CUDA backend handles views of at most {MAX_DIMS} non-mergeable dims; shape \
             {shape:?} needs {} (make the tensor contiguous first)",
            dims.len()
        )));
    }
    let mut s = Strided {
        rank: dims.len() as i32,
        ..Strided::default()
    };
    for (d, &n) in dims.iter().enumerate() {
        s.dims[d] = n as i64;
    }
    let mut all_dense = true;
    for (o, st) in strides.iter().enumerate() {
        let mut acc = 1usize;
        for d in (0..dims.len()).rev() {
            if st[d] != acc {
                all_dense = false;
            }
            acc *= dims[d];
        }
        let row = match o {
            0 => &mut s.s0,
            1 => &mut s.s1,
            _ => &mut s.s2,
        };
        for (d, &v) in st.iter().enumerate() {
            row[d] = v as i64;
        }
    }
    s.contiguous = all_dense as i32;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_packed_on_words_and_read_back() {
        let st = Strided::contiguous(&[2, 3]).unwrap();
        let mut a = Args::new()
            .arg(7i64)
            .arg(1.5f32)
            .arg(st)
            .arg(0xdead_beefu64)
            .arg(-3i32);
        let p = a.pointers();
        assert_eq!(p.len(), 5);
        // SAFETY: each pointer points at the value pushed in that position.
        unsafe {
            assert_eq!(*(p[0] as *const i64), 7);
            assert_eq!(*(p[1] as *const f32), 1.5);
            assert_eq!(*(p[2] as *const Strided), st);
            assert_eq!(*(p[3] as *const u64), 0xdead_beef);
            assert_eq!(*(p[4] as *const i32), -3);
        }
        assert!(p.iter().all(|q| (*q as usize).is_multiple_of(8)));
    }

    #[test]
    fn dense_views_merge_to_one_dim() {
        let l = Layout::contiguous(&[2, 3, 4, 5, 6, 7, 8]);
        let s = strided(&l.shape.clone(), &[&l, &l]).unwrap();
        assert_eq!((s.rank, s.contiguous), (1, 1));
        assert_eq!(s.dims[0], 2 * 3 * 4 * 5 * 6 * 7 * 8);
    }

    #[test]
    fn broadcast_and_transpose_keep_their_dims() {
        let a = Layout::contiguous(&[3, 4]);
        let b = Layout::contiguous(&[4]).broadcast_to(&[3, 4]).unwrap();
        let s = strided(&[3, 4], &[&a, &b]).unwrap();
        assert_eq!((s.rank, s.contiguous), (2, 0));
        assert_eq!((&s.s0[..2], &s.s1[..2]), (&[4i64, 1][..], &[0i64, 1][..]));
        let t = Layout::contiguous(&[4, 3]).permute(&[1, 0]).unwrap();
        let s = strided(&[3, 4], &[&t]).unwrap();
        assert_eq!((s.rank, s.contiguous, &s.s0[..2]), (2, 0, &[1i64, 3][..]));
        // Size-1 dims vanish; a scalar has rank 0.
        let s = strided(&[], &[&Layout::contiguous(&[])]).unwrap();
        assert_eq!((s.rank, s.contiguous), (0, 1));
    }
}
