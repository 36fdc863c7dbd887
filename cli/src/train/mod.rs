//! `maxl-cli train`: resolves the settings, loads the data, builds (or restores, with
//! `--resume`) the trainer, takes the run folder's lock, runs the epochs and brings the run
//! folder up to date after each one. A run that fails keeps its last good checkpoint (never a
//! state with a NaN or an infinity) and writes no `summary.json`; a new run that fails before
//! its first epoch is saved leaves no folder. `--resume` of a complete run with more
//! `--epochs` extends it: its `summary.json` is replaced once the extension is complete.

mod args;
pub mod data;
pub mod lock;
mod plot;
pub(crate) mod progress;
pub mod restore;
pub mod run_dir;
pub mod settings;
pub mod threads;

pub use args::Args;
pub use threads::set_threads;

use anyhow::{anyhow, bail, Result};
use lock::TrainLock;
use maxl::data::{Dataset, Loader, LoaderConfig};
use maxl::metrics::EpochMetrics;
use maxl::train::{Method, ScheduleKind, Trainer, Validated};
use maxl_engine::Device;
use progress::{plural, Display};
use run_dir::{without_epochs, RunDir, CHECKPOINT, CONFIG, CURVES, METRICS, SUMMARY};
use settings::Settings;
use std::sync::Arc;
use std::time::Instant;

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

/// A run about to start or continue: its settings, folder and, for `--resume`, the epochs
/// its config.toml asked for before (when `--epochs` raises them).
struct Plan {
    settings: Settings,
    valid: Validated,
    dir: RunDir,
    resumed: bool,
    extended_from: Option<usize>,
}

/// The settings (resolved and validated) and folder of a new run, or of the run that
/// `--resume` names; nothing is written yet.
fn plan(a: &Args) -> Result<Plan> {
    let Some(path) = &a.resume else {
        let settings = a.resolve_new()?;
        let valid = settings.validate()?;
        let dir = RunDir::choose(a.out.as_deref(), &settings)?;
        return Ok(Plan {
            settings,
            valid,
            dir,
            resumed: false,
            extended_from: None,
        });
    };
    let dir = RunDir { path: path.clone() };
    // A run in use is reported as such, even before its holder has written its files.
    lock::check_free(&dir.path)?;
    let saved = dir.settings()?;
    let asked = a.resolve(&saved)?;
    let diff = without_epochs(saved.differences(&asked)?);
    if !diff.is_empty() {
        bail!(
            "--resume {}: the run was made with other settings ({}); start a new run to change them",
            path.display(),
            diff.join(", ")
        );
    }
    let valid = asked.validate()?;
    let before = saved.train.epochs;
    Ok(Plan {
        extended_from: (asked.train.epochs != before).then_some(before),
        settings: asked,
        valid,
        dir,
        resumed: true,
    })
}

/// The loaders and data sizes of a run.
struct Data {
    train: Arc<Dataset>,
    test: Arc<Dataset>,
    train_loader: Loader,
    test_loader: Loader,
}

pub fn run(a: Args) -> Result<()> {
    set_threads(a.threads)?;
    let p = plan(&a)?;
    let device = Device::parse(&p.settings.device)?;
    device.ensure_available()?;
    let split = data::load(&p.settings)?;
    let (train, test) = (Arc::new(split.train), Arc::new(split.test));
    let mut trainer = Trainer::from_validated(p.valid.clone().on_device(device), &train)?;
    let batch = trainer.cfg.batch_size;
    let data = Data {
        train_loader: Loader::new(
            train.clone(),
            LoaderConfig::train(&train, batch, trainer.cfg.seed),
        )?,
        test_loader: Loader::new(test.clone(), LoaderConfig::eval(&test, batch))?,
        train,
        test,
    };

    let made = p.dir.make_folder()?;
    let lock = match TrainLock::acquire(&p.dir.path) {
        Ok(lock) => lock,
        Err(e) => {
            // Only folders this process made and that are still empty.
            for d in &made {
                let _ = std::fs::remove_dir(d);
            }
            return Err(e);
        }
    };
    // Checked again under the lock: another new run may have taken the folder meanwhile
    // (its files are not ours to remove).
    if !p.resumed && run_dir::holds_run(&p.dir.path) {
        drop(lock);
        bail!(
            "--out {}: holds a run already (started meanwhile by another process)",
            p.dir.path.display()
        );
    }
    let mut saved = 0;
    let result = threads::on_pool(device, || train_in(&a, &p, &mut trainer, &data, &mut saved));
    if result.is_err() {
        if p.resumed || saved > 0 {
            p.dir.remove_temps();
            drop(lock);
        } else {
            drop(lock);
            p.dir.discard(&made);
        }
    }
    result
}

/// What a failed epoch leaves, after its error.
fn stopped(e: anyhow::Error, p: &Plan, saved_now: usize, history: usize) -> anyhow::Error {
    let e = crate::message::one_message(&e);
    if !p.resumed && saved_now == 0 {
        return anyhow!("{e} (no epoch saved; nothing kept)");
    }
    if history == 0 {
        return anyhow!("{e} (no epoch saved; no checkpoint yet)");
    }
    let summary = if p.dir.file(SUMMARY).exists() {
        format!("{SUMMARY} left as it was")
    } else {
        format!("no {SUMMARY} written")
    };
    anyhow!(
        "{e} ({} keeps the checkpoint of epoch {history}; {summary})",
        p.dir.path.display()
    )
}

