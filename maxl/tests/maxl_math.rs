//! The mathematics of MAXL against hand computations and finite differences: Mask SoftMax,
//! focal loss and the entropy term (values and gradients), the second-order meta gradient
//! through the virtual step (plain, and with theta1's momentum and weight decay), the
//! first-order variant against it, and the two parts of the generator's gradient.

use maxl::hierarchy::Hierarchy;
use maxl::losses::{cross_entropy, entropy_term, focal_loss, mask_softmax};
use maxl::models::{Backbone, InputShape, Net, NetState};
use maxl::nn::{Params, Sgd};
use maxl::train::steps::l2_norm;
use maxl::train::{MaxlSetup, VirtualStep};
use maxl_engine::gradcheck::{gradcheck, GradcheckOptions};
use maxl_engine::{DType, Rng, Tensor};

fn f64s(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn labels(v: &[i64]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn hierarchy_shapes_and_the_unbalanced_split() {
    let h = Hierarchy::new(vec![2, 1, 3]).unwrap();
    assert_eq!(
        (h.total(), h.offset(2), h.owner(2), h.owner(3)),
        (6, 3, Some(1), Some(2))
    );
    let s = Hierarchy::split(7, 3, 11).unwrap();
    assert_eq!(s.total(), 7);
    let mut psi = s.psi().to_vec();
    psi.sort();
    assert_eq!(psi, vec![2, 2, 3]);
    assert_eq!(Hierarchy::split(7, 3, 11).unwrap(), s, "seeded");
    assert!(Hierarchy::split(2, 3, 0).is_err());
    assert!(Hierarchy::new(vec![2, 0]).is_err());
    assert!(Hierarchy::balanced(3, 10)
        .unwrap()
        .check_primary(9)
        .is_err());
}

#[test]
fn mask_softmax_matches_the_authors_formula() {
    // psi = [2, 1]: class 0 owns columns 0..2, class 1 column 2.
    let h = Hierarchy::new(vec![2, 1]).unwrap();
    let z = [1.0, 2.0, 3.0, -1.0, 0.5, 0.25];
    let y = labels(&[0, 1]);
    let p = mask_softmax(&f64s(&z, &[2, 3]), &y, &h, false)
        .unwrap()
        .to_f64_vec();
    let mask = [[1.0, 1.0, 1e-8], [1e-8, 1e-8, 1.0]];
    for r in 0..2 {
        let e: Vec<f64> = (0..3).map(|c| z[r * 3 + c].exp() * mask[r][c]).collect();
        let s: f64 = e.iter().sum();
        for c in 0..3 {
            assert!(close(p[r * 3 + c], e[c] / s, 1e-12), "row {r} col {c}");
        }
    }
    let exact = mask_softmax(&f64s(&z, &[2, 3]), &y, &h, true)
        .unwrap()
        .to_f64_vec();
    assert_eq!(exact[2], 0.0);
    assert!(close(exact[0], 1.0 / (1.0 + 1f64.exp()), 1e-12));
    assert_eq!(&exact[3..], &[0.0, 0.0, 1.0]);
    // Stable for large logits where the authors' exp(z) overflows.
    let big = mask_softmax(
        &f64s(&[1000.0, 999.0, 0.0], &[1, 3]),
        &labels(&[0]),
        &h,
        false,
    )
    .unwrap();
    assert!(big.to_f64_vec().iter().all(|v| v.is_finite()));
    // Gradient against finite differences.
    let f = |xs: &[Tensor]| Ok(vec![mask_softmax(&xs[0], &labels(&[0, 1]), &h, false)?]);
    assert!(
        gradcheck(&f, &[f64s(&z, &[2, 3])], &GradcheckOptions::default())
            .unwrap()
            .passed
    );
}

#[test]
fn focal_loss_matches_hand_values_and_gradients() {
    let z = [0.3, -1.2, 2.0, 0.0, 0.5, -0.5];
    let t = [0.2, 0.3, 0.5, 0.0, 1.0, 0.0];
    let loss = focal_loss(&f64s(&z, &[2, 3]), &f64s(&t, &[2, 3]), 2.0)
        .unwrap()
        .item()
        .unwrap();
    let mut want = 0.0;
    for r in 0..2 {
        let row = &z[r * 3..r * 3 + 3];
        let s: f64 = row.iter().map(|v| v.exp()).sum();
        for c in 0..3 {
            let p = row[c].exp() / s;
            want -= t[r * 3 + c] * (1.0 - p).powi(2) * (p + 1e-20).ln();
        }
    }
    assert!(close(loss, want / 2.0, 1e-12), "{loss} vs {}", want / 2.0);
    // gamma = 0 is cross-entropy: gradient (p - y) / N by hand.
    let y = labels(&[2, 0]);
    let onehot = Tensor::one_hot(&y, 3, DType::F64).unwrap();
    let x = f64s(&z, &[2, 3]).set_requires_grad(true).unwrap();
    let ce = focal_loss(&x, &onehot, 0.0).unwrap();
    assert!(close(
        ce.item().unwrap(),
        cross_entropy(&x, &y).unwrap().item().unwrap(),
        1e-12
    ));
    ce.backward().unwrap();
    let g = x.grad().unwrap().to_f64_vec();
    for r in 0..2 {
        let row = &z[r * 3..r * 3 + 3];
        let s: f64 = row.iter().map(|v| v.exp()).sum();
        for c in 0..3 {
            let yv = if c as i64 == [2, 0][r] { 1.0 } else { 0.0 };
            assert!(close(g[r * 3 + c], (row[c].exp() / s - yv) / 2.0, 1e-12));
        }
    }
    // gamma = 2 gradient, with respect to logits and soft targets, against finite differences.
    let f = |xs: &[Tensor]| Ok(vec![focal_loss(&xs[0], &xs[1], 2.0)?]);
    let r = gradcheck(
        &f,
        &[f64s(&z, &[2, 3]), f64s(&t, &[2, 3])],
        &GradcheckOptions::default(),
    )
    .unwrap();
    assert!(r.passed, "{r:?}");
}

#[test]
fn entropy_term_matches_hand_values_and_gradients() {
    let p = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6];
    let h = entropy_term(&f64s(&p, &[2, 3])).unwrap().item().unwrap();
    let pbar = [0.4, 0.25, 0.35];
    let want: f64 = pbar.iter().map(|q: &f64| q * q.ln()).sum();
    assert!(close(h, want, 1e-12));
    let f = |xs: &[Tensor]| Ok(vec![entropy_term(&xs[0])?]);
    assert!(
        gradcheck(&f, &[f64s(&p, &[2, 3])], &GradcheckOptions::default())
            .unwrap()
            .passed
    );
}

/// A tiny MAXL setup in f64: ConvNet-4 on 1x16x16 images, 2 primary classes, psi = [2, 2].
fn tiny() -> (MaxlSetup, NetState, NetState, Tensor, Tensor) {
    let input = InputShape {
        channels: 1,
        height: 16,
        width: 16,
    };
    let h = Hierarchy::balanced(2, 2).unwrap();
    let setup = MaxlSetup {
        multi_task: Net::multi_task(Backbone::ConvNet4, input, 2, h.total()),
        generator: Net::label_generator(Backbone::ConvNet4, input, h.total()),
        hierarchy: h,
        gamma: 2.0,
        entropy_weight: 0.2,
        exact_mask: false,
        fd_scale: 0.01,
    };
    let mut rng = Rng::new(3);
    let to64 = |s: NetState| NetState {
        params: s.params.to_dtype(DType::F64).unwrap(),
        buffers: s.buffers.to_dtype(DType::F64).unwrap(),
    };
    let mt = to64(setup.multi_task.init(&mut rng).unwrap());
    let gen = to64(setup.generator.init(&mut rng).unwrap());
    let x = Tensor::randn(&[4, 1, 16, 16], DType::F64, &mut rng);
    let y = labels(&[0, 1, 1, 0]);
    (setup, mt, gen, x, y)
}

/// theta1's SGD as the look-ahead sees it: momentum, weight decay and a momentum buffer.
struct SgdState<'a> {
    momentum: f64,
    weight_decay: f64,
    buffers: &'a Params,
}

