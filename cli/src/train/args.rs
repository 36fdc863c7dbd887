//! The flags of `maxl-cli train`. Settings resolve as: MODELS.md's defaults, then a `--config`
//! TOML file (the same keys in snake_case), then the flags given; `--resume` starts from the
//! run's own `config.toml` instead of the defaults.

use super::settings::{parse_psi, DatasetKind, Settings};
use anyhow::Result;
use maxl::models::Backbone;
use maxl::train::{Method, ScheduleKind};
use std::path::PathBuf;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Data set: fashion-mnist, mnist, cifar10, cifar100, image-folder (DIR/train/<class>/*,
    /// DIR/test/<class>/*) or synthetic (generated, learnable toy images) [default:
    /// fashion-mnist]
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,
    /// Folder of the data set's files [default for fashion-mnist:
    /// /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist; required for mnist,
    /// cifar10, cifar100, image-folder]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Train on a fixed random subset of N training images (chosen by --seed); for synthetic
    /// data, the number of images generated [default: all; synthetic: 1000]
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Backbone of both networks: convnet4, vgg16 or resnet32 [default: convnet4]
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// How auxiliary labels are made: maxl (second-order meta step), maxl-fo (first-order
    /// variant), single (no auxiliary task), random (fixed random labels), human (CIFAR-100's
    /// finer level, see --aux-level) or kmeans (k-means inside each primary class on an
    /// autoencoder's latent code, re-clustered every epoch) [default: maxl]
    #[arg(long, value_name = "NAME")]
    pub method: Option<String>,
    /// Auxiliary classes per primary class: k for all, or a comma list with one entry per
    /// primary class, e.g. 3,3,2 [default: 3]
    #[arg(long, value_name = "K|LIST")]
    pub psi: Option<String>,
    /// CIFAR-100 only: the primary task's level, 3, 10, 20 or 100 classes [default: 100]
    #[arg(long, value_name = "N")]
    pub primary_level: Option<usize>,
    /// --method human only: the finer CIFAR-100 level that gives the auxiliary labels
    #[arg(long, value_name = "N")]
    pub aux_level: Option<usize>,
    /// Epochs (each: a multi-task pass, a meta pass for MAXL, a test) [default: 20]
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Images per batch, training and test [default: 100]
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Learning rate of the multi-task network; also the meta step's inner step [default: 0.1]
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,
    /// Learning rate of the label generator [default: 0.001]
    #[arg(long, value_name = "LR")]
    pub gen_lr: Option<f64>,
    /// Weight of the entropy term in the meta loss [default: 0.2]
    #[arg(long, value_name = "W")]
    pub entropy_weight: Option<f64>,
    /// SGD momentum of the multi-task network [default: 0.9]
    #[arg(long, value_name = "M")]
    pub momentum: Option<f64>,
    /// SGD weight decay of the multi-task network [default: 0.0005]
    #[arg(long, value_name = "WD")]
    pub weight_decay: Option<f64>,
    /// Learning-rate schedule of both networks: cosine (annealed to 0 over the run), step
    /// (halved every 50 epochs) or constant [default: cosine]
    #[arg(long, value_name = "NAME")]
    pub schedule: Option<String>,
    /// Device: cpu, cuda or cuda:N (a GPU through the CUDA driver; MAXL_CUDA_EMULATOR=1 runs the same kernels on the CPU, slowly, for testing) [default: cpu]
    #[arg(long, value_name = "DEV")]
    pub device: Option<String>,
    /// Seed of the initial weights, the shuffles and --train-limit's subset [default: 0]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Run folder for config.toml, metrics.jsonl, checkpoint.safetensors, curves.png and
    /// summary.json [default: runs/<method>-<dataset>-<seed>, with -2, -3.. if taken]
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the run in DIR from its last checkpoint; ends with the numbers of a run that
    /// never stopped. Flags that change its settings are refused (--data-dir and --device
    /// may differ)
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// TOML file of settings, keys as the flags' names (e.g. batch_size = 50); flags given
    /// on the command line override it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Stop (resumably) once N epochs are done, e.g. to split a long run into jobs
    #[arg(long, value_name = "N")]
    pub stop_after: Option<usize>,
    /// No progress bars and no per-epoch lines (errors are still printed)
    #[arg(long)]
    pub quiet: bool,
    /// Worker threads [default: all cores]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

impl Args {
    /// `base` (the defaults, or a resumed run's settings) with `--config` and the flags put
    /// over it.
    pub fn resolve(&self, base: &Settings) -> Result<Settings> {
        let mut s = match &self.config {
            Some(path) => base.overlay(
                &super::settings::read_table(path)?,
                &path.display().to_string(),
            )?,
            None => base.clone(),
        };
        if let Some(v) = &self.dataset {
            s.dataset = DatasetKind::parse(v)?;
        }
        if let Some(v) = &self.data_dir {
            s.data_dir = Some(v.clone());
        }
        if let Some(v) = self.train_limit {
            s.train_limit = Some(v);
        }
        if let Some(v) = &self.model {
            s.train.model = Backbone::parse(v)?.name().to_string();
        }
        if let Some(v) = &self.method {
            s.train.method = Method::parse(v)?;
        }
        if let Some(v) = &self.psi {
            s.train.psi = parse_psi(v)?;
        }
        if let Some(v) = self.primary_level {
            s.primary_level = Some(v);
        }
        if let Some(v) = self.aux_level {
            s.train.aux_level = Some(v);
        }
        if let Some(v) = &self.schedule {
            s.train.schedule = ScheduleKind::parse(v)?;
        }
        if let Some(v) = &self.device {
            s.device = v.clone();
        }
        let t = &mut s.train;
        for (slot, flag) in [
            (&mut t.epochs, self.epochs),
            (&mut t.batch_size, self.batch_size),
        ] {
            if let Some(v) = flag {
                *slot = v;
            }
        }
        for (slot, flag) in [
            (&mut t.lr, self.lr),
            (&mut t.gen_lr, self.gen_lr),
            (&mut t.entropy_weight, self.entropy_weight),
            (&mut t.momentum, self.momentum),
            (&mut t.weight_decay, self.weight_decay),
        ] {
            if let Some(v) = flag {
                *slot = v;
            }
        }
        if let Some(v) = self.seed {
            t.seed = v;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_base() {
        let a = Args {
            dataset: Some("synthetic".into()),
            psi: Some("2".into()),
            lr: Some(0.05),
            epochs: Some(3),
            method: Some("maxl-fo".into()),
            ..Args::default()
        };
        let s = a.resolve(&Settings::default()).unwrap();
        assert_eq!(s.dataset, DatasetKind::Synthetic);
        assert_eq!(
            (s.train.psi.clone(), s.train.lr, s.train.epochs),
            (vec![2], 0.05, 3)
        );
        assert_eq!(s.train.method, Method::MaxlFo);
        assert_eq!(
            s.train.batch_size, 100,
            "untouched settings keep the base's"
        );
        let bad = Args {
            model: Some("vgg19".into()),
            ..Args::default()
        };
        let e = bad.resolve(&Settings::default()).unwrap_err().to_string();
        assert!(e.contains("unknown model 'vgg19'"), "{e}");
    }
}
