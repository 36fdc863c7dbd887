//! Per-sample transforms on u8 images (C x H x W): augmentation as torchvision's
//! `RandomCrop(size, padding, fill 0)` then `RandomHorizontalFlip(0.5)`, and normalisation to f32
//! as `ToTensor` then `Normalize(mean, std)`. MAXL's defaults are in `MODELS.md`.

use crate::error::{Error, Result};
use maxl_engine::{Rng, Tensor};

/// `(x / 255 - mean[c]) / std[c]` per channel, to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Normalize {
    /// One mean and one standard deviation per channel (std finite and > 0).
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Normalize> {
        if mean.is_empty()
            || mean.len() != std.len()
            || mean.iter().any(|m| !m.is_finite())
            || std.iter().any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(Error::Invalid(format!(
                "normalize: need one finite mean and one finite std > 0 per channel, got mean \
                 {mean:?}, std {std:?}"
            )));
        }
        Ok(Normalize { mean, std })
    }

    /// MAXL's normalisation, `(x / 255 - 0.5) / 0.2` on every channel: 0 -> -2.5, 255 -> 2.5.
    pub fn maxl(channels: usize) -> Normalize {
        Normalize {
            mean: vec![0.5; channels.max(1)],
            std: vec![0.2; channels.max(1)],
        }
    }

    /// Just `x / 255`.
    pub fn unit(channels: usize) -> Normalize {
        Normalize {
            mean: vec![0.0; channels.max(1)],
            std: vec![1.0; channels.max(1)],
        }
    }

    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// The 256 output values of each channel.
    pub(crate) fn tables(&self) -> Vec<[f32; 256]> {
        self.mean
            .iter()
            .zip(&self.std)
            .map(|(&m, &s)| std::array::from_fn(|v| (v as f32 / 255.0 - m) / s))
            .collect()
    }

    /// Normalises images (any number, C x H x W each, C = [`Normalize::channels`]) from `src`
    /// into `dst` of the same length.
    pub fn apply(&self, src: &[u8], hw: usize, dst: &mut [f32]) -> Result<()> {
        let c = self.channels();
        if src.len() != dst.len() || hw == 0 || !src.len().is_multiple_of(c * hw) {
            return Err(Error::Invalid(format!(
                "normalize: {} bytes into {} floats is not a whole number of {c} x {hw} images",
                src.len(),
                dst.len()
            )));
        }
        apply_tables(&self.tables(), src, hw, dst);
        Ok(())
    }

    /// An f32 tensor [N, C, H, W] of normalised images; `images` holds N x C x H x W bytes.
    pub fn to_tensor(&self, images: &[u8], shape: [usize; 4]) -> Result<Tensor> {
        let [_, c, h, w] = shape;
        if c != self.channels() || images.len() != shape.iter().product::<usize>() {
            return Err(Error::Invalid(format!(
                "normalize: {} bytes of {c}-channel images for shape {shape:?} and a {}-channel \
                 normalisation",
                images.len(),
                self.channels()
            )));
        }
        let mut out = vec![0f32; images.len()];
        self.apply(images, h * w, &mut out)?;
        Ok(Tensor::from_vec(out, &shape)?)
    }
}

/// `dst = tables[channel][src]`, images of `tables.len()` planes of `hw` pixels.
pub(crate) fn apply_tables(tables: &[[f32; 256]], src: &[u8], hw: usize, dst: &mut [f32]) {
    let c = tables.len();
    for (plane, (s, d)) in src.chunks(hw).zip(dst.chunks_mut(hw)).enumerate() {
        let t = &tables[plane % c];
        for (o, &v) in d.iter_mut().zip(s) {
            *o = t[v as usize];
        }
    }
}

/// Random augmentation of one u8 image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Augment {
    None,
    /// Zero-pad by `padding` on every side, crop back to the original size at a uniformly
    /// random offset, then mirror left-right with probability 1/2 when `flip`.
    CropFlip {
        padding: usize,
        flip: bool,
    },
}

impl Augment {
    /// MAXL's choice by image shape (`MODELS.md`): colour images (3 channels; 32 x 32 in the
    /// paper) get random crop with padding 4 and random flip; grey images (28 x 28) get none.
    pub fn maxl(shape: [usize; 3]) -> Augment {
        if shape[0] == 3 {
            Augment::CropFlip {
                padding: 4,
                flip: true,
            }
        } else {
            Augment::None
        }
    }

    /// Writes the augmented `src` (C x H x W = `shape`) into `dst`. Draws from `rng`, in this
    /// order: crop top, crop left (each uniform in `0..=2 * padding`), then the flip. Panics,
    /// as `copy_from_slice` does, when `src` or `dst` is not C * H * W long.
    pub fn apply(&self, src: &[u8], shape: [usize; 3], rng: &mut Rng, dst: &mut [u8]) {
        match *self {
            Augment::None => dst.copy_from_slice(src),
            Augment::CropFlip { padding, flip } => {
                let top = rng.below(2 * padding + 1);
                let left = rng.below(2 * padding + 1);
                crop_padded(src, shape, padding, top, left, dst);
                if flip && rng.uniform() < 0.5 {
                    flip_horizontal(dst, shape);
                }
            }
        }
    }
}

/// The crop at (`top`, `left`) of the image zero-padded by `padding` on each side, the size of
/// the original: `dst[c][y][x] = padded[c][top + y][left + x]`. Panics when `src` or `dst` is
/// not C * H * W long.
pub fn crop_padded(
    src: &[u8],
    shape: [usize; 3],
    padding: usize,
    top: usize,
    left: usize,
    dst: &mut [u8],
) {
    let [c, h, w] = shape;
    for ch in 0..c {
        for y in 0..h {
            let row = &mut dst[(ch * h + y) * w..(ch * h + y + 1) * w];
            let sy = (y + top).wrapping_sub(padding);
            if sy >= h {
                row.fill(0);
                continue;
            }
            let srow = &src[(ch * h + sy) * w..(ch * h + sy + 1) * w];
            for (x, o) in row.iter_mut().enumerate() {
                let sx = (x + left).wrapping_sub(padding);
                *o = if sx < w { srow[sx] } else { 0 };
            }
        }
    }
}

/// Mirrors every row of a C x H x W image in place.
pub fn flip_horizontal(img: &mut [u8], shape: [usize; 3]) {
    let w = shape[2];
    if w == 0 {
        return;
    }
    for row in img.chunks_mut(w) {
        row.reverse();
    }
}
