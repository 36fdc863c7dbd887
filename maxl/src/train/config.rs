//! Training settings: the method, the network, psi and the hyper-parameters of MODELS.md, with
//! defaults for the paper's non-CIFAR-100 runs (SGD 0.1, momentum 0.9, weight decay 5e-4,
//! cosine annealing; generator SGD 1e-3 with weight decay 5e-4).
//!
//! Each setting is declared once, as a field of [`TrainConfig`]: its doc comment is the
//! `--help` text, its `arg` attribute the flag and the default (the only place a default is
//! written: [`TrainConfig::default`] parses an empty command line), serde gives the TOML key
//! (the field's name), and [`TrainConfig::validate`] checks the values once, returning the
//! [`Validated`] settings that the trainer is built from.

use crate::models::Backbone;
use crate::nn::init::InitScheme;
use crate::nn::Schedule;
use crate::{Error, Result};
use clap::{Args, FromArgMatches};
use serde::{Deserialize, Deserializer, Serialize};

/// How the auxiliary labels are made (or whether there are any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Method {
    /// MAXL with the second-order meta step.
    Maxl,
    /// MAXL with the first-order (finite-difference) meta step.
    MaxlFo,
    /// The primary task alone.
    Single,
    /// Auxiliary labels drawn at random inside each primary class's block, fixed for the run.
    Random,
    /// CIFAR-100's finer level as auxiliary labels.
    Human,
    /// Auxiliary labels by k-means (psi[i] clusters inside each primary class i) on the latent
    /// code of an autoencoder trained alongside; re-clustered once per epoch (see
    /// [`crate::train::kmeans`]).
    KMeans,
}

impl Method {
    pub fn parse(s: &str) -> Result<Method> {
        Ok(match s {
            "maxl" => Method::Maxl,
            "maxl-fo" => Method::MaxlFo,
            "single" => Method::Single,
            "random" => Method::Random,
            "human" => Method::Human,
            "kmeans" => Method::KMeans,
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown method '{s}': expected maxl, maxl-fo, single, random, human or kmeans"
                )))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Maxl => "maxl",
            Method::MaxlFo => "maxl-fo",
            Method::Single => "single",
            Method::Random => "random",
            Method::Human => "human",
            Method::KMeans => "kmeans",
        }
    }
}

impl TryFrom<String> for Method {
    type Error = Error;
    fn try_from(s: String) -> Result<Method> {
        Method::parse(&s)
    }
}

impl From<Method> for String {
    fn from(m: Method) -> String {
        m.name().to_string()
    }
}

/// The learning-rate schedule's shape, applied to both networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ScheduleKind {
    /// Cosine annealing to 0 over the run.
    Cosine,
    /// Halve every 50 epochs (the authors' CIFAR-100 setting).
    Step,
    Constant,
}

