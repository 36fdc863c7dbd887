//! What the parts of one training epoch share: the context the trainer hands its auxiliary-label
//! strategy (the MAXL setup, the training loader, the epoch and its learning rates), the
//! progress reports of a pass, and the check that a loss is still finite.

use super::steps::MaxlSetup;
use crate::data::Loader;
use crate::nn::Schedule;
use crate::{Error, Result};

/// Where a long pass stands, for progress bars.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// 1: the multi-task pass; 2: the meta pass; 3: the test.
    pub pass: usize,
    pub batch: usize,
    pub batches: usize,
    pub images: usize,
}

/// The run as a strategy sees it during one epoch.
pub struct EpochContext<'a> {
    /// The networks' shapes, psi and the loss settings.
    pub setup: &'a MaxlSetup,
    /// The training set's loader (its shuffles and augmentation drawn from (seed, epoch)).
    pub train: &'a Loader,
    /// 0-based index of the epoch.
    pub epoch: usize,
    /// theta1's learning rate in this epoch: also alpha, the virtual step of the meta pass.
    pub lr: f64,
    /// The learning-rate schedule of the run, for a strategy's own optimiser.
    pub schedule: &'a Schedule,
    /// Where the networks and batches live.
    pub device: maxl_engine::Device,
}

/// An error if a loss of `epoch` (1-based) is not finite.
pub fn check_finite(loss: f64, epoch: usize) -> Result<()> {
    if !loss.is_finite() {
        return Err(Error::Invalid(format!(
            "the loss became {loss} in epoch {epoch}; try a smaller learning rate"
        )));
    }
    Ok(())
}
