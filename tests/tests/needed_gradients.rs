//! `grad` computes only what is asked for: nodes that lead to no requested input are skipped,
//! and each backward rule is told which of its inputs are needed (the engine's counters show
//! it), with the same gradients as when everything is computed. Casts by `to_dtype`.

// `grad` takes slices of handles; building them from clones reads best in tests.
#![allow(clippy::cloned_ref_to_slice_refs)]

use maxl_engine::{grad, stats, DType, Tensor};

fn leaf(vals: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(vals.to_vec(), shape)
        .unwrap()
        .set_requires_grad(true)
        .unwrap()
}

#[test]
fn branches_that_lead_to_no_requested_input_are_skipped() {
    // y = sum(exp(a)) + sum(exp(b)): five nodes; the gradient of a needs three of them.
    let a = leaf(&[0.0, 1.0], &[2]);
    let b = leaf(&[2.0, -1.0], &[2]);
    let y = a
        .exp()
        .unwrap()
        .sum_all()
        .unwrap()
        .add(&b.exp().unwrap().sum_all().unwrap())
        .unwrap();
    let before = stats();
    let g = grad(&[y.clone()], &[a.clone()], None, false).unwrap();
    assert_eq!((stats() - before).backward_rules, 3);
    assert_eq!(g[0].to_vec::<f64>().unwrap(), vec![1.0, 1f64.exp()]);
    let before = stats();
    let both = grad(&[y], &[a, b], None, false).unwrap();
    assert_eq!((stats() - before).backward_rules, 5);
    assert_eq!(
        both[0].to_vec::<f64>().unwrap(),
        g[0].to_vec::<f64>().unwrap()
    );
    assert_eq!(
        both[1].to_vec::<f64>().unwrap(),
        vec![2f64.exp(), (-1f64).exp()]
    );
}

#[test]
fn a_rule_computes_only_the_needed_input_gradients() {
    // y = sum(A @ B): dA = G B^T, dB = A^T G (G all ones).
    let a = leaf(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let b = leaf(&[5.0, 6.0, 7.0, 8.0], &[2, 2]);
    let y = a.matmul(&b).unwrap().sum_all().unwrap();
    let before = stats();
    let ga = grad(&[y.clone()], &[a.clone()], None, false).unwrap();
    let only_a = (stats() - before).ops_run;
    let before = stats();
    let gab = grad(&[y], &[a, b], None, false).unwrap();
    let both = (stats() - before).ops_run;
    // The product's rule for B alone costs one transposed view and one product.
    assert_eq!(both - only_a, 2);
    assert_eq!(ga[0].to_vec::<f64>().unwrap(), vec![11.0, 15.0, 11.0, 15.0]);
    assert_eq!(
        gab[0].to_vec::<f64>().unwrap(),
        vec![11.0, 15.0, 11.0, 15.0]
    );
    assert_eq!(gab[1].to_vec::<f64>().unwrap(), vec![4.0, 4.0, 6.0, 6.0]);
}

#[test]
fn casts_between_dtypes_by_hand() {
    let x = Tensor::from_vec(vec![1.5f64, -2.25, 3.0, 7.75], &[2, 2]).unwrap();
    // Of a transposed view: the copy is dense in the view's order.
    let t = x.t().unwrap();
    assert_eq!(
        t.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap(),
        vec![1.5, 3.0, -2.25, 7.75]
    );
    assert_eq!(
        t.to_dtype(DType::I64).unwrap().to_vec::<i64>().unwrap(),
        vec![1, 3, -2, 7]
    );
    let i = Tensor::from_vec(vec![3i64, -4], &[2]).unwrap();
    assert_eq!(
        i.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap(),
        vec![3.0, -4.0]
    );
    assert!(!x
        .set_requires_grad(true)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .requires_grad());
}
