//! The trainer: Algorithm 1 as the authors' code runs it, the same for every method. Each epoch
//! is pass 1 (theta1 on primary + auxiliary focal loss, the auxiliary targets from the run's
//! [`AuxStrategy`]), the strategy's meta pass where it has one (MAXL: theta2 by the meta step on
//! the same batches, alpha = the current learning rate), then a test in eval mode.
//!
//! Batch-norm running statistics (our choice where the authors' train-mode forwards update them
//! more often): the multi-task network's move only in pass 1, the generator's only in pass 2;
//! the generator labels pass 1 with batch statistics. All methods use the focal loss (gamma 2)
//! for the primary task, so they differ only in the auxiliary part.
//!
//! Its state is four named records: the network (`model`), its optimiser (`optimizer`), the
//! strategy's own (`strategy`, with the method's name) and where the run stands (`position`:
//! finished epochs; the loaders draw all their randomness from (seed, epoch), so this is also
//! the data's position).

use super::config::{TrainConfig, Validated};
use super::epoch::{check_finite, EpochContext, PassSums, Progress};
use super::record::Record;
use super::steps::MaxlSetup;
use super::strategy::{compose, AuxStrategy};
use crate::data::{Dataset, Loader};
use crate::losses::focal_loss;
use crate::metrics::{correct_count, EpochMetrics};
use crate::models::{Net, NetState};
use crate::nn::{Schedule, Sgd};
use crate::{Error, Result};
use maxl_engine::{no_grad, DType, Tensor};
use std::collections::BTreeMap;
use std::time::Instant;

/// The component names of a trainer's records.
pub const MODEL: &str = "model";
pub const OPTIMIZER: &str = "optimizer";
pub const STRATEGY: &str = "strategy";
pub const POSITION: &str = "position";
/// Inside the records: the strategy's method name and the finished epochs.
const KIND: &str = "kind";
const EPOCH: &str = "epoch";

/// The state of a run: the network theta1, its optimiser, the auxiliary-label strategy and
/// the next epoch.
pub struct Trainer {
    pub cfg: TrainConfig,
    pub setup: MaxlSetup,
    /// The network theta1 trains: multi-task, or single-task without an auxiliary task.
    pub net: Net,
    pub mt: NetState,
    /// theta1's optimiser.
    pub optimizer: Sgd,
    /// How the auxiliary labels are made, with its own state.
    pub strategy: Box<dyn AuxStrategy>,
    /// Epochs finished so far.
    pub epoch: usize,
    schedule: Schedule,
}

impl Trainer {
    /// A fresh run for a training set, after checking the settings.
    pub fn new(cfg: TrainConfig, train: &Dataset) -> Result<Trainer> {
        Trainer::from_validated(cfg.validate()?, train)
    }

    /// A fresh run from settings already checked by [`TrainConfig::validate`].
    pub fn from_validated(cfg: Validated, train: &Dataset) -> Result<Trainer> {
        let cfg = cfg.into_inner();
        let parts = compose(&cfg, train)?;
        let mut t = Trainer {
            optimizer: Sgd::new(cfg.lr, cfg.momentum, cfg.weight_decay),
            schedule: cfg.schedule.schedule(cfg.epochs),
            setup: parts.setup,
            net: parts.net,
            mt: parts.mt,
            strategy: parts.strategy,
            epoch: 0,
            cfg,
        };
        t.place()?;
        Ok(t)
    }

    /// Moves the network, its optimiser's state and the strategy's to `cfg.device` (after
    /// construction and after restoring a checkpoint, whose tensors are read on the host).
    pub fn place(&mut self) -> Result<()> {
        let dev = self.cfg.device;
        dev.ensure_available()?;
        self.mt = self.mt.to_device(dev)?;
        self.optimizer.state = self.optimizer.state.to_device(dev)?;
        self.strategy.to_device(dev)
    }

    /// False for the single-task baseline.
    pub fn has_aux_task(&self) -> bool {
        self.strategy.has_aux_task()
    }

    /// True where each epoch has a meta pass (MAXL).
    pub fn has_meta_pass(&self) -> bool {
        self.strategy.has_meta_pass()
    }

    /// The run's state as one named record per component.
    pub fn records(&self) -> Result<BTreeMap<String, Record>> {
        let mut strategy = self.strategy.record()?;
        strategy.put_value(KIND, self.strategy.name());
        let mut position = Record::new();
        position.put_value(EPOCH, self.epoch.to_string());
        Ok(BTreeMap::from([
            (MODEL.to_string(), Record::of_net(&self.mt)),
            (OPTIMIZER.to_string(), Record::of_sgd(&self.optimizer)),
            (STRATEGY.to_string(), strategy),
            (POSITION.to_string(), position),
        ]))
    }

    /// Puts the state of [`Trainer::records`] back into a trainer built with the same settings,
    /// after checking every tensor's name, shape and dtype against this trainer's; on an error
    /// the trainer is unchanged.
    pub fn load_records(&mut self, mut records: BTreeMap<String, Record>) -> Result<()> {
        let mut take = |name: &str| records.remove(name).unwrap_or_default();
        let mt = take(MODEL).into_net(&self.mt, "network")?;
        let momentum = take(OPTIMIZER).into_momentum(&mt.params, "theta1")?;
        let mut position = take(POSITION);
        let epoch = position.take_number(EPOCH, "the position record")?;
        position.finish("the position record")?;
        let mut strategy = take(STRATEGY);
        let kind = strategy.take_value(KIND).unwrap_or_default();
        if kind != self.strategy.name() {
            return Err(Error::Invalid(format!(
                "checkpoint: the run's auxiliary labels are made by method '{kind}', the settings \
                 say '{}'",
                self.strategy.name()
            )));
        }
        if let Some(other) = records.keys().next() {
            return Err(Error::Invalid(format!(
                "checkpoint: unexpected record '{other}'"
            )));
        }
        self.strategy.load_record(strategy)?;
        self.mt = mt;
        self.optimizer.state = momentum;
        self.epoch = epoch;
        self.place()
    }

