//! One-hot auxiliary targets of a batch from a per-sample auxiliary column (fixed labels or a
//! clustering), looked up by the batch's sample indices.

use crate::data::Batch;
use crate::{Error, Result};
use maxl_engine::Tensor;

/// One-hot rows `[B, total]` of `columns` at the batch's samples, on the batch's device.
pub fn column_targets(columns: &[usize], batch: &Batch, total: usize) -> Result<Tensor> {
    if let Some(&i) = batch.indices.iter().find(|&&i| i >= columns.len()) {
        return Err(Error::Invalid(format!(
            "sample {i} of a training set of {} (another data set than the trainer's?)",
            columns.len()
        )));
    }
    let picked: Vec<i64> = batch.indices.iter().map(|&i| columns[i] as i64).collect();
    let idx = Tensor::from_vec(picked, &[batch.indices.len()])?.to_device(batch.images.device())?;
    Ok(Tensor::one_hot(&idx, total, batch.images.dtype())?)
}
