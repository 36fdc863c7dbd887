//! Reads run folders: every folder under the report's folder that holds a `train` run
//! (`config.toml` or `summary.json`), with its settings, `summary.json` if complete, and its
//! per-epoch metrics (`metrics.jsonl`, every numeric key kept, so new keys reach the report).

use anyhow::{anyhow, Context, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Settings that `train` added after runs had been made, with the value a run made before
/// them had (and still gets on --resume): an old run's missing `init` is `auto`, so its row
/// sits beside the new runs' instead of apart under "(default)".
const ADDED_LATER: [(&str, &str); 1] = [("init", "auto")];

/// Folders deeper than this under the report's folder are not searched.
const MAX_DEPTH: usize = 4;

/// One run folder.
#[derive(Debug, Clone)]
pub struct Run {
    /// Relative to the report's folder.
    pub name: String,
    /// Every setting, as `summary.json`'s `settings` (or `config.toml`) holds it.
    pub settings: Map<String, Value>,
    /// `summary.json` of a complete run.
    pub summary: Option<Value>,
    /// Numeric values per finished epoch.
    pub metrics: Vec<BTreeMap<String, f64>>,
}

impl Run {
    pub fn setting(&self, key: &str) -> Option<&Value> {
        self.settings.get(key)
    }

    pub fn text(&self, key: &str) -> String {
        match self.settings.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        }
    }

    pub fn number(&self, key: &str) -> Option<f64> {
        self.summary.as_ref()?.get(key)?.as_f64()
    }

    pub fn seed(&self) -> u64 {
        self.setting("seed").and_then(Value::as_u64).unwrap_or(0)
    }

    /// Epochs planned.
    pub fn epochs(&self) -> Option<u64> {
        self.setting("epochs").and_then(Value::as_u64)
    }
}

fn holds_run(dir: &Path) -> bool {
    dir.join("config.toml").exists() || dir.join("summary.json").exists()
}

fn find(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    if holds_run(dir) {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    if depth == MAX_DEPTH {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for e in entries {
        find(&e, depth + 1, out)?;
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}", path.display()))
}

fn read_metrics(path: &Path) -> Result<Vec<BTreeMap<String, f64>>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: Map<String, Value> = serde_json::from_str(l)
                .with_context(|| format!("{} line {}", path.display(), i + 1))?;
            Ok(v.into_iter()
                .filter_map(|(k, v)| v.as_f64().map(|x| (k, x)))
                .collect())
        })
        .collect()
}

fn read_run(root: &Path, dir: &Path) -> Result<Run> {
    let name = dir
        .strip_prefix(root)
        .unwrap_or(dir)
        .to_string_lossy()
        .into_owned();
    let name = if name.is_empty() { ".".into() } else { name };
    let summary_path = dir.join("summary.json");
    let summary = match summary_path.exists() {
        true => Some(read_json(&summary_path)?).filter(|s| s["status"] == "complete"),
        false => None,
    };
    let mut settings = match summary.as_ref().and_then(|s| s["settings"].as_object()) {
        Some(s) => s.clone(),
        None => {
            let path = dir.join("config.toml");
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
            let table: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| anyhow!("{}: {}", path.display(), e.message()))?;
            match serde_json::to_value(table)? {
                Value::Object(m) => m,
                _ => Map::new(),
            }
        }
    };
    for (key, value) in ADDED_LATER {
        settings
            .entry(key)
            .or_insert_with(|| Value::String(value.into()));
    }
    Ok(Run {
        name,
        settings,
        summary,
        metrics: read_metrics(&dir.join("metrics.jsonl"))?,
    })
}

/// Every run under `root` (itself included), sorted by folder.
pub fn read_all(root: &Path) -> Result<Vec<Run>> {
    if !root.is_dir() {
        anyhow::bail!("{}: not a folder", root.display());
    }
    let mut dirs = Vec::new();
    find(root, 0, &mut dirs)?;
    dirs.iter().map(|d| read_run(root, d)).collect()
}
