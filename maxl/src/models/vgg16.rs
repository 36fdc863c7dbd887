//! VGG-16 as the authors' code: 13 conv -> BN -> ReLU layers in 5 stages (64, 128, 256, 512,
//! 512 channels), each stage ending in a 2x2 max-pool; 32x32 input gives F = 512.

use super::blocks::{build_conv_bn, conv_bn_relu, pool};
use super::input::InputShape;
use crate::nn::{Builder, Forward};
use crate::Result;
use maxl_engine::Tensor;

/// Channels per stage and layers per stage.
pub const STAGES: [(usize, usize); 5] = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)];

pub fn features(input: InputShape) -> usize {
    512 * (input.height / 32) * (input.width / 32)
}

pub fn build(b: &mut Builder, prefix: &str, cin: usize) {
    let mut c = cin;
    for (s, &(out, layers)) in STAGES.iter().enumerate() {
        for l in 0..layers {
            build_conv_bn(b, &format!("{prefix}.stage{s}.layer{l}"), c, out);
            c = out;
        }
    }
}

pub fn forward(f: &mut Forward, prefix: &str, x: &Tensor) -> Result<Tensor> {
    let mut h = x.clone();
    for (s, &(_, layers)) in STAGES.iter().enumerate() {
        for l in 0..layers {
            h = conv_bn_relu(f, &format!("{prefix}.stage{s}.layer{l}"), &h)?;
        }
        h = pool(&h)?;
    }
    Ok(h.flatten(1, -1)?)
}
