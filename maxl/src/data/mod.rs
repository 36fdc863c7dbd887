//! Data sets for MAXL: in-memory u8 images with labels (and CIFAR-100's label hierarchy), readers
//! for IDX (MNIST, Fashion-MNIST), CIFAR-10/100 binary, image folders and a synthetic set,
//! `train_limit` subsets, transforms, and a batch iterator that prepares batches on a thread.
//!
//! ```no_run
//! use maxl::data::{Loader, LoaderConfig, Source};
//! use std::sync::Arc;
//! let split = Source::Cifar100("data/cifar-100".into()).load()?.at_level(20)?;
//! let train = Arc::new(split.train.train_limit(5000, 1)?);
//! let loader = Loader::new(train.clone(), LoaderConfig::train(&train, 100, 7))?;
//! for batch in loader.epoch(0) {
//!     let (images, labels) = batch?.into_pair(); // [100, 3, 32, 32] f32, [100] i64
//! }
//! # Ok::<(), maxl::Error>(())
//! ```

mod batches;
mod cifar;
mod dataset;
mod folder;
mod idx;
mod io;
mod label_hierarchy;
mod labels;
pub mod names;
mod seed;
mod synthetic;
mod transform;

pub use batches::{Batch, Batches, Loader, LoaderConfig};
pub use cifar::{parse_cifar100_bytes, parse_cifar10_bytes, read_cifar10, read_cifar100};
pub use dataset::{Dataset, Split};
pub use folder::read_image_folder;
pub use idx::{
    parse_idx_bytes, read_fashion_mnist, read_idx, read_idx_file, read_mnist, IdxArray,
    FASHION_MNIST_DEBIAN,
};
pub use label_hierarchy::LabelHierarchy;
pub(crate) use seed::derive_seed;
pub use synthetic::Synthetic;
pub use transform::{crop_padded, flip_horizontal, Augment, Normalize};

use crate::error::Result;
use std::path::PathBuf;

/// A data set to load, by kind and location.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Mnist(PathBuf),
    FashionMnist(PathBuf),
    Cifar10(PathBuf),
    Cifar100(PathBuf),
    /// `train/<class>/*` and `test/<class>/*` under the path.
    Folder(PathBuf),
    Synthetic(Synthetic),
}

impl Source {
    /// Reads (or generates) the train and test sets.
    pub fn load(&self) -> Result<Split> {
        match self {
            Source::Mnist(p) => read_mnist(p),
            Source::FashionMnist(p) => read_fashion_mnist(p),
            Source::Cifar10(p) => read_cifar10(p),
            Source::Cifar100(p) => read_cifar100(p),
            Source::Folder(p) => read_image_folder(p),
            Source::Synthetic(s) => s.split(),
        }
    }
}
