//! The sweep file (TOML): `[settings]` shared by every run, `[axes]` crossed into a grid, and
//! `[[runs]]` extra runs (each its own keys, optionally crossed with its own `axes`). Keys are
//! `train`'s `--config` keys; this module only reads the shape, `check` judges the values.

use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use toml::{Table, Value};

/// One axis: a key and its values, or (values written as tables) several keys set together.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub name: String,
    /// Each value as the keys it sets.
    pub values: Vec<Table>,
}

/// An extra run: keys over the shared settings, crossed with its own axes (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Extra {
    pub keys: Table,
    pub axes: Vec<Axis>,
}

/// A parsed sweep file.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepFile {
    /// `name = "..."`, or the file's stem: the Slurm job name.
    pub name: String,
    pub settings: Table,
    /// The grid's axes; none: the grid is the shared settings alone, unless `runs` is given.
    pub axes: Vec<Axis>,
    pub runs: Vec<Extra>,
}

const TOP_KEYS: &str = "name, settings, axes, runs";

/// `batch-size` and `batch_size` are the same key (as in `train --config`).
pub fn normal_key(k: &str) -> String {
    k.replace('-', "_")
}

fn normal_table(t: &Table) -> Table {
    t.iter().map(|(k, v)| (normal_key(k), v.clone())).collect()
}

fn table<'v>(v: &'v Value, what: &str) -> Result<&'v Table> {
    v.as_table()
        .ok_or_else(|| anyhow!("{what} must be a table of train keys, not {v}"))
}

/// Reads `[axes]`-style tables: every entry a non-empty list of values.
fn axes(t: &Table, what: &str) -> Result<Vec<Axis>> {
    t.iter()
        .map(|(name, v)| {
            let name = normal_key(name);
            let list = v.as_array().ok_or_else(|| {
                anyhow!("{what} '{name}' must be a list of values, e.g. {name} = [1, 2], not {v}")
            })?;
            if list.is_empty() {
                bail!("{what} '{name}' has no values");
            }
            let values = list
                .iter()
                .map(|v| match v {
                    Value::Table(keys) if keys.is_empty() => {
                        bail!("{what} '{name}': a value that is a table needs at least one key")
                    }
                    Value::Table(keys) => Ok(normal_table(keys)),
                    other => Ok(Table::from_iter([(name.clone(), other.clone())])),
                })
                .collect::<Result<_>>()?;
            Ok(Axis { name, values })
        })
        .collect()
}

impl SweepFile {
    pub fn parse(text: &str, default_name: &str) -> Result<SweepFile> {
        let doc: Table = text
            .parse()
            .map_err(|e: toml::de::Error| anyhow!("{}", super::files::one_line(&e.to_string())))?;
        for key in doc.keys() {
            if !TOP_KEYS.split(", ").any(|k| k == key) {
                bail!(
                    "unknown top-level key '{key}': a sweep file has {TOP_KEYS} (train keys go under [settings])"
                );
            }
        }
        let name = match doc.get("name") {
            Some(v) => v
                .as_str()
                .ok_or_else(|| anyhow!("name must be a string, not {v}"))?
                .to_string(),
            None => default_name.to_string(),
        };
        let settings = match doc.get("settings") {
            Some(v) => normal_table(table(v, "[settings]")?),
            None => Table::new(),
        };
        let grid = match doc.get("axes") {
            Some(v) => axes(table(v, "[axes]")?, "axis")?,
            None => Vec::new(),
        };
        let runs = match doc.get("runs") {
            None => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let what = format!("runs[{i}]");
                    let mut keys = normal_table(table(v, &what)?);
                    let axes = match keys.remove("axes") {
                        Some(a) => {
                            axes(table(&a, &format!("{what}.axes"))?, &format!("{what} axis"))?
                        }
                        None => Vec::new(),
                    };
                    Ok(Extra { keys, axes })
                })
                .collect::<Result<_>>()?,
            Some(v) => bail!("runs must be a list of tables ([[runs]] blocks), not {v}"),
        };
        Ok(SweepFile {
            name,
            settings,
            axes: grid,
            runs,
        })
    }

    pub fn read(path: &Path) -> Result<SweepFile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("sweep");
        SweepFile::parse(&text, stem).with_context(|| format!("{}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_settings_axes_and_extra_runs() {
        let f = SweepFile::parse(
            r#"
            [settings]
            dataset = "synthetic"
            batch-size = 50
            [axes]
            method = ["maxl", "single"]
            level = [{ primary-level = 3, psi = "4,3,3" }, { primary_level = 10, psi = 2 }]
            [[runs]]
            method = "human"
            axes = { seed = [0, 1] }
            "#,
            "s",
        )
        .unwrap();
        assert_eq!(f.name, "s");
        assert_eq!(f.settings["batch_size"], Value::Integer(50));
        assert_eq!(f.axes.len(), 2);
        let level = f.axes.iter().find(|a| a.name == "level").unwrap();
        assert_eq!(level.values[0]["primary_level"], Value::Integer(3));
        assert_eq!(level.values[1]["psi"], Value::Integer(2));
        let method = f.axes.iter().find(|a| a.name == "method").unwrap();
        assert_eq!(method.values[1]["method"], Value::String("single".into()));
        assert_eq!(f.runs.len(), 1);
        assert_eq!(f.runs[0].keys["method"], Value::String("human".into()));
        assert_eq!(f.runs[0].axes[0].values.len(), 2);
    }

    #[test]
    fn bad_shapes_are_named() {
        let cases = [
            ("lr = 0.1", "unknown top-level key 'lr'"),
            ("[axes]\nseed = 3", "axis 'seed' must be a list"),
            ("[axes]\nseed = []", "axis 'seed' has no values"),
            ("settings = 3", "[settings] must be a table"),
            ("runs = 3", "runs must be a list of tables"),
            (
                "[[runs]]\naxes = { seed = 1 }",
                "runs[0] axis 'seed' must be a list",
            ),
            ("[axes\n", "TOML parse error"),
        ];
        for (text, want) in cases {
            let e = format!("{:#}", SweepFile::parse(text, "s").unwrap_err());
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
