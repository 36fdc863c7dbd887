//! The fused Mask SoftMax and focal loss against the compositions of primitive ops they
//! replaced (written out here), in f64: values, gradients and gradients of gradients agree to
//! about 1e-12, and so do a MAXL stage-1 gradient and the second-order stage-2 meta-gradient
//! (computed here through the compositions, by the library through the fused ops).

use maxl::hierarchy::Hierarchy;
use maxl::losses::{entropy_term, focal_loss, mask_softmax};
use maxl::models::{Backbone, InputShape, Net, NetState};
use maxl::train::MaxlSetup;
use maxl_engine::{grad, DType, Rng, Tensor};

/// Mask SoftMax as a composition: the table's rows gathered, added, softmax.
fn composed_mask_softmax(z: &Tensor, y: &Tensor, h: &Hierarchy, exact: bool) -> Tensor {
    let table = h.log_mask(exact, z.dtype());
    let rows = table.index_select(0, y).unwrap();
    z.add(&rows).unwrap().softmax(1).unwrap()
}

/// The focal loss as a composition: log_softmax, exp, pow, sums, mean.
fn composed_focal(z: &Tensor, t: &Tensor, gamma: f64) -> Tensor {
    let logp = z.log_softmax(1).unwrap();
    let weight = if gamma == 0.0 {
        t.clone()
    } else {
        let q = logp.exp().unwrap().rsub_scalar(1.0).unwrap();
        t.mul(&q.pow(gamma).unwrap()).unwrap()
    };
    let rows = weight.mul(&logp).unwrap().sum(&[1], false).unwrap();
    rows.mean(&[], false).unwrap().neg().unwrap()
}

/// Largest `|a - b| / (1 + |b|)` over two lists of tensors of the same shapes.
fn max_rel_diff(a: &[Tensor], b: &[Tensor]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut worst: f64 = 0.0;
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.shape(), y.shape());
        for (u, v) in x.to_f64_vec().iter().zip(y.to_f64_vec()) {
            worst = worst.max((u - v).abs() / (1.0 + v.abs()));
        }
    }
    worst
}

/// The value of `f` at `xs`, its gradient and the gradient of `sum(grad * v)` (a
/// Hessian-vector product), all in the inputs `xs`.
fn derivatives(f: &dyn Fn(&[Tensor]) -> Tensor, xs: &[Tensor], seed: u64) -> Vec<Tensor> {
    let xs: Vec<Tensor> = xs
        .iter()
        .map(|t| t.detach().set_requires_grad(true).unwrap())
        .collect();
    let y = f(&xs);
    let mut rng = Rng::new(seed);
    let w = Tensor::randn(y.shape(), DType::F64, &mut rng);
    let scalar = y.mul(&w).unwrap().sum_all().unwrap();
    let g = grad(&[scalar], &xs, None, true).unwrap();
    let mut dot: Option<Tensor> = None;
    for gi in &g {
        let v = Tensor::randn(gi.shape(), DType::F64, &mut rng);
        let term = gi.mul(&v).unwrap().sum_all().unwrap();
        dot = Some(match dot {
            Some(d) => d.add(&term).unwrap(),
            None => term,
        });
    }
    let hv = grad(&[dot.unwrap()], &xs, None, false).unwrap();
    let mut out = vec![y.detach()];
    out.extend(g.iter().map(Tensor::detach));
    out.extend(hv);
    out
}

#[test]
fn fused_mask_softmax_equals_the_composition() {
    let h = Hierarchy::new(vec![2, 3, 1]).unwrap();
    let mut rng = Rng::new(5);
    let z = Tensor::randn(&[7, 6], DType::F64, &mut rng)
        .mul_scalar(3.0)
        .unwrap();
    let y = Tensor::from_vec(vec![0i64, 2, 1, 1, 0, 2, 1], &[7]).unwrap();
    for exact in [false, true] {
        let fused = derivatives(
            &|x| mask_softmax(&x[0], &y, &h, exact).unwrap(),
            std::slice::from_ref(&z),
            1,
        );
        let composed = derivatives(
            &|x| composed_mask_softmax(&x[0], &y, &h, exact),
            std::slice::from_ref(&z),
            1,
        );
        let d = max_rel_diff(&fused, &composed);
        eprintln!("mask softmax, exact {exact}: largest relative difference {d:e}");
        assert!(d < 1e-12, "exact {exact}: differs by {d}");
    }
}

