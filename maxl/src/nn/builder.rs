//! Declares a network's parameters and buffers with their shapes and initial values, layer by
//! layer, under the names that [`super::Forward`] looks up.

use super::init::{bias, weight, Init};
use super::params::Params;
use maxl_engine::{DType, Rng, Tensor};

/// Collects parameters (leaves that require grad) and buffers for a new network.
pub struct Builder<'r> {
    pub params: Params,
    pub buffers: Params,
    rng: &'r mut Rng,
    conv_init: Init,
    linear_init: Init,
}

fn leaf(t: Tensor) -> Tensor {
    t.set_requires_grad(true)
        .expect("f32 parameters can require grad")
}

impl<'r> Builder<'r> {
    pub fn new(rng: &'r mut Rng, conv_init: Init, linear_init: Init) -> Builder<'r> {
        Builder {
            params: Params::new(),
            buffers: Params::new(),
            rng,
            conv_init,
            linear_init,
        }
    }

    /// A 2-D convolution `name` with a `k x k` kernel and, with `has_bias`, a bias as the
    /// conv initialiser starts it.
    pub fn conv(&mut self, name: &str, cin: usize, cout: usize, k: usize, has_bias: bool) {
        let shape = [cout, cin, k, k];
        let w = weight(&shape, self.conv_init, self.rng);
        self.params.insert(format!("{name}.weight"), leaf(w));
        if has_bias {
            let b = bias(&shape, self.conv_init, self.rng);
            self.params.insert(format!("{name}.bias"), leaf(b));
        }
    }

    /// A batch norm over `c` channels: gamma 1, beta 0, running mean 0, running var 1.
    pub fn bn(&mut self, name: &str, c: usize) {
        self.params.insert(
            format!("{name}.weight"),
            leaf(Tensor::ones(&[c], DType::F32)),
        );
        self.params.insert(
            format!("{name}.bias"),
            leaf(Tensor::zeros(&[c], DType::F32)),
        );
        self.buffers.insert(
            format!("{name}.running_mean"),
            Tensor::zeros(&[c], DType::F32),
        );
        self.buffers.insert(
            format!("{name}.running_var"),
            Tensor::ones(&[c], DType::F32),
        );
    }

    /// A linear layer `[out, in]` with its bias as the linear initialiser starts it.
    pub fn linear(&mut self, name: &str, fin: usize, fout: usize) {
        let shape = [fout, fin];
        let w = weight(&shape, self.linear_init, self.rng);
        self.params.insert(format!("{name}.weight"), leaf(w));
        let b = bias(&shape, self.linear_init, self.rng);
        self.params.insert(format!("{name}.bias"), leaf(b));
    }
}
