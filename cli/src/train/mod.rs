//! `maxl-cli train`: resolves the settings, loads the data, builds (or restores, with
//! `--resume`) the trainer, runs the epochs and brings the run folder up to date after each
//! one. A run that fails keeps its last good checkpoint and never writes `summary.json`.

mod args;
pub mod data;
mod plot;
mod progress;
pub mod restore;
pub mod run_dir;
pub mod settings;

pub use args::Args;

use anyhow::{anyhow, bail, Result};
use maxl::data::{Loader, LoaderConfig};
use maxl::metrics::EpochMetrics;
use maxl::train::{Trainer, Validated};
use maxl_engine::Device;
use progress::Display;
use run_dir::{RunDir, CURVES, SUMMARY};
use settings::Settings;
use std::sync::Arc;
use std::time::Instant;

/// Sizes rayon's global pool (None: all cores).
pub fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(t) = threads {
        if t == 0 {
            bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()?;
    }
    Ok(())
}

/// The epoch's metrics if every loss is finite: the trainer checks the training losses, this
/// the test loss too (a NaN would also not survive JSON).
fn finite(m: EpochMetrics) -> Result<EpochMetrics> {
    let losses = [
        ("training", m.train_loss),
        ("test", m.test_loss),
        ("meta", m.meta_loss_before),
        ("meta", m.meta_loss_after),
    ];
    for (name, v) in losses {
        if !v.is_finite() {
            bail!(
                "the {name} loss became {v} in epoch {}; try a smaller learning rate",
                m.epoch
            );
        }
    }
    Ok(m)
}

/// psi for people: "3 x 10" when balanced, else the list.
fn psi_text(psi: &[usize]) -> String {
    match psi {
        [first, rest @ ..] if rest.iter().all(|p| p == first) => format!("{first} x {}", psi.len()),
        _ => format!("{psi:?}"),
    }
}

/// The settings (resolved and validated) and folder of a new run, or of the run that
/// `--resume` names.
fn settings_and_folder(a: &Args) -> Result<(Settings, Validated, RunDir, bool)> {
    let Some(path) = &a.resume else {
        let s = a.resolve_new()?;
        let valid = s.validate()?;
        let dir = RunDir::choose(a.out.as_deref(), &s)?;
        return Ok((s, valid, dir, false));
    };
    let dir = RunDir { path: path.clone() };
    let saved = dir.settings()?;
    let asked = a.resolve(&saved)?;
    let diff = saved.differences(&asked)?;
    if !diff.is_empty() {
        bail!(
            "--resume {}: the run was made with other settings ({}); start a new run to change them",
            path.display(),
            diff.join(", ")
        );
    }
    let valid = asked.validate()?;
    Ok((asked, valid, dir, true))
}

pub fn run(a: Args) -> Result<()> {
    set_threads(a.threads)?;
    let (settings, valid, dir, resumed) = settings_and_folder(&a)?;
    let device = Device::parse(&settings.device)?;
    device.ensure_available()?;
    let split = data::load(&settings)?;
    let (train, test) = (Arc::new(split.train), Arc::new(split.test));
    let mut trainer = Trainer::from_validated(valid.on_device(device), &train)?;
    let cfg = trainer.cfg.clone();
    let train_loader = Loader::new(
        train.clone(),
        LoaderConfig::train(&train, cfg.batch_size, cfg.seed),
    )?;
    let test_loader = Loader::new(test.clone(), LoaderConfig::eval(&test, cfg.batch_size))?;

    let (mut history, mut wall_s) = (Vec::new(), 0.0);
    if resumed {
        if let Some(saved) = dir.load(&settings)? {
            (history, wall_s) = saved.restore(&mut trainer)?;
        }
    }
    // A new run's folder; for a resumed run, config.toml follows a moved data folder or
    // another device.
    let created = dir.create(&settings)?;

    let mut display = Display::new(a.quiet, cfg.epochs, train.len());
    display.note(&format!(
        "{} run folder {}: {} on {} ({} train / {} test images, {} classes), {}, psi {}, {} epochs, {} with {} threads",
        if resumed { "resuming" } else { "new" },
        dir.path.display(),
        cfg.method.name(),
        settings.dataset.name(),
        train.len(),
        test.len(),
        train.classes(),
        cfg.model,
        psi_text(trainer.setup.hierarchy.psi()),
        cfg.epochs,
        settings.device,
        rayon::current_num_threads(),
    ));
    if resumed && trainer.epoch > 0 {
        display.note(&format!("continuing after epoch {}", trainer.epoch));
    }

    let stop = a.stop_after.unwrap_or(cfg.epochs).min(cfg.epochs);
    let (meta, aux) = (trainer.has_meta_pass(), trainer.has_aux_task());
    while trainer.epoch < stop {
        let epoch = trainer.epoch + 1;
        let started = Instant::now();
        let result = trainer.run_epoch(&train_loader, &test_loader, &mut |p| {
            display.batch(epoch, p)
        });
        display.clear();
        let m = match result.map_err(anyhow::Error::from).and_then(finite) {
            Ok(m) => m,
            Err(e) if history.is_empty() && !resumed => {
                dir.remove_unstarted(created);
                return Err(anyhow!("{e} (no epoch finished; nothing kept)"));
            }
            Err(e) if history.is_empty() => {
                return Err(anyhow!("{e} (no epoch finished; no checkpoint yet)"));
            }
            Err(e) => {
                return Err(anyhow!(
                    "{e} ({} keeps the checkpoint of epoch {}; no {SUMMARY} written)",
                    dir.path.display(),
                    history.len()
                ))
            }
        };
        let secs = started.elapsed().as_secs_f64();
        wall_s += secs;
        history.push(m.clone());
        dir.save(&trainer, &settings, &history, wall_s)?;
        if let Err(e) = plot::write(&dir.file(CURVES), &history, meta, aux) {
            display.note(&format!("warning: {e:#}"));
        }
        display.epoch(&m, meta, secs);
    }

    if trainer.epoch < cfg.epochs {
        display.note(&format!(
            "stopped after epoch {} of {}; continue with --resume {}",
            trainer.epoch,
            cfg.epochs,
            dir.path.display()
        ));
        return Ok(());
    }
    dir.write_summary(&settings, &history, wall_s)?;
    if let Some(last) = history.last() {
        let best = history.iter().map(|m| m.test_acc).fold(f64::MIN, f64::max);
        display.note(&format!(
            "done: test accuracy {:.2}% (best {:.2}%) after {} epochs, {:.1} s; {}",
            last.test_acc,
            best,
            last.epoch,
            wall_s,
            dir.file(SUMMARY).display()
        ));
    }
    Ok(())
}
