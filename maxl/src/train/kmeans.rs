//! The K-Means baseline (paper, section 4.1): auxiliary labels from unsupervised clustering of
//! an autoencoder's latent code, clustered inside each primary class, so that primary class i
//! gets `psi[i]` clusters and sample j's auxiliary column is `offset(label_j) + cluster_j`.
//!
//! Choices (the paper gives only the sentence above; the authors' published code has no
//! K-Means baseline):
//! - The autoencoder works on flattened, normalised images: encoder
//!   `Linear(C*H*W, 256) -> ReLU -> Linear(256, 64)` (the 64-wide latent code, no activation),
//!   decoder `Linear(64, 256) -> ReLU -> Linear(256, C*H*W)`, mean squared error over every
//!   pixel. PyTorch's default linear initialisation (biases 0), drawn from its own seed stream
//!   of the run seed so that the multi-task network's initial weights are those of the other
//!   methods. Its own SGD (lr 0.01, momentum 0.9, no weight decay, constant learning rate): the
//!   run's schedule and weight decay belong to the multi-task network.
//! - It trains alongside the multi-task network: one step per pass-1 batch, on that same
//!   (augmented, normalised) batch.
//! - Clustering runs **once per epoch**, before pass 1, on the codes of every training image
//!   (data set order, no augmentation, the training loader's normalisation, no grad); epoch 0
//!   clusters the codes of the freshly initialised autoencoder. The paper re-clustered after
//!   every training iteration; doing that here would encode the whole training set and run
//!   k-means once per batch (for CIFAR-100, 500 times per epoch), which costs far more than the
//!   multi-task step it feeds, so the labels are refreshed per epoch instead. The time spent
//!   clustering counts in `pass1_s`.
//! - k-means is Lloyd's algorithm in f64 with at most [`MAX_ITER`] iterations (it stops
//!   earlier once no assignment changes), run separately inside each primary class with
//!   `k = psi[i]`. Epoch 0 seeds the centres by k-means++ from a generator derived from (run
//!   seed, epoch, class). Later epochs warm-start: each centre starts at the mean, in the
//!   current latent space, of the samples that its cluster held in the previous epoch, so that
//!   an auxiliary column keeps meaning roughly the same group of images from one epoch to the
//!   next (a fresh k-means++ would permute the columns every epoch and make the auxiliary head
//!   relearn them); clusters that were empty are seeded by k-means++ against the others.
//! - Ties go to the lowest cluster index. A cluster that becomes empty keeps its centre. A
//!   class with fewer (distinct) samples than `psi[i]` leaves some of its columns unused; the
//!   epoch's label utilisation (share of auxiliary columns with at least one sample) shows it.
//! - Everything is deterministic for a seed; the per-class clusterings run in parallel but
//!   each draws from its own generator.
//! - The strategy's record in a checkpoint holds the autoencoder's parameters, its momentum
//!   buffers and the last clustering (see `crate::train::strategy`), so a resumed run
//!   continues exactly.

use crate::data::{derive_seed, Augment, Loader, LoaderConfig};
use crate::hierarchy::Hierarchy;
use crate::nn::init::Init;
use crate::nn::{Builder, Params, Sgd};
use crate::{Error, Result};
use maxl_engine::{grad, no_grad, Rng, Tensor};
use rayon::prelude::*;

/// Width of the autoencoder's hidden layers.
pub const HIDDEN: usize = 256;
/// Width of the latent code that k-means clusters.
pub const LATENT: usize = 64;
/// The autoencoder's SGD settings.
pub const AE_LR: f64 = 0.01;
pub const AE_MOMENTUM: f64 = 0.9;
/// Most Lloyd iterations per clustering.
pub const MAX_ITER: usize = 50;
/// Images per batch when encoding the training set.
const ENCODE_BATCH: usize = 500;
/// Seed streams of the run seed (distinct from the data loader's streams 1 and 2).
const AE_STREAM: u64 = 0x6165; // "ae"
const KMEANS_STREAM: u64 = 0x6b6d; // "km"

/// The autoencoder's architecture: layer names `encoder.0`, `encoder.1`, `decoder.0`,
/// `decoder.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Autoencoder {
    /// C*H*W of one image.
    pub input: usize,
    pub hidden: usize,
    pub latent: usize,
}

fn layer(params: &Params, name: &str, x: &Tensor) -> Result<Tensor> {
    let w = params.get(&format!("{name}.weight"))?;
    let b = params.get(&format!("{name}.bias"))?;
    Ok(x.linear(w, Some(b))?)
}

impl Autoencoder {
    /// The baseline's autoencoder for images of `input` = C*H*W values.
    pub fn new(input: usize) -> Autoencoder {
        Autoencoder {
            input,
            hidden: HIDDEN,
            latent: LATENT,
        }
    }

