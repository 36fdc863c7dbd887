//! A network = one trunk + named heads. The multi-task network has heads `primary` (P) and
//! `aux` (sum psi); the label generator one head `gen` (sum psi) whose logits go through Mask
//! SoftMax; the single-task network one head `primary`.

use super::backbone::Backbone;
use super::blocks::{build_head, head_forward};
use super::input::InputShape;
use crate::nn::init::InitScheme;
use crate::nn::{Builder, Forward, Params};
use crate::Result;
use maxl_engine::{Rng, Tensor};

/// Architecture of a trunk-plus-heads network.
#[derive(Debug, Clone, PartialEq)]
pub struct Net {
    pub backbone: Backbone,
    pub input: InputShape,
    /// (name, classes) of each head, in output order.
    pub heads: Vec<(&'static str, usize)>,
    /// The label generator (which some init schemes start differently).
    pub generator: bool,
    /// How weights and biases start (`--init`).
    pub init_scheme: InitScheme,
}

/// Parameters (leaves that require grad) and buffers of a network.
#[derive(Clone)]
pub struct NetState {
    pub params: Params,
    pub buffers: Params,
}

impl NetState {
    /// The state on `device` (parameters stay leaves that require grad).
    pub fn to_device(&self, device: maxl_engine::Device) -> crate::Result<NetState> {
        Ok(NetState {
            params: self.params.to_device(device)?,
            buffers: self.buffers.to_device(device)?,
        })
    }
}

impl Net {
    /// The multi-task network: primary head (P classes) and auxiliary head (sum psi).
    pub fn multi_task(backbone: Backbone, input: InputShape, primary: usize, aux: usize) -> Net {
        Net {
            backbone,
            input,
            heads: vec![("primary", primary), ("aux", aux)],
            generator: false,
            init_scheme: InitScheme::Auto,
        }
    }

    /// The label-generation network: one head of sum psi logits.
    pub fn label_generator(backbone: Backbone, input: InputShape, aux: usize) -> Net {
        Net {
            backbone,
            input,
            heads: vec![("gen", aux)],
            generator: true,
            init_scheme: InitScheme::Auto,
        }
    }

    /// The single-task network.
    pub fn single_task(backbone: Backbone, input: InputShape, primary: usize) -> Net {
        Net {
            backbone,
            input,
            heads: vec![("primary", primary)],
            generator: false,
            init_scheme: InitScheme::Auto,
        }
    }

    /// The same network started by `init` instead of [`InitScheme::Auto`].
    pub fn with_init(mut self, init: InitScheme) -> Net {
        self.init_scheme = init;
        self
    }

    /// Fresh parameters and buffers from a seeded generator.
    pub fn init(&self, rng: &mut Rng) -> Result<NetState> {
        let fin = self.backbone.features(self.input)?;
        let (conv_init, linear_init) = self.backbone.inits(self.init_scheme, self.generator);
        let mut b = Builder::new(rng, conv_init, linear_init);
        self.backbone.build(&mut b, "trunk", self.input);
        for &(name, n) in &self.heads {
            build_head(&mut b, name, fin, self.backbone.head_hidden(), n);
        }
        Ok(NetState {
            params: b.params,
            buffers: b.buffers,
        })
    }

    /// The trunk's features `[N, F]` and the logits of every head. With `update_stats`
    /// (training only) the new running statistics are returned, else the old buffers.
    pub fn forward(
        &self,
        params: &Params,
        buffers: &Params,
        x: &Tensor,
        training: bool,
        update_stats: bool,
    ) -> Result<(Tensor, Vec<Tensor>, Params)> {
        let mut f = Forward::new(params, buffers, training, update_stats);
        let feats = self.backbone.forward(&mut f, "trunk", x)?;
        let logits = self
            .heads
            .iter()
            .map(|&(name, _)| head_forward(&mut f, name, &feats))
            .collect::<Result<Vec<_>>>()?;
        Ok((feats, logits, f.into_buffers()))
    }
}