/// The meta objective as a plain function of theta2: (primary focal loss at the fast weights,
/// that plus lambda * entropy), the fast weights written out here: theta1 - alpha g, or with
/// `sgd` theta1 - alpha (momentum buf + g + weight_decay theta1).
fn meta_objective_at(
    s: &MaxlSetup,
    mt: &NetState,
    gen: &NetState,
    x: &Tensor,
    y: &Tensor,
    alpha: f64,
    sgd: Option<&SgdState>,
) -> (f64, f64) {
    let (aux, _) = s.generate(gen, x, y, false).unwrap();
    let onehot = Tensor::one_hot(y, 2, DType::F64).unwrap();
    let (_, l, _) = s
        .multi_task
        .forward(&mt.params, &mt.buffers, x, true, false)
        .unwrap();
    let inner = focal_loss(&l[0], &onehot, 2.0)
        .unwrap()
        .add(&focal_loss(&l[1], &aux, 2.0).unwrap())
        .unwrap();
    let theta1 = mt.params.tensors();
    let g = maxl_engine::grad(&[inner], &theta1, None, false).unwrap();
    let fast: Vec<Tensor> = mt
        .params
        .iter()
        .zip(&g)
        .map(|((name, p), g)| {
            let (pv, gv) = (p.to_f64_vec(), g.to_f64_vec());
            let v: Vec<f64> = match sgd {
                None => pv.iter().zip(&gv).map(|(p, g)| p - alpha * g).collect(),
                Some(o) => {
                    let b = o.buffers.get(name).unwrap().to_f64_vec();
                    (0..pv.len())
                        .map(|i| {
                            pv[i] - alpha * (o.momentum * b[i] + gv[i] + o.weight_decay * pv[i])
                        })
                        .collect()
                }
            };
            f64s(&v, p.shape())
        })
        .collect();
    let fast = mt.params.with_tensors(fast).unwrap();
    let (_, fl, _) = s
        .multi_task
        .forward(&fast, &mt.buffers, x, true, false)
        .unwrap();
    let after = focal_loss(&fl[0], &onehot, 2.0).unwrap().item().unwrap();
    (
        after,
        after + 0.2 * entropy_term(&aux).unwrap().item().unwrap(),
    )
}

