//! The trainer: Algorithm 1 as the authors' code runs it. Each epoch is pass 1 (theta1 on
//! primary + auxiliary focal loss, labels from the generator or fixed) and, for MAXL, pass 2
//! (theta2 by the meta step on the same batch, alpha = the current learning rate), then a
//! test in eval mode. The baselines run pass 1 only; K-Means first re-clusters the training
//! set (see [`super::kmeans`]) and trains its autoencoder during pass 1.
//!
//! Batch-norm running statistics (our choice where the authors' train-mode forwards update them
//! more often): the multi-task network's move only in pass 1, the generator's only in pass 2;
//! the generator labels pass 1 with batch statistics. All methods use the focal loss (gamma 2)
//! for the primary task, so they differ only in the auxiliary part.

use super::config::{Method, TrainConfig};
use super::kmeans::{self, KMeansState};
use super::steps::MaxlSetup;
use crate::data::{Dataset, Loader};
use crate::hierarchy::Hierarchy;
use crate::losses::focal_loss;
use crate::metrics::{argmax_rows, correct, EpochMetrics};
use crate::models::{Backbone, InputShape, Net, NetState};
use crate::nn::{Schedule, Sgd};
use crate::{Error, Result};
use maxl_engine::{no_grad, DType, Rng, Tensor};
use std::time::Instant;

/// Where a long pass stands, for progress bars.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// 1: the multi-task pass; 2: the meta pass.
    pub pass: usize,
    pub batch: usize,
    pub batches: usize,
    pub images: usize,
}

/// The state of a run: both networks, their optimisers and the next epoch.
pub struct Trainer {
    pub cfg: TrainConfig,
    pub setup: MaxlSetup,
    /// The network theta1 trains: multi-task, or single-task for `Method::Single`.
    pub net: Net,
    pub mt: NetState,
    pub gen: Option<NetState>,
    pub opt1: Sgd,
    pub opt2: Sgd,
    /// Epochs finished so far.
    pub epoch: usize,
    /// K-Means: the autoencoder, its optimiser and the current clustering (whose labels serve
    /// as the auxiliary columns of pass 1).
    pub kmeans: Option<KMeansState>,
    /// Random and Human: the auxiliary column of every training sample.
    fixed_aux: Option<Vec<usize>>,
    schedule: Schedule,
}

fn input_of(d: &Dataset) -> InputShape {
    let [channels, height, width] = d.image_shape();
    InputShape {
        channels,
        height,
        width,
    }
}

/// psi from the settings: one entry means `[k] * P`.
fn hierarchy_for(cfg: &TrainConfig, train: &Dataset) -> Result<Hierarchy> {
    let p = train.classes();
    if cfg.method == Method::Human {
        let aux = cfg.aux_level.ok_or_else(|| {
            Error::Invalid(
                "method human needs --aux-level (a finer level of the data set's hierarchy)".into(),
            )
        })?;
        let lh = train.hierarchy().ok_or_else(|| {
            Error::Invalid(
                "method human needs a data set with a label hierarchy (CIFAR-100)".into(),
            )
        })?;
        return Hierarchy::new(lh.psi(p, aux)?);
    }
    let h = match cfg.psi.as_slice() {
        [k] => Hierarchy::balanced(*k, p)?,
        list => Hierarchy::new(list.to_vec())?,
    };
    h.check_primary(p)?;
    Ok(h)
}

