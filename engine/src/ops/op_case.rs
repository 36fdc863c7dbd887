//! One gradcheck case ([`OpCase`]: f64 inputs on small random shapes with broadcasting and
//! size-1 axes, and the function under test) and the input makers the families' `cases.rs`
//! files build their cases from. The registry of all cases is `ops::cases`.

use crate::autograd::op::OpKind;
use crate::error::Result;
use crate::{DType, Rng, Tensor};
use std::collections::HashSet;

/// One gradcheck case: a function of a few f64 (and i64 constant) inputs.
pub struct OpCase {
    /// The public op the case exercises, e.g. `log_softmax` or `stack`.
    pub op: &'static str,
    /// What is special about this case, e.g. `broadcast [3,1,4] + [2,4]`.
    pub what: &'static str,
    pub inputs: fn(&mut Rng) -> Vec<Tensor>,
    pub f: fn(&[Tensor]) -> Result<Tensor>,
}

impl OpCase {
    /// The case's inputs for a seed.
    pub fn make_inputs(&self, seed: u64) -> Vec<Tensor> {
        (self.inputs)(&mut Rng::new(seed))
    }

    /// The op kinds that the case's forward pass records.
    pub fn recorded_ops(&self, seed: u64) -> Result<HashSet<OpKind>> {
        let xs: Vec<Tensor> = self
            .make_inputs(seed)
            .into_iter()
            .map(|t| {
                if t.dtype() == DType::F64 {
                    t.set_requires_grad(true)
                } else {
                    Ok(t)
                }
            })
            .collect::<Result<_>>()?;
        let out = (self.f)(&xs)?;
        let mut kinds = HashSet::new();
        let mut stack = vec![out];
        let mut seen = HashSet::new();
        while let Some(t) = stack.pop() {
            if !seen.insert(t.id()) {
                continue;
            }
            if let Some(n) = t.node() {
                kinds.insert(n.op.kind());
                stack.extend(n.inputs.iter().cloned());
            }
        }
        Ok(kinds)
    }
}

/// Standard normal f64 values.
pub fn normal(rng: &mut Rng, shape: &[usize]) -> Tensor {
    Tensor::randn(shape, DType::F64, rng)
}

/// f64 values in [lo, hi).
pub fn uniform(rng: &mut Rng, shape: &[usize], lo: f64, hi: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| lo + (hi - lo) * rng.uniform()).collect();
    Tensor::from_f64s(&v, shape, DType::F64)
}

/// Normal values kept at least `gap` away from every point in `kinks` (so finite differences
/// never straddle a point where the op is not differentiable).
pub fn away_from(rng: &mut Rng, shape: &[usize], kinks: &[f64], gap: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| loop {
            let x = rng.normal();
            if kinks.iter().all(|k| (x - k).abs() > gap) {
                break x;
            }
        })
        .collect();
    Tensor::from_f64s(&v, shape, DType::F64)
}

/// Distinct normal values (no ties), for max/min/maximum cases.
pub fn distinct(rng: &mut Rng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 0.37 - n as f64 * 0.15).collect();
    rng.shuffle(&mut v);
    for x in v.iter_mut() {
        *x += 0.05 * rng.uniform();
    }
    Tensor::from_f64s(&v, shape, DType::F64)
}

/// Integer indices in `0..n`.
pub fn indices(rng: &mut Rng, shape: &[usize], n: usize) -> Tensor {
    let count: usize = shape.iter().product();
    let v: Vec<f64> = (0..count).map(|_| rng.below(n) as f64).collect();
    Tensor::from_f64s(&v, shape, DType::I64)
}
