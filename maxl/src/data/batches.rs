//! The batch iterator: one pass ("epoch") over a data set in a seeded shuffled order, yielding
//! normalised f32 images [B, C, H, W] and i64 labels [B], the last partial batch kept unless
//! `drop_last` (as PyTorch's `DataLoader`). A worker thread prepares the next batch while the
//! current one trains; every random choice derives from (seed, epoch, batch index), so the
//! batches are the same bits whatever the timing.

use super::dataset::Dataset;
use super::seed::derive_seed;
use super::transform::{apply_tables, Augment, Normalize};
use crate::error::{Error, Result};
use maxl_engine::{Rng, Tensor};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Seed streams, so that the shuffle and the augmentation never share numbers.
const SHUFFLE_STREAM: u64 = 1;
const AUGMENT_STREAM: u64 = 2;

/// How a [`Loader`] makes batches.
#[derive(Debug, Clone, PartialEq)]
pub struct LoaderConfig {
    pub batch_size: usize,
    /// Shuffle each epoch (with a permutation drawn from seed and epoch).
    pub shuffle: bool,
    /// Leave out the last batch when it is smaller than `batch_size`.
    pub drop_last: bool,
    pub seed: u64,
    pub augment: Augment,
    pub normalize: Normalize,
}

impl LoaderConfig {
    /// MAXL's training batches for `data`: shuffled, augmented by image shape
    /// ([`Augment::maxl`]), normalised by [`Normalize::maxl`], last partial batch kept.
    pub fn train(data: &Dataset, batch_size: usize, seed: u64) -> LoaderConfig {
        LoaderConfig {
            batch_size,
            shuffle: true,
            drop_last: false,
            seed,
            augment: Augment::maxl(data.image_shape()),
            normalize: Normalize::maxl(data.channels()),
        }
    }

    /// Evaluation batches: data set order, no augmentation, MAXL's normalisation.
    pub fn eval(data: &Dataset, batch_size: usize) -> LoaderConfig {
        LoaderConfig {
            batch_size,
            shuffle: false,
            drop_last: false,
            seed: 0,
            augment: Augment::None,
            normalize: Normalize::maxl(data.channels()),
        }
    }
}

/// One batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// f32 `[B, C, H, W]`, normalised (and augmented if so configured).
    pub images: Tensor,
    /// i64 `[B]`, the primary labels.
    pub labels: Tensor,
    /// The samples' indices in the data set, in batch order (to look up other labels, e.g. a
    /// hierarchy level).
    pub indices: Vec<usize>,
    /// The batch's position in its epoch.
    pub index: usize,
}

impl Batch {
    /// The batch with its images and labels on `device` (the same batch on the CPU).
    pub fn to_device(self, device: maxl_engine::Device) -> crate::Result<Batch> {
        Ok(Batch {
            images: self.images.to_device(device)?,
            labels: self.labels.to_device(device)?,
            ..self
        })
    }

    /// (images, labels).
    pub fn into_pair(self) -> (Tensor, Tensor) {
        (self.images, self.labels)
    }
}

/// A batch before it becomes tensors: plain buffers, made on the worker thread.
struct Prepared {
    images: Vec<f32>,
    labels: Vec<i64>,
    indices: Vec<usize>,
    index: usize,
}

/// Makes batches of a data set.
#[derive(Debug, Clone)]
pub struct Loader {
    data: Arc<Dataset>,
    cfg: LoaderConfig,
}

impl Loader {
    /// Checks the configuration against the data set.
    pub fn new(data: Arc<Dataset>, cfg: LoaderConfig) -> Result<Loader> {
        if cfg.batch_size == 0 {
            return Err(Error::Invalid("loader: batch size 0".into()));
        }
        if cfg.normalize.channels() != data.channels() {
            return Err(Error::Invalid(format!(
                "loader: a {}-channel normalisation for {}-channel images",
                cfg.normalize.channels(),
                data.channels()
            )));
        }
        Ok(Loader { data, cfg })
    }

    pub fn dataset(&self) -> &Arc<Dataset> {
        &self.data
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.cfg
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        let (n, b) = (self.data.len(), self.cfg.batch_size);
        if self.cfg.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The order of the samples in `epoch`.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        order(&self.data, &self.cfg, epoch)
    }

