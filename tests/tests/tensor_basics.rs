//! Tensors and the tape, against hand-computed values: constructors, views, broadcasting,
//! reductions, determinism, `no_grad`, `detach`, `backward` accumulation, unreached inputs.

// `grad` takes slices of handles; building them from clones reads best in tests.
#![allow(clippy::cloned_ref_to_slice_refs)]

use maxl_engine::{grad, no_grad, DType, Rng, Tensor};

fn v64(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec()
}

fn m(vals: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(vals.to_vec(), shape).unwrap()
}

#[test]
fn constructors_and_reading() {
    assert_eq!(
        v64(&Tensor::arange(1.0, 2.0, 0.25, DType::F32).unwrap()),
        vec![1.0, 1.25, 1.5, 1.75]
    );
    assert_eq!(v64(&Tensor::full(&[2, 2], 3.5, DType::F64)), vec![3.5; 4]);
    assert_eq!(Tensor::zeros(&[0, 3], DType::F32).numel(), 0);
    assert_eq!(Tensor::scalar(2.0, DType::F64).item().unwrap(), 2.0);
    let a = Tensor::randn(&[4, 5], DType::F32, &mut Rng::new(3));
    let b = Tensor::randn(&[4, 5], DType::F32, &mut Rng::new(3));
    assert_eq!(a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    let u = Tensor::rand(&[1000], DType::F64, &mut Rng::new(1))
        .to_vec::<f64>()
        .unwrap();
    assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
    let mean = u.iter().sum::<f64>() / 1000.0;
    assert!((mean - 0.5).abs() < 0.05, "{mean}");
    let s = format!(
        "{}",
        m(&[1.0, 2.0, 3.0], &[3]).set_requires_grad(true).unwrap()
    );
    assert!(
        s.contains("shape=[3]")
            && s.contains("f64")
            && s.contains("2.0000")
            && s.contains("requires_grad"),
        "{s}"
    );
}

#[test]
fn views_share_storage_and_read_right() {
    let x = m(&[0., 1., 2., 3., 4., 5.], &[2, 3]);
    let t = x.t().unwrap();
    assert_eq!(t.shape(), &[3, 2]);
    assert_eq!(v64(&t), vec![0., 3., 1., 4., 2., 5.]);
    assert_eq!(v64(&x.narrow(1, 1, 2).unwrap()), vec![1., 2., 4., 5.]);
    assert_eq!(v64(&t.narrow(0, 2, 1).unwrap()), vec![2., 5.]);
    assert_eq!(
        v64(&m(&[1., 2.], &[2, 1]).broadcast_to(&[2, 3]).unwrap()),
        vec![1., 1., 1., 2., 2., 2.]
    );
    assert_eq!(v64(&t.reshape(&[6]).unwrap()), vec![0., 3., 1., 4., 2., 5.]);
    assert_eq!(
        v64(&x.permute(&[1, 0]).unwrap().contiguous().unwrap()),
        v64(&t)
    );
    let st = Tensor::stack(&[m(&[1., 2.], &[2]), m(&[3., 4.], &[2])], 1).unwrap();
    assert_eq!(
        (st.shape().to_vec(), v64(&st)),
        (vec![2, 2], vec![1., 3., 2., 4.])
    );
}

#[test]
fn elementwise_and_reductions_match_hand_values() {
    let a = m(&[1., -2., 3., -4., 5., -6.], &[2, 3]);
    let b = m(&[10., 20., 30.], &[3]);
    assert_eq!(v64(&a.add(&b).unwrap()), vec![11., 18., 33., 6., 25., 24.]);
    assert_eq!(v64(&a.sum(&[0], false).unwrap()), vec![-3., 3., -3.]);
    assert_eq!(v64(&a.sum(&[1], true).unwrap()), vec![2., -5.]);
    assert_eq!(v64(&a.max(&[1], false).unwrap()), vec![3., 5.]);
    assert_eq!(v64(&a.min(&[], false).unwrap()), vec![-6.]);
    assert_eq!(v64(&a.mean(&[], false).unwrap()), vec![-0.5]);
    assert_eq!(v64(&a.relu().unwrap()), vec![1., 0., 3., 0., 5., 0.]);
    assert_eq!(
        v64(&a.clamp(-1.0, 2.0).unwrap()),
        vec![1., -1., 2., -1., 2., -1.]
    );
    let c = m(&[1., 2., 3., 4.], &[2, 2]);
    assert_eq!(v64(&c.matmul(&c).unwrap()), vec![7., 10., 15., 22.]);
    let sm = m(&[0., 0., 2f64.ln()], &[1, 3]).softmax(1).unwrap();
    for (got, want) in v64(&sm).iter().zip([0.25, 0.25, 0.5]) {
        assert!((got - want).abs() < 1e-12);
    }
    let lse = m(&[1000., 1000.], &[2])
        .logsumexp(0, false)
        .unwrap()
        .item()
        .unwrap();
    assert!(
        (lse - (1000.0 + 2f64.ln())).abs() < 1e-9,
        "stable logsumexp: {lse}"
    );
    let labels = Tensor::from_vec(vec![2i64, 0], &[2]).unwrap();
    assert_eq!(
        v64(&Tensor::one_hot(&labels, 3, DType::F32).unwrap()),
        vec![0., 0., 1., 1., 0., 0.]
    );
    let idx = Tensor::from_vec(vec![1i64, 0, 0], &[3]).unwrap();
    assert_eq!(
        v64(&a.index_select(0, &idx).unwrap()),
        vec![-4., 5., -6., 1., -2., 3., 1., -2., 3.]
    );
    let gi = Tensor::from_vec(vec![2i64, 0], &[2, 1]).unwrap();
    assert_eq!(v64(&a.gather(1, &gi).unwrap()), vec![3., -4.]);
    let z = Tensor::zeros(&[2, 3], DType::F64);
    assert_eq!(
        v64(&z.scatter_add(1, &gi, &m(&[7., 8.], &[2, 1])).unwrap()),
        vec![0., 0., 7., 8., 0., 0.]
    );
    let w = Tensor::where_cond(&m(&[1., 0., 1.], &[3]), &a, &b).unwrap();
    assert_eq!(v64(&w), vec![1., 20., 3., -4., 20., -6.]);
}

#[test]
fn sums_are_deterministic_and_accurate_on_large_inputs() {
    let x = Tensor::rand(&[300_000], DType::F32, &mut Rng::new(5));
    let s1 = x.sum_all().unwrap().item().unwrap();
    let s2 = x.sum_all().unwrap().item().unwrap();
    assert_eq!(s1.to_bits(), s2.to_bits());
    let exact: f64 = x.to_vec::<f32>().unwrap().iter().map(|&v| v as f64).sum();
    assert!((s1 - exact).abs() / exact < 1e-5, "{s1} vs {exact}");
}

#[test]
fn backward_accumulates_hand_derived_gradients() {
    // f(a, b) = sum(a * b + a^2) -> df/da = b + 2a, df/db = a
    let a = m(&[1., 2.], &[2]).set_requires_grad(true).unwrap();
    let b = m(&[3., -1.], &[2]).set_requires_grad(true).unwrap();
    let f = || {
        a.mul(&b)
            .unwrap()
            .add(&a.pow(2.0).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
    };
    f().backward().unwrap();
    assert_eq!(v64(&a.grad().unwrap()), vec![5., 3.]);
    assert_eq!(v64(&b.grad().unwrap()), vec![1., 2.]);
    f().backward().unwrap();
    assert_eq!(v64(&a.grad().unwrap()), vec![10., 6.], "grads accumulate");
    a.zero_grad();
    assert!(a.grad().is_none());
}

#[test]
fn grad_of_grad_and_unreached_inputs() {
    let x = m(&[0.5, -1.0], &[2]).set_requires_grad(true).unwrap();
    let other = m(&[1.0], &[1]).set_requires_grad(true).unwrap();
    let y = x.tanh().unwrap().sum_all().unwrap();
    let g = grad(&[y], &[x.clone(), other.clone()], None, true).unwrap();
    assert_eq!(v64(&g[1]), vec![0.0], "unreached input gets zeros");
    let y2 = x.tanh().unwrap().sum_all().unwrap();
    let e =
        maxl_engine::grad_with(&[y2], &[x.clone(), other.clone()], None, false, false).unwrap_err();
    assert!(e.to_string().contains("input 1"), "{e}");
    // d/dx (1 - tanh^2) = -2 tanh (1 - tanh^2)
    let gg = grad(&[g[0].sum_all().unwrap()], &[x.clone()], None, false).unwrap();
    for (got, &xv) in v64(&gg[0]).iter().zip(&[0.5f64, -1.0]) {
        let t = xv.tanh();
        assert!((got - (-2.0 * t * (1.0 - t * t))).abs() < 1e-12);
    }
    assert!(
        !gg[0].requires_grad(),
        "create_graph = false gives constants"
    );
}

#[test]
fn no_grad_and_detach_stop_recording() {
    let x = m(&[1.0], &[1]).set_requires_grad(true).unwrap();
    {
        let _g = no_grad();
        let y = x.exp().unwrap();
        assert!(!y.requires_grad() && y.is_leaf());
    }
    let y = x.exp().unwrap();
    assert!(y.requires_grad());
    assert_eq!(y.op_name(), Some("exp"));
    let d = y.detach();
    assert!(!d.requires_grad() && d.is_leaf());
    assert_eq!(v64(&d), v64(&y));
}
