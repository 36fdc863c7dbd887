//! `maxl-cli gradcheck`: runs the engine's registered gradcheck cases at orders 1..=K and
//! prints, per op, the worst absolute and relative error at each order and pass/fail.

use anyhow::{bail, Result};
use maxl_engine::gradcheck::{gradcheck_order, GradcheckOptions, Mode};
use maxl_engine::ops::cases::{all_cases, OpCase};
use maxl_engine::{Device, Tensor};
use serde_json::json;
use std::collections::BTreeMap;

#[derive(clap::Args)]
pub struct Args {
    /// Highest derivative order to check: 1 = gradients, 2 = gradients of gradients, up to
    /// MAX_ORDER (4); each order multiplies the work of the one below.
    #[arg(long, default_value_t = 2)]
    order: usize,
    /// Comma-separated op names to check (default: all). Unknown names are an error.
    #[arg(long, value_delimiter = ',')]
    ops: Vec<String>,
    /// One JSON object per op, then a summary line `{"ops": N, "passed": M, "order": K}`.
    #[arg(long)]
    json: bool,
    /// `full` compares whole Jacobians; `fast` one random projection per check.
    #[arg(long, default_value = "full", value_parser = ["full", "fast"])]
    mode: String,
    /// Seed of the random inputs and projections.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Device to check on: cpu, cuda or cuda:N (the inputs are moved there; f64 throughout).
    #[arg(long, default_value = "cpu")]
    device: String,
}

struct OrderResult {
    abs: f64,
    rel: f64,
    passed: bool,
    error: Option<String>,
}

fn check_case(case: &OpCase, order: usize, opts: &GradcheckOptions, dev: Device) -> OrderResult {
    let f = |xs: &[Tensor]| (case.f)(xs).map(|y| vec![y]);
    let inputs = case
        .make_inputs(opts.seed)
        .iter()
        .map(|t| t.to_device(dev))
        .collect::<maxl_engine::Result<Vec<_>>>();
    match inputs.and_then(|xs| gradcheck_order(&f, &xs, order, opts)) {
        Ok(r) => OrderResult {
            abs: r.max_abs_err,
            rel: r.max_rel_err,
            passed: r.passed,
            error: None,
        },
        Err(e) => OrderResult {
            abs: f64::NAN,
            rel: f64::NAN,
            passed: false,
            error: Some(e.to_string()),
        },
    }
}

/// The highest `--order`: each order nests one more `grad` inside finite differences, so its
/// cost multiplies; order 4 already takes minutes, and the suite's claims stop at 3.
pub const MAX_ORDER: usize = 4;

pub fn run(a: Args) -> Result<bool> {
    if a.order == 0 || a.order > MAX_ORDER {
        bail!(
            "--order {} is out of range: it must be between 1 and {MAX_ORDER}",
            a.order
        );
    }
    let dev = Device::parse(&a.device)?;
    dev.ensure_available()?;
    let cases = all_cases();
    let mut by_op: BTreeMap<&str, Vec<&OpCase>> = BTreeMap::new();
    for c in &cases {
        by_op.entry(c.op).or_default().push(c);
    }
    for name in &a.ops {
        if !by_op.contains_key(name.as_str()) {
            let known: Vec<&str> = by_op.keys().copied().collect();
            bail!("unknown op '{name}'; known ops: {}", known.join(", "));
        }
    }
    let opts = GradcheckOptions {
        mode: if a.mode == "fast" {
            Mode::Fast
        } else {
            Mode::Full
        },
        seed: a.seed,
        ..GradcheckOptions::default()
    };
    let (mut n_ops, mut n_passed) = (0, 0);
    for (op, op_cases) in &by_op {
        if !a.ops.is_empty() && !a.ops.iter().any(|o| o == op) {
            continue;
        }
        n_ops += 1;
        let mut orders = Vec::new();
        let mut all_ok = true;
        for order in 1..=a.order {
            let mut worst = OrderResult {
                abs: 0.0,
                rel: 0.0,
                passed: true,
                error: None,
            };
            for case in op_cases {
                let r = check_case(case, order, &opts, dev);
                worst.abs = worst.abs.max(r.abs);
                worst.rel = worst.rel.max(r.rel);
                if r.abs.is_nan() {
                    worst.abs = f64::NAN;
                }
                worst.passed &= r.passed;
                if worst.error.is_none() {
                    worst.error = r.error.map(|e| format!("{}: {e}", case.what));
                }
            }
            all_ok &= worst.passed;
            orders.push(worst);
        }
        if all_ok {
            n_passed += 1;
        }
        if a.json {
            let per: Vec<_> = orders
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut o = json!({"order": i + 1, "max_abs_err": r.abs, "max_rel_err": r.rel, "passed": r.passed});
                    if let Some(e) = &r.error {
                        o["error"] = json!(e);
                    }
                    o
                })
                .collect();
            println!(
                "{}",
                json!({"op": op, "cases": op_cases.len(), "orders": per, "passed": all_ok})
            );
        } else {
            let cells: Vec<String> = orders
                .iter()
                .enumerate()
                .map(|(i, r)| format!("o{}: abs {:.1e} rel {:.1e}", i + 1, r.abs, r.rel))
                .collect();
            println!(
                "{:<14} {:<5} {}",
                op,
                if all_ok { "ok" } else { "FAIL" },
                cells.join(" | ")
            );
            for r in &orders {
                if let Some(e) = &r.error {
                    println!("    error: {e}");
                }
            }
        }
    }
    if a.json {
        println!(
            "{}",
            json!({"ops": n_ops, "passed": n_passed, "order": a.order, "device": dev.to_string()})
        );
    } else {
        println!("{n_passed}/{n_ops} ops passed up to order {}", a.order);
    }
    Ok(n_passed == n_ops)
}
