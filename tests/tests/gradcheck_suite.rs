//! The gradcheck suite: every registered op case through gradcheck and gradgradcheck in f64
//! (full Jacobians against central finite differences), order 3 for the ops whose third
//! derivatives the meta step relies on, and a check that the registry is fully covered.

use maxl_engine::gradcheck::{gradcheck, gradcheck_order, GradcheckOptions, Mode};
use maxl_engine::ops::cases::{all_cases, OpCase};
use maxl_engine::{OpKind, Tensor};
use std::collections::HashSet;

fn run(case: &OpCase, order: usize, mode: Mode, seed: u64) {
    let f = |xs: &[Tensor]| (case.f)(xs).map(|y| vec![y]);
    let opts = GradcheckOptions {
        mode,
        seed,
        ..GradcheckOptions::default()
    };
    let r = gradcheck_order(&f, &case.make_inputs(seed), order, &opts)
        .unwrap_or_else(|e| panic!("{} ({}): order {order} errored: {e}", case.op, case.what));
    assert!(
        r.passed && r.compared > 0,
        "{} ({}): order {order} failed: {r:?}",
        case.op,
        case.what
    );
}

#[test]
fn every_case_passes_order_1_and_2() {
    for case in all_cases() {
        for seed in [0, 1] {
            run(&case, 1, Mode::Full, seed);
            run(&case, 2, Mode::Full, seed);
        }
    }
}

#[test]
fn every_case_passes_fast_mode_order_2() {
    for case in all_cases() {
        run(&case, 2, Mode::Fast, 3);
    }
}

#[test]
fn order_3_for_the_ops_of_the_meta_step() {
    let wanted = [
        "exp",
        "log",
        "mul",
        "matmul",
        "softmax",
        "tanh",
        "log_softmax",
        "sigmoid",
        "div",
        "masked_softmax",
        "softmax_backward",
        "focal_loss",
        "focal_loss_backward",
    ];
    let cases = all_cases();
    for op in wanted {
        let mine: Vec<&OpCase> = cases.iter().filter(|c| c.op == op).collect();
        assert!(!mine.is_empty(), "no gradcheck case for {op}");
        for case in mine {
            run(case, 3, Mode::Full, 0);
        }
    }
}

#[test]
fn every_registered_op_is_recorded_by_some_case() {
    let mut covered = HashSet::new();
    for case in all_cases() {
        covered.extend(case.recorded_ops(0).expect("case runs"));
    }
    let missing: Vec<&str> = OpKind::all()
        .filter(|k| !covered.contains(k))
        .map(|k| k.name())
        .collect();
    assert!(
        missing.is_empty(),
        "ops without a gradcheck case: {missing:?}"
    );
}

#[test]
fn gradcheck_catches_a_wrong_gradient() {
    // d/dx (x * detach(x)) is reported as x by the tape, but the function's true derivative
    // is 2x: the check must fail, in both modes.
    let f = |xs: &[Tensor]| Ok(vec![xs[0].mul(&xs[0].detach())?]);
    let x = Tensor::from_vec(vec![0.5f64, -1.5, 2.0], &[3]).unwrap();
    for mode in [Mode::Full, Mode::Fast] {
        let opts = GradcheckOptions {
            mode,
            ..GradcheckOptions::default()
        };
        let r = gradcheck(&f, std::slice::from_ref(&x), &opts).unwrap();
        assert!(!r.passed, "{mode:?} mode missed a wrong gradient: {r:?}");
        assert!(r.max_abs_err > 0.4, "{r:?}");
    }
}

#[test]
fn gradgradcheck_catches_a_wrong_second_derivative() {
    // h(x) = (x - d(x)) * 3 d(x)^2 + d(x)^3 with d = detach: its value is x^3 and its taped
    // first derivative 3x^2 is right, but the tape's second derivative is 0, not 6x.
    let h = |xs: &[Tensor]| {
        let x = &xs[0];
        let d = x.detach();
        let slope = d.pow(2.0)?.mul_scalar(3.0)?;
        Ok(vec![x.sub(&d)?.mul(&slope)?.add(&d.pow(3.0)?)?])
    };
    let x = Tensor::from_vec(vec![0.5f64, -1.5, 2.0], &[3]).unwrap();
    let opts = GradcheckOptions::default();
    assert!(
        gradcheck(&h, std::slice::from_ref(&x), &opts)
            .unwrap()
            .passed
    );
    let second = gradcheck_order(&h, &[x], 2, &opts).unwrap();
    assert!(
        !second.passed,
        "a wrong second derivative went unnoticed: {second:?}"
    );
}
