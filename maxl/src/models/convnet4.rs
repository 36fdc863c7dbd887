//! ConvNet-4 (the paper's 4-layer ConvNet): 4 blocks of conv -> BN -> ReLU -> 2x2 max-pool with
//! 32, 64, 128, 256 channels, then flatten (F = 256 for 28x28, 1024 for 32x32).

use super::blocks::{build_conv_bn, conv_bn_relu, pool};
use super::input::InputShape;
use crate::nn::{Builder, Forward};
use crate::Result;
use maxl_engine::Tensor;

pub const CHANNELS: [usize; 4] = [32, 64, 128, 256];

pub fn features(input: InputShape) -> usize {
    let (h, w) = (input.height / 16, input.width / 16);
    CHANNELS[3] * h * w
}

pub fn build(b: &mut Builder, prefix: &str, cin: usize) {
    let mut c = cin;
    for (i, &out) in CHANNELS.iter().enumerate() {
        build_conv_bn(b, &format!("{prefix}.block{i}"), c, out);
        c = out;
    }
}

pub fn forward(f: &mut Forward, prefix: &str, x: &Tensor) -> Result<Tensor> {
    let mut h = x.clone();
    for i in 0..CHANNELS.len() {
        h = pool(&conv_bn_relu(f, &format!("{prefix}.block{i}"), &h)?)?;
    }
    Ok(h.flatten(1, -1)?)
}
