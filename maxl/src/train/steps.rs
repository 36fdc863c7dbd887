//! One MAXL step at a time, as pure functions of the networks' states and a batch: stage 1
//! (theta1 on primary + auxiliary focal loss), stage 2 (theta2 through the virtual step
//! theta1+ = theta1 - alpha g, or the step theta1's SGD would take: see [`VirtualStep`]; second
//! order) and its first-order finite-difference variant. Stage 2 can also measure the two parts
//! of theta2's gradient (the primary loss at theta1+ and the entropy term) without changing it.

use super::lookahead::VirtualStep;
use crate::hierarchy::Hierarchy;
use crate::losses::{entropy_term, focal_loss, mask_softmax};
use crate::metrics::{correct, grad_cosine};
use crate::models::{Net, NetState};
use crate::nn::Params;
use crate::Result;
use maxl_engine::{grad, no_grad, Tensor};

/// The fixed parts of a MAXL run: the two networks, psi and the loss settings.
#[derive(Debug, Clone)]
pub struct MaxlSetup {
    pub multi_task: Net,
    pub generator: Net,
    pub hierarchy: Hierarchy,
    /// Focal-loss gamma (2 in the paper).
    pub gamma: f64,
    /// Weight lambda of the entropy term (0.2 in the paper).
    pub entropy_weight: f64,
    /// Mask SoftMax with -inf instead of the authors' 1e-8.
    pub exact_mask: bool,
    /// Finite-difference scale of the first-order variant: `eps = fd_scale / ||d||` (0.01 in
    /// the authors' code).
    pub fd_scale: f64,
}

/// What stage 1 returns: theta1's gradients (name order), new BN buffers and figures.
pub struct Stage1 {
    pub grads: Vec<Tensor>,
    pub buffers: Params,
    pub loss: f64,
    pub primary_loss: f64,
    pub correct: usize,
    pub cosine: Option<f64>,
}

/// What stage 2 returns: theta2's gradients, the generator's new buffers and figures.
pub struct Stage2 {
    pub grads: Vec<Tensor>,
    pub gen_buffers: Params,
    pub loss_before: f64,
    pub correct_before: usize,
    pub loss_after: f64,
    pub correct_after: usize,
    /// The two parts of `grads`, where they were asked for.
    pub parts: Option<GradParts>,
}

/// The L2 norms of the two parts of theta2's gradient, which sum to it: the primary part
/// (the primary loss at theta1+, through the virtual step) and the entropy part (lambda times
/// the gradient of the entropy term, as it enters the update).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradParts {
    pub primary: f64,
    pub entropy: f64,
}

/// The L2 norm of a list of tensors, as one vector (summed on their device, read back once).
pub fn l2_norm(ts: &[Tensor]) -> Result<f64> {
    let _g = no_grad();
    let mut total: Option<Tensor> = None;
    for t in ts {
        let s = t.mul(t)?.sum_all()?;
        total = Some(match total {
            Some(acc) => acc.add(&s)?,
            None => s,
        });
    }
    Ok(match total {
        Some(t) => t.item()?.sqrt(),
        None => 0.0,
    })
}

impl MaxlSetup {
    /// Generated auxiliary labels `[N, sum psi]` (Mask SoftMax of the generator's logits).
    pub fn generate(
        &self,
        gen: &NetState,
        x: &Tensor,
        y: &Tensor,
        update_stats: bool,
    ) -> Result<(Tensor, Params)> {
        let (_, logits, bufs) =
            self.generator
                .forward(&gen.params, &gen.buffers, x, true, update_stats)?;
        Ok((
            mask_softmax(&logits[0], y, &self.hierarchy, self.exact_mask)?,
            bufs,
        ))
    }

    /// Primary and auxiliary focal losses of the multi-task network at `params`.
    fn multi_task_losses(
        &self,
        params: &Params,
        buffers: &Params,
        x: &Tensor,
        onehot: &Tensor,
        aux_targets: &Tensor,
        update_stats: bool,
    ) -> Result<(Tensor, Tensor, Tensor, Params)> {
        let (_, logits, bufs) = self
            .multi_task
            .forward(params, buffers, x, true, update_stats)?;
        let primary = focal_loss(&logits[0], onehot, self.gamma)?;
        let aux = focal_loss(&logits[1], aux_targets, self.gamma)?;
        Ok((primary, aux, logits[0].clone(), bufs))
    }

    /// Auxiliary targets from the generator, without recording (stage 1).
    pub fn generated_targets(&self, gen: &NetState, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let _g = no_grad();
        Ok(self.generate(gen, x, y, false)?.0)
    }

