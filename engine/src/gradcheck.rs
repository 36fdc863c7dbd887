//! `gradcheck` and `gradgradcheck`: analytic gradients against central finite differences in
//! f64, as PyTorch's (eps 1e-6, atol 1e-5, rtol 1e-3). Full mode compares whole Jacobians;
//! fast mode compares one random projection `v . (J u)`. Order k > 1 checks the function
//! `(x, v) -> grad(f(x), x, v, create_graph = true)` at order k - 1, by recursion.

use crate::autograd::grad;
use crate::error::{Error, Result};
use crate::{DType, Rng, Tensor};

/// A function under test: inputs to outputs.
pub type TestFn<'a> = dyn Fn(&[Tensor]) -> Result<Vec<Tensor>> + 'a;

/// Whole Jacobians, or one random projection of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    Fast,
}

/// Tolerances and mode of a check.
#[derive(Debug, Clone)]
pub struct GradcheckOptions {
    pub eps: f64,
    pub atol: f64,
    pub rtol: f64,
    pub mode: Mode,
    /// Seed of the random projections and of the grad_outputs of higher orders.
    pub seed: u64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
            mode: Mode::Full,
            seed: 0,
        }
    }
}

/// The outcome of one check. `max_rel_err` is `max |a - n| / max(|a|, |n|)` over the entries
/// (0 where both are 0); pass means `|a - n| <= atol + rtol * |n|` everywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    pub order: usize,
    pub max_abs_err: f64,
    pub max_rel_err: f64,
    pub compared: usize,
    pub passed: bool,
}

impl GradcheckReport {
    fn new(order: usize) -> Self {
        GradcheckReport {
            order,
            max_abs_err: 0.0,
            max_rel_err: 0.0,
            compared: 0,
            passed: true,
        }
    }

    fn compare(&mut self, analytic: f64, numeric: f64, opts: &GradcheckOptions) {
        let diff = (analytic - numeric).abs();
        let scale = analytic.abs().max(numeric.abs());
        let rel = if scale > 0.0 { diff / scale } else { 0.0 };
        self.max_abs_err = self.max_abs_err.max(diff);
        self.max_rel_err = self.max_rel_err.max(rel);
        self.compared += 1;
        // Written so that a NaN on either side fails the check.
        let within = diff <= opts.atol + opts.rtol * numeric.abs();
        if !within {
            self.passed = false;
        }
    }
}

/// Leaves that require grad, in f64; integer inputs pass through as constants.
fn prepare(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    inputs
        .iter()
        .map(|t| match t.dtype() {
            DType::F64 => t.detach().set_requires_grad(true),
            DType::I64 => Ok(t.detach()),
            other => Err(Error::Invalid(format!(
                "gradcheck needs f64 inputs (or i64 constants), got {other}"
            ))),
        })
        .collect()
}

fn diff_inputs(xs: &[Tensor]) -> Vec<Tensor> {
    xs.iter()
        .filter(|t| t.dtype() == DType::F64)
        .cloned()
        .collect()
}

fn flat(outs: &[Tensor]) -> Vec<f64> {
    outs.iter().flat_map(|t| t.to_f64_vec()).collect()
}

/// `xs` with the differentiable inputs moved by `step * dir` (one direction per input).
fn shifted(xs: &[Tensor], dirs: &[Vec<f64>], step: f64) -> Result<Vec<Tensor>> {
    let mut d = dirs.iter();
    xs.iter()
        .map(|t| {
            if t.dtype() != DType::F64 {
                return Ok(t.clone());
            }
            let dir = d
                .next()
                .ok_or_else(|| Error::Invalid("gradcheck: directions".into()))?;
            let v: Vec<f64> = t
                .to_f64_vec()
                .iter()
                .zip(dir)
                .map(|(x, u)| x + step * u)
                .collect();
            Tensor::from_vec(v, t.shape())?
                .to_device(t.device())?
                .set_requires_grad(true)
        })
        .collect()
}

