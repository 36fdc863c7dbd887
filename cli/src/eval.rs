//! `maxl-cli eval`: test loss (the primary task's focal loss, with the run's gamma: 2 unless
//! `--focal-gamma` said otherwise) and accuracy of a run's last checkpoint, printed as one JSON
//! object on stdout. A checkpoint with a NaN or an infinity is refused, naming the tensor. The data default to the run's own; `--dataset`/`--data-dir` evaluate on
//! other data of the same image shape and classes.

use crate::train::restore::{restore, Overrides};
use crate::train::set_threads;
use anyhow::Result;
use maxl::data::{Loader, LoaderConfig};
use maxl::train::config::parse_count;
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
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    batch_size: Option<usize>,
    /// Device: cpu, cuda or cuda:N [default: the run's]
    #[arg(long, value_name = "DEV")]
    device: Option<String>,
    /// Worker threads; 0 or none: all cores; at most 4 per core
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    threads: Option<usize>,
}

pub fn run(a: Args) -> Result<()> {
    set_threads(a.threads)?;
    let r = restore(
        &a.run,
        Overrides {
            dataset: a.dataset,
            data_dir: a.data_dir,
            batch_size: a.batch_size,
            device: a.device,
        },
    )?;
    Device::parse(&r.settings.device)?.ensure_available()?;
    let test = Arc::new(r.split.test);
    let loader = Loader::new(
        test.clone(),
        LoaderConfig::eval(&test, r.settings.train.batch_size),
    )?;
    let (test_loss, test_acc) = r.trainer.evaluate(&loader)?;
    println!(
        "{}",
        json!({
            "test_acc": test_acc,
            "test_loss": test_loss,
            "epoch": r.epoch,
            "test_images": test.len(),
        })
    );
    Ok(())
}