    /// Stage 1 on one batch: loss = primary focal + auxiliary focal against `aux_targets`
    /// (`None` for the single-task network, whose only head is the primary one), gradients
    /// for theta1. With `cosine`, the two losses are differentiated separately so that their
    /// gradient cosine on the trunk can be reported.
    pub fn stage1(
        &self,
        net: &Net,
        mt: &NetState,
        x: &Tensor,
        y: &Tensor,
        aux_targets: Option<&Tensor>,
        cosine: bool,
    ) -> Result<Stage1> {
        let onehot = Tensor::one_hot(y, self.hierarchy.primary(), x.dtype())?;
        let (_, logits, buffers) = net.forward(&mt.params, &mt.buffers, x, true, true)?;
        let primary = focal_loss(&logits[0], &onehot, self.gamma)?;
        let params = mt.params.tensors();
        let aux = match aux_targets {
            Some(t) => Some(focal_loss(&logits[1], t, self.gamma)?),
            None => None,
        };
        let (grads, cos) = match (&aux, cosine) {
            (Some(aux), true) => {
                let gp = grad(std::slice::from_ref(&primary), &params, None, false)?;
                let ga = grad(std::slice::from_ref(aux), &params, None, false)?;
                let trunk: Vec<usize> = mt
                    .params
                    .names()
                    .enumerate()
                    .filter(|(_, n)| n.starts_with("trunk."))
                    .map(|(i, _)| i)
                    .collect();
                let pick = |g: &[Tensor]| trunk.iter().map(|&i| g[i].clone()).collect::<Vec<_>>();
                let cos = grad_cosine(&pick(&gp), &pick(&ga));
                let sum = gp
                    .iter()
                    .zip(&ga)
                    .map(|(a, b)| a.add(b))
                    .collect::<maxl_engine::Result<Vec<_>>>()?;
                (sum, Some(cos))
            }
            (Some(aux), false) => (grad(&[primary.add(aux)?], &params, None, false)?, None),
            (None, _) => (
                grad(std::slice::from_ref(&primary), &params, None, false)?,
                None,
            ),
        };
        let aux_loss = match &aux {
            Some(a) => a.item()?,
            None => 0.0,
        };
        Ok(Stage1 {
            grads,
            buffers,
            loss: primary.item()? + aux_loss,
            primary_loss: primary.item()?,
            correct: correct(&logits[0], y)?,
            cosine: cos,
        })
    }

    /// Stage 2 on one batch, second order, with the plain virtual step of size `alpha`: see
    /// [`MaxlSetup::stage2_at`].
    pub fn stage2(
        &self,
        mt: &NetState,
        gen: &NetState,
        x: &Tensor,
        y: &Tensor,
        alpha: f64,
    ) -> Result<Stage2> {
        self.stage2_at(mt, gen, x, y, &VirtualStep::plain(alpha), false)
    }

    /// Stage 2 on one batch, second order: inner loss at theta1, `g = grad(inner, theta1,
    /// create_graph)`, fast weights theta1+ by `step`, meta loss = primary focal at the fast
    /// weights + lambda * entropy, gradients for theta2. With `measure_parts`, also the norms
    /// of the gradient's two parts: the entropy part from one more backward pass (through the
    /// generator only), the primary part as the difference, so the gradient itself is the same
    /// number for number.
    pub fn stage2_at(
        &self,
        mt: &NetState,
        gen: &NetState,
        x: &Tensor,
        y: &Tensor,
        step: &VirtualStep,
        measure_parts: bool,
    ) -> Result<Stage2> {
        let (aux_targets, gen_buffers) = self.generate(gen, x, y, true)?;
        let onehot = Tensor::one_hot(y, self.hierarchy.primary(), x.dtype())?;
        let (primary, aux, logits, _) =
            self.multi_task_losses(&mt.params, &mt.buffers, x, &onehot, &aux_targets, false)?;
        let theta1 = mt.params.tensors();
        let g = grad(&[primary.add(&aux)?], &theta1, None, true)?;
        let fast = mt.params.with_tensors(step.take(&mt.params, &g)?)?;
        let (_, fast_logits, _) = self
            .multi_task
            .forward(&fast, &mt.buffers, x, true, false)?;
        let after = focal_loss(&fast_logits[0], &onehot, self.gamma)?;
        let entropy = entropy_term(&aux_targets)?;
        let meta = after.add(&entropy.mul_scalar(self.entropy_weight)?)?;
        let theta2 = gen.params.tensors();
        let grads = grad(&[meta], &theta2, None, false)?;
        let parts = match measure_parts {
            true => {
                let gh = grad(&[entropy], &theta2, None, false)?;
                let _g = no_grad();
                let weighted = gh
                    .iter()
                    .map(|h| h.mul_scalar(self.entropy_weight))
                    .collect::<maxl_engine::Result<Vec<_>>>()?;
                let rest = grads
                    .iter()
                    .zip(&weighted)
                    .map(|(t, h)| t.sub(h))
                    .collect::<maxl_engine::Result<Vec<_>>>()?;
                Some(GradParts {
                    primary: l2_norm(&rest)?,
                    entropy: l2_norm(&weighted)?,
                })
            }
            false => None,
        };
        Ok(Stage2 {
            grads,
            gen_buffers,
            loss_before: primary.item()?,
            correct_before: correct(&logits, y)?,
            loss_after: after.item()?,
            correct_after: correct(&fast_logits[0], y)?,
            parts,
        })
    }

