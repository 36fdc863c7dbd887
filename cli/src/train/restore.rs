//! Reopens a finished or running run for `eval` and `visualize`: its settings (optionally on
//! other data of the same shape and classes), its data, and a trainer restored from the last
//! checkpoint.

use super::run_dir::RunDir;
use super::settings::{DatasetKind, Settings};
use anyhow::{anyhow, Context, Result};
use maxl::data::Split;
use maxl::train::Trainer;
use std::path::{Path, PathBuf};

/// What the caller may change about a run when reopening it.
#[derive(Default)]
pub struct Overrides {
    pub dataset: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub batch_size: Option<usize>,
    pub device: Option<String>,
}

/// A run's trainer at its last checkpoint, with the settings and data it was reopened with.
pub struct Restored {
    pub trainer: Trainer,
    pub split: Split,
    pub settings: Settings,
    /// Epochs the checkpoint holds.
    pub epoch: usize,
}

/// Settings -> data -> `Trainer::new` -> `Checkpoint::restore`.
pub fn restore(run: &Path, o: Overrides) -> Result<Restored> {
    let dir = RunDir {
        path: run.to_path_buf(),
    };
    let run_settings = dir.settings()?;
    let mut s = run_settings.clone();
    if let Some(d) = &o.dataset {
        let kind = DatasetKind::parse(d)?;
        if kind != s.dataset {
            // The run's folder belongs to its own data set.
            s.data_dir = None;
            s.primary_level = None;
        }
        s.dataset = kind;
    }
    if let Some(d) = o.data_dir {
        s.data_dir = Some(d);
    }
    if let Some(b) = o.batch_size {
        s.train.batch_size = b;
    }
    if let Some(d) = o.device {
        s.device = d;
    }
    let valid = s.validate()?;
    let saved = dir.load(&run_settings)?.ok_or_else(|| {
        anyhow!(
            "{}: no checkpoint yet; has its first epoch finished?",
            dir.path.display()
        )
    })?;
    let split = super::data::load(&s)?;
    let device = maxl_engine::Device::parse(&s.device)?;
    let mut trainer = Trainer::from_validated(valid.on_device(device), &split.train)?;
    saved
        .restore(&mut trainer)
        .with_context(|| format!("the run's networks do not fit {}", s.dataset.name()))?;
    let epoch = trainer.epoch;
    Ok(Restored {
        trainer,
        split,
        settings: s,
        epoch,
    })
}
