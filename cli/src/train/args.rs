//! The flags of `maxl-cli train`: every setting of [`Settings`] (declared there, once) and the
//! flags of the run itself. Settings resolve as: the defaults, then a `--config` TOML file (the
//! same keys in snake_case), then the flags given; `--resume` starts from the run's own
//! `config.toml` instead of the defaults.

use super::settings::{read_table, Given, Settings};
use anyhow::Result;
use maxl::train::config::parse_count;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub settings: Given<Settings>,
    /// Run folder for config.toml, metrics.jsonl, checkpoint.safetensors, curves.png and
    /// summary.json [default: runs/<method>-<dataset>-<seed>, with -2, -3.. if taken]
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "resume",
        help_heading = "Run"
    )]
    pub out: Option<PathBuf>,
    /// Continue the run in DIR from its last checkpoint; ends with the numbers of a run that
    /// never stopped. Flags that change its settings are refused (--data-dir and --device
    /// may differ; a larger --epochs extends the run, even a complete one)
    #[arg(long, value_name = "DIR", help_heading = "Run")]
    pub resume: Option<PathBuf>,
    /// TOML file of settings, keys as the flags' names (e.g. batch_size = 50); flags given
    /// on the command line override it
    #[arg(long, value_name = "FILE", help_heading = "Run")]
    pub config: Option<PathBuf>,
    /// Stop (resumably) once N epochs are done, e.g. to split a long run into jobs
    #[arg(long, value_name = "N", help_heading = "Run", allow_negative_numbers = true,
          value_parser = parse_count)]
    pub stop_after: Option<usize>,
    /// No progress bars and no per-epoch lines (errors are still printed)
    #[arg(long, help_heading = "Run")]
    pub quiet: bool,
    /// Worker threads; 0 or none: all cores; at most 4 per core
    #[arg(long, value_name = "N", help_heading = "Run", allow_negative_numbers = true,
          value_parser = parse_count)]
    pub threads: Option<usize>,
}

impl Args {
    /// `base` (the defaults, or a resumed run's settings) with `--config` and then the flags
    /// given put over it (not yet validated).
    pub fn resolve(&self, base: &Settings) -> Result<Settings> {
        let s = match &self.config {
            Some(path) => base.overlay(&read_table(path)?, &path.display().to_string())?,
            None => base.clone(),
        };
        s.with_flags(&self.settings)
    }

