//! The K-Means baseline's strategy (see [`crate::train::kmeans`]): before each pass 1 the
//! training set is re-clustered on the autoencoder's latent code, the clustering gives the
//! auxiliary targets, and the autoencoder takes one step per pass-1 batch. Its record holds the
//! autoencoder's parameters, its optimiser's momentum and the last clustering.

use super::base::AuxStrategy;
use super::columns::column_targets;
use crate::data::Batch;
use crate::metrics::EpochMetrics;
use crate::train::epoch::EpochContext;
use crate::train::kmeans::{utilisation, KMeansState};
use crate::train::record::Record;
use crate::{Error, Result};
use maxl_engine::Tensor;

/// Names inside the record.
const AUTOENCODER: &str = "autoencoder";
const OPTIMIZER: &str = "optimizer";
const COLUMNS: &str = "columns";

/// The autoencoder, its optimiser and the current clustering.
pub struct Clustered {
    state: KMeansState,
    /// The run seed (the clustering of epoch e draws from (seed, e)).
    seed: u64,
    /// Auxiliary columns in all (sum psi).
    total: usize,
}

impl Clustered {
    /// A fresh autoencoder for images of `image_len` values, its weights from the run seed.
    pub fn new(image_len: usize, seed: u64, total: usize) -> Clustered {
        Clustered {
            state: KMeansState::new(image_len, seed),
            seed,
            total,
        }
    }
}

impl AuxStrategy for Clustered {
    fn name(&self) -> &'static str {
        "kmeans"
    }

    fn begin_epoch(&mut self, cx: &EpochContext, m: &mut EpochMetrics) -> Result<()> {
        let labels = self
            .state
            .recluster(cx.train, &cx.setup.hierarchy, self.seed, cx.epoch)?;
        m.utilisation = utilisation(labels, self.total);
        Ok(())
    }

    fn targets(&mut self, _cx: &EpochContext, b: &Batch) -> Result<Option<Tensor>> {
        let columns = self.state.labels.as_deref().ok_or_else(|| {
            Error::Invalid("k-means: a batch before the epoch's clustering".into())
        })?;
        Ok(Some(column_targets(columns, b, self.total)?))
    }

    fn after_step(&mut self, cx: &EpochContext, b: &Batch) -> Result<()> {
        let loss = self.state.train_step(&b.images)?;
        if !loss.is_finite() {
            return Err(Error::Invalid(format!(
                "the autoencoder's reconstruction loss became {loss} in epoch {}",
                cx.epoch + 1
            )));
        }
        Ok(())
    }

    fn record(&self) -> Result<Record> {
        let mut r = Record::new();
        r.nest(AUTOENCODER, Record::of_params(&self.state.params));
        r.nest(OPTIMIZER, Record::of_sgd(&self.state.opt));
        if let Some(labels) = &self.state.labels {
            r.put_indices(COLUMNS, labels)?;
        }
        Ok(r)
    }

    fn load_record(&mut self, mut record: Record) -> Result<()> {
        let params = record.take_nested(AUTOENCODER).into_matching(
            &self.state.params,
            true,
            "autoencoder parameters",
        )?;
        let momentum = record
            .take_nested(OPTIMIZER)
            .into_momentum(&params, "the autoencoder")?;
        let labels = record.take_indices(COLUMNS)?;
        record.finish("the K-Means record")?;
        if let Some(c) = labels.iter().flatten().find(|&&c| c >= self.total) {
            return Err(Error::Invalid(format!(
                "checkpoint: K-Means column {c}, the settings make {} auxiliary classes",
                self.total
            )));
        }
        self.state.params = params;
        self.state.opt.state = momentum;
        self.state.labels = labels;
        Ok(())
    }

    fn to_device(&mut self, device: maxl_engine::Device) -> Result<()> {
        self.state.params = self.state.params.to_device(device)?;
        self.state.opt.state = self.state.opt.state.to_device(device)?;
        Ok(())
    }

    fn columns(&self) -> Option<&[usize]> {
        self.state.labels.as_deref()
    }
}