    /// Fresh parameters (PyTorch's default linear initialisation, biases 0).
    pub fn init(&self, rng: &mut Rng) -> Params {
        let mut b = Builder::new(rng, Init::TorchDefault, Init::TorchDefault);
        b.linear("encoder.0", self.input, self.hidden);
        b.linear("encoder.1", self.hidden, self.latent);
        b.linear("decoder.0", self.latent, self.hidden);
        b.linear("decoder.1", self.hidden, self.input);
        b.params
    }

    /// Images `[B, C, H, W]` (or `[B, C*H*W]`) as `[B, C*H*W]`.
    fn flat(&self, images: &Tensor) -> Result<Tensor> {
        let x = images.flatten(1, -1)?;
        if x.rank() != 2 || x.shape()[1] != self.input {
            return Err(Error::Invalid(format!(
                "autoencoder: images of shape {:?} for an input of {} values",
                images.shape(),
                self.input
            )));
        }
        Ok(x)
    }

    fn encode_flat(&self, params: &Params, x: &Tensor) -> Result<Tensor> {
        let h = layer(params, "encoder.0", x)?.relu()?;
        layer(params, "encoder.1", &h)
    }

    /// The latent codes `[B, latent]` (images moved to the parameters' device).
    pub fn encode(&self, params: &Params, images: &Tensor) -> Result<Tensor> {
        let images = images.to_device(params.device())?;
        self.encode_flat(params, &self.flat(&images)?)
    }

    /// The reconstruction loss: mean squared error over every value of the batch.
    pub fn loss(&self, params: &Params, images: &Tensor) -> Result<Tensor> {
        let images = images.to_device(params.device())?;
        let x = self.flat(&images)?;
        let z = self.encode_flat(params, &x)?;
        let h = layer(params, "decoder.0", &z)?.relu()?;
        let y = layer(params, "decoder.1", &h)?;
        Ok(y.sub(&x)?.pow(2.0)?.mean(&[], false)?)
    }

    /// One SGD step on a batch: the new parameters and the loss before the step.
    pub fn step(&self, params: &Params, opt: &mut Sgd, images: &Tensor) -> Result<(Params, f64)> {
        let loss = self.loss(params, images)?;
        let grads = grad(std::slice::from_ref(&loss), &params.tensors(), None, false)?;
        Ok((opt.step(params, &grads)?, loss.item()?))
    }

    /// The latent codes of every sample of `train`'s data set, in data set order, as rows of
    /// `latent` values (no augmentation, `train`'s normalisation, no grad).
    pub fn encode_all(&self, params: &Params, train: &Loader) -> Result<Vec<f64>> {
        let data = train.dataset();
        let cfg = LoaderConfig {
            batch_size: ENCODE_BATCH,
            shuffle: false,
            drop_last: false,
            seed: 0,
            augment: Augment::None,
            normalize: train.config().normalize.clone(),
        };
        let loader = Loader::new(data.clone(), cfg)?;
        let _g = no_grad();
        let mut codes = vec![0.0; data.len() * self.latent];
        for batch in loader.epoch(0) {
            let b = batch?;
            let z = self.encode(params, &b.images)?.to_f64_vec();
            for (row, &i) in z.chunks(self.latent).zip(&b.indices) {
                codes[i * self.latent..(i + 1) * self.latent].copy_from_slice(row);
            }
        }
        Ok(codes)
    }
}

/// The K-Means baseline's state in a run: the autoencoder, its optimiser and the clustering
/// of the current epoch.
#[derive(Clone)]
pub struct KMeansState {
    pub autoencoder: Autoencoder,
    pub params: Params,
    pub opt: Sgd,
    /// The auxiliary column of every training sample (data set order) from the last
    /// clustering; `None` before the first epoch.
    pub labels: Option<Vec<usize>>,
}

impl KMeansState {
    /// A fresh autoencoder for images of `input` values, its weights from the run seed.
    pub fn new(input: usize, seed: u64) -> KMeansState {
        let autoencoder = Autoencoder::new(input);
        let params = autoencoder.init(&mut Rng::new(derive_seed(seed, &[AE_STREAM])));
        KMeansState {
            autoencoder,
            params,
            opt: Sgd::new(AE_LR, AE_MOMENTUM, 0.0),
            labels: None,
        }
    }

    /// One autoencoder step on a batch; the reconstruction loss before it.
    pub fn train_step(&mut self, images: &Tensor) -> Result<f64> {
        let (params, loss) = self.autoencoder.step(&self.params, &mut self.opt, images)?;
        self.params = params;
        Ok(loss)
    }

