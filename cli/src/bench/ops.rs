//! `maxl-cli bench ops`: what each op costs at its B1/B2 shapes, for gradients of order 1 to 3.
//! For an op `y = f(x)` with inputs `x` ([`super::op_cases`]) and an order `k`, one chain is:
//!
//! - `fwd`: `y = f(x)`, recorded;
//! - `bwd`: `g1 = grad(y, x, u)` (create_graph when `k > 1`);
//! - `bwd2` (k >= 2): `g2 = grad(g1, (x, u), v)`, i.e. `grad(grad(f(x)) . v)` as a meta step
//!   does it (create_graph when `k > 2`);
//! - `bwd3` (k = 3): `g3 = grad(g2, (x, u, v), w)`,
//!
//! with fixed random cotangents `u`, `v`, `w`. As in PyTorch's `gradgradcheck`, each level also
//! differentiates the previous level's cotangents (so a linear op's second derivative, or
//! ReLU's, is not simply zero); outputs that do not depend on anything differentiable are left
//! out of the next level. Each figure is the median over the timed chains of that level's
//! seconds. One JSON object per (op, shape, order): `fwd_s`, `bwd_s`, `bwd2_s`, `bwd3_s` (the
//! levels up to the order), `total_s`, `flops` (of the forward pass, where defined).
//! `benches/torch_ops.py` does the same in PyTorch.

use super::clock::{median, Clock};
use super::detail::DetailArgs;
use super::op_cases::{cases, OpCase, OPS};
use anyhow::{bail, Result};
use maxl_engine::{grad, DType, Rng, Tensor};
use serde_json::{json, Value};
use std::time::Instant;

/// Images per batch, as B1 and B2.
pub const BATCH: usize = 100;

/// The fixed random cotangents of each level, made on first use.
#[derive(Default)]
struct Cotangents {
    levels: Vec<Vec<Tensor>>,
}

impl Cotangents {
    /// The cotangents of level `level` for outputs `like`: standard normal, a leaf that
    /// requires grad when the next level differentiates it.
    fn get(&mut self, level: usize, like: &[Tensor], requires_grad: bool) -> Result<Vec<Tensor>> {
        while self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        if self.levels[level].is_empty() {
            let mut rng = Rng::new(100 + level as u64);
            self.levels[level] = like
                .iter()
                .map(|t| {
                    Tensor::randn(t.shape(), DType::F32, &mut rng).set_requires_grad(requires_grad)
                })
                .collect::<maxl_engine::Result<_>>()?;
        }
        Ok(self.levels[level].clone())
    }
}

/// One chain of `case` up to `order`: the seconds of each level (forward, then each backward).
fn chain(case: &OpCase, order: usize, cot: &mut Cotangents, clock: Clock) -> Result<Vec<f64>> {
    let origin = Instant::now();
    let mut secs = Vec::with_capacity(order + 1);
    let t = clock.now(origin);
    let y = case.apply(&case.inputs)?;
    secs.push(clock.now(origin) - t);
    let mut outs = vec![y];
    let mut vars = case.inputs.clone();
    for level in 1..=order {
        let more = level < order;
        let gouts = cot.get(level, &outs, more)?;
        let t = clock.now(origin);
        let g = grad(&outs, &vars, Some(&gouts), more)?;
        secs.push(clock.now(origin) - t);
        if more {
            vars.extend(gouts);
            outs = g.into_iter().filter(Tensor::requires_grad).collect();
            if outs.is_empty() {
                bail!(
                    "{} {}: nothing differentiable is left at order {}",
                    case.op,
                    case.shape_key(),
                    level + 1
                );
            }
        }
    }
    Ok(secs)
}

