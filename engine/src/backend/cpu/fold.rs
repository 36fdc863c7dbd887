//! Row reductions. Callers lay the reduced axes out last and contiguous, so a reduction is a
//! fold over each row of length `r`. Long rows are folded in fixed chunks of [`CHUNK`] whose
//! partial results are combined in order: the bits do not depend on the thread count.

use super::par::PAR_MIN;
use crate::Float;
use rayon::prelude::*;

/// Fixed chunk length of the deterministic parallel fold.
pub const CHUNK: usize = 4096;

/// Folds each of the `data.len() / r` rows with `f`, starting from `init`.
pub fn reduce_rows<T, F>(data: &[T], r: usize, init: T, f: F) -> Vec<T>
where
    T: Float,
    F: Fn(T, T) -> T + Sync + Send,
{
    if r == 0 {
        let rows = if data.is_empty() { 0 } else { data.len() };
        return vec![init; rows];
    }
    let rows = data.len() / r;
    let fold_row = |row: &[T]| -> T {
        if row.len() >= PAR_MIN {
            let partial: Vec<T> = row
                .par_chunks(CHUNK)
                .map(|c| c.iter().fold(init, |acc, &x| f(acc, x)))
                .collect();
            partial.into_iter().fold(init, &f)
        } else {
            row.chunks(CHUNK)
                .map(|c| c.iter().fold(init, |acc, &x| f(acc, x)))
                .fold(init, &f)
        }
    };
    if data.len() >= PAR_MIN && rows > 1 {
        data.par_chunks(r).map(fold_row).collect()
    } else {
        data.chunks(r).map(fold_row).collect()
    }
}
