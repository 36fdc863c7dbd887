//! Reverse-mode autodiff over the tape that tensors carry. `grad` walks the nodes an output
//! reaches in reverse topological order and runs each op's backward rule ([`crate::Op`]); with
//! `create_graph = true` the rules run with recording on, so the gradients have a history of
//! their own and can be differentiated again, to any order. Only what is asked for is computed:
//! a tensor's gradient is *needed* when it lies on a path from the outputs to a requested input
//! (every leaf that requires grad, for [`Tensor::backward`]); other nodes are skipped, and each
//! rule is told which of its inputs are needed.

pub mod mode;
pub mod op;

pub use mode::{is_grad_enabled, no_grad, set_grad_enabled, NoGradGuard};

use crate::error::{Error, Result};
use crate::ops::checks::check_same;
use crate::Tensor;
use std::collections::{HashMap, HashSet};

/// The tensors with history that `outputs` reach, children before parents.
fn topo_order(outputs: &[Tensor]) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    // Iterative post-order DFS: (tensor, inputs already pushed?).
    let mut stack: Vec<(Tensor, bool)> = outputs
        .iter()
        .filter(|t| t.requires_grad())
        .map(|t| (t.clone(), false))
        .collect();
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !seen.insert(t.id()) {
            continue;
        }
        let inputs: Vec<Tensor> = match t.node() {
            Some(n) => n.inputs.clone(),
            None => Vec::new(),
        };
        stack.push((t, true));
        for i in inputs {
            if i.requires_grad() && !seen.contains(&i.id()) {
                stack.push((i, false));
            }
        }
    }
    order
}

/// Propagates `seeds` (gradients of `outputs`) back through the tape; returns the gradient
/// of every tensor the walk reached, by id.
fn propagate(
    outputs: &[Tensor],
    seeds: Vec<Tensor>,
    targets: Option<&HashSet<u64>>,
    create_graph: bool,
) -> Result<(HashMap<u64, Tensor>, Vec<Tensor>)> {
    let keep = targets.cloned().unwrap_or_default();
    let _mode = set_grad_enabled(create_graph);
    let mut grads: HashMap<u64, Tensor> = HashMap::new();
    for (o, s) in outputs.iter().zip(seeds) {
        if !o.requires_grad() {
            continue;
        }
        let acc = match grads.remove(&o.id()) {
            Some(prev) => prev.add(&s)?,
            None => s,
        };
        grads.insert(o.id(), acc);
    }
    let order = topo_order(outputs);
    // Inputs come before the tensors made from them, so one pass marks every tensor that
    // leads to a target.
    let mut needed: HashSet<u64> = HashSet::new();
    for t in &order {
        let leads = match t.node() {
            Some(n) => n.inputs.iter().any(|i| needed.contains(&i.id())),
            None => targets.is_none_or(|k| k.contains(&t.id())),
        } || targets.is_some_and(|k| k.contains(&t.id()));
        if leads {
            needed.insert(t.id());
        }
    }
    let mut leaves = Vec::new();
    for t in order.iter().rev() {
        if !needed.contains(&t.id()) {
            continue;
        }
        let node = match t.node() {
            Some(n) => n,
            None => {
                leaves.push(t.clone());
                continue;
            }
        };
        let g = if keep.contains(&t.id()) {
            grads.get(&t.id()).cloned()
        } else {
            grads.remove(&t.id())
        };
        let Some(g) = g else { continue };
        crate::stats::count_backward_rule();
        let needs: Vec<bool> = node
            .inputs
            .iter()
            .map(|i| i.requires_grad() && needed.contains(&i.id()))
            .collect();
        let input_grads = node.op.backward(&node.inputs, t, &g, &needs)?;
        for ((input, ig), need) in node.inputs.iter().zip(input_grads).zip(needs) {
            let Some(ig) = ig else { continue };
            if !need {
                continue;
            }
            let acc = match grads.remove(&input.id()) {
                Some(prev) => prev.add(&ig)?,
                None => ig,
            };
            grads.insert(input.id(), acc);
        }
    }
    Ok((grads, leaves))
}

fn seeds_for(outputs: &[Tensor], grad_outputs: Option<&[Tensor]>) -> Result<Vec<Tensor>> {
    match grad_outputs {
        Some(gs) => {
            if gs.len() != outputs.len() {
                return Err(Error::Invalid(format!(
                    "grad: {} grad_outputs for {} outputs",
                    gs.len(),
                    outputs.len()
                )));
            }
            for (o, g) in outputs.iter().zip(gs) {
                if o.shape() != g.shape() {
                    return Err(Error::ShapeMismatch {
                        op: "grad (output vs grad_output)",
                        lhs: o.shape().to_vec(),
                        rhs: g.shape().to_vec(),
                    });
                }
                check_same("grad (output vs grad_output)", o, g)?;
            }
            Ok(gs.to_vec())
        }
        None => outputs
            .iter()
            .map(|o| {
                if o.numel() != 1 {
                    return Err(Error::Invalid(format!(
                        "grad: output of shape {:?} is not a scalar; pass grad_outputs",
                        o.shape()
                    )));
                }
                o.ones_like()
            })
            .collect(),
    }
}

/// Gradients of `outputs` (weighted by `grad_outputs`, or ones for scalar outputs) with
/// respect to `inputs`, as `torch.autograd.grad`. An input that the outputs do not reach gets
/// zeros (see [`grad_with`] to make that an error). With `create_graph`, the returned gradients
/// are recorded and can be differentiated.
pub fn grad(
    outputs: &[Tensor],
    inputs: &[Tensor],
    grad_outputs: Option<&[Tensor]>,
    create_graph: bool,
) -> Result<Vec<Tensor>> {
    grad_with(outputs, inputs, grad_outputs, create_graph, true)
}

/// [`grad`] with PyTorch's `allow_unused`: when false, an input that the outputs do not reach
/// is an error naming its position instead of a zero gradient.
pub fn grad_with(
    outputs: &[Tensor],
    inputs: &[Tensor],
    grad_outputs: Option<&[Tensor]>,
    create_graph: bool,
    allow_unused: bool,
) -> Result<Vec<Tensor>> {
    let seeds = seeds_for(outputs, grad_outputs)?;
    let targets: HashSet<u64> = inputs.iter().map(Tensor::id).collect();
    let (mut grads, _) = propagate(outputs, seeds, Some(&targets), create_graph)?;
    inputs
        .iter()
        .enumerate()
        .map(|(k, i)| match grads.remove(&i.id()) {
            Some(g) => Ok(if create_graph { g } else { g.detach() }),
            None if allow_unused => i.zeros_like(),
            None => Err(Error::Invalid(format!(
                "grad: input {k} (shape {:?}) is not reached by the outputs; pass allow_unused = true for zeros",
                i.shape()
            ))),
        })
        .collect()
}

impl Tensor {
    /// Accumulates d(self)/d(leaf) into `.grad()` of every leaf that requires grad; `self`
    /// must hold one element. The graph is not kept for a second order.
    pub fn backward(&self) -> Result<()> {
        let seeds = seeds_for(std::slice::from_ref(self), None)?;
        let (mut grads, leaves) = propagate(std::slice::from_ref(self), seeds, None, false)?;
        for leaf in leaves {
            if let Some(g) = grads.remove(&leaf.id()) {
                leaf.accumulate_grad(g.detach())?;
            }
        }
        Ok(())
    }
}
