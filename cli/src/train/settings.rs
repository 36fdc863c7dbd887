//! The settings of a training run, declared once: [`Settings`] is the data (kind, folder, size,
//! CIFAR-100 level), the device and the trainer's [`TrainConfig`] flattened in. Each field is a
//! flag of `maxl-cli train` (clap: its doc comment is the help, its `arg` attribute the
//! default) and a key of the TOML files (serde: the field's name), so `--config` files and the
//! run folder's `config.toml` use the flags' names in snake_case and a run's file reruns it.
//! [`Settings::validate`] checks them once, after resolution (see `super::args`).

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgMatches, FromArgMatches};
use maxl::train::config::parse_count;
use maxl::train::{ScheduleKind, TrainConfig, Validated};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The data sets `--dataset` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
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

impl TryFrom<String> for DatasetKind {
    type Error = anyhow::Error;
    fn try_from(s: String) -> Result<DatasetKind> {
        DatasetKind::parse(&s)
    }
}

impl From<DatasetKind> for String {
    fn from(d: DatasetKind) -> String {
        d.name().to_string()
    }
}

/// Every setting that shapes a run's numbers, plus where its data live and run.
#[derive(clap::Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[command(next_help_heading = "Data and device")]
pub struct Settings {
    /// Data set: fashion-mnist, mnist, cifar10, cifar100, image-folder (DIR/train/<class>/*,
    /// DIR/test/<class>/*) or synthetic (generated, learnable toy images)
    #[arg(long, value_name = "NAME", default_value = "fashion-mnist", value_parser = DatasetKind::parse)]
    pub dataset: DatasetKind,
    /// Folder of the data set's files [default for fashion-mnist:
    /// /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist; required for mnist,
    /// cifar10, cifar100, image-folder]
    #[arg(long, value_name = "DIR")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Train on a fixed random subset of N training images (chosen by --seed); for synthetic
    /// data, the number of images generated [default: all; synthetic: 1000]
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// CIFAR-100 only: the primary task's level, 3, 10, 20 or 100 classes [default: 100]
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_level: Option<usize>,
    /// Device: cpu, cuda or cuda:N (a GPU through the CUDA driver; MAXL_CUDA_EMULATOR=1 runs
    /// the same kernels on the CPU, slowly, for testing)
    #[arg(long, value_name = "DEV", default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub train: TrainConfig,
}

impl Default for Settings {
    /// The flags' defaults (an empty command line).
    fn default() -> Self {
        let cmd = <Settings as clap::Args>::augment_args(clap::Command::new("defaults"));
        cmd.try_get_matches_from(["defaults"])
            .and_then(|m| Settings::from_arg_matches(&m))
            .expect("the settings' defaults parse")
    }
}

/// Keys that may differ when a run is resumed or evaluated: they move the data or the
/// computation, not the numbers.
pub const PLACE_KEYS: [&str; 2] = ["data_dir", "device"];