    /// Re-clusters the training set for `epoch` (warm-started from the last clustering, if
    /// any) and keeps the new labels.
    pub fn recluster(
        &mut self,
        train: &Loader,
        hierarchy: &Hierarchy,
        seed: u64,
        epoch: usize,
    ) -> Result<&[usize]> {
        let labels = auxiliary_columns(
            &self.autoencoder,
            &self.params,
            train,
            hierarchy,
            self.labels.as_deref(),
            derive_seed(seed, &[KMEANS_STREAM, epoch as u64]),
        )?;
        Ok(self.labels.insert(labels))
    }
}

/// Squared Euclidean distance.
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Index of the centre nearest to `p` (ties: the lowest index).
fn nearest(p: &[f64], centres: &[f64], dim: usize) -> usize {
    let mut best = (0, f64::INFINITY);
    for (j, c) in centres.chunks(dim).enumerate() {
        let d = dist2(p, c);
        if d < best.1 {
            best = (j, d);
        }
    }
    best.0
}

/// Initial centres: the means of the `previous` clusters where they are non-empty, the rest
/// by k-means++ (a point drawn with probability proportional to its squared distance to the
/// nearest centre so far; uniformly when there is none or all distances are 0).
fn seed_centres(
    points: &[f64],
    dim: usize,
    k: usize,
    previous: Option<&[usize]>,
    rng: &mut Rng,
) -> Vec<f64> {
    let n = points.len() / dim;
    let mut centres = vec![0.0; k * dim];
    let mut seeded = vec![false; k];
    if let Some(prev) = previous {
        let mut counts = vec![0usize; k];
        for (p, &c) in points.chunks(dim).zip(prev) {
            counts[c] += 1;
            for (s, v) in centres[c * dim..(c + 1) * dim].iter_mut().zip(p) {
                *s += v;
            }
        }
        for (j, &count) in counts.iter().enumerate() {
            if count > 0 {
                centres[j * dim..(j + 1) * dim]
                    .iter_mut()
                    .for_each(|s| *s /= count as f64);
                seeded[j] = true;
            }
        }
    }
    // Squared distance of every point to its nearest seeded centre.
    let mut d2 = vec![f64::INFINITY; n];
    let update = |d2: &mut [f64], c: &[f64]| {
        for (d, p) in d2.iter_mut().zip(points.chunks(dim)) {
            *d = d.min(dist2(p, c));
        }
    };
    for j in (0..k).filter(|&j| seeded[j]) {
        update(&mut d2, &centres[j * dim..(j + 1) * dim]);
    }
    for j in 0..k {
        if seeded[j] {
            continue;
        }
        let total: f64 = d2.iter().sum();
        let pick = if seeded.iter().any(|&s| s) && total > 0.0 && total.is_finite() {
            let r = rng.uniform() * total;
            let mut acc = 0.0;
            let mut pick = None;
            for (i, &d) in d2.iter().enumerate() {
                acc += d;
                if d > 0.0 {
                    pick = Some(i);
                    if acc > r {
                        break;
                    }
                }
            }
            pick.unwrap_or(0)
        } else {
            rng.below(n)
        };
        let p = points[pick * dim..(pick + 1) * dim].to_vec();
        centres[j * dim..(j + 1) * dim].copy_from_slice(&p);
        seeded[j] = true;
        update(&mut d2, &p);
    }
    centres
}