    /// Stage 2, first order, with the plain virtual step of size `alpha`: see
    /// [`MaxlSetup::stage2_first_order_at`].
    pub fn stage2_first_order(
        &self,
        mt: &NetState,
        gen: &NetState,
        x: &Tensor,
        y: &Tensor,
        alpha: f64,
    ) -> Result<Stage2> {
        self.stage2_first_order_at(mt, gen, x, y, &VirtualStep::plain(alpha), false)
    }

    /// Stage 2, first order (the authors' later code, as DARTS): `d` = gradient of the primary
    /// loss at the virtual step theta1' (by `step`, from theta1's inner gradient); theta2's
    /// gradient is `-alpha (g+ - g-) / (2 eps)` with `g+-` the gradient of the inner loss for
    /// theta2 at `theta1 +- eps d`, `eps = fd_scale / ||d||`, plus lambda * grad(H, theta2)
    /// (which the authors' version dropped). With `measure_parts`, also the norms of these two
    /// parts.
    pub fn stage2_first_order_at(
        &self,
        mt: &NetState,
        gen: &NetState,
        x: &Tensor,
        y: &Tensor,
        step: &VirtualStep,
        measure_parts: bool,
    ) -> Result<Stage2> {
        let alpha = step.alpha;
        let (aux_targets, gen_buffers) = self.generate(gen, x, y, true)?;
        let onehot = Tensor::one_hot(y, self.hierarchy.primary(), x.dtype())?;
        let theta1 = mt.params.tensors();
        let theta2 = gen.params.tensors();
        let aux_const = aux_targets.detach();
        let (primary, aux, logits, _) =
            self.multi_task_losses(&mt.params, &mt.buffers, x, &onehot, &aux_const, false)?;
        let g1 = grad(&[primary.add(&aux)?], &theta1, None, false)?;
        let virt = step
            .take(&mt.params, &g1)?
            .into_iter()
            .map(|t| t.detach().set_requires_grad(true))
            .collect::<maxl_engine::Result<Vec<_>>>()?;
        let virt = mt.params.with_tensors(virt)?;
        let (_, vlogits, _) = self
            .multi_task
            .forward(&virt, &mt.buffers, x, true, false)?;
        let after = focal_loss(&vlogits[0], &onehot, self.gamma)?;
        let d = grad(std::slice::from_ref(&after), &virt.tensors(), None, false)?;
        let norm = d
            .iter()
            .map(|t| t.to_f64_vec().iter().map(|v| v * v).sum::<f64>())
            .sum::<f64>()
            .sqrt();
        let eps = self.fd_scale / norm.max(1e-12);
        let shifted = |sign: f64| -> Result<Vec<Tensor>> {
            let moved = theta1
                .iter()
                .zip(&d)
                .map(|(p, d)| p.detach().add(&d.mul_scalar(sign * eps)?))
                .collect::<maxl_engine::Result<Vec<_>>>()?;
            let moved = mt.params.with_tensors(moved)?;
            let (_, l, _) = self
                .multi_task
                .forward(&moved, &mt.buffers, x, true, false)?;
            let inner = focal_loss(&l[0], &onehot, self.gamma)?.add(&focal_loss(
                &l[1],
                &aux_targets,
                self.gamma,
            )?)?;
            Ok(grad(&[inner], &theta2, None, false)?)
        };
        let (gp, gm) = (shifted(1.0)?, shifted(-1.0)?);
        let gh = grad(&[entropy_term(&aux_targets)?], &theta2, None, false)?;
        let primary_part = gp
            .iter()
            .zip(&gm)
            .map(|(p, m)| p.sub(m)?.mul_scalar(-alpha / (2.0 * eps)))
            .collect::<maxl_engine::Result<Vec<_>>>()?;
        let entropy_part = gh
            .iter()
            .map(|h| h.mul_scalar(self.entropy_weight))
            .collect::<maxl_engine::Result<Vec<_>>>()?;
        let grads = primary_part
            .iter()
            .zip(&entropy_part)
            .map(|(p, h)| p.add(h))
            .collect::<maxl_engine::Result<Vec<_>>>()?;
        Ok(Stage2 {
            grads,
            gen_buffers,
            loss_before: primary.item()?,
            correct_before: correct(&logits, y)?,
            loss_after: after.item()?,
            correct_after: correct(&vlogits[0], y)?,
            parts: match measure_parts {
                true => Some(GradParts {
                    primary: l2_norm(&primary_part)?,
                    entropy: l2_norm(&entropy_part)?,
                }),
                false => None,
            },
        })
    }
}