/// Every key of a settings table: the ids of the flags, which are the fields' names.
pub fn known_keys() -> Vec<String> {
    <Settings as clap::Args>::augment_args(clap::Command::new("keys"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect()
}

/// Parsed flags of type `T` and the keys the command line gave (rather than defaults), so that
/// only those override a `--config` file or a resumed run's settings.
#[derive(Debug, Clone)]
pub struct Given<T> {
    pub value: T,
    pub explicit: BTreeSet<String>,
}

impl<T: FromArgMatches> FromArgMatches for Given<T> {
    fn from_arg_matches(m: &ArgMatches) -> std::result::Result<Self, clap::Error> {
        let explicit = known_keys()
            .into_iter()
            .filter(|k| m.value_source(k) == Some(clap::parser::ValueSource::CommandLine))
            .collect();
        Ok(Given {
            value: T::from_arg_matches(m)?,
            explicit,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> std::result::Result<(), clap::Error> {
        *self = Given::from_arg_matches(m)?;
        Ok(())
    }
}

impl<T: clap::Args> clap::Args for Given<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        T::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        T::augment_args_for_update(cmd)
    }
}

impl Settings {
    /// The defaults of a new run on `dataset`: the flags' defaults, but for cifar100 the
    /// authors' CIFAR-100 settings (MODELS.md, their code): SGD lr 0.01 without momentum or
    /// weight decay, halved every 50 epochs, 200 epochs. A `--config` file and the flags go
    /// over these (see `Args::resolve_new`).
    pub fn defaults_for(dataset: DatasetKind) -> Settings {
        let mut s = Settings {
            dataset,
            ..Settings::default()
        };
        if dataset == DatasetKind::Cifar100 {
            let t = &mut s.train;
            (t.lr, t.momentum, t.weight_decay) = (0.01, 0.0, 0.0);
            (t.schedule, t.epochs) = (ScheduleKind::Step, 200);
        }
        s
    }

    /// The settings as one flat table (keys in snake_case, as the `--config` file's).
    pub fn to_table(&self) -> Result<Table> {
        Table::try_from(self).context("settings to TOML")
    }

    /// Settings from a full table (as `to_table` writes).
    pub fn from_table(t: Table) -> Result<Settings> {
        Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| anyhow!("{}", one_line(&e.to_string())))
    }

    /// These settings with the keys of `file` put over them; `source` names the file in errors.
    /// Keys may be written with `-` or `_`; `psi` may be a number, a list or a "3,3,2" string.
    pub fn overlay(&self, file: &Table, source: &str) -> Result<Settings> {
        let mut t = self.to_table()?;
        let known = known_keys();
        for (key, value) in file {
            let k = key.replace('-', "_");
            if !known.contains(&k) {
                bail!(
                    "{source}: unknown key '{key}'; known keys: {}",
                    known.join(", ")
                );
            }
            t.insert(k, value.clone());
        }
        Settings::from_table(t).with_context(|| source.to_string())
    }

    /// These settings with the values of the flags that `given` names put over them.
    pub fn with_flags(&self, given: &Given<Settings>) -> Result<Settings> {
        let mut t = self.to_table()?;
        let flags = given.value.to_table()?;
        for key in &given.explicit {
            match flags.get(key) {
                Some(v) => t.insert(key.clone(), v.clone()),
                None => t.remove(key),
            };
        }
        Settings::from_table(t)
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

    /// Checks every setting once: the trainer's (see `TrainConfig::validate`) and the data's;
    /// the trainer is built from what this returns.
    pub fn validate(&self) -> Result<Validated> {
        if self.primary_level.is_some() && self.dataset != DatasetKind::Cifar100 {
            bail!("--primary-level applies to cifar100 only (levels 3, 10, 20, 100)");
        }
        if self.train_limit == Some(0) {
            bail!("--train-limit must be at least 1");
        }
        if self.dataset == DatasetKind::Synthetic && self.data_dir.is_some() {
            bail!("synthetic data are generated: drop --data-dir");
        }
        Ok(self.train.clone().validate()?)
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
    use maxl::train::{Lookahead, Method};

    fn table(s: &str) -> Table {
        s.parse().unwrap()
    }

    #[test]
    fn the_defaults_are_models_md() {
        let d = Settings::default();
        assert_eq!(d.dataset, DatasetKind::FashionMnist);
        assert_eq!(
            (d.data_dir, d.train_limit, d.primary_level),
            (None, None, None)
        );
        assert_eq!(d.device, "cpu");
        let t = d.train;
        assert_eq!((t.method, t.model.as_str()), (Method::Maxl, "convnet4"));
        assert_eq!((t.psi, t.aux_level), (vec![3], None));
        assert_eq!((t.epochs, t.batch_size, t.seed), (20, 100, 0));
        assert_eq!((t.lr, t.momentum, t.weight_decay), (0.1, 0.9, 5e-4));
        assert_eq!((t.gen_lr, t.gen_weight_decay), (1e-3, 5e-4));
        assert_eq!(t.schedule, ScheduleKind::Cosine);
        assert_eq!((t.focal_gamma, t.entropy_weight), (2.0, 0.2));
        assert_eq!((t.exact_mask, t.cosine_every), (false, 10));
        assert_eq!(t.init, maxl::nn::init::InitScheme::Auto);
    }

    #[test]
    fn every_toml_key_is_a_documented_flag() {
        let probe = Settings {
            data_dir: Some("x".into()),
            train_limit: Some(1),
            primary_level: Some(1),
            train: TrainConfig {
                aux_level: Some(1),
                lookahead: Lookahead::Sgd,
                ..TrainConfig::default()
            },
            ..Settings::default()
        };
        let keys: Vec<String> = probe.to_table().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 24, "{keys:?}");
        let cmd = <Settings as clap::Args>::augment_args(clap::Command::new("train"));
        for key in &keys {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id() == key.as_str())
                .unwrap_or_else(|| panic!("no flag for key {key}"));
            assert_eq!(arg.get_long(), Some(key.replace('_', "-").as_str()));
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.len() > 20, "--{key}: help '{help}'");
        }
        let mut known = known_keys();
        known.sort();
        assert_eq!(known, keys, "flags and keys are the same set");
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
                exact_mask: true,
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
    fn a_first_edition_run_config_is_read_as_it_was_written() {
        // config.toml of a run of the first edition (maxl-cli at 47bb17d), as written.
        let text = "# maxl-cli train settings (pass this file to --config to run them again)
batch_size = 100
cosine_every = 10
dataset = \"synthetic\"
device = \"cpu\"
entropy_weight = 0.2
epochs = 2
exact_mask = false
focal_gamma = 2.0
gen_lr = 0.001
gen_weight_decay = 0.0005
lr = 0.1
method = \"maxl\"
model = \"convnet4\"
momentum = 0.9
psi = [3]
schedule = \"cosine\"
seed = 0
train_limit = 200
weight_decay = 0.0005
";
        let s = Settings::default()
            .overlay(&table(text), "config.toml")
            .unwrap();
        let want = Settings {
            dataset: DatasetKind::Synthetic,
            train_limit: Some(200),
            train: TrainConfig {
                epochs: 2,
                ..TrainConfig::default()
            },
            ..Settings::default()
        };
        assert_eq!(s, want);
        // Written back as it was, plus the key it lacked: a run before --init existed reads
        // as init = "auto" (its checkpoint holds its weights; see --init's help).
        assert_eq!(
            s.to_toml().unwrap(),
            text.replace(
                "gen_weight_decay = 0.0005\n",
                "gen_weight_decay = 0.0005\ninit = \"auto\"\n"
            ),
        );
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
        let e = d.overlay(&table("psi = \"3,x\""), "f.toml").unwrap_err();
        assert!(format!("{e:#}").contains("bad psi '3,x'"), "{e:#}");
    }

    #[test]
    fn validation_names_the_one_bad_value() {
        let d = Settings::default();
        let mut s = d.clone();
        s.train.lr = -1.0;
        let e = s.validate().unwrap_err().to_string();
        assert_eq!(e, "--lr must be a finite number >= 0, not -1");
        let mut s = d.clone();
        s.train.psi = vec![3, 0];
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("psi [3, 0]"), "{e}");
        let mut s = d.clone();
        s.primary_level = Some(20);
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("cifar100 only"));
        let mut s = d;
        s.train.model = "vgg19".into();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("unknown model 'vgg19'"));
    }
}
