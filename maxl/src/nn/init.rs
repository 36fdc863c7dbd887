//! Weight initialisers as PyTorch's `torch.nn.init`: Xavier uniform and normal (gain 1) and
//! Kaiming normal (fan_out, ReLU gain), drawn from a seeded generator.

use maxl_engine::{DType, Rng, Tensor};

/// How to fill a conv or linear weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    XavierUniform,
    XavierNormal,
    KaimingNormalFanOut,
    /// PyTorch's default for conv and linear layers: kaiming_uniform(a = sqrt 5), i.e.
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    TorchDefault,
}

/// (fan_in, fan_out) of a weight `[out, in, k...]` or `[out, in]`.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    let receptive: usize = shape.iter().skip(2).product();
    let fan_in = shape.get(1).copied().unwrap_or(1) * receptive;
    let fan_out = shape.first().copied().unwrap_or(1) * receptive;
    (fan_in.max(1), fan_out.max(1))
}

/// A weight of `shape` filled by `init`.
pub fn weight(shape: &[usize], init: Init, rng: &mut Rng) -> Tensor {
    let (fan_in, fan_out) = fans(shape);
    let n: usize = shape.iter().product();
    let vals: Vec<f64> = match init {
        Init::XavierUniform => {
            let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
            (0..n).map(|_| (2.0 * rng.uniform() - 1.0) * a).collect()
        }
        Init::XavierNormal => {
            let s = (2.0 / (fan_in + fan_out) as f64).sqrt();
            (0..n).map(|_| rng.normal() * s).collect()
        }
        Init::KaimingNormalFanOut => {
            let s = (2.0 / fan_out as f64).sqrt();
            (0..n).map(|_| rng.normal() * s).collect()
        }
        Init::TorchDefault => {
            let a = 1.0 / (fan_in as f64).sqrt();
            (0..n).map(|_| (2.0 * rng.uniform() - 1.0) * a).collect()
        }
    };
    Tensor::from_f64s(&vals, shape, DType::F32)
}
