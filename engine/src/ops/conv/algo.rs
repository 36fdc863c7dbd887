//! Which CPU kernel computes a convolution: im2col + gemm (any geometry), Winograd
//! ([`super::winograd`]: 3x3, stride 1), per-pair gemms ([`super::pairs`]: tiny planes) or
//! direct loops ([`super::direct`]: stride 1, small planes).
//! The choice is a function of the shapes (measured on VGG-16's and ConvNet-4's layers with
//! `maxl-cli bench conv`), so it never changes the bits from one run to the next; every kernel
//! computes the same convolution, so gradients of any order and gradcheck do not see it.
//! [`force`] overrides the choice process-wide, for benchmarks that compare the kernels.

use super::{direct, pairs, winograd, ConvGeom, Dir};
use crate::backend::cpu::scratch::Scratch;
use std::sync::atomic::{AtomicU8, Ordering};

pub use super::winograd::Tile;

/// A convolution kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algo {
    Im2col,
    Winograd(Tile),
    Pairs,
    Direct,
}

impl Algo {
    /// Every kernel, in a fixed order.
    pub const ALL: [Algo; 5] = [
        Algo::Im2col,
        Algo::Winograd(Tile::F2),
        Algo::Winograd(Tile::F4),
        Algo::Pairs,
        Algo::Direct,
    ];

    /// Short name: `im2col`, `winograd2`, `winograd4`, `pairs`, `direct`.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Im2col => "im2col",
            Algo::Winograd(Tile::F2) => "winograd2",
            Algo::Winograd(Tile::F4) => "winograd4",
            Algo::Pairs => "pairs",
            Algo::Direct => "direct",
        }
    }

    /// The kernel of that [`name`](Self::name).
    pub fn parse(s: &str) -> Option<Algo> {
        Algo::ALL.into_iter().find(|a| a.name() == s)
    }

    /// True when this kernel can compute the convolution `g`.
    pub fn applies(self, g: &ConvGeom) -> bool {
        match self {
            Algo::Im2col => true,
            Algo::Pairs => pairs::applies(g),
            Algo::Winograd(_) => winograd::applies(g),
            Algo::Direct => direct::applies(g),
        }
    }

    fn code(self) -> u8 {
        Algo::ALL
            .iter()
            .position(|&a| a == self)
            .map_or(0, |i| i as u8 + 1)
    }
}

static FORCED: AtomicU8 = AtomicU8::new(0);

/// Makes every convolution that `algo` can compute use it (`None`: the shape-based choice).
/// For benchmarks; the results differ from the default only by rounding.
pub fn force(algo: Option<Algo>) {
    FORCED.store(algo.map_or(0, Algo::code), Ordering::Relaxed);
}

/// The kernel for a convolution of `n` images, `c` input and `k` output channels (the
/// forward pass's names, whatever the pass) with geometry `g`.
pub fn select(dir: Dir, _n: usize, c: usize, k: usize, g: &ConvGeom) -> Algo {
    let forced = FORCED.load(Ordering::Relaxed);
    if forced > 0 {
        let a = Algo::ALL[forced as usize - 1];
        return if a.applies(g) { a } else { Algo::Im2col };
    }
    choose(dir, c, k, g)
}

