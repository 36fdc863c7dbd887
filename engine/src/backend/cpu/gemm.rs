//! The wrapper of the `gemm` crate that the CPU kernels share: a matrix operand given by a
//! pointer and its row and column strides (so transposed operands need no copy), and
//! `dst (+)= lhs @ rhs`.

use crate::Float;
pub use gemm::Parallelism;

/// A row-major matrix operand: pointer, row stride, column stride.
#[derive(Clone, Copy)]
pub struct Mat<T> {
    pub ptr: *const T,
    pub rs: isize,
    pub cs: isize,
}

/// gemm's own threading for a single large product (`tasks <= 1` and at least 64^3 flops),
/// none when the caller already runs `tasks` products in parallel.
pub fn parallelism(tasks: usize, flops: usize) -> Parallelism {
    if tasks <= 1 && flops >= 64 * 64 * 64 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    }
}

/// `dst[m, n] (+)= lhs[m, k] @ rhs[k, n]` for `[m, n, k] = mnk`; `dst` is row-major with row
/// stride `n`.
pub fn gemm_into<T: Float>(
    dst: &mut [T],
    [m, n, k]: [usize; 3],
    lhs: Mat<T>,
    rhs: Mat<T>,
    accumulate: bool,
    par: Parallelism,
) {
    assert!(dst.len() >= m * n, "gemm destination too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::zero());
        }
        return;
    }
    // SAFETY: `dst` holds at least m*n elements written with strides (n, 1); the callers build
    // `lhs` and `rhs` from slices that hold every element the strides reach.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            par,
        );
    }
}