    /// A new run's settings: over [`Settings::defaults_for`] the data set that `--config` and
    /// the flags name (the authors' settings for cifar100 where they do not give them).
    pub fn resolve_new(&self) -> Result<Settings> {
        let dataset = self.resolve(&Settings::default())?.dataset;
        self.resolve(&Settings::defaults_for(dataset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use maxl::train::{Method, ScheduleKind};

    #[derive(Parser)]
    struct Train {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> std::result::Result<Args, clap::Error> {
        Train::try_parse_from(std::iter::once("train").chain(argv.iter().copied())).map(|t| t.args)
    }

    fn resolve(argv: &[&str]) -> Settings {
        parse(argv).unwrap().resolve(&Settings::default()).unwrap()
    }

    fn config(name: &str, text: &str) -> String {
        let path =
            std::env::temp_dir().join(format!("maxl-args-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    #[test]
    fn a_key_through_toml_or_through_its_flag_resolves_the_same() {
        let cases: [(&[&str], &str); 7] = [
            (&["--lr", "0.05"], "lr = 0.05"),
            (&["--psi", "3,3,2"], "psi = [3, 3, 2]"),
            (&["--method", "maxl-fo"], "method = \"maxl-fo\""),
            (&["--dataset", "synthetic"], "dataset = \"synthetic\""),
            (&["--train-limit", "7"], "train_limit = 7"),
            (&["--exact-mask"], "exact_mask = true"),
            (&["--gen-weight-decay", "0"], "gen-weight-decay = 0.0"),
        ];
        for (i, (flags, toml)) in cases.iter().enumerate() {
            let by_flag = resolve(flags);
            let path = config(&format!("same{i}"), toml);
            let by_file = resolve(&["--config", &path]);
            let _ = std::fs::remove_file(&path);
            assert_eq!(by_flag, by_file, "{flags:?} vs {toml}");
            assert_ne!(by_flag, Settings::default(), "{flags:?} changes something");
        }
        let s = resolve(&["--lr", "0.05", "--epochs", "3", "--method", "maxl-fo"]);
        assert_eq!((s.train.lr, s.train.epochs), (0.05, 3));
        assert_eq!(s.train.method, Method::MaxlFo);
        assert_eq!(
            s.train.batch_size, 100,
            "untouched settings keep the defaults"
        );
    }

    #[test]
    fn flags_beat_the_file_and_defaults_do_not() {
        let path = config("order", "lr = 0.3\nepochs = 4\n");
        let s = resolve(&["--config", &path, "--epochs", "5"]);
        assert_eq!((s.train.lr, s.train.epochs), (0.3, 5));
        // A flag given with the default's value still overrides the file.
        let s = resolve(&["--config", &path, "--lr", "0.1"]);
        assert_eq!(s.train.lr, 0.1);
        let _ = std::fs::remove_file(&path);

        // A resumed run's settings are the base: flags not given keep its values.
        let mut run = Settings::default();
        run.train.lr = 0.7;
        run.train.seed = 9;
        let a = parse(&["--seed", "9"]).unwrap();
        assert_eq!(a.resolve(&run).unwrap(), run);
        let a = parse(&["--seed", "2"]).unwrap();
        assert_eq!(a.resolve(&run).unwrap().train.lr, 0.7);
    }

    #[test]
    fn an_invalid_value_is_reported_once() {
        // Values a flag cannot parse are clap's one error.
        let e = parse(&["--method", "magic"]).unwrap_err().to_string();
        assert_eq!(e.matches("unknown method 'magic'").count(), 1, "{e}");
        // Values that parse but are out of range: resolution keeps them, validation names
        // them once.
        let s = resolve(&["--lr", "-1", "--momentum", "nan"]);
        let e = format!("{:#}", s.validate().unwrap_err());
        assert_eq!(e, "--lr must be a finite number >= 0, not -1");
        let s = resolve(&["--epochs", "0"]);
        let e = format!("{:#}", s.validate().unwrap_err());
        assert_eq!(e, "epochs and batch size must be at least 1");
    }
    #[test]
    fn cifar100_takes_the_authors_settings_unless_given() {
        let new = |argv: &[&str]| parse(argv).unwrap().resolve_new().unwrap();
        let t = new(&["--dataset", "cifar100"]).train;
        assert_eq!((t.lr, t.momentum, t.weight_decay), (0.01, 0.0, 0.0));
        assert_eq!((t.schedule, t.epochs), (ScheduleKind::Step, 200));
        assert_eq!((t.gen_lr, t.gen_weight_decay), (1e-3, 5e-4));
        // Given values win, by flag or by file, even where they equal the general defaults.
        let t = new(&["--dataset", "cifar100", "--lr", "0.1", "--epochs", "3"]).train;
        assert_eq!((t.lr, t.epochs, t.momentum), (0.1, 3, 0.0));
        let path = config(
            "c100",
            "dataset = \"cifar100\"\nmomentum = 0.9\nschedule = \"cosine\"\n",
        );
        let t = new(&["--config", &path]).train;
        assert_eq!(
            (t.momentum, t.schedule, t.lr),
            (0.9, ScheduleKind::Cosine, 0.01)
        );
        let _ = std::fs::remove_file(&path);
        // Other data sets keep the flags' defaults; the resolved values are what config.toml
        // holds.
        assert_eq!(new(&["--dataset", "mnist"]).train.lr, 0.1);
        let text = new(&["--dataset", "cifar100"]).to_toml().unwrap();
        for line in [
            "lr = 0.01",
            "momentum = 0.0",
            "weight_decay = 0.0",
            "epochs = 200",
            "schedule = \"step\"",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        // A resumed run's settings stay as they were saved.
        let saved = new(&["--dataset", "cifar100", "--lr", "0.1"]);
        assert_eq!(parse(&[]).unwrap().resolve(&saved).unwrap(), saved);
    }
}
