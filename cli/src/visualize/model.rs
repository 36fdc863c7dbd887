//! Eval-mode forward passes over some test images: the multi-task (or single-task) network's
//! trunk features, and the label generator's Mask SoftMax probabilities given the true primary
//! labels. Nothing is recorded and no running statistics change.

use anyhow::Result;
use maxl::data::{Dataset, Loader, LoaderConfig};
use maxl::losses::mask_softmax;
use maxl::models::NetState;
use maxl::train::Trainer;
use maxl_engine::{no_grad, Tensor};
use std::sync::Arc;

/// Rows of a `[N, K]` result, row-major f64, with `K`.
pub struct Rows {
    pub values: Vec<f64>,
    pub width: usize,
}

impl Rows {
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }
}

/// Runs `f(images, labels)` on the images `indices` of `test`, in batches on `device`, in eval
/// order, and stacks its `[B, K]` outputs.
fn over(
    test: &Dataset,
    indices: &[usize],
    batch_size: usize,
    device: maxl_engine::Device,
    f: impl Fn(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<Rows> {
    let _g = no_grad();
    let sub = Arc::new(test.subset(indices)?);
    let loader = Loader::new(sub.clone(), LoaderConfig::eval(&sub, batch_size))?;
    let (mut values, mut width) = (Vec::new(), 0);
    for batch in loader.epoch(0) {
        let b = batch?.to_device(device)?;
        let out = f(&b.images, &b.labels)?;
        width = out.shape().get(1).copied().unwrap_or(1);
        values.extend(out.to_f64_vec());
    }
    Ok(Rows { values, width })
}

/// Trunk features `[N, F]` of the trained network (multi-task, or single-task for `single`).
pub fn features(t: &Trainer, test: &Dataset, indices: &[usize], batch: usize) -> Result<Rows> {
    over(test, indices, batch, t.cfg.device, |x, _| {
        let (feats, _, _) = t
            .net
            .forward(&t.mt.params, &t.mt.buffers, x, false, false)?;
        Ok(feats)
    })
}

/// The generator's auxiliary-label probabilities `[N, sum psi]`: eval mode, Mask SoftMax with
/// each image's true primary label.
pub fn aux_probabilities(
    t: &Trainer,
    gen: &NetState,
    test: &Dataset,
    indices: &[usize],
    batch: usize,
) -> Result<Rows> {
    let s = &t.setup;
    over(test, indices, batch, t.cfg.device, |x, y| {
        let (_, logits, _) = s
            .generator
            .forward(&gen.params, &gen.buffers, x, false, false)?;
        Ok(mask_softmax(&logits[0], y, &s.hierarchy, s.exact_mask)?)
    })
}
