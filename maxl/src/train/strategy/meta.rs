//! MAXL's strategy: a label generator (theta2) makes the auxiliary targets of pass 1 (Mask
//! SoftMax of its logits given the primary label, no recording, batch statistics), and the
//! meta pass trains it through the virtual step of theta1 on the same batches, second order
//! or by the first-order finite-difference variant. With a generator learning rate of 0 the
//! generator is frozen and the meta pass is skipped (it would not move theta2).
//!
//! It also tells why MAXL wins or not (the `EpochMetrics` keys): the share of images whose
//! argmax label changed since the last epoch, the entropy of the mean generated label, theta2's
//! relative distance from its initial value, the norms of the two parts of theta2's gradient
//! (measured on every [`PARTS_EVERY`]-th meta batch: one more backward pass through the
//! generator there, the update unchanged) and the meta accuracy gain of the virtual step.
//!
//! Its record holds the generator's state, its optimiser's momentum, the previous epoch's
//! argmax per training image and the norm of the initial theta2 (the initial values are drawn
//! again from the run's seed; the norm checks that they are the same).

use super::base::AuxStrategy;
use super::label_stats::LabelStats;
use crate::data::Batch;
use crate::metrics::EpochMetrics;
use crate::models::NetState;
use crate::nn::{Params, Sgd};
use crate::train::config::Lookahead;
use crate::train::epoch::{check_finite, EpochContext, PassSums, Progress};
use crate::train::lookahead::VirtualStep;
use crate::train::record::Record;
use crate::{Error, Result};
use maxl_engine::{Device, Tensor};
use std::time::Instant;

/// How the meta step differentiates through the virtual step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaOrder {
    /// Exact second-order gradient (`--method maxl`).
    Second,
    /// Finite-difference first-order variant (`--method maxl-fo`).
    First,
}

/// The gradient's two parts are measured on the meta batches whose index is a multiple of
/// this (the first of each pass included).
pub const PARTS_EVERY: usize = 10;

/// Names inside the record.
const GENERATOR: &str = "generator";
const OPTIMIZER: &str = "optimizer";
const PREVIOUS_LABELS: &str = "previous_labels";
const INITIAL_NORM: &str = "start_norm";

/// How the strategy is set up, besides the generator's initial state.
#[derive(Debug, Clone, Copy)]
pub struct MetaSettings {
    pub order: MetaOrder,
    /// The generator's base learning rate (scheduled as theta1's); 0 freezes it.
    pub lr: f64,
    pub weight_decay: f64,
    pub lookahead: Lookahead,
    /// Training images (the diagnostics follow each one's label).
    pub samples: usize,
}

/// The label generator, its optimiser and the figures of its labels.
pub struct MetaLearned {
    settings: MetaSettings,
    generator: NetState,
    optimizer: Sgd,
    /// theta2 at the start of the run, on the host.
    initial: Params,
    initial_norm: f64,
    labels: LabelStats,
}

/// The L2 norm of `params` (in f64, on the host).
fn host_norm(params: &Params) -> f64 {
    params
        .iter()
        .map(|(_, t)| t.to_f64_vec().iter().map(|v| v * v).sum::<f64>())
        .sum::<f64>()
        .sqrt()
}

impl MetaLearned {
    /// A strategy with the generator at `generator` (its initial state), trained by SGD
    /// (`settings.lr`, no momentum, `settings.weight_decay`); `classes` is sum psi.
    pub fn new(settings: MetaSettings, generator: NetState, classes: usize) -> Result<MetaLearned> {
        let initial = generator.params.to_device(Device::Cpu)?;
        Ok(MetaLearned {
            optimizer: Sgd::new(settings.lr, 0.0, settings.weight_decay),
            initial_norm: host_norm(&initial),
            initial,
            generator,
            labels: LabelStats::new(settings.samples, classes),
            settings,
        })
    }

    /// ||theta2 - theta2 at the start|| / ||theta2 at the start||.
    fn distance(&self) -> Result<Option<f64>> {
        let mut sq = 0.0;
        for (name, p) in self.generator.params.iter() {
            let q = self.initial.get(name)?.to_f64_vec();
            sq += p
                .to_f64_vec()
                .iter()
                .zip(&q)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>();
        }
        Ok((self.initial_norm > 0.0).then(|| sq.sqrt() / self.initial_norm))
    }