/// Median seconds of each level of `case` at `order` over `runs` chains after `warmup`.
pub fn time_case(
    case: &OpCase,
    order: usize,
    (runs, warmup): (usize, usize),
    clock: Clock,
) -> Result<Vec<f64>> {
    let mut cot = Cotangents::default();
    for _ in 0..warmup {
        chain(case, order, &mut cot, clock)?;
    }
    let mut per_level = vec![Vec::new(); order + 1];
    for _ in 0..runs.max(1) {
        for (l, s) in chain(case, order, &mut cot, clock)?.into_iter().enumerate() {
            per_level[l].push(s);
        }
    }
    Ok(per_level.into_iter().map(median).collect())
}

/// The JSON object of one figure.
pub fn figure(case: &OpCase, order: usize, secs: &[f64], clock: Clock, threads: usize) -> Value {
    let mut v = json!({
        "op": case.op, "config": case.config, "shape": case.shape_key(), "order": order,
        "flops": case.flops, "total_s": secs.iter().sum::<f64>(),
        "clock": clock.name(), "threads": threads, "impl": "maxl-rs",
    });
    for (l, s) in secs.iter().enumerate() {
        let key = match l {
            0 => "fwd_s".to_string(),
            1 => "bwd_s".to_string(),
            l => format!("bwd{l}_s"),
        };
        v[key] = json!(s);
    }
    v
}

/// The configurations `--config` names.
pub fn configs(config: &str) -> Vec<&'static str> {
    match config {
        "b1" => vec!["b1"],
        "b2" => vec!["b2"],
        _ => vec!["b1", "b2"],
    }
}

pub fn run(a: &DetailArgs, threads: usize) -> Result<()> {
    if let Some(bad) = a.ops.iter().find(|o| !OPS.contains(&o.as_str())) {
        bail!("--ops: unknown op {bad:?} (one of {})", OPS.join(", "));
    }
    let clock = if a.cpu_time { Clock::Cpu } else { Clock::Wall };
    let timing = (a.runs.unwrap_or(5), a.warmup.unwrap_or(1));
    for config in configs(&a.config) {
        for case in cases(config, &a.ops, BATCH)? {
            for order in 1..=a.order as usize {
                let secs = time_case(&case, order, timing, clock)?;
                println!("{}", figure(&case, order, &secs, clock, threads));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every op of both configurations runs at orders 1-3 on tiny batches, and each figure
    /// has the fields of its order.
    #[test]
    fn every_op_runs_at_orders_1_to_3() {
        for config in ["b1", "b2"] {
            let all = cases(config, &[], 2).unwrap();
            for op in OPS {
                assert!(all.iter().any(|c| c.op == op), "{config}: no case of {op}");
            }
            for case in &all {
                for order in 1..=3 {
                    let secs = time_case(case, order, (1, 0), Clock::Wall)
                        .unwrap_or_else(|e| panic!("{} {config} order {order}: {e}", case.op));
                    assert_eq!(secs.len(), order + 1);
                    let v = figure(case, order, &secs, Clock::Wall, 1);
                    let keys: Vec<&str> =
                        v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
                    for k in [
                        "op", "config", "shape", "order", "flops", "fwd_s", "bwd_s", "total_s",
                    ] {
                        assert!(
                            keys.contains(&k),
                            "{} order {order}: no {k} in {v}",
                            case.op
                        );
                    }
                    assert_eq!(keys.contains(&"bwd2_s"), order >= 2, "{v}");
                    assert_eq!(keys.contains(&"bwd3_s"), order >= 3, "{v}");
                    assert_eq!(v["order"], order);
                }
            }
        }
    }

    #[test]
    fn shape_keys_and_flops() {
        let c = cases("b2", &["conv2d".to_string()], 3).unwrap();
        assert_eq!(c.len(), 9);
        assert_eq!(c[1].shape_key(), "3x64x32x32,64x64x3x3,64");
        // 2 * n * c * k * 9 * 32 * 32
        assert_eq!(c[1].flops, Some(2.0 * 3.0 * 64.0 * 64.0 * 9.0 * 1024.0));
        let l = cases("b1", &["linear".to_string()], 4).unwrap();
        assert_eq!(l[1].shape_key(), "4x256,30x256,30");
        assert_eq!(configs("all"), ["b1", "b2"]);
    }
}