/// The meta objective with the plain virtual step.
fn meta_objective(
    s: &MaxlSetup,
    mt: &NetState,
    gen: &NetState,
    x: &Tensor,
    y: &Tensor,
    alpha: f64,
) -> f64 {
    meta_objective_at(s, mt, gen, x, y, alpha, None).1
}

/// theta2 moved by `step * u`.
fn moved(gen: &NetState, u: &[Vec<f64>], step: f64) -> NetState {
    let ts: Vec<Tensor> = gen
        .params
        .tensors()
        .iter()
        .zip(u)
        .map(|(p, d)| {
            let v: Vec<f64> = p
                .to_f64_vec()
                .iter()
                .zip(d)
                .map(|(a, b)| a + step * b)
                .collect();
            f64s(&v, p.shape()).set_requires_grad(true).unwrap()
        })
        .collect();
    NetState {
        params: gen.params.with_tensors(ts).unwrap(),
        buffers: gen.buffers.clone(),
    }
}

fn dot(g: &[Tensor], u: &[Vec<f64>]) -> f64 {
    g.iter()
        .zip(u)
        .map(|(t, d)| {
            t.to_f64_vec()
                .iter()
                .zip(d)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        })
        .sum()
}

#[test]
fn second_order_meta_gradient_matches_finite_differences() {
    let (s, mt, gen, x, y) = tiny();
    let alpha = 0.1;
    let out = s.stage2(&mt, &gen, &x, &y, alpha).unwrap();
    let mut rng = Rng::new(9);
    for _ in 0..3 {
        let u: Vec<Vec<f64>> = gen
            .params
            .tensors()
            .iter()
            .map(|p| (0..p.numel()).map(|_| rng.normal()).collect())
            .collect();
        // Small enough that no ReLU or max-pool switches inside the interval (at 1e-5 some do).
        let eps = 1e-7;
        let fd = (meta_objective(&s, &mt, &moved(&gen, &u, eps), &x, &y, alpha)
            - meta_objective(&s, &mt, &moved(&gen, &u, -eps), &x, &y, alpha))
            / (2.0 * eps);
        let analytic = dot(&out.grads, &u);
        assert!(
            (analytic - fd).abs() <= 1e-7 + 1e-6 * fd.abs(),
            "analytic {analytic} vs finite differences {fd}"
        );
    }
    // The part that flows through the virtual step is not negligible: without it (alpha -> 0
    // keeps only the entropy gradient) the projection differs.
    let u: Vec<Vec<f64>> = gen
        .params
        .tensors()
        .iter()
        .map(|p| (0..p.numel()).map(|_| rng.normal()).collect())
        .collect();
    let full = dot(&out.grads, &u);
    let only_entropy = dot(&s.stage2(&mt, &gen, &x, &y, 0.0).unwrap().grads, &u);
    assert!(
        (full - only_entropy).abs() > 1e-6 * full.abs().max(1e-12),
        "{full} vs {only_entropy}"
    );
}

