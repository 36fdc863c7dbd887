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

/// A buffer of `len` elements from this thread's pool; its contents are unspecified.
pub fn take<T: Scratch>(len: usize) -> Vec<T> {
    let mut v = T::pool().with(|p| p.borrow_mut().pop()).unwrap_or_default();
    if v.len() < len {
        v.resize(len, T::zero());
    } else {
        v.truncate(len);
    }
    v
}

/// Returns a buffer to this thread's pool (a few of at most `KEEP_MAX` elements are kept, the
/// rest freed).
pub fn give<T: Scratch>(v: Vec<T>) {
    if v.capacity() > KEEP_MAX {
        return;
    }
    T::pool().with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < 4 {
            p.push(v);
        }
    });
}

/// The largest scratch buffer (in elements) a thread keeps for reuse.
const KEEP_MAX: usize = 1 << 22;