/// The shape-based choice (see the module doc): on planes of at most 4 positions (VGG-16's
/// 2x2 layers, 512 -> 512 channels) Winograd F(2x2) for the forward pass and the weight
/// gradient and per-pair gemms for the input gradient (`bench conv --config b2`, 2 threads,
/// ms pairs / im2col: forward 7.6 / 11.3, input gradient 5.8 / 18.9, weight gradient 7.9 /
/// 16.3; F(2x2) / pairs, best of four medians of 3 runs (the median of the four): forward 7.0 (7.5) / 7.7 (10.0), input
/// gradient 7.7 (9.3) / 5.8 (7.4), weight gradient 5.2 (6.1) / 9.6 (11.4)); Winograd F(2x2)
/// elsewhere where both channel counts are at least
/// [`WINOGRAD_MIN_CHANNELS`] and the 2x2 output tiles cover the plane with little waste (all of
/// VGG-16's layers but its first); the direct kernel ([`super::direct`]) where at least
/// [`PAIRS_MIN_CHANNELS`] channels meet a stride-1 plane at least [`DIRECT_MIN_WIDTH`] wide,
/// in every direction. Measured with `bench conv --config b1`, 2 threads, ms direct / im2col
/// (medians of five alternating runs for the weight gradient): ConvNet-4's 14x14 layer (32 ->
/// 64) forward 2.6 / 3.7-3.8, input gradient 2.6 / 3.6-3.8, weight gradient 4.1 / 4.6; its
/// 7x7 layer (64 -> 128) forward 2.6 / 3.5, input gradient 2.7 / 3.2-3.3, weight gradient
/// 3.8 / 4.5; its 3x3 layer (128 -> 256) forward 2.1 / 3.0, input gradient 2.5 / 2.8-2.9,
/// weight gradient 3.0 / 4.3 (the per-pair gemms 4.0). im2col + gemm elsewhere (ConvNet-4's
/// first layer, one input channel). F(4x4) is never chosen: its f32 error is several times
/// PyTorch's (see `kernel_tests.rs`), though it is the fastest on VGG-16's large planes. On
/// VGG-16's 8x8 and 4x4 planes F(2x2) beats the direct kernel in every direction (256 -> 256
/// on 8x8: 20 / 29-33 ms forward, 22 / 45-52 weight gradient).
fn choose(dir: Dir, c: usize, k: usize, g: &ConvGeom) -> Algo {
    // One input channel (ConvNet-4's first layer): its weight gradient vectorised over
    // output positions (1 -> 32 channels on 28x28, `bench conv --config b1`, 2 threads, three
    // alternating runs: 0.53-0.67 ms against im2col's 1.06-1.59).
    if dir == Dir::Weight && c == 1 && direct::applies(g) && direct::one_channel_applies(g) {
        return Algo::Direct;
    }
    if c.min(k) < PAIRS_MIN_CHANNELS {
        return Algo::Im2col;
    }
    if winograd::applies(g) {
        let [ho, wo] = g.output;
        if ho * wo <= 4 {
            // One F(2x2) tile per image: fewer products than the per-pair gemms, which keep
            // the input gradient.
            return if dir != Dir::Transpose && c.min(k) >= WINOGRAD_MIN_CHANNELS {
                Algo::Winograd(Tile::F2)
            } else {
                Algo::Pairs
            };
        }
        // Output positions the tiles compute, per position kept.
        let covered = (ho.div_ceil(2) * 2 * wo.div_ceil(2) * 2) as f64 / (ho * wo) as f64;
        if c.min(k) >= WINOGRAD_MIN_CHANNELS && covered <= 1.2 {
            return Algo::Winograd(Tile::F2);
        }
    }
    // The plane the direct kernel computes on: the output, or the input for the input gradient.
    let width = match dir {
        Dir::Forward | Dir::Weight => g.output[1],
        Dir::Transpose => g.input[1],
    };
    if width >= DIRECT_MIN_WIDTH && direct::applies(g) {
        return Algo::Direct;
    }
    Algo::Im2col
}

/// The narrowest plane the direct kernel is chosen for (ConvNet-4's 3x3 plane: forward 2.1,
/// input gradient 2.5, weight gradient 3.0 ms against im2col's 3.0, 2.8-2.9 and 4.0-4.2).
pub const DIRECT_MIN_WIDTH: usize = 3;

/// The fewest input and output channels for the per-pair gemms.
pub const PAIRS_MIN_CHANNELS: usize = 16;
/// The fewest input and output channels for the Winograd kernel.
pub const WINOGRAD_MIN_CHANNELS: usize = 64;

/// The convolution `dir` of `a` and `b` (as [`super::cpu_kernel`] takes them, `nck = [n, c,
/// k]`) by the chosen kernel, or `None` when the choice is im2col + gemm.
pub(crate) fn compute<T: Scratch>(
    dir: Dir,
    a: &[T],
    b: &[T],
    bias: Option<&[T]>,
    [n, c, k]: [usize; 3],
    g: &ConvGeom,
) -> Option<Vec<T>> {
    Some(match (select(dir, n, c, k, g), dir) {
        (Algo::Im2col, _) => return None,
        (Algo::Winograd(t), Dir::Forward) => winograd::conv2d(t, a, b, bias, n, c, k, g),
        (Algo::Winograd(t), Dir::Transpose) => {
            winograd::conv_transpose2d(t, a, b, bias, n, c, k, g)
        }
        (Algo::Winograd(t), Dir::Weight) => winograd::conv2d_weight(t, a, b, n, c, k, g),
        (Algo::Pairs, Dir::Forward) => pairs::conv2d(a, b, bias, n, c, k, g),
        (Algo::Pairs, Dir::Transpose) => pairs::conv_transpose2d(a, b, bias, n, c, k, g),
        (Algo::Pairs, Dir::Weight) => pairs::conv2d_weight(a, b, n, c, k, g),
        (Algo::Direct, Dir::Forward) => direct::conv2d(a, b, bias, n, c, k, g),
        (Algo::Direct, Dir::Transpose) => direct::conv_transpose2d(a, b, bias, n, c, k, g),
        (Algo::Direct, Dir::Weight) => direct::conv2d_weight(a, b, n, c, k, g),
    })
}
