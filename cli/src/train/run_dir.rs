//! The run folder: `config.toml`, `metrics.jsonl`, `checkpoint.safetensors` (with the metric
//! history and wall time in its metadata, so a resumed run rewrites the rest from it),
//! `curves.png` and, only once every epoch is done, `summary.json`. Every file is replaced
//! whole through a temp file and a rename.

use super::settings::Settings;
use anyhow::{anyhow, bail, Context, Result};
use maxl::checkpoint::Checkpoint;
use maxl::metrics::EpochMetrics;
use maxl::train::Trainer;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const CONFIG: &str = "config.toml";
pub const METRICS: &str = "metrics.jsonl";
pub const CHECKPOINT: &str = "checkpoint.safetensors";
pub const CURVES: &str = "curves.png";
pub const SUMMARY: &str = "summary.json";

/// Checkpoint metadata keys.
const META_SETTINGS: &str = "settings";
const META_METRICS: &str = "metrics";
const META_WALL: &str = "wall_s";

/// A run folder.
pub struct RunDir {
    pub path: PathBuf,
}

/// A run's last checkpoint with the metric history and wall time saved beside the state.
pub struct Saved {
    pub checkpoint: Checkpoint,
    pub history: Vec<EpochMetrics>,
    pub wall_s: f64,
    /// The checkpoint file, for messages.
    path: PathBuf,
}

impl Saved {
    /// Restores the trainer (built with the run's settings) and returns the history and wall
    /// time, after checking that the history holds one line per finished epoch.
    pub fn restore(self, t: &mut Trainer) -> Result<(Vec<EpochMetrics>, f64)> {
        self.checkpoint.restore(t)?;
        if self.history.len() != t.epoch {
            bail!(
                "{}: {} epochs of metrics for a checkpoint of epoch {}",
                self.path.display(),
                self.history.len(),
                t.epoch
            );
        }
        Ok((self.history, self.wall_s))
    }
}

/// Writes `bytes` to `path` through `path.tmp` and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("{}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}", path.display()))
}

/// True if `dir` holds any of a run's files.
fn holds_run(dir: &Path) -> bool {
    [CONFIG, METRICS, CHECKPOINT, SUMMARY]
        .iter()
        .any(|f| dir.join(f).exists())
}

impl RunDir {
    /// A new run's folder: `out` if given (it must not hold a run), else
    /// `runs/<method>-<dataset>-<seed>` or the first free `-2`, `-3`, ... after it.
    /// Nothing is created yet.
    pub fn choose(out: Option<&Path>, s: &Settings) -> Result<RunDir> {
        if let Some(out) = out {
            if out.exists() && !out.is_dir() {
                bail!("--out {}: exists and is not a folder", out.display());
            }
            if holds_run(out) {
                bail!(
                    "--out {}: holds a run already; continue it with --resume {}, or choose another folder",
                    out.display(),
                    out.display()
                );
            }
            return Ok(RunDir { path: out.into() });
        }
        let base = format!(
            "{}-{}-{}",
            s.train.method.name(),
            s.dataset.name(),
            s.train.seed
        );
        let runs = Path::new("runs");
        (1..10_000)
            .map(|i| match i {
                1 => runs.join(&base),
                _ => runs.join(format!("{base}-{i}")),
            })
            .find(|p| !p.exists())
            .map(|path| RunDir { path })
            .ok_or_else(|| anyhow!("runs/{base}-*: no free folder name; pass --out"))
    }

    /// Creates the folder (and its parents) if needed and writes `config.toml`; true if the
    /// folder is new.
    pub fn create(&self, s: &Settings) -> Result<bool> {
        let new = !self.path.exists();
        std::fs::create_dir_all(&self.path)
            .with_context(|| format!("creating {}", self.path.display()))?;
        write_atomic(&self.path.join(CONFIG), s.to_toml()?.as_bytes())?;
        Ok(new)
    }