    /// The first tensor of the run's state (network, optimiser, strategy) that holds a NaN or
    /// an infinity, as `component/name`; one reduction per tensor.
    pub fn first_non_finite(&self) -> Result<Option<String>> {
        for (component, record) in self.records()? {
            if let Some(name) = record.first_non_finite()? {
                return Ok(Some(format!("{component}/{name}")));
            }
        }
        Ok(None)
    }

    /// Test loss (primary focal loss, gamma `focal_gamma`) and accuracy (%) in eval mode.
    pub fn evaluate(&self, test: &Loader) -> Result<(f64, f64)> {
        self.evaluate_with(test, &mut |_| {})
    }

    /// [`Trainer::evaluate`], reporting each batch to `on_batch` (pass 3).
    pub fn evaluate_with(
        &self,
        test: &Loader,
        on_batch: &mut dyn FnMut(Progress),
    ) -> Result<(f64, f64)> {
        let _g = no_grad();
        let mut sums = PassSums::default();
        let batches = test.num_batches();
        for batch in test.epoch(0) {
            let b = batch?.to_device(self.cfg.device)?;
            let (_, logits, _) =
                self.net
                    .forward(&self.mt.params, &self.mt.buffers, &b.images, false, false)?;
            let onehot = Tensor::one_hot(&b.labels, self.setup.hierarchy.primary(), DType::F32)?;
            let size = b.indices.len();
            let loss = focal_loss(&logits[0], &onehot, self.cfg.focal_gamma)?;
            let right = correct_count(&logits[0], &b.labels)?;
            sums.add(&Tensor::stack(&[loss, right], 0)?, size)?;
            on_batch(Progress {
                pass: 3,
                batch: b.index + 1,
                batches,
                images: size,
            });
        }
        // One read for the whole test: the figures are the loss and the correct count.
        let t = sums.read(2)?;
        let n = t.images.max(1) as f64;
        Ok((t.mean(0), 100.0 * t.plain[1] / n))
    }

    /// Runs the next epoch: pass 1, the strategy's meta pass (if any), test; an error if a loss
    /// or, at the end, any value of the run's state is not finite (so that no caller saves a
    /// diverged state).
    pub fn run_epoch(
        &mut self,
        train: &Loader,
        test: &Loader,
        on_batch: &mut dyn FnMut(Progress),
    ) -> Result<EpochMetrics> {
        let e = self.epoch;
        let lr = self.schedule.lr(self.cfg.lr, e);
        self.optimizer.lr = lr;
        let cx = EpochContext {
            setup: &self.setup,
            train,
            epoch: e,
            lr,
            schedule: &self.schedule,
            device: self.cfg.device,
        };
        let mut m = EpochMetrics {
            epoch: e + 1,
            lr,
            ..EpochMetrics::default()
        };
        let batches = train.num_batches();

        // Pass 1: theta1.
        let t1 = Instant::now();
        self.strategy.begin_epoch(&cx, &mut m)?;
        // The steps' figures stay on the device until the end of the pass (no step waits
        // for the host); a non-finite loss is caught there, before the meta pass.
        let (mut sums, mut cos_n) = (PassSums::default(), 0);
        for batch in train.epoch(2 * e as u64) {
            let b = batch?.to_device(self.cfg.device)?;
            let size = b.indices.len();
            let aux = self.strategy.targets(&cx, &b)?;
            let cosine =
                aux.is_some() && self.cfg.cosine_every > 0 && b.index % self.cfg.cosine_every == 0;
            let out = self.setup.stage1(
                &self.net,
                &self.mt,
                &b.images,
                &b.labels,
                aux.as_ref(),
                cosine,
            )?;
            self.mt.params = self.optimizer.step(&self.mt.params, &out.grads)?;
            self.mt.buffers = out.buffers;
            self.strategy.after_step(&cx, &b)?;
            sums.add(&out.figures, size)?;
            cos_n += usize::from(out.has_cosine);
            on_batch(Progress {
                pass: 1,
                batch: b.index + 1,
                batches,
                images: size,
            });
        }
        // Figures: primary loss, auxiliary loss, correct, cosine.
        let t = sums.read(4)?;
        m.pass1_s = t1.elapsed().as_secs_f64();
        m.train_loss = t.mean(0) + t.mean(1);
        check_finite(m.train_loss, e + 1)?;
        m.train_primary_loss = t.mean(0);
        m.train_aux_loss = t.mean(1);
        m.train_acc = 100.0 * t.plain[2] / t.images.max(1) as f64;
        m.cosine = if cos_n > 0 {
            t.plain[3] / cos_n as f64
        } else {
            0.0
        };
        self.strategy.end_pass1(&mut m)?;

        // Pass 2, where the strategy has one.
        self.strategy
            .meta_pass(&cx, &self.mt, &self.optimizer, &mut m, on_batch)?;

        let (tl, ta) = self.evaluate_with(test, on_batch)?;
        m.test_loss = tl;
        m.test_acc = ta;
        if let Some(name) = self.first_non_finite()? {
            return Err(Error::Invalid(format!(
                "epoch {} left NaN or infinite values in the run's state ('{name}'); try a \
                 smaller learning rate",
                e + 1
            )));
        }
        self.epoch += 1;
        Ok(m)
    }
}
