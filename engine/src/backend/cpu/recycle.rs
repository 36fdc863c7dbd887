//! Recycled output buffers: the CPU storage of dropped tensors goes into per-length free lists
//! and is handed to kernels that overwrite their whole output, so a training step's outputs
//! cost neither a fresh allocation nor the zeroing of `vec![0.0; n]` (9% of a B1 step's profile
//! was memset). Only kernels that write every element may take one: the old values are
//! arbitrary (never uninitialised memory). Bounded: buffers of at least `MIN_LEN` elements,
//! at most `PER_LEN` per length and `MAX_BYTES` in all.

use super::buffer::CpuStorage;
use rayon::prelude::*;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Mutex;

const MIN_LEN: usize = 4096;
const PER_LEN: usize = 4;
/// Free buffers count in the process's peak memory: 512 MiB put a B2 (VGG-16) stage-2 step's
/// peak at 2711 MiB, 128 MiB at 2498 MiB (PyTorch's: 2612 MiB) at the same speed (3.56 s vs
/// 3.67 s, within the machine's noise; B1 unchanged).
const MAX_BYTES: usize = 128 << 20;

/// Free buffers by (element type, length); each is a `Vec<T>` of that type and length.
#[derive(Default)]
struct Pool {
    lists: HashMap<(TypeId, usize), Vec<Box<dyn Any + Send>>>,
    bytes: usize,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let mut g = POOL.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Pool::default))
}

/// A buffer of `n` elements for a kernel that writes every one of them: a recycled buffer
/// (old values) when one of that length is free, else zeros.
pub fn output<T: Copy + Default + Send + Sync + 'static>(n: usize) -> Vec<T> {
    if n >= MIN_LEN {
        let got = with_pool(|p| {
            let b = p
                .lists
                .get_mut(&(TypeId::of::<T>(), n))
                .and_then(Vec::pop)?;
            p.bytes -= n * std::mem::size_of::<T>();
            Some(b)
        });
        if let Some(Ok(v)) = got.map(|b| b.downcast::<Vec<T>>()) {
            return *v;
        }
    }
    if n >= PARALLEL_FILL_LEN {
        // Written (and its pages faulted in) by every thread, not by this one alone: a VGG-16
        // activation is 26 MB, and the pool below cannot keep many of them.
        return (0..n).into_par_iter().map(|_| T::default()).collect();
    }
    vec![T::default(); n]
}

/// Fresh buffers of at least this many elements are filled in parallel.
const PARALLEL_FILL_LEN: usize = 1 << 20;

/// Keeps a buffer for [`output`] (kernels' large scratch buffers come back this way too).
pub(crate) fn keep<T: Copy + Send + 'static>(v: Vec<T>) {
    let n = v.len();
    let bytes = n * std::mem::size_of::<T>();
    if n < MIN_LEN || v.capacity() != n {
        return;
    }
    with_pool(|p| {
        if p.bytes + bytes > MAX_BYTES {
            return;
        }
        let list = p.lists.entry((TypeId::of::<T>(), n)).or_default();
        if list.len() < PER_LEN {
            list.push(Box::new(v));
            p.bytes += bytes;
        }
    });
}

/// Takes the buffer of a dropped storage.
pub(crate) fn recycle(c: CpuStorage) {
    match c {
        CpuStorage::F32(v) => keep(v),
        CpuStorage::F64(v) => keep(v),
        CpuStorage::I64(v) => keep(v), // max pooling's indices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_of_the_same_length_come_back() {
        let v: Vec<f32> = vec![7.0; 5000];
        let ptr = v.as_ptr();
        recycle(CpuStorage::F32(v));
        // Another test may take it first; then a fresh zeroed buffer comes.
        let w = output::<f32>(5000);
        assert_eq!(w.len(), 5000);
        assert!(w.as_ptr() == ptr || w.iter().all(|&x| x == 0.0));
        // Short buffers are never kept.
        let s = output::<f64>(10);
        assert_eq!(s, vec![0.0; 10]);
    }

    #[test]
    fn fresh_large_buffers_are_filled_with_defaults_in_parallel() {
        let n = PARALLEL_FILL_LEN + 3;
        // A length no other test keeps, so the buffer is fresh.
        let v = output::<i64>(n);
        assert_eq!(v.len(), n);
        assert!(v.iter().all(|&x| x == 0));
    }
}
