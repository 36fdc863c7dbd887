//! The windows of an average pool, an op-level constant of the average-pooling ops, recorded
//! with them and read by both backends' kernels.

use crate::Float;

/// The input range `start..end` that window `i` of one axis covers, clipped to `0..n`.
pub(crate) fn window(i: usize, k: usize, s: usize, p: usize, n: usize) -> (usize, usize) {
    let start = (i * s) as isize - p as isize;
    let end = (start + k as isize).min(n as isize);
    (start.max(0) as usize, end.max(0) as usize)
}

/// Windows of an average pool: per output row and column the input range it covers, and the
/// divisor (a fixed one, as `count_include_pad`, or the window's own area).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AvgPlan {
    pub input: [usize; 2],
    pub rows: Vec<(usize, usize)>,
    pub cols: Vec<(usize, usize)>,
    /// `Some(k)`: divide by `k`; `None`: divide by the window's area.
    pub divisor: Option<usize>,
    /// `[kernel, stride, padding]` of a fixed-stride pool (`None`: adaptive), for the CUDA
    /// kernels, which compute the windows themselves.
    pub fixed: Option<[[usize; 2]; 3]>,
}

impl AvgPlan {
    /// The plan of a fixed-stride pool with zero padding counted in the divisor.
    pub fn fixed(
        input: [usize; 2],
        output: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> AvgPlan {
        let axis = |a: usize| -> Vec<(usize, usize)> {
            (0..output[a])
                .map(|i| window(i, kernel[a], stride[a], padding[a], input[a]))
                .collect()
        };
        AvgPlan {
            input,
            rows: axis(0),
            cols: axis(1),
            divisor: Some(kernel[0] * kernel[1]),
            fixed: Some([kernel, stride, padding]),
        }
    }

    /// The plan of an adaptive pool: window `i` of `o` over `n` is
    /// `floor(i * n / o) .. ceil((i + 1) * n / o)`, as PyTorch's.
    pub fn adaptive(input: [usize; 2], output: [usize; 2]) -> AvgPlan {
        let axis = |a: usize| -> Vec<(usize, usize)> {
            let (n, o) = (input[a], output[a]);
            (0..o)
                .map(|i| (i * n / o, ((i + 1) * n).div_ceil(o)))
                .collect()
        };
        AvgPlan {
            input,
            rows: axis(0),
            cols: axis(1),
            divisor: None,
            fixed: None,
        }
    }

    pub fn output(&self) -> [usize; 2] {
        [self.rows.len(), self.cols.len()]
    }

    pub(crate) fn scale<T: Float>(&self, r: (usize, usize), c: (usize, usize)) -> T {
        let d = self.divisor.unwrap_or((r.1 - r.0) * (c.1 - c.0)).max(1);
        T::one() / T::from_f64(d as f64)
    }
}