impl ScheduleKind {
    pub fn parse(s: &str) -> Result<ScheduleKind> {
        match s {
            "cosine" => Ok(ScheduleKind::Cosine),
            "step" => Ok(ScheduleKind::Step),
            "constant" => Ok(ScheduleKind::Constant),
            _ => Err(Error::Invalid(format!(
                "unknown schedule '{s}': expected cosine, step or constant"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Step => "step",
            ScheduleKind::Constant => "constant",
        }
    }

    pub fn schedule(self, epochs: usize) -> Schedule {
        match self {
            ScheduleKind::Cosine => Schedule::Cosine {
                epochs,
                min_lr: 0.0,
            },
            ScheduleKind::Step => Schedule::Step {
                step: 50,
                gamma: 0.5,
            },
            ScheduleKind::Constant => Schedule::Constant,
        }
    }
}

impl TryFrom<String> for ScheduleKind {
    type Error = Error;
    fn try_from(s: String) -> Result<ScheduleKind> {
        ScheduleKind::parse(&s)
    }
}

impl From<ScheduleKind> for String {
    fn from(k: ScheduleKind) -> String {
        k.name().to_string()
    }
}

/// The most auxiliary classes a run may have (sum of psi): each one adds a row of
/// `head_hidden` weights (256 or 512) to the auxiliary head of the multi-task network and to
/// the label generator's head, and as many momentum values; 10 000 classes are already 20-40 MB
/// per head, far beyond the paper's largest (CIFAR-100, 100 x 5).
pub const MAX_AUX_CLASSES: usize = 10_000;

/// How the meta pass takes the virtual step of theta1 (see [`crate::train::lookahead`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Lookahead {
    /// theta1 - alpha g (the paper; the authors' published second-order code).
    Plain,
    /// The step theta1's SGD would take, with its momentum buffer and weight decay (the
    /// authors' later code).
    Sgd,
}

impl Lookahead {
    pub fn parse(s: &str) -> Result<Lookahead> {
        match s {
            "plain" => Ok(Lookahead::Plain),
            "sgd" => Ok(Lookahead::Sgd),
            _ => Err(Error::Invalid(format!(
                "unknown lookahead '{s}': expected plain or sgd"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Lookahead::Plain => "plain",
            Lookahead::Sgd => "sgd",
        }
    }

    fn is_plain(&self) -> bool {
        *self == Lookahead::Plain
    }
}

impl TryFrom<String> for Lookahead {
    type Error = Error;
    fn try_from(s: String) -> Result<Lookahead> {
        Lookahead::parse(&s)
    }
}

impl From<Lookahead> for String {
    fn from(k: Lookahead) -> String {
        k.name().to_string()
    }
}

/// Parses psi as `k` or a comma list `k1,k2,..` (whether every entry is at least 1 is
/// [`TrainConfig::validate`]'s check).
pub fn parse_psi(s: &str) -> Result<Vec<usize>> {
    let bad = |why: &str| {
        Error::Invalid(format!(
            "bad psi '{s}': {why}; expected a number of auxiliary classes per primary class or a \
             comma list like 3,3,2"
        ))
    };
    let mut out = Vec::new();
    for p in s.split(',').map(str::trim) {
        match p.parse::<i128>() {
            Ok(v) if v < 0 => return Err(bad(&format!("{v} is negative"))),
            Ok(v) => out.push(usize::try_from(v).map_err(|_| bad(&format!("{v} is too large")))?),
            Err(_) => return Err(bad(&format!("'{p}' is not a whole number"))),
        }
    }
    Ok(out)
}

/// Parses a count flag (`--epochs`, `--batch-size`, ...): a whole number >= 0, with the
/// reason when it is not (a negative number reaches here: the flags allow them, so that clap
/// does not read `-1` as an unknown flag).
pub fn parse_count(s: &str) -> std::result::Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v < 0 => Err(format!("{v} is negative; expected a whole number >= 0")),
        Ok(v) => usize::try_from(v).map_err(|_| format!("{v} is too large")),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

/// Parses `--seed`: a whole number in 0..2^64, with the reason when it is not.
pub fn parse_seed(s: &str) -> std::result::Result<u64, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v < 0 => Err(format!("{v} is negative; a seed is a whole number >= 0")),
        Ok(v) => u64::try_from(v).map_err(|_| format!("{v} is above 2^64 - 1")),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

/// `--init` in TOML: the scheme's name.
mod init_name {
    use super::InitScheme;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(i: &InitScheme, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(i.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<InitScheme, D::Error> {
        InitScheme::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A settings file without `lookahead` (every file before it existed) means the plain step.
fn plain_lookahead() -> Lookahead {
    Lookahead::Plain
}

/// psi in TOML: a number, a list of numbers or a "3,3,2" string.
fn psi_from_toml<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Psi {
        One(usize),
        List(Vec<usize>),
        Text(String),
    }
    match Psi::deserialize(d)? {
        Psi::One(k) => Ok(vec![k]),
        Psi::List(v) => Ok(v),
        Psi::Text(s) => parse_psi(&s).map_err(serde::de::Error::custom),
    }
}

/// Every setting of a training run: each field is a `maxl-cli train` flag (the doc comment
/// is its help) and a TOML key (the field's name) at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[command(next_help_heading = "Training")]
pub struct TrainConfig {
    /// How auxiliary labels are made: maxl (second-order meta step), maxl-fo (first-order
    /// variant), single (no auxiliary task), random (fixed random labels), human (CIFAR-100's
    /// finer level, see --aux-level) or kmeans (k-means inside each primary class on an
    /// autoencoder's latent code, re-clustered every epoch)
    #[arg(long, value_name = "NAME", default_value = "maxl", value_parser = Method::parse)]
    pub method: Method,
    /// Backbone of both networks: convnet4, vgg16 or resnet32
    #[arg(long, value_name = "NAME", default_value = "convnet4")]
    pub model: String,
    /// Initial weights of every network (multi-task or single-task, and the label generator):
    /// auto (each backbone's reference: PyTorch's default for ConvNet-4; Xavier-uniform for
    /// VGG-16 with a Xavier-normal generator, as the authors' code; Kaiming-normal fan-out
    /// convs for ResNet-32, as torchvision), torch-default (weights and biases from
    /// U(+-1/sqrt(fan_in))), xavier-uniform, xavier-normal or kaiming-normal-fan-out (biases 0)
    #[arg(long, value_name = "NAME", default_value = "auto", value_parser = InitScheme::parse)]
    #[serde(with = "init_name", default)]
    pub init: InitScheme,
    /// Auxiliary classes per primary class: k for all, or a comma list with one entry per
    /// primary class, e.g. 3,3,2
    #[arg(long, value_name = "K|LIST", default_value = "3", value_parser = parse_psi,
          allow_hyphen_values = true)]
    #[serde(deserialize_with = "psi_from_toml")]
    pub psi: ::std::vec::Vec<usize>,
    /// --method human only: the finer CIFAR-100 level that gives the auxiliary labels
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux_level: Option<usize>,
    /// Epochs (each: a multi-task pass, a meta pass for MAXL, a test); with --resume, more
    /// than the run had extends it (the schedule then spans the new total)
    #[arg(long, value_name = "N", default_value_t = 20, allow_negative_numbers = true,
          value_parser = parse_count)]
    pub epochs: usize,
    /// Images per batch, training and test; the last batch of an epoch may be smaller and is
    /// kept (PyTorch's DataLoader with drop_last=False), so a batch size above the training
    /// set's size trains on one batch of all of it per epoch
    #[arg(long, value_name = "N", default_value_t = 100, allow_negative_numbers = true,
          value_parser = parse_count)]
    pub batch_size: usize,
    /// Learning rate of the multi-task network; also the meta step's inner step
    #[arg(
        long,
        value_name = "LR",
        default_value_t = 0.1,
        allow_negative_numbers = true
    )]
    pub lr: f64,
    /// Learning rate of the label generator (0: a frozen generator, MAXL's labels without
    /// meta-learning; the meta pass is skipped)
    #[arg(
        long,
        value_name = "LR",
        default_value_t = 1e-3,
        allow_negative_numbers = true
    )]
    pub gen_lr: f64,
    /// SGD momentum of the multi-task network
    #[arg(
        long,
        value_name = "M",
        default_value_t = 0.9,
        allow_negative_numbers = true
    )]
    pub momentum: f64,
    /// SGD weight decay of the multi-task network
    #[arg(
        long,
        value_name = "WD",
        default_value_t = 5e-4,
        allow_negative_numbers = true
    )]
    pub weight_decay: f64,
    /// SGD weight decay of the label generator
    #[arg(
        long,
        value_name = "WD",
        default_value_t = 5e-4,
        allow_negative_numbers = true
    )]
    pub gen_weight_decay: f64,
    /// Learning-rate schedule of both networks: cosine (annealed to 0 over the run), step
    /// (halved every 50 epochs) or constant
    #[arg(long, value_name = "NAME", default_value = "cosine", value_parser = ScheduleKind::parse)]
    pub schedule: ScheduleKind,
    /// Gamma of the focal loss of both tasks (0: plain cross-entropy)
    #[arg(
        long,
        value_name = "G",
        default_value_t = 2.0,
        allow_negative_numbers = true
    )]
    pub focal_gamma: f64,
    /// Weight of the entropy term in the meta loss
    #[arg(
        long,
        value_name = "W",
        default_value_t = 0.2,
        allow_negative_numbers = true
    )]
    pub entropy_weight: f64,
    /// The meta pass's virtual step of theta1: plain (theta1 - lr g, the paper) or sgd (the step
    /// theta1's SGD would take, with its momentum buffer and weight decay, as the authors' later
    /// code)
    #[arg(long, value_name = "NAME", default_value = "plain", value_parser = Lookahead::parse)]
    #[serde(
        default = "plain_lookahead",
        skip_serializing_if = "Lookahead::is_plain"
    )]
    pub lookahead: Lookahead,
    /// Mask SoftMax with -inf outside the primary class's block instead of the authors' 1e-8
    #[arg(long, value_name = "BOOL", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub exact_mask: bool,
    /// Measure the cosine similarity of the primary and auxiliary gradients every N pass-1
    /// batches (0: never)
    #[arg(long, value_name = "N", default_value_t = 10, allow_negative_numbers = true,
          value_parser = parse_count)]
    pub cosine_every: usize,
    /// Seed of the initial weights, the shuffles and --train-limit's subset
    #[arg(long, value_name = "N", default_value_t = 0, allow_negative_numbers = true,
          value_parser = parse_seed)]
    pub seed: u64,
    /// Where the networks and batches live (`Cpu` or `Cuda(n)`): a place, not a setting of
    /// the experiment, so it is neither a flag here nor serialised (the CLI keeps it with the
    /// data folder).
    #[arg(skip)]
    #[serde(skip, default)]
    pub device: maxl_engine::Device,
}