impl Trainer {
    /// A fresh run for a training set.
    pub fn new(cfg: TrainConfig, train: &Dataset) -> Result<Trainer> {
        if cfg.epochs == 0 || cfg.batch_size == 0 {
            return Err(Error::Invalid(
                "epochs and batch size must be at least 1".into(),
            ));
        }
        let backbone = Backbone::parse(&cfg.model)?;
        let input = input_of(train);
        let hierarchy = hierarchy_for(&cfg, train)?;
        let p = train.classes();
        let setup = MaxlSetup {
            multi_task: Net::multi_task(backbone, input, p, hierarchy.total()),
            generator: Net::label_generator(backbone, input, hierarchy.total()),
            hierarchy,
            gamma: cfg.focal_gamma,
            entropy_weight: cfg.entropy_weight,
            exact_mask: cfg.exact_mask,
            fd_scale: 0.01,
        };
        let net = if cfg.method == Method::Single {
            Net::single_task(backbone, input, p)
        } else {
            setup.multi_task.clone()
        };
        let mut rng = Rng::new(cfg.seed);
        let mt = net.init(&mut rng)?;
        let gen = if cfg.method.has_generator() {
            Some(setup.generator.init(&mut rng)?)
        } else {
            None
        };
        let fixed_aux = match cfg.method {
            Method::Random => Some(
                train
                    .labels()
                    .iter()
                    .map(|&l| {
                        let l = l as usize;
                        setup.hierarchy.offset(l) + rng.below(setup.hierarchy.psi()[l])
                    })
                    .collect(),
            ),
            Method::Human => {
                let lh = train
                    .hierarchy()
                    .ok_or_else(|| Error::Invalid("no label hierarchy".into()))?;
                let level = cfg.aux_level.unwrap_or(p);
                let cols = lh.block_columns(p, level)?;
                Some(
                    lh.labels(level)?
                        .iter()
                        .map(|&a| cols[a as usize])
                        .collect(),
                )
            }
            _ => None,
        };
        let kmeans =
            (cfg.method == Method::KMeans).then(|| KMeansState::new(train.image_len(), cfg.seed));
        let mut t = Trainer {
            opt1: Sgd::new(cfg.lr, cfg.momentum, cfg.weight_decay),
            opt2: Sgd::new(cfg.gen_lr, 0.0, cfg.gen_weight_decay),
            schedule: cfg.schedule.schedule(cfg.epochs),
            cfg,
            setup,
            net,
            mt,
            gen,
            epoch: 0,
            kmeans,
            fixed_aux,
        };
        t.place()?;
        Ok(t)
    }

    /// Moves the networks, optimiser states and the autoencoder to `cfg.device` (after
    /// construction and after restoring a checkpoint, whose tensors are read on the host).
    pub fn place(&mut self) -> Result<()> {
        let dev = self.cfg.device;
        dev.ensure_available()?;
        self.mt = self.mt.to_device(dev)?;
        if let Some(g) = &self.gen {
            self.gen = Some(g.to_device(dev)?);
        }
        self.opt1.state = self.opt1.state.to_device(dev)?;
        self.opt2.state = self.opt2.state.to_device(dev)?;
        if let Some(k) = &mut self.kmeans {
            k.params = k.params.to_device(dev)?;
            k.opt.state = k.opt.state.to_device(dev)?;
        }
        Ok(())
    }

    /// The per-sample auxiliary columns of pass 1: fixed (Random, Human) or the current
    /// clustering (K-Means).
    fn aux_columns(&self) -> Option<&[usize]> {
        self.fixed_aux
            .as_deref()
            .or_else(|| self.kmeans.as_ref().and_then(|k| k.labels.as_deref()))
    }

    /// One-hot auxiliary targets of a batch from the per-sample columns.
    fn fixed_targets(&self, indices: &[usize], dtype: DType) -> Result<Option<Tensor>> {
        let Some(cols) = self.aux_columns() else {
            return Ok(None);
        };
        if let Some(&i) = indices.iter().find(|&&i| i >= cols.len()) {
            return Err(Error::Invalid(format!(
                "sample {i} of a training set of {} (another data set than the trainer's?)",
                cols.len()
            )));
        }
        let picked: Vec<i64> = indices.iter().map(|&i| cols[i] as i64).collect();
        let idx = Tensor::from_vec(picked, &[indices.len()])?.to_device(self.cfg.device)?;
        Ok(Some(Tensor::one_hot(
            &idx,
            self.setup.hierarchy.total(),
            dtype,
        )?))
    }

    /// Test loss (primary focal) and accuracy (%) in eval mode.
    pub fn evaluate(&self, test: &Loader) -> Result<(f64, f64)> {
        let _g = no_grad();
        let (mut loss, mut right, mut n) = (0.0, 0, 0);
        for batch in test.epoch(0) {
            let b = batch?.to_device(self.cfg.device)?;
            let (_, logits, _) =
                self.net
                    .forward(&self.mt.params, &self.mt.buffers, &b.images, false, false)?;
            let onehot = Tensor::one_hot(&b.labels, self.setup.hierarchy.primary(), DType::F32)?;
            let size = b.indices.len();
            loss += focal_loss(&logits[0], &onehot, self.cfg.focal_gamma)?.item()? * size as f64;
            right += correct(&logits[0], &b.labels)?;
            n += size;
        }
        let n = n.max(1) as f64;
        Ok((loss / n, 100.0 * right as f64 / n))
    }

