//! The virtual (look-ahead) step of MAXL's meta pass, theta1+ = theta1 - alpha v: plain, v = g
//! (the paper and the authors' published second-order code), or the step theta1's own SGD
//! would take, v = momentum * buf + g + weight_decay * theta1 (the authors' later first-order
//! code, as PyTorch's SGD; buf is theta1's momentum buffer, none before its first step). Only g
//! depends on theta2, so the meta gradient flows through g alone either way.

use crate::nn::{Params, Sgd};
use crate::Result;
use maxl_engine::Tensor;

/// How the meta pass looks ahead (`--lookahead`).
#[derive(Clone, Copy)]
pub struct VirtualStep<'a> {
    /// The step size: theta1's current learning rate.
    pub alpha: f64,
    /// theta1's SGD momentum and weight decay (0 for the plain step).
    pub momentum: f64,
    pub weight_decay: f64,
    /// theta1's momentum buffers by parameter name (`None` for the plain step).
    pub buffers: Option<&'a Params>,
}

impl VirtualStep<'static> {
    /// theta1 - alpha g.
    pub fn plain(alpha: f64) -> VirtualStep<'static> {
        VirtualStep {
            alpha,
            momentum: 0.0,
            weight_decay: 0.0,
            buffers: None,
        }
    }
}

impl<'a> VirtualStep<'a> {
    /// The step `opt` (theta1's optimiser, with its momentum buffers) would take with
    /// learning rate `alpha`.
    pub fn like_sgd(opt: &'a Sgd, alpha: f64) -> VirtualStep<'a> {
        VirtualStep {
            alpha,
            momentum: opt.momentum,
            weight_decay: opt.weight_decay,
            buffers: Some(&opt.state),
        }
    }

    /// theta1+ for `theta1` and its gradient `g` (the same order), recorded where `g` is, so
    /// that a meta loss at theta1+ differentiates through `g`.
    pub fn take(&self, theta1: &Params, g: &[Tensor]) -> Result<Vec<Tensor>> {
        let plain = self.momentum == 0.0 && self.weight_decay == 0.0;
        theta1
            .iter()
            .zip(g)
            .map(|((name, p), g)| {
                if plain {
                    return Ok(p.add_scaled(g, -self.alpha)?);
                }
                // The operations of `Sgd::step` in its order: d = g + wd p, v = mu buf + d.
                let mut v = g.clone();
                if self.weight_decay != 0.0 {
                    v = v.add_scaled(&p.detach(), self.weight_decay)?;
                }
                if self.momentum != 0.0 {
                    if let Some(buf) = self.buffers.and_then(|b| b.get(name).ok()) {
                        v = v.add_scaled(&buf.detach(), self.momentum)?;
                    }
                }
                Ok(p.add_scaled(&v, -self.alpha)?)
            })
            .collect()
    }
}