impl Default for TrainConfig {
    /// The defaults of the `arg` attributes (an empty command line).
    fn default() -> Self {
        let cmd = TrainConfig::augment_args(clap::Command::new("defaults"));
        cmd.try_get_matches_from(["defaults"])
            .and_then(|m| TrainConfig::from_arg_matches(&m))
            .expect("the settings' defaults parse")
    }
}

/// [`TrainConfig`] after [`TrainConfig::validate`]: the trainer is built from these.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated(TrainConfig);

impl std::ops::Deref for Validated {
    type Target = TrainConfig;
    fn deref(&self) -> &TrainConfig {
        &self.0
    }
}

impl Validated {
    /// The same settings, placed on `device` (a place, not a setting).
    pub fn on_device(mut self, device: maxl_engine::Device) -> Validated {
        self.0.device = device;
        self
    }

    pub fn into_inner(self) -> TrainConfig {
        self.0
    }
}

/// The error for a psi whose `total` auxiliary classes pass [`MAX_AUX_CLASSES`], with the
/// size the auxiliary heads would have.
pub fn too_many_aux_classes(total: usize, model: &str) -> String {
    let hidden = Backbone::parse(model).map_or(256, |b| b.head_hidden());
    // The multi-task network's auxiliary head and the generator's head, f32 weights.
    let gb = total as f64 * hidden as f64 * 4.0 * 2.0 / 1e9;
    format!(
        "psi gives {total} auxiliary classes; at most {MAX_AUX_CLASSES} are allowed (the \
         auxiliary heads alone would hold {gb:.1} GB of weights, as much again of momentum, \
         in memory and in every checkpoint)"
    )
}

