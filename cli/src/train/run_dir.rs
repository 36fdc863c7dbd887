//! The run folder: `config.toml`, `metrics.jsonl`, `checkpoint.safetensors` (with the metric
//! history and wall time in its metadata, so a resumed run rewrites the rest from it),
//! `curves.png`, `train.lock` while a process trains in it (see [`super::lock`]) and, only once
//! every epoch is done, `summary.json`. Every file is replaced whole through a temp file and a
//! rename; a write that fails removes its temp file. A new run that fails before its first
//! epoch is saved removes what it made ([`RunDir::discard`]), so its `--out` can be used again.

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

/// The files a run writes (each also as a `.tmp` while it is written).
const FILES: [&str; 5] = [CONFIG, METRICS, CHECKPOINT, CURVES, SUMMARY];

/// `path` with `.tmp` appended.
fn temp_of(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Writes `bytes` to `path` through `path.tmp` and a rename; on failure the temp file is
/// removed and the path in the error is the one that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_of(path);
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow!("{}: {e}", tmp.display()));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow!("{}: {e}", path.display()));
    }
    Ok(())
}

/// The folders that `create_dir_all(path)` would make, deepest first.
fn missing_folders(path: &Path) -> Vec<PathBuf> {
    path.ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .map(Path::to_path_buf)
        .collect()
}

/// `differences` without the number of epochs, which a resumed run may raise.
pub fn without_epochs(mut diff: Vec<String>) -> Vec<String> {
    diff.retain(|d| !d.starts_with("epochs: "));
    diff
}

/// True if `dir` holds any of a run's files.
pub fn holds_run(dir: &Path) -> bool {
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

    /// Creates the folder and its parents where needed; returns the folders it made,
    /// deepest first (for [`RunDir::discard`]).
    pub fn make_folder(&self) -> Result<Vec<PathBuf>> {
        let made = missing_folders(&self.path);
        std::fs::create_dir_all(&self.path)
            .with_context(|| format!("creating {}", self.path.display()))?;
        Ok(made)
    }

    /// Writes `config.toml`.
    pub fn write_config(&self, s: &Settings) -> Result<()> {
        write_atomic(&self.path.join(CONFIG), s.to_toml()?.as_bytes())
    }

    /// Removes the temp files of the run's files (left by a process that was killed while
    /// writing, or by a failed write).
    pub fn remove_temps(&self) {
        for f in FILES {
            let _ = std::fs::remove_file(temp_of(&self.file(f)));
        }
    }

    /// Removes a new run's files and the folders in `made` that are then empty, for a run
    /// that failed before its first epoch was saved; files it did not write stay.
    pub fn discard(&self, made: &[PathBuf]) {
        for f in FILES {
            let _ = std::fs::remove_file(self.file(f));
        }
        self.remove_temps();
        for dir in made {
            let _ = std::fs::remove_dir(dir);
        }
    }

    /// Epochs the folder records: the lines of `metrics.jsonl`, or the epochs of
    /// `summary.json` if more.
    pub fn recorded_epochs(&self) -> usize {
        let lines = std::fs::read_to_string(self.file(METRICS))
            .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
            .unwrap_or(0);
        let summary = std::fs::read_to_string(self.file(SUMMARY))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["epochs"].as_u64())
            .unwrap_or(0) as usize;
        lines.max(summary)
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

    /// The last checkpoint, if any, checked against the run's settings (which may ask for
    /// more epochs: an extended run).
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
        let diff = without_epochs(saved.differences(s)?);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_removes_its_temp_file_and_names_the_path_once() {
        let dir = std::env::temp_dir().join(format!("maxl-rundir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(METRICS);
        // The temp file's writes fail as on a full disk (ENOSPC).
        std::os::unix::fs::symlink("/dev/full", temp_of(&path)).unwrap();
        let e = format!("{:#}", write_atomic(&path, b"{}\n").unwrap_err());
        let os = std::io::Error::from_raw_os_error(28).to_string();
        assert_eq!(e, format!("{}: {os}", temp_of(&path).display()));
        assert!(!temp_of(&path).exists() && !temp_of(&path).is_symlink());
        assert!(!path.exists());
        write_atomic(&path, b"{}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn discard_removes_only_the_runs_files_and_the_folders_it_made() {
        let base = std::env::temp_dir().join(format!("maxl-discard-{}", std::process::id()));
        let dir = RunDir {
            path: base.join("a/b"),
        };
        std::fs::create_dir_all(&base).unwrap();
        let made = dir.make_folder().unwrap();
        assert_eq!(made, [base.join("a/b"), base.join("a")]);
        dir.write_config(&Settings::default()).unwrap();
        std::fs::write(dir.file("checkpoint.safetensors.tmp"), b"x").unwrap();
        dir.discard(&made);
        assert!(!base.join("a").exists());
        // A folder with someone else's file stays, with that file.
        let made = dir.make_folder().unwrap();
        std::fs::write(dir.file("notes.txt"), b"mine").unwrap();
        dir.write_config(&Settings::default()).unwrap();
        dir.discard(&made);
        let left: Vec<_> = std::fs::read_dir(&dir.path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["notes.txt"]);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
