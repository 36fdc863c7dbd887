//! SGD with momentum and weight decay, as `torch.optim.SGD`: `d = g + wd * p`,
//! `buf = momentum * buf + d` (buf = d at the first step), `p = p - lr * buf`. Parameters are
//! immutable tensors, so a step returns the new parameter map.

use super::params::Params;
use crate::{Error, Result};
use maxl_engine::{no_grad, Tensor};

/// Stochastic gradient descent with momentum and weight decay.
#[derive(Clone)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Momentum buffers by parameter name (empty until the first step).
    pub state: Params,
}

impl Sgd {
    pub fn new(lr: f64, momentum: f64, weight_decay: f64) -> Sgd {
        Sgd {
            lr,
            momentum,
            weight_decay,
            state: Params::new(),
        }
    }

    /// One step: new leaves (requiring grad) for `params`, given gradients in the same order.
    pub fn step(&mut self, params: &Params, grads: &[Tensor]) -> Result<Params> {
        if grads.len() != params.len() {
            return Err(Error::Invalid(format!(
                "sgd: {} gradients for {} parameters",
                grads.len(),
                params.len()
            )));
        }
        let _g = no_grad();
        let mut out = Params::new();
        for ((name, p), g) in params.iter().zip(grads) {
            // One pass per line (`add_scaled`), the bits of the separate scale-then-add ops.
            let mut d = g.detach();
            if self.weight_decay != 0.0 {
                d = d.add_scaled(&p.detach(), self.weight_decay)?;
            }
            if self.momentum != 0.0 {
                d = match self.state.get(name) {
                    Ok(buf) => d.add_scaled(buf, self.momentum)?,
                    Err(_) => d,
                };
                self.state.insert(name, d.clone());
            }
            let newp = p.detach().add_scaled(&d, -self.lr)?;
            out.insert(name, newp.set_requires_grad(true)?);
        }
        Ok(out)
    }
}
