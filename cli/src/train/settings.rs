//! The resolved settings of a training run: which data (kind, folder, size, CIFAR-100 level),
//! the device and the trainer's `TrainConfig`, as one flat TOML table. The run folder's
//! `config.toml` uses the same keys as `--config` files, so a run's file reruns it.

use anyhow::{anyhow, bail, Context, Result};
use maxl::models::Backbone;
use maxl::train::{Method, ScheduleKind, TrainConfig};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The data sets `--dataset` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    FashionMnist,
    Mnist,
    Cifar10,
    Cifar100,
    ImageFolder,
    Synthetic,
}

const DATASETS: &str = "fashion-mnist, mnist, cifar10, cifar100, image-folder or synthetic";

impl DatasetKind {
    pub fn parse(s: &str) -> Result<DatasetKind> {
        Ok(match s {
            "fashion-mnist" => DatasetKind::FashionMnist,
            "mnist" => DatasetKind::Mnist,
            "cifar10" => DatasetKind::Cifar10,
            "cifar100" => DatasetKind::Cifar100,
            "image-folder" => DatasetKind::ImageFolder,
            "synthetic" => DatasetKind::Synthetic,
            _ => bail!("unknown dataset '{s}': expected {DATASETS}"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::ImageFolder => "image-folder",
            DatasetKind::Synthetic => "synthetic",
        }
    }
}

/// Every setting that shapes a run's numbers, plus where its data live.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub dataset: DatasetKind,
    /// None: the data set's default folder (Fashion-MNIST: Debian's package).
    pub data_dir: Option<PathBuf>,
    /// Training samples kept (synthetic: generated).
    pub train_limit: Option<usize>,
    /// CIFAR-100's primary level: 3, 10, 20 or 100.
    pub primary_level: Option<usize>,
    pub device: String,
    pub train: TrainConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dataset: DatasetKind::FashionMnist,
            data_dir: None,
            train_limit: None,
            primary_level: None,
            device: "cpu".into(),
            train: TrainConfig::default(),
        }
    }
}

/// Keys that may differ when a run is resumed or evaluated: they move the data or the
/// computation, not the numbers.
pub const PLACE_KEYS: [&str; 2] = ["data_dir", "device"];

/// Parses `k` or a comma list `k1,k2,..` of auxiliary classes per primary class.
pub fn parse_psi(s: &str) -> Result<Vec<usize>> {
    let psi: Option<Vec<usize>> = s.split(',').map(|p| p.trim().parse().ok()).collect();
    match psi {
        Some(v) if !v.is_empty() && !v.contains(&0) => Ok(v),
        _ => bail!("bad psi '{s}': expected a number of auxiliary classes per primary class (k >= 1) or a comma list like 3,3,2"),
    }
}

fn int(v: &Value, key: &str) -> Result<usize> {
    v.as_integer()
        .and_then(|i| usize::try_from(i).ok())
        .ok_or_else(|| anyhow!("{key} must be a non-negative integer, not {v}"))
}

fn string<'v>(v: &'v Value, key: &str) -> Result<&'v str> {
    v.as_str()
        .ok_or_else(|| anyhow!("{key} must be a string, not {v}"))
}

impl Settings {
    /// The settings as one flat table (keys in snake_case, as the `--config` file's).
    pub fn to_table(&self) -> Result<Table> {
        let mut t = Table::try_from(&self.train).context("settings to TOML")?;
        t.insert("dataset".into(), self.dataset.name().into());
        if let Some(d) = &self.data_dir {
            let s = d
                .to_str()
                .ok_or_else(|| anyhow!("data folder {} is not valid UTF-8", d.display()))?;
            t.insert("data_dir".into(), s.into());
        }
        if let Some(n) = self.train_limit {
            t.insert("train_limit".into(), Value::Integer(n as i64));
        }
        if let Some(n) = self.primary_level {
            t.insert("primary_level".into(), Value::Integer(n as i64));
        }
        t.insert("device".into(), self.device.clone().into());
        Ok(t)
    }

