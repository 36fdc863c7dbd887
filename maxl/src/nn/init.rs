//! Weight initialisers as PyTorch's `torch.nn.init`, drawn from a seeded generator, and the
//! schemes that `--init` names. A scheme picks an initialiser per layer kind (conv, linear)
//! and per network (multi-task/single vs label generator); each initialiser also decides its
//! bias: PyTorch's default draws biases from U(+-1/sqrt(fan_in)), the others start them at 0
//! (as the authors' code and torchvision do).

use crate::{Error, Result};
use maxl_engine::{DType, Rng, Tensor};

/// How to fill a conv or linear weight (and its bias).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// U(-a, a), a = sqrt(6 / (fan_in + fan_out)); bias 0.
    XavierUniform,
    /// N(0, s^2), s = sqrt(2 / (fan_in + fan_out)); bias 0.
    XavierNormal,
    /// N(0, s^2), s = sqrt(2 / fan_out) (ReLU gain, fan-out mode, as torchvision's ResNets);
    /// bias 0.
    KaimingNormalFanOut,
    /// PyTorch's default for conv and linear layers: kaiming_uniform(a = sqrt 5), i.e.
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same range.
    TorchDefault,
}

/// The `--init` setting: one initialiser for every conv and linear layer of every network, or
/// `Auto`, each backbone's reference initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitScheme {
    /// ConvNet-4: PyTorch's default everywhere (what a PyTorch script of the same network
    /// gets; the label generator too, since MODELS.md asks for Xavier-normal only in the
    /// authors' VGG-16). VGG-16: Xavier-uniform, Xavier-normal in the label generator, as the
    /// authors' code. ResNet-32: Kaiming-normal (fan-out) convs and PyTorch-default heads, as
    /// torchvision.
    #[default]
    Auto,
    TorchDefault,
    XavierUniform,
    XavierNormal,
    KaimingNormalFanOut,
}

/// The names `--init` accepts, in the order `--help` lists them.
pub const INIT_NAMES: &str =
    "auto, torch-default, xavier-uniform, xavier-normal, kaiming-normal-fan-out";

impl InitScheme {
    pub fn parse(s: &str) -> Result<InitScheme> {
        Ok(match s {
            "auto" => InitScheme::Auto,
            "torch-default" => InitScheme::TorchDefault,
            "xavier-uniform" => InitScheme::XavierUniform,
            "xavier-normal" => InitScheme::XavierNormal,
            "kaiming-normal-fan-out" => InitScheme::KaimingNormalFanOut,
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown init '{s}': expected {INIT_NAMES}"
                )))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            InitScheme::Auto => "auto",
            InitScheme::TorchDefault => "torch-default",
            InitScheme::XavierUniform => "xavier-uniform",
            InitScheme::XavierNormal => "xavier-normal",
            InitScheme::KaimingNormalFanOut => "kaiming-normal-fan-out",
        }
    }

    /// The one initialiser of an explicit scheme; `None` for `Auto`.
    pub fn fixed(self) -> Option<Init> {
        match self {
            InitScheme::Auto => None,
            InitScheme::TorchDefault => Some(Init::TorchDefault),
            InitScheme::XavierUniform => Some(Init::XavierUniform),
            InitScheme::XavierNormal => Some(Init::XavierNormal),
            InitScheme::KaimingNormalFanOut => Some(Init::KaimingNormalFanOut),
        }
    }
}

/// (fan_in, fan_out) of a weight `[out, in, k...]` or `[out, in]`.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    let receptive: usize = shape.iter().skip(2).product();
    let fan_in = shape.get(1).copied().unwrap_or(1) * receptive;
    let fan_out = shape.first().copied().unwrap_or(1) * receptive;
    (fan_in.max(1), fan_out.max(1))
}

/// `n` draws from U(-a, a).
fn uniform(n: usize, a: f64, rng: &mut Rng) -> Vec<f64> {
    (0..n).map(|_| (2.0 * rng.uniform() - 1.0) * a).collect()
}

/// A weight of `shape` filled by `init`.
pub fn weight(shape: &[usize], init: Init, rng: &mut Rng) -> Tensor {
    let (fan_in, fan_out) = fans(shape);
    let n: usize = shape.iter().product();
    let vals: Vec<f64> = match init {
        Init::XavierUniform => uniform(n, (6.0 / (fan_in + fan_out) as f64).sqrt(), rng),
        Init::XavierNormal => {
            let s = (2.0 / (fan_in + fan_out) as f64).sqrt();
            (0..n).map(|_| rng.normal() * s).collect()
        }
        Init::KaimingNormalFanOut => {
            let s = (2.0 / fan_out as f64).sqrt();
            (0..n).map(|_| rng.normal() * s).collect()
        }
        Init::TorchDefault => uniform(n, 1.0 / (fan_in as f64).sqrt(), rng),
    };
    Tensor::from_f64s(&vals, shape, DType::F32)
}

/// The bias `[out]` of a layer whose weight has `weight_shape`, as `init` starts it.
pub fn bias(weight_shape: &[usize], init: Init, rng: &mut Rng) -> Tensor {
    let out = weight_shape.first().copied().unwrap_or(1);
    match init {
        Init::TorchDefault => {
            let (fan_in, _) = fans(weight_shape);
            let vals = uniform(out, 1.0 / (fan_in as f64).sqrt(), rng);
            Tensor::from_f64s(&vals, &[out], DType::F32)
        }
        _ => Tensor::zeros(&[out], DType::F32),
    }
}
