//! The geometry of a 2-D convolution, an op-level constant of the three convolution ops,
//! recorded with them and read by both backends' kernels.

/// Geometry of a 2-D convolution from an input plane of size `input` to an output plane of size
/// `output`: `out[i] = sum_j w[j] * in[i * stride - padding + j * dilation]` per axis, reading
/// zeros outside the input. `output` need not be the natural size: the transposed convolution
/// and the weight gradient use the same geometry with whatever sizes their operands have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvGeom {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    /// Spatial size (H, W) of the image side (conv input, transposed-conv output).
    pub input: [usize; 2],
    /// Spatial size (Ho, Wo) of the map side (conv output, transposed-conv input).
    pub output: [usize; 2],
}

impl ConvGeom {
    pub(crate) fn in_plane(&self) -> usize {
        self.input[0] * self.input[1]
    }

    pub(crate) fn out_plane(&self) -> usize {
        self.output[0] * self.output[1]
    }

    pub(crate) fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    /// The output positions `lo..hi` along axis `a` whose tap `j` reads inside the input.
    pub(crate) fn valid(&self, a: usize, j: usize) -> (usize, usize) {
        let s = self.stride[a] as isize;
        let off = (j * self.dilation[a]) as isize - self.padding[a] as isize;
        let n_out = self.output[a] as isize;
        let n_in = self.input[a] as isize;
        let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
        let hi = if n_in - off <= 0 {
            0
        } else {
            ((n_in - off - 1) / s + 1).min(n_out)
        };
        let lo = lo.min(n_out);
        (lo as usize, hi.max(lo) as usize)
    }
}
