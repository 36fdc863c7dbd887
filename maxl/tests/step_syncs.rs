//! A MAXL step never waits for its device: on the CUDA backend (a GPU, or the kernel emulator
//! where there is none) a B1-shaped stage-1 step (the generator's labels, the step, theta1's
//! SGD update) and stage-2 step (second order and first order, each with and without the
//! gradient parts, then theta2's update) make no host synchronisation, and reading a step's
//! figures (the logged losses) makes exactly one. Counted by the engine's stats. ConvNet-4 on
//! 1x28x28 images, 10 primary classes, psi = [3] * 10, as configuration B1, batch 2
//! (the kernel emulator runs every CUDA thread on the CPU). The trainer keeps the figures on
//! the device for a whole pass: a MAXL epoch (second and first order) of 2 batches makes as
//! many synchronisations as one of 1 batch.

use maxl::data::{Loader, LoaderConfig, Synthetic};
use maxl::hierarchy::Hierarchy;
use maxl::models::{Backbone, InputShape, Net, NetState};
use maxl::nn::Sgd;
use maxl::train::{MaxlSetup, Method, TrainConfig, Trainer, VirtualStep};
use maxl_engine::backend::cuda::gpu_or_emulator;
use maxl_engine::stats::stats;
use maxl_engine::{DType, Device, Rng, Tensor};
use std::sync::Arc;

fn device() -> Option<Device> {
    match gpu_or_emulator() {
        Ok(d) => Some(d),
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "CI=true but {e}");
            let required = std::env::var("MAXL_REQUIRE_GPU").is_ok_and(|v| v == "1" || v == "true");
            assert!(!required, "{e}");
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

/// Host synchronisations made by `f`.
fn syncs<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = stats();
    let out = f();
    (out, (stats() - before).host_syncs)
}

struct B1 {
    setup: MaxlSetup,
    mt: NetState,
    gen: NetState,
    x: Tensor,
    y: Tensor,
}

fn b1(dev: Device) -> B1 {
    let input = InputShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    let h = Hierarchy::balanced(3, 10).unwrap();
    let setup = MaxlSetup {
        multi_task: Net::multi_task(Backbone::ConvNet4, input, 10, h.total()),
        generator: Net::label_generator(Backbone::ConvNet4, input, h.total()),
        hierarchy: h,
        gamma: 2.0,
        entropy_weight: 0.2,
        exact_mask: false,
        fd_scale: 0.01,
    };
    let mut rng = Rng::new(1);
    let mt = setup
        .multi_task
        .init(&mut rng)
        .unwrap()
        .to_device(dev)
        .unwrap();
    let gen = setup
        .generator
        .init(&mut rng)
        .unwrap()
        .to_device(dev)
        .unwrap();
    let x = Tensor::randn(&[2, 1, 28, 28], DType::F32, &mut rng)
        .to_device(dev)
        .unwrap();
    let y = Tensor::from_vec(vec![3i64, 9], &[2])
        .unwrap()
        .to_device(dev)
        .unwrap();
    B1 {
        setup,
        mt,
        gen,
        x,
        y,
    }
}

