//! What the parts of one training epoch share: the context the trainer hands its auxiliary-label
//! strategy (the MAXL setup, the training loader, the epoch and its learning rates), the
//! progress reports of a pass, the sums of a pass's step figures (kept on the device, read
//! once at the end of the pass, so that no step waits for the host) and the check that a loss
//! is still finite.

use super::steps::MaxlSetup;
use crate::data::Loader;
use crate::nn::Schedule;
use crate::{Error, Result};
use maxl_engine::{no_grad, DType, Tensor};

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

/// The sums of a pass's step figures (each step's 1-D figures tensor), on the steps' device in
/// f64: as they are, and times the step's number of images. Nothing is read until
/// [`PassSums::read`], once per pass.
#[derive(Default)]
pub struct PassSums {
    plain: Option<Tensor>,
    weighted: Option<Tensor>,
    images: usize,
}

/// What [`PassSums::read`] gives: per figure, its plain and its image-weighted sum, and the
/// number of images.
#[derive(Debug, Clone, PartialEq)]
pub struct PassTotals {
    pub plain: Vec<f64>,
    pub weighted: Vec<f64>,
    pub images: usize,
}

impl PassTotals {
    /// The image-weighted mean of figure `i` (0 for no images).
    pub fn mean(&self, i: usize) -> f64 {
        self.weighted[i] / self.images.max(1) as f64
    }
}

impl PassSums {
    /// Adds one step's figures, for `images` images (device work only).
    pub fn add(&mut self, figures: &Tensor, images: usize) -> Result<()> {
        let _g = no_grad();
        let f = figures.to_dtype(DType::F64)?;
        let w = f.mul_scalar(images as f64)?;
        let acc = |sum: Option<Tensor>, v: Tensor| -> Result<Tensor> {
            Ok(match sum {
                Some(s) => s.add(&v)?,
                None => v,
            })
        };
        self.plain = Some(acc(self.plain.take(), f)?);
        self.weighted = Some(acc(self.weighted.take(), w)?);
        self.images += images;
        Ok(())
    }

    /// The sums, read from the device in one copy; `figures` zeros when no step was added.
    pub fn read(&self, figures: usize) -> Result<PassTotals> {
        let (plain, weighted) = match (&self.plain, &self.weighted) {
            (Some(p), Some(w)) => {
                let v = Tensor::concat(&[p.clone(), w.clone()], 0)?.to_vec::<f64>()?;
                let (p, w) = v.split_at(v.len() / 2);
                (p.to_vec(), w.to_vec())
            }
            _ => (vec![0.0; figures], vec![0.0; figures]),
        };
        Ok(PassTotals {
            plain,
            weighted,
            images: self.images,
        })
    }
}
