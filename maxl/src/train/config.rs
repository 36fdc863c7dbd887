//! Training settings: the method, the network, psi and the hyper-parameters of MODELS.md, with
//! defaults for the paper's non-CIFAR-100 runs (SGD 0.1, momentum 0.9, weight decay 5e-4,
//! cosine annealing; generator SGD 1e-3 with weight decay 5e-4).

use crate::nn::Schedule;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// How the auxiliary labels are made (or whether there are any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    #[serde(rename = "kmeans")]
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

    /// True for the methods that train a label generator (two passes per epoch).
    pub fn has_generator(self) -> bool {
        matches!(self, Method::Maxl | Method::MaxlFo)
    }
}

/// The learning-rate schedule's shape, applied to both networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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

/// Every setting of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub method: Method,
    pub model: String,
    /// Auxiliary classes per primary class: one entry (balanced) or one per primary class.
    pub psi: Vec<usize>,
    /// Human baseline: the auxiliary (finer) level of the data set's hierarchy.
    pub aux_level: Option<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub gen_lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub gen_weight_decay: f64,
    pub schedule: ScheduleKind,
    pub focal_gamma: f64,
    pub entropy_weight: f64,
    pub exact_mask: bool,
    /// Measure the gradient cosine similarity every this many pass-1 batches (0: never).
    pub cosine_every: usize,
    pub seed: u64,
    /// Where the networks and batches live (`Cpu` or `Cuda(n)`): a place, not a setting of
    /// the experiment, so it is not serialised (the CLI keeps it with the data folder).
    #[serde(skip, default)]
    pub device: maxl_engine::Device,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            method: Method::Maxl,
            model: "convnet4".into(),
            psi: vec![3],
            aux_level: None,
            epochs: 20,
            batch_size: 100,
            lr: 0.1,
            gen_lr: 1e-3,
            momentum: 0.9,
            weight_decay: 5e-4,
            gen_weight_decay: 5e-4,
            schedule: ScheduleKind::Cosine,
            focal_gamma: 2.0,
            entropy_weight: 0.2,
            exact_mask: false,
            cosine_every: 10,
            seed: 0,
            device: maxl_engine::Device::Cpu,
        }
    }
}