#[test]
fn maxl_steps_make_no_host_synchronisation_and_reading_their_figures_one() {
    let Some(dev) = device() else { return };
    let B1 {
        setup,
        mut mt,
        mut gen,
        x,
        y,
    } = b1(dev);
    let mut theta1 = Sgd::new(0.1, 0.9, 5e-4);
    let mut theta2 = Sgd::new(1e-3, 0.0, 5e-4);

    for cosine in [false, true] {
        let (out, n) = syncs(|| {
            let aux = setup.generated_targets(&gen, &x, &y).unwrap();
            let out = setup
                .stage1(&setup.multi_task, &mt, &x, &y, Some(&aux), cosine)
                .unwrap();
            mt = NetState {
                params: theta1.step(&mt.params, &out.grads).unwrap(),
                buffers: out.buffers.clone(),
            };
            out
        });
        assert_eq!(n, 0, "stage 1 (cosine {cosine}) synchronised {n} times");
        let (fig, n) = syncs(|| out.read().unwrap());
        assert_eq!(n, 1, "reading stage 1's figures synchronised {n} times");
        assert!(fig.loss.is_finite() && fig.loss > fig.primary_loss && fig.correct <= 2);
        assert_eq!(fig.cosine.is_some(), cosine);
    }

    for first_order in [false, true] {
        for parts in [false, true] {
            let step = VirtualStep::plain(0.1);
            let (out, n) = syncs(|| {
                let out = match first_order {
                    false => setup.stage2_at(&mt, &gen, &x, &y, &step, parts),
                    true => setup.stage2_first_order_at(&mt, &gen, &x, &y, &step, parts),
                }
                .unwrap();
                gen = NetState {
                    params: theta2.step(&gen.params, &out.grads).unwrap(),
                    buffers: out.gen_buffers.clone(),
                };
                out
            });
            let what = format!("stage 2 (first order {first_order}, parts {parts})");
            assert_eq!(n, 0, "{what} synchronised {n} times");
            let (fig, n) = syncs(|| out.read().unwrap());
            assert_eq!(n, 1, "reading the figures of {what} synchronised {n} times");
            assert!(
                fig.loss_before.is_finite() && fig.loss_after.is_finite(),
                "{what}"
            );
            assert_eq!(fig.parts.is_some(), parts, "{what}");
        }
    }
}

#[test]
fn one_hot_is_made_on_the_device() {
    let Some(dev) = device() else { return };
    let labels = Tensor::from_vec(vec![2i64, 0, 1, 2], &[2, 2]).unwrap();
    let on_device = labels.to_device(dev).unwrap();
    let (t, n) = syncs(|| Tensor::one_hot(&on_device, 3, DType::F32).unwrap());
    assert_eq!(n, 0, "one_hot synchronised {n} times");
    assert!(t.device().is_cuda());
    assert_eq!(t.shape(), &[2, 2, 3]);
    let want = [0., 0., 1., 1., 0., 0., 0., 1., 0., 0., 0., 1.];
    assert_eq!(t.to_f64_vec(), want);
}

/// Host synchronisations of one MAXL epoch (pass 1, the meta pass, the test) on `dev` with
/// `batches` training batches of 2 images, second or first order.
fn epoch_syncs(dev: Device, batches: usize, method: Method) -> u64 {
    let split = Synthetic::new(2 * batches, 2, [1, 16, 16], 2, 3)
        .split()
        .unwrap();
    let (train, test) = (Arc::new(split.train), Arc::new(split.test));
    let cfg = TrainConfig {
        method,
        psi: vec![2],
        epochs: 1,
        batch_size: 2,
        lr: 0.05,
        cosine_every: 1,
        seed: 1,
        device: dev,
        ..TrainConfig::default()
    };
    let loader = Loader::new(train.clone(), LoaderConfig::train(&train, 2, 1)).unwrap();
    let test_loader = Loader::new(test.clone(), LoaderConfig::eval(&test, 2)).unwrap();
    let mut t = Trainer::new(cfg, &train).unwrap();
    let before = stats();
    let m = t.run_epoch(&loader, &test_loader, &mut |_| {}).unwrap();
    assert!(m.train_loss.is_finite() && m.meta_loss_after.is_finite() && m.cosine != 0.0);
    (stats() - before).host_syncs
}

#[test]
fn a_maxl_epoch_reads_its_figures_once_per_pass_whatever_its_length() {
    let Some(dev) = device() else { return };
    for method in [Method::Maxl, Method::MaxlFo] {
        let (short, long) = (epoch_syncs(dev, 1, method), epoch_syncs(dev, 2, method));
        eprintln!("{method:?}: {short} host syncs for 1 batch, {long} for 2");
        assert_eq!(short, long, "{method:?}: the steps of an epoch synchronise");
    }
}