fn relative_distance(a: &[Tensor], b: &[Tensor]) -> (f64, f64) {
    let (mut num, mut den, mut ab, mut bb) = (0.0, 0.0, 0.0, 0.0);
    for (e, f) in a.iter().zip(b) {
        for (p, q) in e.to_f64_vec().iter().zip(f.to_f64_vec()) {
            num += (p - q) * (p - q);
            den += p * p;
            ab += p * q;
            bb += q * q;
        }
    }
    ((num / den).sqrt(), ab / (den.sqrt() * bb.sqrt()))
}

#[test]
fn first_order_generator_gradient_is_close_to_the_exact_one() {
    let (mut s, mt, gen, x, y) = tiny();
    let exact = s.stage2(&mt, &gen, &x, &y, 0.1).unwrap().grads;
    // With the authors' scale (0.01) the finite difference crosses some ReLU/max-pool kinks of
    // the multi-task network, so it is only close; with a small scale it converges to exact.
    let (rel, cos) = relative_distance(
        &exact,
        &s.stage2_first_order(&mt, &gen, &x, &y, 0.1).unwrap().grads,
    );
    assert!(
        cos > 0.99 && rel < 0.2,
        "scale 0.01: relative distance {rel}, cosine {cos}"
    );
    s.fd_scale = 1e-6;
    let (rel, _) = relative_distance(
        &exact,
        &s.stage2_first_order(&mt, &gen, &x, &y, 0.1).unwrap().grads,
    );
    assert!(rel < 1e-4, "scale 1e-6: relative distance {rel}");
}

/// A random direction in theta2's space.
fn direction(gen: &NetState, rng: &mut Rng) -> Vec<Vec<f64>> {
    gen.params
        .tensors()
        .iter()
        .map(|p| (0..p.numel()).map(|_| rng.normal()).collect())
        .collect()
}

/// theta1's optimiser after some steps: momentum 0.9, a weight decay large enough to matter,
/// random momentum buffers.
fn sgd_with_history(mt: &NetState) -> Sgd {
    let mut opt = Sgd::new(0.1, 0.9, 0.05);
    let mut rng = Rng::new(21);
    for (name, p) in mt.params.iter() {
        let b = Tensor::randn(p.shape(), DType::F64, &mut rng)
            .mul_scalar(0.3)
            .unwrap();
        opt.state.insert(name, b);
    }
    opt
}

#[test]
fn sgd_lookahead_meta_gradient_matches_finite_differences() {
    let (s, mt, gen, x, y) = tiny();
    let alpha = 0.1;
    let opt = sgd_with_history(&mt);
    let like = SgdState {
        momentum: 0.9,
        weight_decay: 0.05,
        buffers: &opt.state,
    };
    let step = VirtualStep::like_sgd(&opt, alpha);
    let out = s.stage2_at(&mt, &gen, &x, &y, &step, false).unwrap();
    // The fast weights are the ones written out by hand: the primary loss there agrees.
    let (after, _) = meta_objective_at(&s, &mt, &gen, &x, &y, alpha, Some(&like));
    let loss_after = out.read().unwrap().loss_after;
    assert!(close(loss_after, after, 1e-12), "{loss_after} vs {after}");
    let mut rng = Rng::new(10);
    for _ in 0..3 {
        let u = direction(&gen, &mut rng);
        let eps = 1e-7;
        let f =
            |e: f64| meta_objective_at(&s, &mt, &moved(&gen, &u, e), &x, &y, alpha, Some(&like)).1;
        let fd = (f(eps) - f(-eps)) / (2.0 * eps);
        let analytic = dot(&out.grads, &u);
        assert!(
            (analytic - fd).abs() <= 1e-7 + 1e-6 * fd.abs(),
            "analytic {analytic} vs finite differences {fd}"
        );
    }
    // It is another step than the plain one: the loss there and theta2's gradient differ.
    let plain = s.stage2(&mt, &gen, &x, &y, alpha).unwrap();
    let plain_after = plain.read().unwrap().loss_after;
    assert!((plain_after - loss_after).abs() > 1e-4);
    let (rel, _) = relative_distance(&plain.grads, &out.grads);
    assert!(rel > 1e-3, "relative distance {rel}");
    // Without momentum and weight decay it is the plain step, number for number.
    let bare = Sgd::new(0.1, 0.0, 0.0);
    let same = s
        .stage2_at(
            &mt,
            &gen,
            &x,
            &y,
            &VirtualStep::like_sgd(&bare, alpha),
            false,
        )
        .unwrap();
    assert_eq!(
        same.read().unwrap().loss_after.to_bits(),
        plain_after.to_bits()
    );
    assert_eq!(relative_distance(&plain.grads, &same.grads).0, 0.0);
}

