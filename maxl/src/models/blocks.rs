//! Layer blocks the backbones share (conv -> BN -> ReLU, pooling) and the two-layer head.

use crate::nn::{Builder, Forward};
use crate::Result;
use maxl_engine::Tensor;

/// `conv -> BN -> ReLU` with a 3x3 kernel, padding 1.
pub(crate) fn conv_bn_relu(f: &mut Forward, name: &str, x: &Tensor) -> Result<Tensor> {
    let y = f.conv(&format!("{name}.conv"), x, 1, 1)?;
    Ok(f.bn(&format!("{name}.bn"), &y)?.relu()?)
}

/// Declares `conv(c) -> BN` with a 3x3 kernel and bias.
pub(crate) fn build_conv_bn(b: &mut Builder, name: &str, cin: usize, cout: usize) {
    b.conv(&format!("{name}.conv"), cin, cout, 3, true);
    b.bn(&format!("{name}.bn"), cout);
}

/// 2x2 max-pool, stride 2.
pub(crate) fn pool(x: &Tensor) -> Result<Tensor> {
    Ok(x.max_pool2d([2, 2], [2, 2], [0, 0])?)
}

/// Declares head(n): Linear(F, hidden) -> ReLU -> Linear(hidden, n).
pub fn build_head(b: &mut Builder, prefix: &str, fin: usize, hidden: usize, n: usize) {
    b.linear(&format!("{prefix}.fc1"), fin, hidden);
    b.linear(&format!("{prefix}.fc2"), hidden, n);
}

/// Logits of head `prefix` on features `[N, F]`.
pub fn head_forward(f: &mut Forward, prefix: &str, x: &Tensor) -> Result<Tensor> {
    let h = f.linear(&format!("{prefix}.fc1"), x)?.relu()?;
    f.linear(&format!("{prefix}.fc2"), &h)
}
