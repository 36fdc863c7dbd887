//! The three trunks of MODELS.md (ConvNet-4, VGG-16, ResNet-32) behind one enum: names,
//! feature widths, head widths, initialisers, parameter declaration and forward.

use super::input::InputShape;
use super::{convnet4, resnet32, vgg16};
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
