//! One MAXL step at a time, as pure functions of the networks' states and a batch: stage 1
//! (theta1 on primary + auxiliary focal loss), stage 2 (theta2 through the virtual step
//! theta1+ = theta1 - alpha g, or the step theta1's SGD would take: see [`VirtualStep`]; second
//! order) and its first-order finite-difference variant. Stage 2 can also measure the two parts
//! of theta2's gradient (the primary loss at theta1+ and the entropy term) without changing it.
//!
//! A step never waits for its device: its figures (losses, accuracies, cosine, gradient norms)
//! stay there as one small tensor, read with one copy when asked ([`Stage1::read`],
//! [`Stage2::read`]), and the first-order variant's step size comes from a norm taken there.

use super::lookahead::VirtualStep;
use crate::hierarchy::Hierarchy;
use crate::losses::{entropy_term, focal_loss, mask_softmax};
use crate::metrics::{correct_count, grad_cosine};
use crate::models::{Net, NetState};
use crate::nn::Params;
use crate::Result;
use maxl_engine::{grad, no_grad, DType, Tensor};

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

/// What stage 1 returns: theta1's gradients (name order), new BN buffers and the step's
/// figures, on the step's device.
pub struct Stage1 {
    pub grads: Vec<Tensor>,
    pub buffers: Params,
    /// `[primary loss, auxiliary loss, correct, cosine]` as one 1-D tensor (the auxiliary
    /// loss 0 without an auxiliary task, the cosine 0 where it was not measured).
    pub figures: Tensor,
    /// Whether the cosine was measured.
    pub has_cosine: bool,
}

/// Stage 1's figures, read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage1Figures {
    /// Primary plus auxiliary loss.
    pub loss: f64,
    pub primary_loss: f64,
    pub correct: usize,
    pub cosine: Option<f64>,
}

/// What stage 2 returns: theta2's gradients, the generator's new buffers and the step's
/// figures, on the step's device.
pub struct Stage2 {
    pub grads: Vec<Tensor>,
    pub gen_buffers: Params,
    /// `[loss before, correct before, loss after, correct after, primary part, entropy part]`
    /// as one 1-D tensor (the parts' norms 0 where they were not measured).
    pub figures: Tensor,
    /// Whether the two parts of the gradient were measured.
    pub has_parts: bool,
}

/// Stage 2's figures, read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage2Figures {
    pub loss_before: f64,
    pub correct_before: usize,
    pub loss_after: f64,
    pub correct_after: usize,
    /// The two parts of the gradient, where they were asked for.
    pub parts: Option<GradParts>,
}

/// The values of a small tensor of figures as f64 (one copy from its device).
fn read_figures(t: &Tensor) -> Result<Vec<f64>> {
    Ok(match t.dtype() {
        DType::F32 => t.to_vec::<f32>()?.into_iter().map(f64::from).collect(),
        _ => t.to_dtype(DType::F64)?.to_vec::<f64>()?,
    })
}

/// One row of figures from 0-d tensors, detached.
fn figures_of(values: &[Tensor]) -> Result<Tensor> {
    let _g = no_grad();
    let v: Vec<Tensor> = values.iter().map(Tensor::detach).collect();
    Ok(Tensor::stack(&v, 0)?)
}

impl Stage1 {
    /// The figures, read from the device in one copy (one host synchronisation).
    pub fn read(&self) -> Result<Stage1Figures> {
        let v = read_figures(&self.figures)?;
        Ok(Stage1Figures {
            loss: v[0] + v[1],
            primary_loss: v[0],
            correct: v[2] as usize,
            cosine: self.has_cosine.then_some(v[3]),
        })
    }
}

impl Stage2 {
    /// The figures, read from the device in one copy (one host synchronisation).
    pub fn read(&self) -> Result<Stage2Figures> {
        let v = read_figures(&self.figures)?;
        Ok(Stage2Figures {
            loss_before: v[0],
            correct_before: v[1] as usize,
            loss_after: v[2],
            correct_after: v[3] as usize,
            parts: self.has_parts.then_some(GradParts {
                primary: v[4],
                entropy: v[5],
            }),
        })
    }
}

/// The L2 norms of the two parts of theta2's gradient, which sum to it: the primary part
/// (the primary loss at theta1+, through the virtual step) and the entropy part (lambda times
/// the gradient of the entropy term, as it enters the update).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradParts {
    pub primary: f64,
    pub entropy: f64,
}

/// The L2 norm of a list of tensors, as one vector, on their device: a 0-d tensor (of the
/// first one's dtype and device; f64 0 on the host for none).
pub fn l2_norm_of(ts: &[Tensor]) -> Result<Tensor> {
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
        Some(t) => t.sqrt()?,
        None => Tensor::zeros(&[], DType::F64),
    })
}

/// The L2 norm of a list of tensors ([`l2_norm_of`], read back).
pub fn l2_norm(ts: &[Tensor]) -> Result<f64> {
    Ok(l2_norm_of(ts)?.item()?)
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
                let cos = grad_cosine(&pick(&gp), &pick(&ga))?;
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
        let zero = primary.zeros_like()?;
        let figures = figures_of(&[
            primary.clone(),
            aux.unwrap_or_else(|| zero.clone()),
            correct_count(&logits[0], y)?,
            cos.clone().unwrap_or(zero),
        ])?;
        Ok(Stage1 {
            grads,
            buffers,
            figures,
            has_cosine: cos.is_some(),
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
                Some((l2_norm_of(&rest)?, l2_norm_of(&weighted)?))
            }
            false => None,
        };
        let figures = self.stage2_figures(&primary, &logits, &after, &fast_logits[0], y, parts)?;
        Ok(Stage2 {
            grads,
            gen_buffers,
            figures,
            has_parts: measure_parts,
        })
    }

    /// Stage 2's figures as one tensor on the device.
    fn stage2_figures(
        &self,
        before: &Tensor,
        logits_before: &Tensor,
        after: &Tensor,
        logits_after: &Tensor,
        y: &Tensor,
        parts: Option<(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let (primary, entropy) = match parts {
            Some(parts) => parts,
            None => (before.zeros_like()?, before.zeros_like()?),
        };
        figures_of(&[
            before.clone(),
            correct_count(logits_before, y)?,
            after.clone(),
            correct_count(logits_after, y)?,
            primary,
            entropy,
        ])
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
        // eps = fd_scale / ||d||, as a 0-d tensor on the device (never read back).
        let norm = l2_norm_of(&d)?.clamp(1e-12, f64::INFINITY)?;
        let eps = norm.pow(-1.0)?.mul_scalar(self.fd_scale)?;
        let shifted = |sign: f64| -> Result<Vec<Tensor>> {
            let step = eps.mul_scalar(sign)?;
            let moved = theta1
                .iter()
                .zip(&d)
                .map(|(p, d)| p.detach().add(&d.mul(&step)?))
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
        // -alpha / (2 eps) = -alpha ||d|| / (2 fd_scale).
        let scale = norm.mul_scalar(-alpha / (2.0 * self.fd_scale))?;
        let primary_part = gp
            .iter()
            .zip(&gm)
            .map(|(p, m)| p.sub(m)?.mul(&scale))
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
        let parts = match measure_parts {
            true => Some((l2_norm_of(&primary_part)?, l2_norm_of(&entropy_part)?)),
            false => None,
        };
        let figures = self.stage2_figures(&primary, &logits, &after, &vlogits[0], y, parts)?;
        Ok(Stage2 {
            grads,
            gen_buffers,
            figures,
            has_parts: measure_parts,
        })
    }
}