    /// Every key a settings table may hold.
    fn known_keys() -> Result<Vec<String>> {
        let probe = Settings {
            data_dir: Some("x".into()),
            train_limit: Some(1),
            primary_level: Some(1),
            train: TrainConfig {
                aux_level: Some(1),
                ..TrainConfig::default()
            },
            ..Settings::default()
        };
        Ok(probe.to_table()?.keys().cloned().collect())
    }

    /// These settings with the keys of `file` put over them; `source` names the file in errors.
    /// Keys may be written with `-` or `_`; `psi` may be a number, a list or a "3,3,2" string.
    pub fn overlay(&self, file: &Table, source: &str) -> Result<Settings> {
        let known = Settings::known_keys()?;
        let mut t = self.to_table()?;
        for (key, value) in file {
            let k = key.replace('-', "_");
            if !known.contains(&k) {
                bail!(
                    "{source}: unknown key '{key}'; known keys: {}",
                    known.join(", ")
                );
            }
            let value = match (k.as_str(), value) {
                ("psi", Value::Integer(_)) => Value::Array(vec![value.clone()]),
                ("psi", Value::String(s)) => {
                    let psi = parse_psi(s).with_context(|| source.to_string())?;
                    Value::Array(psi.into_iter().map(|p| Value::Integer(p as i64)).collect())
                }
                _ => value.clone(),
            };
            t.insert(k, value);
        }
        Settings::from_table(t).with_context(|| source.to_string())
    }

    /// Settings from a full table (as `to_table` writes).
    pub fn from_table(mut t: Table) -> Result<Settings> {
        // Names checked here for the same messages as the flags give.
        if let Some(v) = t.get("method") {
            Method::parse(string(v, "method")?)?;
        }
        if let Some(v) = t.get("schedule") {
            ScheduleKind::parse(string(v, "schedule")?)?;
        }
        if let Some(v) = t.get("model") {
            Backbone::parse(string(v, "model")?)?;
        }
        let dataset = match t.remove("dataset") {
            Some(v) => DatasetKind::parse(string(&v, "dataset")?)?,
            None => bail!("no dataset given"),
        };
        let data_dir = match t.remove("data_dir") {
            Some(v) => Some(PathBuf::from(string(&v, "data_dir")?)),
            None => None,
        };
        let train_limit = t
            .remove("train_limit")
            .map(|v| int(&v, "train_limit"))
            .transpose()?;
        let primary_level = t
            .remove("primary_level")
            .map(|v| int(&v, "primary_level"))
            .transpose()?;
        let device = match t.remove("device") {
            Some(v) => string(&v, "device")?.to_string(),
            None => "cpu".into(),
        };
        let train: TrainConfig = Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| anyhow!("{}", one_line(&e.to_string())))?;
        Ok(Settings {
            dataset,
            data_dir,
            train_limit,
            primary_level,
            device,
            train,
        })
    }

    /// Reads a settings file, over the defaults.
    pub fn read(path: &Path) -> Result<Settings> {
        Settings::default().overlay(&read_table(path)?, &path.display().to_string())
    }

    /// The file text of `config.toml`.
    pub fn to_toml(&self) -> Result<String> {
        let body = toml::to_string(&self.to_table()?).context("settings to TOML")?;
        Ok(format!(
            "# maxl-cli train settings (pass this file to --config to run them again)\n{body}"
        ))
    }

    /// Checks the combinations that the trainer would only find later, or not at all.
    pub fn validate(&self) -> Result<()> {
        let t = &self.train;
        Backbone::parse(&t.model)?;
        if t.epochs == 0 || t.batch_size == 0 {
            bail!("epochs and batch size must be at least 1");
        }
        for (name, v) in [
            ("lr", t.lr),
            ("gen-lr", t.gen_lr),
            ("momentum", t.momentum),
            ("weight-decay", t.weight_decay),
            ("entropy-weight", t.entropy_weight),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("--{name} must be a finite number >= 0, not {v}");
            }
        }
        if t.psi.is_empty() || t.psi.contains(&0) {
            bail!(
                "psi {:?}: every primary class needs at least one auxiliary class",
                t.psi
            );
        }
        if self.primary_level.is_some() && self.dataset != DatasetKind::Cifar100 {
            bail!("--primary-level applies to cifar100 only (levels 3, 10, 20, 100)");
        }
        if t.aux_level.is_some() && t.method != Method::Human {
            bail!("--aux-level applies to --method human only");
        }
        if self.train_limit == Some(0) {
            bail!("--train-limit must be at least 1");
        }
        if self.dataset == DatasetKind::Synthetic && self.data_dir.is_some() {
            bail!("synthetic data are generated: drop --data-dir");
        }
        Ok(())
    }

    /// One line per key where `other` differs from these settings, leaving out
    /// [`PLACE_KEYS`]: "key: a -> b".
    pub fn differences(&self, other: &Settings) -> Result<Vec<String>> {
        let (a, b) = (self.to_table()?, other.to_table()?);
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        let show = |v: Option<&Value>| v.map_or("(none)".to_string(), |v| v.to_string());
        Ok(keys
            .into_iter()
            .filter(|k| !PLACE_KEYS.contains(&k.as_str()) && a.get(*k) != b.get(*k))
            .map(|k| format!("{k}: {} -> {}", show(a.get(k)), show(b.get(k))))
            .collect())
    }
}