#[test]
fn fused_focal_loss_equals_the_composition() {
    let mut rng = Rng::new(6);
    let z = Tensor::randn(&[5, 4], DType::F64, &mut rng)
        .mul_scalar(2.0)
        .unwrap();
    let t = Tensor::rand(&[5, 4], DType::F64, &mut rng);
    for gamma in [2.0, 0.0, 1.5] {
        let inputs = [z.clone(), t.clone()];
        let fused = derivatives(&|x| focal_loss(&x[0], &x[1], gamma).unwrap(), &inputs, 2);
        let composed = derivatives(&|x| composed_focal(&x[0], &x[1], gamma), &inputs, 2);
        let d = max_rel_diff(&fused, &composed);
        eprintln!("focal loss, gamma {gamma}: largest relative difference {d:e}");
        assert!(d < 1e-12, "gamma {gamma}: differs by {d}");
    }
}

/// A small MAXL setup in f64: ConvNet-4 on 1x16x16 images, 3 primary classes, psi [2, 3, 2].
fn tiny() -> (MaxlSetup, NetState, NetState, Tensor, Tensor) {
    let input = InputShape {
        channels: 1,
        height: 16,
        width: 16,
    };
    let h = Hierarchy::new(vec![2, 3, 2]).unwrap();
    let setup = MaxlSetup {
        multi_task: Net::multi_task(Backbone::ConvNet4, input, 3, h.total()),
        generator: Net::label_generator(Backbone::ConvNet4, input, h.total()),
        hierarchy: h,
        gamma: 2.0,
        entropy_weight: 0.2,
        exact_mask: false,
        fd_scale: 0.01,
    };
    let mut rng = Rng::new(8);
    let to64 = |s: NetState| NetState {
        params: s.params.to_dtype(DType::F64).unwrap(),
        buffers: s.buffers.to_dtype(DType::F64).unwrap(),
    };
    let mt = to64(setup.multi_task.init(&mut rng).unwrap());
    let gen = to64(setup.generator.init(&mut rng).unwrap());
    let x = Tensor::randn(&[5, 1, 16, 16], DType::F64, &mut rng);
    let y = Tensor::from_vec(vec![0i64, 2, 1, 1, 0], &[5]).unwrap();
    (setup, mt, gen, x, y)
}

#[test]
fn maxl_gradients_equal_those_through_the_compositions() {
    let (s, mt, gen, x, y) = tiny();
    let onehot = Tensor::one_hot(&y, 3, DType::F64).unwrap();
    let (_, gl, _) = s
        .generator
        .forward(&gen.params, &gen.buffers, &x, true, false)
        .unwrap();
    let aux = composed_mask_softmax(&gl[0], &y, &s.hierarchy, false);

    // Stage 1: theta1's gradient of primary + auxiliary focal loss.
    let aux_const = aux.detach();
    let (_, l, _) = s
        .multi_task
        .forward(&mt.params, &mt.buffers, &x, true, false)
        .unwrap();
    let loss = composed_focal(&l[0], &onehot, 2.0)
        .add(&composed_focal(&l[1], &aux_const, 2.0))
        .unwrap();
    let want = grad(&[loss], &mt.params.tensors(), None, false).unwrap();
    let got = s
        .stage1(&s.multi_task, &mt, &x, &y, Some(&aux_const), false)
        .unwrap();
    let d = max_rel_diff(&got.grads, &want);
    eprintln!("stage-1 gradient: largest relative difference {d:e}");
    assert!(d < 1e-12, "stage 1: differs by {d}");

    // Stage 2, second order, plain virtual step of 0.1.
    let alpha = 0.1;
    let theta1 = mt.params.tensors();
    let (_, l, _) = s
        .multi_task
        .forward(&mt.params, &mt.buffers, &x, true, false)
        .unwrap();
    let inner = composed_focal(&l[0], &onehot, 2.0)
        .add(&composed_focal(&l[1], &aux, 2.0))
        .unwrap();
    let g = grad(&[inner], &theta1, None, true).unwrap();
    let fast: Vec<Tensor> = theta1
        .iter()
        .zip(&g)
        .map(|(p, g)| p.sub(&g.mul_scalar(alpha).unwrap()).unwrap())
        .collect();
    let fast = mt.params.with_tensors(fast).unwrap();
    let (_, fl, _) = s
        .multi_task
        .forward(&fast, &mt.buffers, &x, true, false)
        .unwrap();
    let meta = composed_focal(&fl[0], &onehot, 2.0)
        .add(&entropy_term(&aux).unwrap().mul_scalar(0.2).unwrap())
        .unwrap();
    let want = grad(&[meta], &gen.params.tensors(), None, false).unwrap();
    let got = s.stage2(&mt, &gen, &x, &y, alpha).unwrap();
    let d = max_rel_diff(&got.grads, &want);
    eprintln!("stage-2 meta-gradient: largest relative difference {d:e}");
    assert!(d < 1e-12, "stage-2 meta-gradient: differs by {d}");
    // Not all zero: the comparison means something.
    assert!(want
        .iter()
        .any(|t| t.to_f64_vec().iter().any(|v| v.abs() > 1e-6)));
}