impl TrainConfig {
    /// Checks every value and the combinations the trainer would only find later, or not at
    /// all.
    pub fn validate(self) -> Result<Validated> {
        let bad = |msg: String| Err(Error::Invalid(msg));
        Backbone::parse(&self.model)?;
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch size must be at least 1".into());
        }
        for (name, v) in [
            ("lr", self.lr),
            ("gen-lr", self.gen_lr),
            ("momentum", self.momentum),
            ("weight-decay", self.weight_decay),
            ("gen-weight-decay", self.gen_weight_decay),
            ("focal-gamma", self.focal_gamma),
            ("entropy-weight", self.entropy_weight),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("--{name} must be a finite number >= 0, not {v}"));
            }
        }
        if self.psi.is_empty() || self.psi.contains(&0) {
            return bad(format!(
                "psi {:?}: every primary class needs at least one auxiliary class",
                self.psi
            ));
        }
        // A list's total is known here; k per class is checked once the classes are known
        // (`strategy::compose`, before any network is built).
        let total = self.psi.iter().fold(0usize, |a, &k| a.saturating_add(k));
        if self.psi.len() > 1 && total > MAX_AUX_CLASSES {
            return bad(too_many_aux_classes(total, &self.model));
        }
        if self.aux_level.is_some() && self.method != Method::Human {
            return bad("--aux-level applies to --method human only".into());
        }
        Ok(Validated(self))
    }
}
