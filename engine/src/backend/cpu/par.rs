//! Rayon helpers of the CPU kernels: work above [`PAR_MIN`] elements is split over the
//! threads, in pieces chosen from the shapes only, so the bits never depend on the thread count.

use rayon::prelude::*;

/// Below this many elements a kernel runs on the calling thread.
pub const PAR_MIN: usize = 1 << 15;

/// Runs `f(index, chunk)` over the `chunk`-sized pieces of `out`, in parallel when `work`
/// (the elements the whole job touches) reaches [`PAR_MIN`].
pub fn for_chunks<T: Send>(
    out: &mut [T],
    chunk: usize,
    work: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    if chunk == 0 {
        return;
    }
    if work >= PAR_MIN {
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, o)| f(i, o));
    } else {
        out.chunks_mut(chunk).enumerate().for_each(|(i, o)| f(i, o));
    }
}

/// `f(i)` for `i` in `0..n`, in parallel when `work` reaches [`PAR_MIN`] and `n > 1`.
pub fn map_range<R: Send>(n: usize, work: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if work >= PAR_MIN && n > 1 {
        (0..n).into_par_iter().map(f).collect()
    } else {
        (0..n).map(f).collect()
    }
}
