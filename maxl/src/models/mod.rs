//! The networks of MODELS.md: three backbones (ConvNet-4, VGG-16, ResNet-32), the two-layer
//! head, and the three MAXL networks built from them (multi-task, label generator, single).

pub mod convnet4;
pub mod networks;
pub mod resnet32;
pub mod vgg16;

pub use networks::{Net, NetState};

use crate::nn::init::{Init, InitScheme};
use crate::nn::{Builder, Forward};
use crate::{Error, Result};
use maxl_engine::Tensor;

/// A feature extractor ("trunk").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backbone {
    ConvNet4,
    Vgg16,
    ResNet32,
}

/// Input images: channels, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Backbone {
    /// `convnet4`, `vgg16` or `resnet32`.
    pub fn parse(s: &str) -> Result<Backbone> {
        match s {
            "convnet4" => Ok(Backbone::ConvNet4),
            "vgg16" => Ok(Backbone::Vgg16),
            "resnet32" => Ok(Backbone::ResNet32),
            _ => Err(Error::Invalid(format!(
                "unknown model '{s}': expected convnet4, vgg16 or resnet32"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backbone::ConvNet4 => "convnet4",
            Backbone::Vgg16 => "vgg16",
            Backbone::ResNet32 => "resnet32",
        }
    }

    /// Width of the flattened features for this input; an error if the input is too small.
    pub fn features(self, input: InputShape) -> Result<usize> {
        let f = match self {
            Backbone::ConvNet4 => convnet4::features(input),
            Backbone::Vgg16 => vgg16::features(input),
            Backbone::ResNet32 => resnet32::FEATURES,
        };
        if f == 0 {
            return Err(Error::Invalid(format!(
                "{} needs larger images than {}x{}",
                self.name(),
                input.height,
                input.width
            )));
        }
        Ok(f)
    }

    /// Hidden width of the two-layer head.
    pub fn head_hidden(self) -> usize {
        match self {
            Backbone::Vgg16 => 512,
            _ => 256,
        }
    }

    /// Weight initialisers (conv, linear) of this backbone's networks under `scheme`;
    /// `generator` selects the label generator's where the scheme gives it its own (VGG-16's
    /// Xavier-normal under `auto`, as MODELS.md says).
    pub fn inits(self, scheme: InitScheme, generator: bool) -> (Init, Init) {
        if let Some(init) = scheme.fixed() {
            return (init, init);
        }
        match (self, generator) {
            (Backbone::ConvNet4, _) => (Init::TorchDefault, Init::TorchDefault),
            (Backbone::Vgg16, false) => (Init::XavierUniform, Init::XavierUniform),
            (Backbone::Vgg16, true) => (Init::XavierNormal, Init::XavierNormal),
            (Backbone::ResNet32, _) => (Init::KaimingNormalFanOut, Init::TorchDefault),
        }
    }

    /// Declares the trunk's parameters under `prefix`.
    pub fn build(self, b: &mut Builder, prefix: &str, input: InputShape) {
        match self {
            Backbone::ConvNet4 => convnet4::build(b, prefix, input.channels),
            Backbone::Vgg16 => vgg16::build(b, prefix, input.channels),
            Backbone::ResNet32 => resnet32::build(b, prefix, input.channels),
        }
    }

    /// Features `[N, F]` of images `[N, C, H, W]`.
    pub fn forward(self, f: &mut Forward, prefix: &str, x: &Tensor) -> Result<Tensor> {
        match self {
            Backbone::ConvNet4 => convnet4::forward(f, prefix, x),
            Backbone::Vgg16 => vgg16::forward(f, prefix, x),
            Backbone::ResNet32 => resnet32::forward(f, prefix, x),
        }
    }
}

/// `conv -> BN -> ReLU` with a 3x3 kernel, padding 1.
pub(crate) fn conv_bn_relu(f: &mut Forward, name: &str, x: &Tensor) -> Result<Tensor> {
    let y = f.conv(&format!("{name}.conv"), x, 1, 1)?;
    Ok(f.bn(&format!("{name}.bn"), &y)?.relu()?)
}

/// Declares `conv(c) -> BN` with a 3x3 kernel and bias.
pub(crate) fn build_conv_bn(b: &mut Builder, name: &str, cin: usize, cout: usize) {
    b.conv(&format!("{name}.conv"), cin, cout, 3, true);
    b.bn(&format!("{name}.bn"), cout);
}

/// 2x2 max-pool, stride 2.
pub(crate) fn pool(x: &Tensor) -> Result<Tensor> {
    Ok(x.max_pool2d([2, 2], [2, 2], [0, 0])?)
}

/// Declares head(n): Linear(F, hidden) -> ReLU -> Linear(hidden, n).
pub fn build_head(b: &mut Builder, prefix: &str, fin: usize, hidden: usize, n: usize) {
    b.linear(&format!("{prefix}.fc1"), fin, hidden);
    b.linear(&format!("{prefix}.fc2"), hidden, n);
}

/// Logits of head `prefix` on features `[N, F]`.
pub fn head_forward(f: &mut Forward, prefix: &str, x: &Tensor) -> Result<Tensor> {
    let h = f.linear(&format!("{prefix}.fc1"), x)?.relu()?;
    f.linear(&format!("{prefix}.fc2"), &h)
}