#[test]
fn first_order_with_sgd_lookahead_converges_to_the_exact_gradient() {
    let (mut s, mt, gen, x, y) = tiny();
    let opt = sgd_with_history(&mt);
    let step = VirtualStep::like_sgd(&opt, 0.1);
    let exact = s.stage2_at(&mt, &gen, &x, &y, &step, false).unwrap();
    s.fd_scale = 1e-6;
    let fo = s
        .stage2_first_order_at(&mt, &gen, &x, &y, &step, false)
        .unwrap();
    let (rel, _) = relative_distance(&exact.grads, &fo.grads);
    assert!(rel < 1e-4, "relative distance {rel}");
    let (fo, exact) = (fo.read().unwrap(), exact.read().unwrap());
    assert!(close(fo.loss_after, exact.loss_after, 1e-12));
}

#[test]
fn l2_norm_by_hand() {
    let a = f64s(&[3.0, -4.0], &[2]);
    let b = f64s(&[12.0], &[1, 1]);
    assert!(close(l2_norm(&[a, b]).unwrap(), 13.0, 1e-15));
    assert_eq!(l2_norm(&[]).unwrap(), 0.0);
}

/// ||lambda grad(H, theta2)|| for the generated labels of the batch.
fn entropy_part(s: &MaxlSetup, gen: &NetState, x: &Tensor, y: &Tensor) -> f64 {
    let (aux, _) = s.generate(gen, x, y, true).unwrap();
    let h = entropy_term(&aux).unwrap();
    let g = maxl_engine::grad(&[h], &gen.params.tensors(), None, false).unwrap();
    0.2 * g
        .iter()
        .flat_map(|t| t.to_f64_vec())
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt()
}

fn norm(ts: &[Tensor]) -> f64 {
    ts.iter()
        .flat_map(|t| t.to_f64_vec())
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt()
}

#[test]
fn the_gradient_parts_are_the_primary_and_entropy_gradients_and_change_nothing() {
    let (s, mt, gen, x, y) = tiny();
    let step = VirtualStep::plain(0.1);
    let without_lambda = MaxlSetup {
        entropy_weight: 0.0,
        ..s.clone()
    };
    let want_entropy = entropy_part(&s, &gen, &x, &y);
    assert!(want_entropy > 0.0);
    for first_order in [false, true] {
        let run = |s: &MaxlSetup, measure: bool| match first_order {
            false => s.stage2_at(&mt, &gen, &x, &y, &step, measure).unwrap(),
            true => s
                .stage2_first_order_at(&mt, &gen, &x, &y, &step, measure)
                .unwrap(),
        };
        let measured = run(&s, true);
        let plain = run(&s, false);
        assert!(plain.read().unwrap().parts.is_none());
        // The update is the same, bit for bit.
        for (a, b) in measured.grads.iter().zip(&plain.grads) {
            let bits = |t: &Tensor| {
                t.to_f64_vec()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(a), bits(b), "first order: {first_order}");
        }
        let parts = measured.read().unwrap().parts.unwrap();
        // The primary part is theta2's gradient with lambda = 0.
        let want_primary = norm(&run(&without_lambda, false).grads);
        assert!(
            close(parts.primary, want_primary, 1e-9),
            "first order {first_order}: primary {} vs {want_primary}",
            parts.primary
        );
        assert!(
            close(parts.entropy, want_entropy, 1e-9),
            "first order {first_order}: entropy {} vs {want_entropy}",
            parts.entropy
        );
        let zero = run(&without_lambda, true).read().unwrap().parts.unwrap();
        assert_eq!(zero.entropy, 0.0);
    }
}
