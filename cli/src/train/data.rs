//! Loads the train/test split that a run's settings name: the reader by data set kind, the
//! CIFAR-100 level, the `--train-limit` subset, and the size and shape of synthetic data.

use super::settings::{DatasetKind, Settings};
use anyhow::{bail, Result};
use maxl::data::{Source, Split, Synthetic, FASHION_MNIST_DEBIAN};
use std::path::PathBuf;

/// Synthetic training samples when `--train-limit` is not given.
const SYNTHETIC_TRAIN: usize = 1000;
/// Classes of the synthetic data (as MNIST's).
const SYNTHETIC_CLASSES: usize = 10;
/// Seed of the synthetic data: fixed, so that runs with other seeds see the same data.
const SYNTHETIC_SEED: u64 = 0;

/// The synthetic recipe: 1x28x28 images for ConvNet-4, 3x32x32 for the CIFAR networks.
fn synthetic(s: &Settings) -> Synthetic {
    let train = s.train_limit.unwrap_or(SYNTHETIC_TRAIN);
    let test = (train / 4).clamp(50, 2000);
    let shape = if s.train.model == "convnet4" {
        [1, 28, 28]
    } else {
        [3, 32, 32]
    };
    Synthetic::new(train, test, shape, SYNTHETIC_CLASSES, SYNTHETIC_SEED)
}

/// Reads (or generates) the data of a run.
pub fn load(s: &Settings) -> Result<Split> {
    let dir = |what: &str| -> Result<PathBuf> {
        match &s.data_dir {
            Some(d) => Ok(d.clone()),
            None => bail!("--dataset {what} needs --data-dir DIR"),
        }
    };
    let source = match s.dataset {
        DatasetKind::FashionMnist => Source::FashionMnist(
            s.data_dir
                .clone()
                .unwrap_or_else(|| FASHION_MNIST_DEBIAN.into()),
        ),
        DatasetKind::Mnist => Source::Mnist(dir("mnist")?),
        DatasetKind::Cifar10 => Source::Cifar10(dir("cifar10")?),
        DatasetKind::Cifar100 => Source::Cifar100(dir("cifar100")?),
        DatasetKind::ImageFolder => Source::Folder(dir("image-folder")?),
        DatasetKind::Synthetic => Source::Synthetic(synthetic(s)),
    };
    let split = match source.load() {
        Ok(split) => split,
        Err(e) if s.dataset == DatasetKind::FashionMnist && s.data_dir.is_none() => bail!(
            "{e} (the default Fashion-MNIST folder: pass --data-dir DIR, or apt-get install dataset-fashion-mnist)"
        ),
        Err(e) => return Err(e.into()),
    };
    let split = match s.primary_level {
        Some(level) => split.at_level(level)?,
        None => split,
    };
    Ok(match s.train_limit {
        Some(n) if s.dataset != DatasetKind::Synthetic => split.train_limit(n, s.train.seed)?,
        _ => split,
    })
}
