//! The forward context: layers look their weights up by name in a [`Params`] map, so the same
//! architecture code runs at the real weights or at the meta step's fast weights. Batch norm
//! uses batch statistics in training mode and returns updated running statistics only when
//! asked (never during the functional meta forward).

use super::params::Params;
use crate::Result;
use maxl_engine::ops::norm::batch_norm;
use maxl_engine::Tensor;

/// Batch-norm settings of MODELS.md.
pub const BN_EPS: f64 = 1e-5;
pub const BN_MOMENTUM: f64 = 0.1;

/// One forward pass over a parameter map.
pub struct Forward<'a> {
    params: &'a Params,
    buffers: &'a Params,
    training: bool,
    update_stats: bool,
    new_buffers: Params,
}

impl<'a> Forward<'a> {
    /// `training` selects batch statistics; `update_stats` collects new running statistics.
    pub fn new(
        params: &'a Params,
        buffers: &'a Params,
        training: bool,
        update_stats: bool,
    ) -> Self {
        Forward {
            params,
            buffers,
            training,
            update_stats: training && update_stats,
            new_buffers: Params::new(),
        }
    }

    pub fn training(&self) -> bool {
        self.training
    }

    fn opt(&self, name: &str) -> Option<&'a Tensor> {
        let p: &'a Params = self.params;
        p.get(name).ok()
    }

    /// Convolution `name` (3x3 or any square kernel) with the given stride and padding.
    pub fn conv(
        &mut self,
        name: &str,
        x: &Tensor,
        stride: usize,
        padding: usize,
    ) -> Result<Tensor> {
        let w = self.params.get(&format!("{name}.weight"))?;
        let b = self.opt(&format!("{name}.bias"));
        Ok(x.conv2d(w, b, [stride; 2], [padding; 2], [1, 1])?)
    }

    /// Batch norm `name`.
    pub fn bn(&mut self, name: &str, x: &Tensor) -> Result<Tensor> {
        let w = self.params.get(&format!("{name}.weight"))?;
        let b = self.params.get(&format!("{name}.bias"))?;
        let (rm_name, rv_name) = (
            format!("{name}.running_mean"),
            format!("{name}.running_var"),
        );
        let rm = self.buffers.get(&rm_name)?;
        let rv = self.buffers.get(&rv_name)?;
        let (y, stats) = batch_norm(
            x,
            Some(rm),
            Some(rv),
            Some(w),
            Some(b),
            self.training,
            BN_MOMENTUM,
            BN_EPS,
        )?;
        if self.update_stats {
            if let Some((m, v)) = stats {
                self.new_buffers.insert(rm_name, m.detach());
                self.new_buffers.insert(rv_name, v.detach());
            }
        }
        Ok(y)
    }

    /// Linear layer `name`.
    pub fn linear(&mut self, name: &str, x: &Tensor) -> Result<Tensor> {
        let w = self.params.get(&format!("{name}.weight"))?;
        let b = self.opt(&format!("{name}.bias"));
        Ok(x.linear(w, b)?)
    }

    /// The running statistics after this pass: the old buffers with the updated ones replaced.
    pub fn into_buffers(self) -> Params {
        let mut out = self.buffers.clone();
        out.extend(self.new_buffers);
        out
    }
}
