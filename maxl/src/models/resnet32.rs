//! ResNet-32 for 32x32 images: conv(16) -> BN -> ReLU, three stages of five basic blocks
//! (16, 32, 64 channels; stride 2 entering stages 2 and 3, with a 1x1 conv + BN shortcut), global
//! average pool, F = 64. Convolutions have no bias (BN follows), as torchvision's.

use crate::nn::{Builder, Forward};
use crate::Result;
use maxl_engine::Tensor;

pub const FEATURES: usize = 64;
const WIDTHS: [usize; 3] = [16, 32, 64];
const BLOCKS: usize = 5;

pub fn build(b: &mut Builder, prefix: &str, cin: usize) {
    b.conv(&format!("{prefix}.stem.conv"), cin, 16, 3, false);
    b.bn(&format!("{prefix}.stem.bn"), 16);
    let mut c = 16;
    for (s, &w) in WIDTHS.iter().enumerate() {
        for k in 0..BLOCKS {
            let n = format!("{prefix}.stage{s}.block{k}");
            b.conv(&format!("{n}.conv1"), c, w, 3, false);
            b.bn(&format!("{n}.bn1"), w);
            b.conv(&format!("{n}.conv2"), w, w, 3, false);
            b.bn(&format!("{n}.bn2"), w);
            if c != w {
                b.conv(&format!("{n}.short"), c, w, 1, false);
                b.bn(&format!("{n}.short_bn"), w);
            }
            c = w;
        }
    }
}

pub fn forward(f: &mut Forward, prefix: &str, x: &Tensor) -> Result<Tensor> {
    let h = f.conv(&format!("{prefix}.stem.conv"), x, 1, 1)?;
    let mut h = f.bn(&format!("{prefix}.stem.bn"), &h)?.relu()?;
    let mut c = 16;
    for (s, &w) in WIDTHS.iter().enumerate() {
        for k in 0..BLOCKS {
            let n = format!("{prefix}.stage{s}.block{k}");
            let stride = if c != w { 2 } else { 1 };
            let y = f.conv(&format!("{n}.conv1"), &h, stride, 1)?;
            let y = f.bn(&format!("{n}.bn1"), &y)?.relu()?;
            let y = f.conv(&format!("{n}.conv2"), &y, 1, 1)?;
            let y = f.bn(&format!("{n}.bn2"), &y)?;
            let short = if c != w {
                let s = f.conv(&format!("{n}.short"), &h, 2, 0)?;
                f.bn(&format!("{n}.short_bn"), &s)?
            } else {
                h.clone()
            };
            h = y.add(&short)?.relu()?;
            c = w;
        }
    }
    Ok(h.adaptive_avg_pool2d([1, 1])?.flatten(1, -1)?)
}
