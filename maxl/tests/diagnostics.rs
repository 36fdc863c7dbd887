//! The label generator's diagnostics end to end on a small synthetic set: which keys each
//! method logs, theta2's distance from its start against a hand computation, the frozen
//! generator of `--gen-lr 0`, the look-ahead with theta1's momentum, and resuming with the
//! diagnostics' state.

use maxl::checkpoint::Checkpoint;
use maxl::data::{Dataset, Loader, LoaderConfig, Synthetic};
use maxl::metrics::EpochMetrics;
use maxl::models::NetState;
use maxl::train::{Lookahead, Method, TrainConfig, Trainer};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

struct Data {
    train: Arc<Dataset>,
    train_loader: Loader,
    test_loader: Loader,
}

fn data() -> Data {
    let split = Synthetic::new(120, 40, [1, 16, 16], 4, 5).split().unwrap();
    let (train, test) = (Arc::new(split.train), Arc::new(split.test));
    Data {
        train_loader: Loader::new(train.clone(), LoaderConfig::train(&train, 40, 3)).unwrap(),
        test_loader: Loader::new(test.clone(), LoaderConfig::eval(&test, 40)).unwrap(),
        train,
    }
}

fn cfg(method: Method) -> TrainConfig {
    TrainConfig {
        method,
        psi: vec![2],
        epochs: 3,
        batch_size: 40,
        lr: 0.05,
        seed: 3,
        ..TrainConfig::default()
    }
}

fn epochs(t: &mut Trainer, d: &Data, n: usize) -> Vec<EpochMetrics> {
    (0..n)
        .map(|_| {
            let mut m = t
                .run_epoch(&d.train_loader, &d.test_loader, &mut |_| {})
                .unwrap();
            (m.pass1_s, m.pass2_s) = (0.0, 0.0);
            m
        })
        .collect()
}

fn values(s: &NetState) -> Vec<Vec<f64>> {
    s.params.iter().map(|(_, t)| t.to_f64_vec()).collect()
}

/// ||a - b|| / ||b|| over every parameter.
fn relative_distance(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        for (p, q) in x.iter().zip(y) {
            num += (p - q) * (p - q);
            den += q * q;
        }
    }
    (num / den).sqrt()
}

#[test]
fn maxl_logs_the_diagnostics_and_other_methods_leave_them_out() {
    let d = data();
    for method in [Method::Maxl, Method::MaxlFo] {
        let mut t = Trainer::new(cfg(method), &d.train).unwrap();
        let start = values(t.strategy.generator().unwrap());
        let m = epochs(&mut t, &d, 2);
        assert_eq!(m[0].label_change, None, "no previous epoch to compare with");
        let change = m[1].label_change.unwrap();
        assert!((0.0..=100.0).contains(&change), "{change}");
        // 120 images: the share is a whole number of images.
        let images = change * 120.0 / 100.0;
        assert!((images - images.round()).abs() < 1e-9, "{change}");
        let max_entropy = (t.setup.hierarchy.total() as f64).ln();
        for e in &m {
            let h = e.gen_label_entropy.unwrap();
            assert!(
                h > 0.0 && h <= max_entropy + 1e-12,
                "{h} of at most {max_entropy}"
            );
            let (p, q) = (e.gen_grad_primary.unwrap(), e.gen_grad_entropy.unwrap());
            assert!(
                p > 0.0 && q > 0.0 && p.is_finite() && q.is_finite(),
                "{e:?}"
            );
            assert_eq!(e.meta_acc_gain, Some(e.meta_acc_after - e.meta_acc_before));
        }
        let want = relative_distance(&values(t.strategy.generator().unwrap()), &start);
        let got = m[1].gen_distance.unwrap();
        assert!(
            want > 0.0 && (got - want).abs() <= 1e-12 * want,
            "{got} vs {want}"
        );
        assert!(m[0].gen_distance.unwrap() < got, "theta2 moves on");
    }
    for method in [Method::Single, Method::Random, Method::KMeans] {
        let mut t = Trainer::new(cfg(method), &d.train).unwrap();
        let m = epochs(&mut t, &d, 2);
        for e in &m {
            let line = serde_json::to_string(e).unwrap();
            for key in [
                "label_change",
                "gen_label_entropy",
                "gen_distance",
                "gen_grad_primary",
                "gen_grad_entropy",
                "meta_acc_gain",
            ] {
                assert!(!line.contains(key), "{method:?} logs {key}: {line}");
            }
        }
    }
}

