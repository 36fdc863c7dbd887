//! A run as the pictures see it: its restored networks, its test images, and class labels.

use maxl::data::Dataset;
use maxl::train::Trainer;

/// A run's networks, restored from its checkpoint, and the test images to show.
pub struct Loaded {
    pub trainer: Trainer,
    pub test: Dataset,
    pub batch_size: usize,
    pub method: &'static str,
    pub dataset: &'static str,
}

/// A class's name for labels: its name if the data set has names, else its index.
pub fn class_label(test: &Dataset, c: usize) -> String {
    test.class_names()
        .and_then(|n| n.get(c))
        .cloned()
        .unwrap_or_else(|| format!("class {c}"))
}
