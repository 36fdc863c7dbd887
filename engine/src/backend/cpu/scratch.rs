//! Per-thread pools of scratch buffers for kernels that need temporary columns (convolution's
//! im2col, Winograd tiles): a buffer taken and given back costs no allocation the next time.

use crate::Float;
use std::cell::RefCell;
use std::thread::LocalKey;

/// Float types with a per-thread pool of scratch buffers.
pub trait Scratch: Float {
    #[doc(hidden)]
    fn pool() -> &'static LocalKey<RefCell<Vec<Vec<Self>>>>;
}

thread_local! {
    static POOL_F32: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
    static POOL_F64: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
}

impl Scratch for f32 {
    fn pool() -> &'static LocalKey<RefCell<Vec<Vec<f32>>>> {
        &POOL_F32
    }
}

impl Scratch for f64 {
    fn pool() -> &'static LocalKey<RefCell<Vec<Vec<f64>>>> {
        &POOL_F64
    }
}

/// A buffer of `len` elements from this thread's pool; its contents are unspecified. The
/// smallest kept buffer that holds `len` elements is taken; when none does, a fresh zeroed one
/// (growing a smaller kept buffer would copy its old contents first, and taking whichever was
/// given last made a kernel's buffers of different sizes grow and copy each other in turn).
pub fn take<T: Scratch>(len: usize) -> Vec<T> {
    let fit = T::pool().with(|p| {
        let mut p = p.borrow_mut();
        let best = (0..p.len())
            .filter(|&i| p[i].capacity() >= len)
            .min_by_key(|&i| p[i].capacity());
        best.map(|i| p.swap_remove(i))
    });
    match fit {
        Some(mut v) => {
            if v.len() < len {
                v.resize(len, T::zero()); // within its capacity: no copy
            } else {
                v.truncate(len);
            }
            v
        }
        None => vec![T::zero(); len],
    }
}

/// Returns a buffer to this thread's pool: at most [`KEEP_COUNT`] buffers of at most
/// [`KEEP_MAX`] elements are kept, a full pool giving up its smallest buffer for a larger one.
pub fn give<T: Scratch>(v: Vec<T>) {
    if v.capacity() > KEEP_MAX {
        return;
    }
    T::pool().with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < KEEP_COUNT {
            p.push(v);
        } else if let Some(i) = (0..p.len()).min_by_key(|&i| p[i].capacity()) {
            if p[i].capacity() < v.capacity() {
                p[i] = v;
            }
        }
    });
}

/// The most scratch buffers a thread keeps.
const KEEP_COUNT: usize = 4;

/// The largest scratch buffer (in elements) a thread keeps for reuse.
const KEEP_MAX: usize = 1 << 22;