    /// Removes what [`RunDir::create`] made (the folder only if it `created` it and it is
    /// empty), for a run that failed before its first epoch.
    pub fn remove_unstarted(&self, created: bool) {
        let _ = std::fs::remove_file(self.path.join(CONFIG));
        if created {
            let _ = std::fs::remove_dir(&self.path);
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The settings a run was started with.
    pub fn settings(&self) -> Result<Settings> {
        let path = self.file(CONFIG);
        if !path.exists() {
            bail!(
                "{}: not found; is {} a run folder of maxl-cli train?",
                path.display(),
                self.path.display()
            );
        }
        Settings::read(&path)
    }

    /// Saves the trainer's state with the metric history and wall time, then rewrites
    /// `metrics.jsonl` from that history.
    pub fn save(
        &self,
        t: &Trainer,
        s: &Settings,
        history: &[EpochMetrics],
        wall_s: f64,
    ) -> Result<()> {
        let meta = BTreeMap::from([
            (META_SETTINGS.to_string(), s.to_toml()?),
            (META_METRICS.to_string(), serde_json::to_string(history)?),
            (META_WALL.to_string(), wall_s.to_string()),
        ]);
        Checkpoint::of(t, meta)?.save(&self.file(CHECKPOINT))?;
        self.write_metrics(history)
    }

    /// `metrics.jsonl`: one JSON object per finished epoch.
    pub fn write_metrics(&self, history: &[EpochMetrics]) -> Result<()> {
        let mut text = String::new();
        for m in history {
            text += &serde_json::to_string(m)?;
            text.push('\n');
        }
        write_atomic(&self.file(METRICS), text.as_bytes())
    }

    /// The last checkpoint, if any, checked against the run's settings.
    pub fn load(&self, s: &Settings) -> Result<Option<Saved>> {
        let path = self.file(CHECKPOINT);
        if !path.exists() {
            return Ok(None);
        }
        let mut checkpoint = Checkpoint::load(&path)?;
        let mut take = |k: &str| {
            checkpoint
                .metadata
                .remove(k)
                .ok_or_else(|| anyhow!("{}: no '{k}' in the checkpoint's metadata", path.display()))
        };
        let saved: toml::Table = take(META_SETTINGS)?
            .parse()
            .with_context(|| format!("{}: settings", path.display()))?;
        let saved = Settings::default().overlay(&saved, &path.display().to_string())?;
        let history: Vec<EpochMetrics> = serde_json::from_str(&take(META_METRICS)?)
            .with_context(|| format!("{}: metrics", path.display()))?;
        let wall_s = take(META_WALL)?.parse().unwrap_or(0.0);
        let diff = saved.differences(s)?;
        if !diff.is_empty() {
            bail!(
                "{} was written with other settings than {} holds ({}); was config.toml edited?",
                path.display(),
                CONFIG,
                diff.join(", ")
            );
        }
        Ok(Some(Saved {
            checkpoint,
            history,
            wall_s,
            path,
        }))
    }

    /// `summary.json`: written last, once every epoch is done.
    pub fn write_summary(&self, s: &Settings, history: &[EpochMetrics], wall_s: f64) -> Result<()> {
        let last = history
            .last()
            .ok_or_else(|| anyhow!("no epoch to summarise"))?;
        let best = history
            .iter()
            .max_by(|a, b| {
                a.test_acc
                    .total_cmp(&b.test_acc)
                    .then(b.epoch.cmp(&a.epoch))
            })
            .unwrap_or(last);
        let summary = json!({
            "status": "complete",
            "epochs": last.epoch,
            "final_test_acc": last.test_acc,
            "final_test_loss": last.test_loss,
            "final_train_acc": last.train_acc,
            "final_train_loss": last.train_loss,
            "best_test_acc": best.test_acc,
            "best_epoch": best.epoch,
            "wall_s": wall_s,
            "settings": s.to_table()?,
        });
        let text = serde_json::to_string_pretty(&summary)? + "\n";
        write_atomic(&self.file(SUMMARY), text.as_bytes())
    }
}
