//! The in-memory data set: u8 images in N x C x H x W order (a quarter of the memory of f32),
//! one i64 label per sample at the primary level, optional class names and label hierarchy, and
//! the train/test [`Split`]. Subsets (`train_limit`) copy only the samples they keep.

use super::label_hierarchy::LabelHierarchy;
use super::labels::out_of_range;
use crate::error::{Error, Result};
use maxl_engine::Rng;

/// Images and labels held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    images: Vec<u8>,
    labels: Vec<i64>,
    shape: [usize; 3],
    classes: usize,
    class_names: Option<Vec<String>>,
    hierarchy: Option<LabelHierarchy>,
}

impl Dataset {
    /// A data set of `labels.len()` images of `shape` = [C, H, W], pixels in N x C x H x W
    /// order; every label must lie in `0..classes`.
    pub fn new(
        images: Vec<u8>,
        labels: Vec<i64>,
        shape: [usize; 3],
        classes: usize,
    ) -> Result<Dataset> {
        let per = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&p| p > 0)
            .ok_or_else(|| Error::Invalid(format!("dataset: bad image shape {shape:?}")))?;
        if classes == 0 {
            return Err(Error::Invalid("dataset: 0 classes".into()));
        }
        if labels.len().checked_mul(per) != Some(images.len()) {
            return Err(Error::Invalid(format!(
                "dataset: {} pixel bytes do not hold {} images of shape {shape:?}",
                images.len(),
                labels.len()
            )));
        }
        if let Some((i, l)) = out_of_range(&labels, classes) {
            return Err(Error::Invalid(format!(
                "dataset: label {l} of sample {i} is outside 0..{classes}"
            )));
        }
        Ok(Dataset {
            images,
            labels,
            shape,
            classes,
            class_names: None,
            hierarchy: None,
        })
    }

    /// Attaches one name per class.
    pub fn with_class_names(mut self, names: Vec<String>) -> Result<Dataset> {
        if names.len() != self.classes {
            return Err(Error::Invalid(format!(
                "dataset: {} class names for {} classes",
                names.len(),
                self.classes
            )));
        }
        self.class_names = Some(names);
        Ok(self)
    }

    /// Attaches a label hierarchy; its level with this data set's class count must hold the
    /// same labels as the data set.
    pub fn with_hierarchy(mut self, hierarchy: LabelHierarchy) -> Result<Dataset> {
        if hierarchy.len() != self.len() {
            return Err(Error::Invalid(format!(
                "dataset: hierarchy has labels for {} samples, data set has {}",
                hierarchy.len(),
                self.len()
            )));
        }
        if let Ok(l) = hierarchy.labels(self.classes) {
            if l != self.labels.as_slice() {
                return Err(Error::Invalid(format!(
                    "dataset: hierarchy level {} disagrees with the data set's labels",
                    self.classes
                )));
            }
        }
        self.hierarchy = Some(hierarchy);
        Ok(self)
    }

    /// The same images with the primary labels taken from the hierarchy level that has
    /// `classes` classes (CIFAR-100: 3, 10, 20 or 100). Class names follow the level.
    pub fn at_level(mut self, classes: usize) -> Result<Dataset> {
        let h = self.hierarchy.as_ref().ok_or_else(|| {
            Error::Invalid(format!(
                "dataset: no label hierarchy, so no level with {classes} classes"
            ))
        })?;
        self.labels = h.labels(classes)?.to_vec();
        self.class_names = h.names(classes).map(<[String]>::to_vec);
        self.classes = classes;
        Ok(self)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// [C, H, W] of one image.
    pub fn image_shape(&self) -> [usize; 3] {
        self.shape
    }

    pub fn channels(&self) -> usize {
        self.shape[0]
    }

    pub fn height(&self) -> usize {
        self.shape[1]
    }

    pub fn width(&self) -> usize {
        self.shape[2]
    }

    /// Bytes of one image (C * H * W).
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of classes of the primary labels.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// All pixels, N x C x H x W.
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    /// The pixels of sample `i` (C x H x W), or `None` past the end.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let n = self.image_len();
        self.images.get(i * n..(i + 1) * n)
    }

    /// Primary labels, one per sample.
    pub fn labels(&self) -> &[i64] {
        &self.labels
    }

    pub fn class_names(&self) -> Option<&[String]> {
        self.class_names.as_deref()
    }

    pub fn hierarchy(&self) -> Option<&LabelHierarchy> {
        self.hierarchy.as_ref()
    }

    /// Number of samples of each class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }

    /// A copy holding the samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        let n = self.image_len();
        let mut images = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let img = self.image(i).ok_or_else(|| {
                Error::Invalid(format!(
                    "subset: index {i} is past the end of a data set of {} samples",
                    self.len()
                ))
            })?;
            images.extend_from_slice(img);
            labels.push(self.labels[i]);
        }
        let hierarchy = self
            .hierarchy
            .as_ref()
            .map(|h| h.subset(indices))
            .transpose()?;
        Ok(Dataset {
            images,
            labels,
            shape: self.shape,
            classes: self.classes,
            class_names: self.class_names.clone(),
            hierarchy,
        })
    }

    /// A fixed random subset of `n` samples chosen by `seed` (kept in their original order).
    /// The same seed gives the same subset; `n` must lie in `1..=len`.
    pub fn train_limit(&self, n: usize, seed: u64) -> Result<Dataset> {
        if n == 0 || n > self.len() {
            return Err(Error::Invalid(format!(
                "train_limit: {n} samples asked of a training set of {} (must be 1..={})",
                self.len(),
                self.len()
            )));
        }
        let mut idx: Vec<usize> = (0..self.len()).collect();
        Rng::new(seed).shuffle(&mut idx);
        idx.truncate(n);
        idx.sort_unstable();
        self.subset(&idx)
    }
}

/// A training set and a test set of the same image shape and classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Dataset,
    pub test: Dataset,
}

impl Split {
    /// Checks that neither set is empty and that the two agree on image shape and class count.
    pub fn new(train: Dataset, test: Dataset) -> Result<Split> {
        for (set, what) in [(&train, "training"), (&test, "test")] {
            if set.is_empty() {
                return Err(Error::Invalid(format!(
                    "the {what} set holds no images: nothing to {}",
                    if what == "test" {
                        "test on"
                    } else {
                        "train on"
                    }
                )));
            }
        }
        if train.image_shape() != test.image_shape() || train.classes() != test.classes() {
            return Err(Error::Invalid(format!(
                "split: train images {:?} with {} classes, test images {:?} with {} classes",
                train.image_shape(),
                train.classes(),
                test.image_shape(),
                test.classes()
            )));
        }
        Ok(Split { train, test })
    }

    /// Keeps a fixed random subset of `n` training samples (see [`Dataset::train_limit`]);
    /// the test set is left whole.
    pub fn train_limit(self, n: usize, seed: u64) -> Result<Split> {
        Ok(Split {
            train: self.train.train_limit(n, seed)?,
            test: self.test,
        })
    }

    /// Both sets relabelled at the hierarchy level with `classes` classes.
    pub fn at_level(self, classes: usize) -> Result<Split> {
        Ok(Split {
            train: self.train.at_level(classes)?,
            test: self.test.at_level(classes)?,
        })
    }
}