/// The run in its locked folder; `saved` counts the epochs this process saved.
fn train_in(a: &Args, p: &Plan, trainer: &mut Trainer, d: &Data, saved: &mut usize) -> Result<()> {
    let (dir, settings) = (&p.dir, &p.settings);
    // Leftovers of a process killed while writing (this one holds the lock now).
    dir.remove_temps();
    let cfg = trainer.cfg.clone();
    let (mut history, mut wall_s) = (Vec::new(), 0.0);
    if p.resumed {
        let recorded = dir.recorded_epochs();
        match dir.load(settings)? {
            Some(s) => (history, wall_s) = s.restore(trainer)?,
            None if recorded > 0 => bail!(
                "--resume {}: {METRICS} records {recorded} epoch{} but {CHECKPOINT} is missing, \
                 so the run cannot continue; nothing was changed (to train it again: --config {} \
                 --out NEW_FOLDER)",
                dir.path.display(),
                plural(recorded),
                dir.file(CONFIG).display()
            ),
            None => {}
        }
        if recorded > history.len() {
            bail!(
                "--resume {}: {METRICS} records {recorded} epochs but {CHECKPOINT} holds {}; was \
                 the checkpoint replaced? Nothing was changed",
                dir.path.display(),
                history.len()
            );
        }
        if trainer.epoch > cfg.epochs {
            bail!(
                "--resume {}: --epochs {} is fewer than the {} epochs the run has done",
                dir.path.display(),
                cfg.epochs,
                trainer.epoch
            );
        }
    }
    // A new run's settings; for a resumed run, config.toml follows a moved data folder,
    // another device or more epochs.
    dir.write_config(settings)?;

    let mut display = Display::new(a.quiet, cfg.epochs, d.train.len(), d.test.len());
    display.note(&first_line(p, trainer, d));
    if cfg.batch_size > d.train.len() {
        display.note(&format!(
            "note: --batch-size {} is more than the {} training images: each epoch trains on \
             one batch of all of them (an epoch's last batch is kept even when smaller, as \
             PyTorch's DataLoader with drop_last=False)",
            cfg.batch_size,
            d.train.len()
        ));
    }
    if let Some(before) = p.extended_from {
        let schedule = match cfg.schedule {
            ScheduleKind::Constant => String::new(),
            s => format!(
                "; the {} schedule now spans {} epochs",
                s.name(),
                cfg.epochs
            ),
        };
        display.note(&format!(
            "extending the run from {before} to {} epochs{schedule}",
            cfg.epochs
        ));
    }
    if p.resumed && trainer.epoch > 0 {
        display.note(&format!("continuing after epoch {}", trainer.epoch));
    }

    let stop = a.stop_after.unwrap_or(cfg.epochs).min(cfg.epochs);
    let (meta, aux) = (trainer.has_meta_pass(), trainer.has_aux_task());
    while trainer.epoch < stop {
        let epoch = trainer.epoch + 1;
        let started = Instant::now();
        display.start_epoch();
        let result = trainer.run_epoch(&d.train_loader, &d.test_loader, &mut |pr| {
            display.batch(epoch, pr)
        });
        display.clear();
        let m = match result.map_err(anyhow::Error::from).and_then(finite) {
            Ok(m) => m,
            Err(e) => return Err(stopped(e, p, *saved, history.len())),
        };
        let secs = started.elapsed().as_secs_f64();
        wall_s += secs;
        history.push(m.clone());
        if let Err(e) = dir.save(trainer, settings, &history, wall_s) {
            return Err(stopped(e, p, *saved, history.len() - 1));
        }
        *saved += 1;
        if let Err(e) = plot::write(&dir.file(CURVES), &history, meta, aux, cfg.focal_gamma) {
            display.note(&format!("warning: {e:#}"));
        }
        display.epoch(&m, meta, aux, secs);
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
    dir.write_summary(settings, &history, wall_s)?;
    if let Some(last) = history.last() {
        let best = history.iter().map(|m| m.test_acc).fold(f64::MIN, f64::max);
        display.note(&format!(
            "done: test accuracy {:.2}% (best {:.2}%) after {} epoch{}, {:.1} s; {}",
            last.test_acc,
            best,
            last.epoch,
            plural(last.epoch),
            wall_s,
            dir.file(SUMMARY).display()
        ));
    }
    Ok(())
}

/// The run's first line: folder, method, data, network and its init, psi where it applies,
/// epochs, device and threads.
fn first_line(p: &Plan, t: &Trainer, d: &Data) -> String {
    let cfg = &t.cfg;
    let [c, h, w] = d.train.image_shape();
    let psi = match cfg.method {
        Method::Single => String::new(),
        _ => format!(", psi {}", psi_text(t.setup.hierarchy.psi())),
    };
    let threads = rayon::current_num_threads();
    format!(
        "{} run folder {}: {} on {} ({} train / {} test images of {c}x{h}x{w}, {} classes), {} \
         with init {}{psi}, {} epoch{}, {} with {threads} thread{}",
        if p.resumed { "resuming" } else { "new" },
        p.dir.path.display(),
        cfg.method.name(),
        p.settings.dataset.name(),
        d.train.len(),
        d.test.len(),
        d.train.classes(),
        cfg.model,
        cfg.init.name(),
        cfg.epochs,
        plural(cfg.epochs),
        p.settings.device,
        plural(threads),
    )
}