/// A TOML file as a table.
pub fn read_table(path: &Path) -> Result<Table> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    text.parse::<Table>()
        .map_err(|e| anyhow!("{}: {}", path.display(), one_line(&e.to_string())))
}

/// A multi-line message (TOML errors draw the line they point at) as one line.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| "|^ ".contains(c)))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> Table {
        s.parse().unwrap()
    }

    #[test]
    fn toml_round_trip_and_overlay() {
        let s = Settings {
            dataset: DatasetKind::Cifar100,
            data_dir: Some("/data/c100".into()),
            primary_level: Some(20),
            train: TrainConfig {
                method: Method::Human,
                aux_level: Some(100),
                psi: vec![3, 2],
                lr: 0.01,
                ..TrainConfig::default()
            },
            ..Settings::default()
        };
        let text = s.to_toml().unwrap();
        let back = Settings::default()
            .overlay(&table(&text), "config.toml")
            .unwrap();
        assert_eq!(back, s);

        let o = Settings::default()
            .overlay(
                &table("batch-size = 50\npsi = \"3,3,2\"\nepochs = 4\nmethod = \"single\""),
                "f",
            )
            .unwrap();
        assert_eq!(o.train.batch_size, 50);
        assert_eq!(o.train.psi, vec![3, 3, 2]);
        assert_eq!(o.train.method, Method::Single);
        assert_eq!(Settings::default().differences(&o).unwrap().len(), 4);
        let p = Settings::default().overlay(&table("psi = 5"), "f").unwrap();
        assert_eq!(p.train.psi, vec![5]);
    }

    #[test]
    fn bad_files_name_the_key_or_value() {
        let d = Settings::default();
        let e = d.overlay(&table("lr_typo = 1.0"), "f.toml").unwrap_err();
        assert!(format!("{e:#}").contains("unknown key 'lr_typo'"), "{e:#}");
        let e = d
            .overlay(&table("method = \"magic\""), "f.toml")
            .unwrap_err();
        assert!(format!("{e:#}").contains("unknown method 'magic'"), "{e:#}");
        let k = d.overlay(&table("method = \"kmeans\""), "f.toml").unwrap();
        assert_eq!(k.train.method, Method::KMeans);
        let e = d.overlay(&table("epochs = \"ten\""), "f.toml").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.starts_with("f.toml: ") && !msg.contains('\n'), "{msg}");
        assert!(parse_psi("3,x").is_err() && parse_psi("0").is_err());
    }
}