    /// Batch `index` of `epoch`, made on this thread (the same bits as [`Loader::epoch`] gives).
    pub fn batch(&self, epoch: u64, index: usize) -> Result<Batch> {
        if index >= self.num_batches() {
            return Err(Error::Invalid(format!(
                "loader: batch {index} of an epoch of {} batches",
                self.num_batches()
            )));
        }
        let tables = self.cfg.normalize.tables();
        let p = prepare(
            &self.data,
            &self.cfg,
            &tables,
            &self.order(epoch),
            epoch,
            index,
        );
        self.finish(p)
    }

    /// The batches of `epoch`, any u64 naming one pass over the data (MAXL's trainer makes two
    /// passes per epoch e: it can use 2e and 2e + 1). A worker thread keeps the next batch ready.
    pub fn epoch(&self, epoch: u64) -> Batches {
        let (tx, rx) = sync_channel::<Prepared>(1);
        let (data, cfg) = (self.data.clone(), self.cfg.clone());
        let count = self.num_batches();
        let worker = std::thread::Builder::new()
            .name("maxl-batches".into())
            .spawn(move || {
                let order = order(&data, &cfg, epoch);
                let tables = cfg.normalize.tables();
                for b in 0..count {
                    if tx
                        .send(prepare(&data, &cfg, &tables, &order, epoch, b))
                        .is_err()
                    {
                        break; // the consumer stopped early
                    }
                }
            });
        let (rx, worker, failed) = match worker {
            Ok(h) => (Some(rx), Some(h), None),
            Err(e) => (
                None,
                None,
                Some(format!("cannot start the batch thread: {e}")),
            ),
        };
        Batches {
            loader: self.clone(),
            rx,
            worker,
            failed,
            next: 0,
            count,
        }
    }

    fn finish(&self, p: Prepared) -> Result<Batch> {
        let [c, h, w] = self.data.image_shape();
        let b = p.labels.len();
        Ok(Batch {
            images: Tensor::from_vec(p.images, &[b, c, h, w])?,
            labels: Tensor::from_vec(p.labels, &[b])?,
            indices: p.indices,
            index: p.index,
        })
    }
}

fn order(data: &Dataset, cfg: &LoaderConfig, epoch: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..data.len()).collect();
    if cfg.shuffle {
        Rng::new(derive_seed(cfg.seed, &[SHUFFLE_STREAM, epoch])).shuffle(&mut idx);
    }
    idx
}

fn prepare(
    data: &Dataset,
    cfg: &LoaderConfig,
    tables: &[[f32; 256]],
    order: &[usize],
    epoch: u64,
    index: usize,
) -> Prepared {
    let start = index * cfg.batch_size;
    let indices = order[start..(start + cfg.batch_size).min(order.len())].to_vec();
    let shape = data.image_shape();
    let (per, hw) = (data.image_len(), shape[1] * shape[2]);
    let mut rng = Rng::new(derive_seed(
        cfg.seed,
        &[AUGMENT_STREAM, epoch, index as u64],
    ));
    let mut images = vec![0f32; indices.len() * per];
    let mut tmp = vec![0u8; per];
    let all = data.images();
    for (&i, out) in indices.iter().zip(images.chunks_exact_mut(per)) {
        let src = &all[i * per..(i + 1) * per];
        let img = match cfg.augment {
            Augment::None => src,
            a => {
                a.apply(src, shape, &mut rng, &mut tmp);
                &tmp
            }
        };
        apply_tables(tables, img, hw, out);
    }
    let labels = indices.iter().map(|&i| data.labels()[i]).collect();
    Prepared {
        images,
        labels,
        indices,
        index,
    }
}

/// The batches of one epoch, in order; see [`Loader::epoch`].
pub struct Batches {
    loader: Loader,
    rx: Option<Receiver<Prepared>>,
    worker: Option<JoinHandle<()>>,
    failed: Option<String>,
    next: usize,
    count: usize,
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.count {
            return None;
        }
        if let Some(msg) = self.failed.take() {
            self.next = self.count;
            return Some(Err(Error::Invalid(msg)));
        }
        let got = self.rx.as_ref().and_then(|rx| rx.recv().ok());
        match got {
            Some(p) => {
                self.next += 1;
                Some(self.loader.finish(p))
            }
            None => {
                // The worker ended before the epoch did: it panicked.
                let done = self.next;
                self.next = self.count;
                Some(Err(Error::Invalid(format!(
                    "the batch thread stopped after {done} of {} batches",
                    self.count
                ))))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.count - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches {}

impl Drop for Batches {
    fn drop(&mut self) {
        // Close the channel first so that a worker blocked on `send` returns, then wait for it.
        drop(self.rx.take());
        if let Some(h) = self.worker.take() {
            let _ = h.join();
        }
    }
}
