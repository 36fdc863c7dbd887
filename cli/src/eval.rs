//! `maxl-cli eval`: test loss and accuracy of a run's last checkpoint, printed as one JSON
//! object on stdout. The data default to the run's own; `--dataset`/`--data-dir` evaluate on
//! other data of the same image shape and classes.

use crate::train::run_dir::RunDir;
use crate::train::set_threads;
use crate::train::settings::DatasetKind;
use anyhow::{anyhow, Context, Result};
use maxl::data::{Loader, LoaderConfig};
use maxl::train::Trainer;
use maxl_engine::Device;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// Run folder written by `maxl-cli train` (its config.toml and checkpoint.safetensors)
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Test on this data set instead of the run's: fashion-mnist, mnist, cifar10, cifar100,
    /// image-folder or synthetic
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// Folder of the data set's files [default: the run's, for the run's data set]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Images per batch [default: the run's]
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// Device: cpu, cuda or cuda:N [default: the run's]
    #[arg(long, value_name = "DEV")]
    device: Option<String>,
    /// Worker threads [default: all cores]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn run(a: Args) -> Result<()> {
    set_threads(a.threads)?;
    let dir = RunDir { path: a.run };
    let run_settings = dir.settings()?;
    let mut s = run_settings.clone();
    if let Some(d) = &a.dataset {
        let kind = DatasetKind::parse(d)?;
        if kind != s.dataset {
            // The run's folder belongs to its own data set.
            s.data_dir = None;
            s.primary_level = None;
        }
        s.dataset = kind;
    }
    if let Some(d) = a.data_dir {
        s.data_dir = Some(d);
    }
    if let Some(b) = a.batch_size {
        s.train.batch_size = b;
    }
    if let Some(d) = a.device {
        s.device = d;
    }
    s.validate()?;
    Device::parse(&s.device)?.ensure_available()?;

    let saved = dir.load(&run_settings)?.ok_or_else(|| {
        anyhow!(
            "{}: no checkpoint yet; has its first epoch finished?",
            dir.path.display()
        )
    })?;
    let split = crate::train::data::load(&s)?;
    let test = Arc::new(split.test);
    let mut trainer = Trainer::new(s.train.clone(), &split.train)?;
    let epoch = saved.checkpoint.epoch;
    saved
        .checkpoint
        .restore(&mut trainer)
        .with_context(|| format!("the run's networks do not fit {}", s.dataset.name()))?;
    let loader = Loader::new(test.clone(), LoaderConfig::eval(&test, s.train.batch_size))?;
    let (test_loss, test_acc) = trainer.evaluate(&loader)?;
    println!(
        "{}",
        json!({
            "test_acc": test_acc,
            "test_loss": test_loss,
            "epoch": epoch,
            "test_images": test.len(),
        })
    );
    Ok(())
}
