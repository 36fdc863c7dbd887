//! The MAXL losses: Mask SoftMax (a stable softmax of `z + ln m`), focal loss from logits with
//! soft targets, and the entropy regulariser on the batch-mean generated label (REFERENCE.md).
//! Mask SoftMax and the focal loss are the engine's fused ops (one kernel each way, gradients
//! of every order); tests/fused_losses.rs holds them against the compositions they replace.

use crate::hierarchy::Hierarchy;
use maxl_engine::Result;
use maxl_engine::Tensor;

/// Mask SoftMax: `softmax(z + ln M[y])` over the auxiliary columns, where row `y` of the mask
/// table belongs to the primary label. `exact` uses `-inf` off the block (probability exactly
/// 0) instead of the authors' `1e-8`.
pub fn mask_softmax(
    logits: &Tensor,
    primary: &Tensor,
    h: &Hierarchy,
    exact: bool,
) -> Result<Tensor> {
    let table = h
        .log_mask(exact, logits.dtype())
        .to_device(logits.device())?;
    logits.masked_softmax(primary, &table)
}

/// Focal loss `-sum_c y_c (1 - p_c)^gamma log p_c`, mean over the batch, with `p =
/// softmax(logits)` (stable). `targets` are probabilities `[N, C]` (one-hot for the primary
/// task, soft for the auxiliary task).
pub fn focal_loss(logits: &Tensor, targets: &Tensor, gamma: f64) -> Result<Tensor> {
    logits.focal_loss(targets, gamma)?.mean(&[], false)
}

/// Cross-entropy of logits against integer labels, mean over the batch.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let logp = logits.log_softmax(1)?;
    let picked = logp.gather(1, &labels.unsqueeze(1)?)?;
    picked.mean(&[], false)?.neg()
}

/// The entropy term `sum_k p_bar_k log(p_bar_k + 1e-20)` of the batch-mean label vector
/// (minimising it spreads the use of auxiliary classes). `probs` is `[N, K]`.
pub fn entropy_term(probs: &Tensor) -> Result<Tensor> {
    let pbar = probs.mean(&[0], false)?;
    pbar.mul(&pbar.add_scalar(1e-20)?.log()?)?.sum_all()
}
