//! The sweep folder: `sweep.toml` (the file it was made from), `plan.jsonl` (one line per run:
//! index, name, origin, keys) and a folder per run holding `sweep-config.toml`, the keys that
//! `train --config` gets. Before anything is written, runs already started are checked against
//! the plan: a sweep file edited under running or finished runs is one clear error.

use super::expand::{expand, PlannedRun};
use super::file::SweepFile;
use super::files::write_atomic;
use super::state::{state, RunState, CONFIG};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use toml::Table;

pub const SWEEP_FILE: &str = "sweep.toml";
pub const PLAN: &str = "plan.jsonl";
pub const RUN_CONFIG: &str = "sweep-config.toml";

/// Keys that may change under a started run: they move the data or the computation, not the
/// numbers (as `train --resume` allows).
const PLACE_KEYS: [&str; 2] = ["data_dir", "device"];

/// An expanded sweep and its folder.
pub struct Sweep {
    pub dir: PathBuf,
    pub name: String,
    pub runs: Vec<PlannedRun>,
}

/// One line of `plan.jsonl` as a task reads it.
pub struct PlanLine {
    pub name: String,
}

/// "key: a -> b" for each key (other than the place keys) that differs.
fn differences(old: &Table, new: &Table) -> Vec<String> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&toml::Value>| v.map_or("(default)".to_string(), |v| v.to_string());
    keys.into_iter()
        .filter(|k| !PLACE_KEYS.contains(&k.as_str()) && old.get(*k) != new.get(*k))
        .map(|k| format!("{k}: {} -> {}", show(old.get(k)), show(new.get(k))))
        .collect()
}

fn config_text(config: &Table) -> Result<String> {
    Ok(format!(
        "# written by maxl-cli sweep: this run's keys for maxl-cli train --config\n{}",
        toml::to_string(config).context("run keys to TOML")?
    ))
}

impl Sweep {
    /// Reads and expands a sweep file for folder `dir`; relative `data_dir`s are taken from
    /// the current folder.
    pub fn from_file(file: &Path, dir: &Path) -> Result<Sweep> {
        let mut f = SweepFile::read(file)?;
        // A sweep folder's copy is named sweep.toml: the folder's name says more.
        if f.name == "sweep" && file.file_name() == Some(SWEEP_FILE.as_ref()) {
            if let Some(d) = std::path::absolute(file)?
                .parent()
                .and_then(|d| d.file_name())
            {
                f.name = d.to_string_lossy().into_owned();
            }
        }
        let cwd = std::env::current_dir().context("current folder")?;
        let runs = expand(&f, &file.display().to_string(), &cwd)?;
        Ok(Sweep {
            dir: dir.to_path_buf(),
            name: f.name,
            runs,
        })
    }

    pub fn run_dir(&self, run: &PlannedRun) -> PathBuf {
        self.dir.join(&run.name)
    }

    /// Refuses a plan that would change the settings of runs already started or finished.
    fn check_existing(&self) -> Result<()> {
        let mut changed = Vec::new();
        for run in &self.runs {
            let dir = self.run_dir(run);
            let path = dir.join(RUN_CONFIG);
            if !path.exists() {
                if dir.join(CONFIG).exists() {
                    bail!(
                        "{}: holds a run that no sweep planned; move it away or choose another --out",
                        dir.display()
                    );
                }
                continue;
            }
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
            let old: Table = text.parse().map_err(|e: toml::de::Error| {
                anyhow!(
                    "{}: {}",
                    path.display(),
                    super::files::one_line(&e.to_string())
                )
            })?;
            let diff = differences(&old, &run.config);
            if !diff.is_empty() && state(&dir) != RunState::Fresh {
                changed.push(format!("{} ({})", run.name, diff.join(", ")));
            }
        }
        if !changed.is_empty() {
            let n = changed.len();
            changed.truncate(5);
            bail!(
                "{}: {n} run(s) were started with other settings than the sweep file now gives: {}{}; \
                 keep the old sweep file, remove those run folders, or choose another --out",
                self.dir.display(),
                changed.join("; "),
                if n > 5 { "; ..." } else { "" }
            );
        }
        Ok(())
    }

    /// Checks the folder against the plan, then writes `sweep.toml` (a copy of `file`),
    /// `plan.jsonl` and each run's folder with its `sweep-config.toml`.
    pub fn write(&self, file: &Path) -> Result<()> {
        self.check_existing()?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let copy = self.dir.join(SWEEP_FILE);
        let same =
            copy.exists() && std::fs::canonicalize(&copy).ok() == std::fs::canonicalize(file).ok();
        if !same {
            let text = std::fs::read(file).with_context(|| format!("{}", file.display()))?;
            write_atomic(&copy, &text)?;
        }
        let mut plan = String::new();
        for (index, run) in self.runs.iter().enumerate() {
            let line = json!({
                "index": index,
                "name": run.name,
                "origin": run.origin,
                "config": run.config,
            });
            plan += &(serde_json::to_string(&line)? + "\n");
            let dir = self.run_dir(run);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let text = config_text(&run.config)?;
            let path = dir.join(RUN_CONFIG);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                write_atomic(&path, text.as_bytes())?;
            }
        }
        write_atomic(&self.dir.join(PLAN), plan.as_bytes())
    }
}

/// The lines of `dir/plan.jsonl`.
pub fn read_plan(dir: &Path) -> Result<Vec<PlanLine>> {
    let path = dir.join(PLAN);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: not found; is {} a sweep folder (maxl-cli sweep FILE --out DIR writes it)?",
            path.display(),
            dir.display()
        )
    })?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{} line {}", path.display(), i + 1))?;
            match (v["index"].as_u64(), v["name"].as_str()) {
                (Some(index), Some(name)) if index as usize == i => Ok(PlanLine {
                    name: name.to_string(),
                }),
                _ => bail!(
                    "{} line {}: expected index {i} and a name",
                    path.display(),
                    i + 1
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_leave_out_place_keys() {
        let a: Table = "epochs = 1\ndata_dir = \"/a\"\nseed = 0".parse().unwrap();
        let b: Table = "epochs = 2\ndata_dir = \"/b\"\nlr = 0.5\nseed = 0"
            .parse()
            .unwrap();
        assert_eq!(
            differences(&a, &b),
            ["epochs: 1 -> 2", "lr: (default) -> 0.5"]
        );
    }
}
