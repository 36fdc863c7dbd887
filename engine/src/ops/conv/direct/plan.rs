//! The geometry the direct kernel works on: the padded grid (rows sharing their padding), the
//! flat offsets of the taps, and the blocks of output channels.

use crate::backend::cpu::scratch::{take, Scratch};
use crate::ops::conv::ConvGeom;

/// Output channels per vector.
pub(super) const L: usize = 16;
/// Vectors of output channels per block.
pub(super) const KB: usize = 2;
/// Output channels per block.
pub(super) const G: usize = L * KB;

/// One direct convolution: `cin` planes of `src` (`[h, w]` each) to `cout` planes of `dst`
/// (`[ho, wo]`), kernel `[kh, kw]`, padding `pad`.
#[derive(Clone, Copy)]
pub(super) struct Plan {
    pub(super) cin: usize,
    pub(super) cout: usize,
    pub(super) src: [usize; 2],
    pub(super) dst: [usize; 2],
    pub(super) kernel: [usize; 2],
    pub(super) pad: [usize; 2],
}

impl Plan {
    /// The forward convolution `g` from `c` to `k` channels (the weight gradient's grid too).
    pub(super) fn forward(g: &ConvGeom, c: usize, k: usize) -> Plan {
        Plan {
            cin: c,
            cout: k,
            src: g.input,
            dst: g.output,
            kernel: g.kernel,
            pad: g.padding,
        }
    }

    /// Row stride of the padded planes: the padding between two rows is shared.
    pub(super) fn wp(&self) -> usize {
        self.src[1] + self.pad[1]
    }

    /// Flat offsets of the taps in a padded plane, row-major.
    pub(super) fn taps(&self) -> Vec<usize> {
        let wp = self.wp();
        (0..self.kernel[0])
            .flat_map(|i| (0..self.kernel[1]).map(move |j| i * wp + j))
            .collect()
    }

    /// Positions of the padded grid from the first output to the last.
    pub(super) fn span(&self) -> usize {
        (self.dst[0] - 1) * self.wp() + self.dst[1]
    }

    /// Elements of one padded plane, with room for the taps of every grid position below `end`
    /// (one past the last position a kernel computes, which may lie past the last output).
    pub(super) fn padded_plane(&self, end: usize) -> usize {
        let wp = self.wp();
        let last_tap = (self.kernel[0] - 1) * wp + self.kernel[1] - 1;
        ((self.src[0] + 2 * self.pad[0]) * wp).max(end + last_tap)
    }

    /// Blocks of `G` output channels.
    pub(super) fn groups(&self) -> usize {
        self.cout.div_ceil(G)
    }

    /// The planes `xs` (`[h, w]` each) zero-padded, `pp` elements apart (a scratch buffer).
    pub(super) fn pad_planes<T: Scratch>(&self, xs: &[T], pp: usize) -> Vec<T> {
        let [h, w] = self.src;
        let mut xp = take::<T>(xs.len() / (h * w) * pp);
        self.pad_into(xs, pp, &mut xp);
        xp
    }

    /// [`pad_planes`](Self::pad_planes) into `xp` (`pp` elements per plane of `xs`).
    pub(super) fn pad_into<T: Scratch>(&self, xs: &[T], pp: usize, xp: &mut [T]) {
        let [h, w] = self.src;
        let wp = self.wp();
        xp.fill(T::zero());
        for (pi, plane_in) in xs.chunks_exact(h * w).enumerate() {
            for (y, row) in plane_in.chunks_exact(w).enumerate() {
                let d = pi * pp + (y + self.pad[0]) * wp + self.pad[1];
                xp[d..d + w].copy_from_slice(row);
            }
        }
    }
}