    /// The meta steps of one pass over the training set; their figures into `m`.
    fn meta_steps(
        &mut self,
        cx: &EpochContext,
        mt: &NetState,
        theta1: &Sgd,
        m: &mut EpochMetrics,
        on_batch: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let started = Instant::now();
        let batches = cx.train.num_batches();
        let step = match self.settings.lookahead {
            Lookahead::Plain => VirtualStep::plain(cx.lr),
            Lookahead::Sgd => VirtualStep::like_sgd(theta1, cx.lr),
        };
        // The steps' figures stay on the device until the end of the pass.
        let (mut sums, mut measured) = (PassSums::default(), 0);
        for batch in cx.train.epoch(2 * cx.epoch as u64 + 1) {
            let b = batch?.to_device(cx.device)?;
            let size = b.indices.len();
            let (gen, x, y) = (&self.generator, &b.images, &b.labels);
            let parts = b.index % PARTS_EVERY == 0;
            let out = match self.settings.order {
                MetaOrder::Second => cx.setup.stage2_at(mt, gen, x, y, &step, parts)?,
                MetaOrder::First => cx
                    .setup
                    .stage2_first_order_at(mt, gen, x, y, &step, parts)?,
            };
            self.generator.params = self.optimizer.step(&self.generator.params, &out.grads)?;
            self.generator.buffers = out.gen_buffers;
            sums.add(&out.figures, size)?;
            measured += usize::from(out.has_parts);
            on_batch(Progress {
                pass: 2,
                batch: b.index + 1,
                batches,
                images: size,
            });
        }
        // Figures: loss before, correct before, loss after, correct after, the two parts.
        let t = sums.read(6)?;
        check_finite(t.mean(2), cx.epoch + 1)?;
        let n = t.images.max(1) as f64;
        m.pass2_s = started.elapsed().as_secs_f64();
        m.meta_loss_before = t.mean(0);
        m.meta_loss_after = t.mean(2);
        m.meta_acc_before = 100.0 * t.plain[1] / n;
        m.meta_acc_after = 100.0 * t.plain[3] / n;
        m.meta_acc_gain = Some(m.meta_acc_after - m.meta_acc_before);
        if measured > 0 {
            m.gen_grad_primary = Some(t.plain[4] / measured as f64);
            m.gen_grad_entropy = Some(t.plain[5] / measured as f64);
        }
        Ok(())
    }
}

impl AuxStrategy for MetaLearned {
    fn name(&self) -> &'static str {
        match self.settings.order {
            MetaOrder::Second => "maxl",
            MetaOrder::First => "maxl-fo",
        }
    }

    /// No meta pass for a frozen generator.
    fn has_meta_pass(&self) -> bool {
        self.settings.lr != 0.0
    }

    fn begin_epoch(&mut self, cx: &EpochContext, _m: &mut EpochMetrics) -> Result<()> {
        self.optimizer.lr = cx.schedule.lr(self.settings.lr, cx.epoch);
        self.labels.begin_epoch();
        Ok(())
    }

    fn targets(&mut self, cx: &EpochContext, b: &Batch) -> Result<Option<Tensor>> {
        let t = cx
            .setup
            .generated_targets(&self.generator, &b.images, &b.labels)?;
        self.labels.observe(&t, &b.indices)?;
        Ok(Some(t))
    }

    fn end_pass1(&mut self, m: &mut EpochMetrics) -> Result<()> {
        self.labels.finish(m)
    }

    fn meta_pass(
        &mut self,
        cx: &EpochContext,
        mt: &NetState,
        theta1: &Sgd,
        m: &mut EpochMetrics,
        on_batch: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        if self.has_meta_pass() {
            self.meta_steps(cx, mt, theta1, m, on_batch)?;
        }
        m.gen_distance = self.distance()?;
        Ok(())
    }

    fn record(&self) -> Result<Record> {
        let mut r = Record::new();
        r.nest(GENERATOR, Record::of_net(&self.generator));
        r.nest(OPTIMIZER, Record::of_sgd(&self.optimizer));
        r.put_indices(PREVIOUS_LABELS, self.labels.previous())?;
        r.put_value(INITIAL_NORM, self.initial_norm.to_string());
        Ok(r)
    }

    fn load_record(&mut self, mut record: Record) -> Result<()> {
        let generator = record
            .take_nested(GENERATOR)
            .into_net(&self.generator, "generator")?;
        let momentum = record
            .take_nested(OPTIMIZER)
            .into_momentum(&generator.params, "theta2")?;
        // Records written before the diagnostics have neither entry: the first epoch after
        // resuming then has no label change, and the distance trusts the seed.
        let mut labels = self.labels.clone();
        if let Some(previous) = record.take_indices(PREVIOUS_LABELS)? {
            labels.set_previous(previous)?;
        }
        if let Some(norm) = record.take_value(INITIAL_NORM) {
            if norm.parse::<f64>().ok() != Some(self.initial_norm) {
                return Err(Error::Invalid(format!(
                    "checkpoint: the generator started from weights of norm {norm}; these \
                     settings draw weights of norm {}",
                    self.initial_norm
                )));
            }
        }
        record.finish("the label generator's record")?;
        self.generator = generator;
        self.optimizer.state = momentum;
        self.labels = labels;
        Ok(())
    }

    fn to_device(&mut self, device: maxl_engine::Device) -> Result<()> {
        self.generator = self.generator.to_device(device)?;
        self.optimizer.state = self.optimizer.state.to_device(device)?;
        Ok(())
    }

    fn generator(&self) -> Option<&NetState> {
        Some(&self.generator)
    }
}