/// First-order check of `f` at `xs`.
fn check_first(
    f: &TestFn,
    xs: &[Tensor],
    order: usize,
    opts: &GradcheckOptions,
) -> Result<GradcheckReport> {
    let mut report = GradcheckReport::new(order);
    let outs = f(xs)?;
    let dx = diff_inputs(xs);
    let sizes: Vec<usize> = dx.iter().map(Tensor::numel).collect();
    let numeric_along = |dirs: &[Vec<f64>]| -> Result<Vec<f64>> {
        let plus = flat(&f(&shifted(xs, dirs, opts.eps)?)?);
        let minus = flat(&f(&shifted(xs, dirs, -opts.eps)?)?);
        Ok(plus
            .iter()
            .zip(&minus)
            .map(|(p, m)| (p - m) / (2.0 * opts.eps))
            .collect())
    };
    let zeros: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
    match opts.mode {
        Mode::Full => {
            // Rows of the analytic Jacobian, one backward per output entry.
            let n_out: usize = outs.iter().map(Tensor::numel).sum();
            let mut rows: Vec<Vec<f64>> = Vec::with_capacity(n_out);
            for j in 0..n_out {
                let mut start = 0;
                let seeds: Vec<Tensor> = outs
                    .iter()
                    .map(|o| {
                        let mut v = vec![0.0; o.numel()];
                        if (start..start + o.numel()).contains(&j) {
                            v[j - start] = 1.0;
                        }
                        start += o.numel();
                        Tensor::from_vec(v, o.shape())?.to_device(o.device())
                    })
                    .collect::<Result<_>>()?;
                let g = grad(&outs, &dx, Some(&seeds), false)?;
                rows.push(flat(&g));
            }
            let mut col = 0;
            for (i, &n) in sizes.iter().enumerate() {
                for e in 0..n {
                    let mut dirs = zeros.clone();
                    dirs[i][e] = 1.0;
                    let numeric = numeric_along(&dirs)?;
                    for (j, nv) in numeric.iter().enumerate() {
                        report.compare(rows[j][col], *nv, opts);
                    }
                    col += 1;
                }
            }
        }
        Mode::Fast => {
            let mut rng = Rng::new(opts.seed ^ 0x5eed_fa57);
            let u: Vec<Vec<f64>> = sizes
                .iter()
                .map(|&n| (0..n).map(|_| rng.normal()).collect())
                .collect();
            let v: Vec<Tensor> = outs
                .iter()
                .map(|o| {
                    let vals: Vec<f64> = (0..o.numel()).map(|_| rng.normal()).collect();
                    Tensor::from_vec(vals, o.shape())?.to_device(o.device())
                })
                .collect::<Result<_>>()?;
            let g = grad(&outs, &dx, Some(&v), false)?;
            let analytic: f64 = flat(&g)
                .iter()
                .zip(u.iter().flatten())
                .map(|(a, b)| a * b)
                .sum();
            let numeric: f64 = numeric_along(&u)?
                .iter()
                .zip(flat(&v))
                .map(|(a, b)| a * b)
                .sum();
            report.compare(analytic, numeric, opts);
        }
    }
    Ok(report)
}

/// Checks first derivatives of `f` at `inputs` (f64; i64 inputs are held constant).
pub fn gradcheck(
    f: &TestFn,
    inputs: &[Tensor],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport> {
    gradcheck_order(f, inputs, 1, opts)
}

/// Checks second derivatives of `f` at `inputs`.
pub fn gradgradcheck(
    f: &TestFn,
    inputs: &[Tensor],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport> {
    gradcheck_order(f, inputs, 2, opts)
}

/// Checks derivatives of order `order` (>= 1): the first derivative of
/// `(x, v) -> grad(f(x), x, v, create_graph = true)` nested `order - 1` times (random start `v`).
pub fn gradcheck_order(
    f: &TestFn,
    inputs: &[Tensor],
    order: usize,
    opts: &GradcheckOptions,
) -> Result<GradcheckReport> {
    if order == 0 {
        return Err(Error::Invalid("gradcheck: order must be at least 1".into()));
    }
    let xs = prepare(inputs)?;
    check_nested(f, &xs, order, order, opts)
}

fn check_nested(
    f: &TestFn,
    xs: &[Tensor],
    level: usize,
    order: usize,
    opts: &GradcheckOptions,
) -> Result<GradcheckReport> {
    if level == 1 {
        return check_first(f, xs, order, opts);
    }
    // As PyTorch's gradgradcheck: the lifted function takes the grad_outputs `v` as inputs too,
    // so the check also covers how each backward rule depends on the incoming gradient.
    let mut rng = Rng::new(opts.seed.wrapping_add(level as u64 * 7919));
    let vs: Vec<Tensor> = f(xs)?
        .iter()
        .map(|o| {
            Tensor::randn(o.shape(), DType::F64, &mut rng)
                .to_device(o.device())?
                .set_requires_grad(true)
        })
        .collect::<Result<_>>()?;
    let n_x = xs.len();
    let lifted = move |ys: &[Tensor]| -> Result<Vec<Tensor>> {
        let (x, v) = ys.split_at(n_x);
        let outs = f(x)?;
        grad(&outs, &diff_inputs(x), Some(v), true)
    };
    let mut all = xs.to_vec();
    all.extend(vs);
    check_nested(&lifted, &all, level - 1, order, opts)
}