#[test]
fn gen_lr_zero_freezes_the_generator_and_skips_the_meta_pass() {
    let d = data();
    let c = TrainConfig {
        gen_lr: 0.0,
        ..cfg(Method::Maxl)
    };
    let mut t = Trainer::new(c.validate().unwrap().into_inner(), &d.train).unwrap();
    assert!(!t.has_meta_pass());
    let start = t.strategy.generator().unwrap().clone();
    let mut passes = 0;
    let mut m = Vec::new();
    for _ in 0..2 {
        let e = t
            .run_epoch(&d.train_loader, &d.test_loader, &mut |p| {
                passes += usize::from(p.pass == 2)
            })
            .unwrap();
        m.push(e);
    }
    assert_eq!(passes, 0, "no meta batch");
    let now = t.strategy.generator().unwrap();
    for ((name, a), (_, b)) in now.params.iter().zip(start.params.iter()) {
        let bits = |t: &maxl_engine::Tensor| -> Vec<u64> {
            t.to_f64_vec().iter().map(|v| v.to_bits()).collect()
        };
        assert_eq!(bits(a), bits(b), "{name} moved");
    }
    for e in &m {
        assert_eq!(e.pass2_s, 0.0);
        assert_eq!(e.gen_distance, Some(0.0));
        assert_eq!((e.meta_acc_gain, e.gen_grad_primary), (None, None));
        assert!(e.gen_label_entropy.is_some() && e.test_loss.is_finite());
    }
    assert!(m[1].label_change.is_some());
}

#[test]
fn the_sgd_lookahead_trains_and_differs_from_the_plain_one() {
    let d = data();
    let plain = epochs(
        &mut Trainer::new(cfg(Method::Maxl), &d.train).unwrap(),
        &d,
        2,
    );
    let c = TrainConfig {
        lookahead: Lookahead::Sgd,
        ..cfg(Method::Maxl)
    };
    let sgd = epochs(&mut Trainer::new(c, &d.train).unwrap(), &d, 2);
    // Pass 1 of the first epoch is the same; the meta pass looks ahead differently.
    assert_eq!(sgd[0].train_loss, plain[0].train_loss);
    assert_ne!(sgd[0].meta_loss_after, plain[0].meta_loss_after);
    assert!(sgd.iter().all(|e| e.meta_loss_after.is_finite()));
}

/// A run stopped after one epoch and resumed from its checkpoint ends as the run that never
/// stopped, the label change of the epoch after resuming included; a checkpoint from another
/// seed's generator is refused by its start norm.
#[test]
fn resuming_keeps_the_diagnostics_state() {
    let d = data();
    let c = TrainConfig {
        lookahead: Lookahead::Sgd,
        ..cfg(Method::Maxl)
    };
    let want = epochs(&mut Trainer::new(c.clone(), &d.train).unwrap(), &d, 3);
    let mut first = Trainer::new(c.clone(), &d.train).unwrap();
    let mut got = epochs(&mut first, &d, 1);
    let bytes = Checkpoint::of(&first, BTreeMap::new())
        .unwrap()
        .to_bytes()
        .unwrap();
    let mut resumed = Trainer::new(c.clone(), &d.train).unwrap();
    Checkpoint::from_bytes(&bytes, Path::new("ckpt"))
        .unwrap()
        .restore(&mut resumed)
        .unwrap();
    got.extend(epochs(&mut resumed, &d, 2));
    assert!(got[1].label_change.is_some());
    assert_eq!(got, want);

    let other = TrainConfig { seed: 4, ..c };
    let mut stranger = Trainer::new(other, &d.train).unwrap();
    let e = Checkpoint::from_bytes(&bytes, Path::new("ckpt"))
        .unwrap()
        .restore(&mut stranger)
        .unwrap_err()
        .to_string();
    assert!(e.contains("started from weights of norm"), "{e}");
}
