//! MAXL's strategy: a label generator (theta2) makes the auxiliary targets of pass 1 (Mask
//! SoftMax of its logits given the primary label, no recording, batch statistics), and the
//! meta pass trains it through the virtual step of theta1 on the same batches, second order
//! or by the first-order finite-difference variant. Its record holds the generator's state and
//! its optimiser's momentum.

use super::base::AuxStrategy;
use crate::data::Batch;
use crate::metrics::{argmax_rows, EpochMetrics};
use crate::models::NetState;
use crate::nn::Sgd;
use crate::train::epoch::{check_finite, EpochContext, Progress};
use crate::train::record::Record;
use crate::Result;
use maxl_engine::Tensor;
use std::time::Instant;

/// How the meta step differentiates through the virtual step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaOrder {
    /// Exact second-order gradient (`--method maxl`).
    Second,
    /// Finite-difference first-order variant (`--method maxl-fo`).
    First,
}

/// Names inside the record.
const GENERATOR: &str = "generator";
const OPTIMIZER: &str = "optimizer";

/// The label generator, its optimiser and the epoch's label use.
pub struct MetaLearned {
    order: MetaOrder,
    generator: NetState,
    optimizer: Sgd,
    /// The generator's base learning rate (scheduled as theta1's).
    lr: f64,
    /// Which auxiliary columns were some pass-1 image's argmax in this epoch.
    used: Vec<bool>,
}

impl MetaLearned {
    /// A strategy with the generator at `generator`, trained by SGD (`lr`, no momentum,
    /// `weight_decay`).
    pub fn new(order: MetaOrder, generator: NetState, lr: f64, weight_decay: f64) -> MetaLearned {
        MetaLearned {
            order,
            generator,
            optimizer: Sgd::new(lr, 0.0, weight_decay),
            lr,
            used: Vec::new(),
        }
    }
}

impl AuxStrategy for MetaLearned {
    fn name(&self) -> &'static str {
        match self.order {
            MetaOrder::Second => "maxl",
            MetaOrder::First => "maxl-fo",
        }
    }

    fn has_meta_pass(&self) -> bool {
        true
    }

    fn begin_epoch(&mut self, cx: &EpochContext, _m: &mut EpochMetrics) -> Result<()> {
        self.optimizer.lr = cx.schedule.lr(self.lr, cx.epoch);
        self.used = vec![false; cx.setup.hierarchy.total()];
        Ok(())
    }

    fn targets(&mut self, cx: &EpochContext, b: &Batch) -> Result<Option<Tensor>> {
        let t = cx
            .setup
            .generated_targets(&self.generator, &b.images, &b.labels)?;
        for c in argmax_rows(&t) {
            self.used[c] = true;
        }
        Ok(Some(t))
    }

    fn end_pass1(&mut self, m: &mut EpochMetrics) {
        let used = self.used.iter().filter(|&&u| u).count();
        m.utilisation = 100.0 * used as f64 / self.used.len() as f64;
    }

    fn meta_pass(
        &mut self,
        cx: &EpochContext,
        mt: &NetState,
        m: &mut EpochMetrics,
        on_batch: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let started = Instant::now();
        let batches = cx.train.num_batches();
        let (mut lb, mut la, mut rb, mut ra, mut n) = (0.0, 0.0, 0, 0, 0);
        for batch in cx.train.epoch(2 * cx.epoch as u64 + 1) {
            let b = batch?.to_device(cx.device)?;
            let size = b.indices.len();
            let (gen, x, y) = (&self.generator, &b.images, &b.labels);
            let out = match self.order {
                MetaOrder::Second => cx.setup.stage2(mt, gen, x, y, cx.lr)?,
                MetaOrder::First => cx.setup.stage2_first_order(mt, gen, x, y, cx.lr)?,
            };
            check_finite(out.loss_after, cx.epoch + 1)?;
            self.generator.params = self.optimizer.step(&self.generator.params, &out.grads)?;
            self.generator.buffers = out.gen_buffers;
            lb += out.loss_before * size as f64;
            la += out.loss_after * size as f64;
            rb += out.correct_before;
            ra += out.correct_after;
            n += size;
            on_batch(Progress {
                pass: 2,
                batch: b.index + 1,
                batches,
                images: size,
            });
        }
        let n = n.max(1) as f64;
        m.pass2_s = started.elapsed().as_secs_f64();
        m.meta_loss_before = lb / n;
        m.meta_loss_after = la / n;
        m.meta_acc_before = 100.0 * rb as f64 / n;
        m.meta_acc_after = 100.0 * ra as f64 / n;
        Ok(())
    }

    fn record(&self) -> Result<Record> {
        let mut r = Record::new();
        r.nest(GENERATOR, Record::of_net(&self.generator));
        r.nest(OPTIMIZER, Record::of_sgd(&self.optimizer));
        Ok(r)
    }

    fn load_record(&mut self, mut record: Record) -> Result<()> {
        let generator = record
            .take_nested(GENERATOR)
            .into_net(&self.generator, "generator")?;
        let momentum = record
            .take_nested(OPTIMIZER)
            .into_momentum(&generator.params, "theta2")?;
        record.finish("the label generator's record")?;
        self.generator = generator;
        self.optimizer.state = momentum;
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