    /// Runs the next epoch: pass 1, pass 2 (MAXL only), test.
    pub fn run_epoch(
        &mut self,
        train: &Loader,
        test: &Loader,
        on_batch: &mut dyn FnMut(Progress),
    ) -> Result<EpochMetrics> {
        let e = self.epoch;
        let lr = self.schedule.lr(self.cfg.lr, e);
        self.opt1.lr = lr;
        self.opt2.lr = self.schedule.lr(self.cfg.gen_lr, e);
        let mut m = EpochMetrics {
            epoch: e + 1,
            lr,
            ..EpochMetrics::default()
        };
        let batches = train.num_batches();

        // Pass 1: theta1 (K-Means: re-cluster first, then train the autoencoder alongside).
        let t1 = Instant::now();
        if let Some(km) = &mut self.kmeans {
            let labels = km.recluster(train, &self.setup.hierarchy, self.cfg.seed, e)?;
            m.utilisation = kmeans::utilisation(labels, self.setup.hierarchy.total());
        }
        let (mut loss, mut right, mut n, mut cos_sum, mut cos_n) = (0.0, 0, 0, 0.0, 0);
        let mut used = vec![false; self.setup.hierarchy.total()];
        for batch in train.epoch(2 * e as u64) {
            let b = batch?.to_device(self.cfg.device)?;
            let size = b.indices.len();
            let aux = match &self.gen {
                Some(gen) => {
                    let t = self.setup.generated_targets(gen, &b.images, &b.labels)?;
                    for c in argmax_rows(&t) {
                        used[c] = true;
                    }
                    Some(t)
                }
                None => self.fixed_targets(&b.indices, b.images.dtype())?,
            };
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
            check_finite(out.loss, e + 1)?;
            self.mt.params = self.opt1.step(&self.mt.params, &out.grads)?;
            self.mt.buffers = out.buffers;
            if let Some(km) = &mut self.kmeans {
                let ae = km.train_step(&b.images)?;
                if !ae.is_finite() {
                    return Err(Error::Invalid(format!(
                        "the autoencoder's reconstruction loss became {ae} in epoch {}",
                        e + 1
                    )));
                }
            }
            loss += out.loss * size as f64;
            right += out.correct;
            n += size;
            if let Some(c) = out.cosine {
                cos_sum += c;
                cos_n += 1;
            }
            on_batch(Progress {
                pass: 1,
                batch: b.index + 1,
                batches,
                images: size,
            });
        }
        m.pass1_s = t1.elapsed().as_secs_f64();
        m.train_loss = loss / n.max(1) as f64;
        m.train_acc = 100.0 * right as f64 / n.max(1) as f64;
        m.cosine = if cos_n > 0 {
            cos_sum / cos_n as f64
        } else {
            0.0
        };
        if self.gen.is_some() {
            m.utilisation = 100.0 * used.iter().filter(|&&u| u).count() as f64 / used.len() as f64;
        }

        // Pass 2: theta2 by the meta step.
        if let Some(gen) = self.gen.clone() {
            let t2 = Instant::now();
            let mut gen = gen;
            let (mut lb, mut la, mut rb, mut ra, mut n) = (0.0, 0.0, 0, 0, 0);
            for batch in train.epoch(2 * e as u64 + 1) {
                let b = batch?.to_device(self.cfg.device)?;
                let size = b.indices.len();
                let out = if self.cfg.method == Method::MaxlFo {
                    self.setup
                        .stage2_first_order(&self.mt, &gen, &b.images, &b.labels, lr)?
                } else {
                    self.setup
                        .stage2(&self.mt, &gen, &b.images, &b.labels, lr)?
                };
                check_finite(out.loss_after, e + 1)?;
                gen.params = self.opt2.step(&gen.params, &out.grads)?;
                gen.buffers = out.gen_buffers;
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
            self.gen = Some(gen);
            let n = n.max(1) as f64;
            m.pass2_s = t2.elapsed().as_secs_f64();
            m.meta_loss_before = lb / n;
            m.meta_loss_after = la / n;
            m.meta_acc_before = 100.0 * rb as f64 / n;
            m.meta_acc_after = 100.0 * ra as f64 / n;
        }

        let (tl, ta) = self.evaluate(test)?;
        m.test_loss = tl;
        m.test_acc = ta;
        self.epoch += 1;
        Ok(m)
    }
}

fn check_finite(loss: f64, epoch: usize) -> Result<()> {
    if !loss.is_finite() {
        return Err(Error::Invalid(format!(
            "the loss became {loss} in epoch {epoch}; try a smaller learning rate"
        )));
    }
    Ok(())
}