/// Lloyd's k-means of `points` (rows of `dim` values) into `k` clusters: the cluster of every
/// point. The centres start at the means of the `previous` assignment's clusters (when given;
/// empty ones by k-means++) or by k-means++ from `rng`; at most [`MAX_ITER`] iterations, fewer
/// once no assignment changes. Empty clusters keep their centre; ties go to the lowest index.
pub fn kmeans(
    points: &[f64],
    dim: usize,
    k: usize,
    previous: Option<&[usize]>,
    rng: &mut Rng,
) -> Result<Vec<usize>> {
    if dim == 0 || k == 0 || !points.len().is_multiple_of(dim) {
        return Err(Error::Invalid(format!(
            "kmeans: {} values in rows of {dim}, k = {k}",
            points.len()
        )));
    }
    let n = points.len() / dim;
    if let Some(prev) = previous {
        if prev.len() != n || prev.iter().any(|&c| c >= k) {
            return Err(Error::Invalid(format!(
                "kmeans: a previous assignment of {} points (clusters < {k}) for {n} points",
                prev.len()
            )));
        }
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut centres = seed_centres(points, dim, k, previous, rng);
    let mut assign = vec![usize::MAX; n];
    for _ in 0..MAX_ITER {
        let mut changed = false;
        for (a, p) in assign.iter_mut().zip(points.chunks(dim)) {
            let c = nearest(p, &centres, dim);
            changed |= *a != c;
            *a = c;
        }
        if !changed {
            break;
        }
        let mut sums = vec![0.0; k * dim];
        let mut counts = vec![0usize; k];
        for (&c, p) in assign.iter().zip(points.chunks(dim)) {
            counts[c] += 1;
            for (s, v) in sums[c * dim..(c + 1) * dim].iter_mut().zip(p) {
                *s += v;
            }
        }
        for (j, &count) in counts.iter().enumerate() {
            if count > 0 {
                for (c, s) in centres[j * dim..(j + 1) * dim]
                    .iter_mut()
                    .zip(&sums[j * dim..(j + 1) * dim])
                {
                    *c = s / count as f64;
                }
            }
        }
    }
    Ok(assign)
}

/// k-means inside each primary class: the samples of class i (rows of `codes`, `dim` values
/// each, `primary[j]` the class of row j) get `psi[i]` clusters, and the result is each
/// sample's auxiliary column `offset(i) + cluster`. `previous` (auxiliary columns from an
/// earlier clustering) warm-starts the centres; class i's generator is derived from
/// (`seed`, i).
pub fn cluster_per_class(
    codes: &[f64],
    dim: usize,
    primary: &[i64],
    hierarchy: &Hierarchy,
    previous: Option<&[usize]>,
    seed: u64,
) -> Result<Vec<usize>> {
    let n = primary.len();
    if dim == 0 || codes.len() != n * dim {
        return Err(Error::Invalid(format!(
            "kmeans: {} code values for {n} samples of {dim}",
            codes.len()
        )));
    }
    if previous.is_some_and(|p| p.len() != n) {
        return Err(Error::Invalid(format!(
            "kmeans: a previous clustering of {} samples for {n} samples",
            previous.map_or(0, <[usize]>::len)
        )));
    }
    let p = hierarchy.primary();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); p];
    for (j, &l) in primary.iter().enumerate() {
        let l = usize::try_from(l).ok().filter(|&l| l < p).ok_or_else(|| {
            Error::Invalid(format!(
                "kmeans: sample {j} has primary label {l}, psi has {p} classes"
            ))
        })?;
        members[l].push(j);
    }
    let per_class: Vec<Vec<usize>> = members
        .par_iter()
        .enumerate()
        .map(|(class, idx)| -> Result<Vec<usize>> {
            let (off, k) = (hierarchy.offset(class), hierarchy.psi()[class]);
            let points: Vec<f64> = idx
                .iter()
                .flat_map(|&j| codes[j * dim..(j + 1) * dim].iter().copied())
                .collect();
            let prev = previous
                .map(|prev| {
                    idx.iter()
                        .map(|&j| {
                            prev[j].checked_sub(off).filter(|&c| c < k).ok_or_else(|| {
                                Error::Invalid(format!(
                                    "kmeans: previous column {} of sample {j} is outside class \
                                     {class}'s block {off}..{}",
                                    prev[j],
                                    off + k
                                ))
                            })
                        })
                        .collect::<Result<Vec<usize>>>()
                })
                .transpose()?;
            let mut rng = Rng::new(derive_seed(seed, &[class as u64]));
            kmeans(&points, dim, k, prev.as_deref(), &mut rng)
        })
        .collect::<Result<_>>()?;
    let mut out = vec![0; n];
    for (class, (idx, clusters)) in members.iter().zip(&per_class).enumerate() {
        let off = hierarchy.offset(class);
        for (&j, &c) in idx.iter().zip(clusters) {
            out[j] = off + c;
        }
    }
    Ok(out)
}

/// The auxiliary column of every sample of `train`'s data set (data set order): encode all
/// its images with the autoencoder at `params`, then [`cluster_per_class`].
pub fn auxiliary_columns(
    autoencoder: &Autoencoder,
    params: &Params,
    train: &Loader,
    hierarchy: &Hierarchy,
    previous: Option<&[usize]>,
    seed: u64,
) -> Result<Vec<usize>> {
    let codes = autoencoder.encode_all(params, train)?;
    cluster_per_class(
        &codes,
        autoencoder.latent,
        train.dataset().labels(),
        hierarchy,
        previous,
        seed,
    )
}

/// Share (%) of the `total` auxiliary columns that at least one sample has.
pub fn utilisation(labels: &[usize], total: usize) -> f64 {
    let mut used = vec![false; total];
    for &c in labels {
        if let Some(u) = used.get_mut(c) {
            *u = true;
        }
    }
    100.0 * used.iter().filter(|&&u| u).count() as f64 / total.max(1) as f64
}
