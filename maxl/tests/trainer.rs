//! The trainer end to end on a small synthetic set: MAXL's virtual step lowers the meta loss on
//! average, utilisation is reported, the baselines run, one seed gives identical metrics, and
//! every method resumes from its checkpoint bit for bit.

use maxl::data::{Loader, LoaderConfig, Synthetic};
use maxl::metrics::EpochMetrics;
use maxl::train::{Method, TrainConfig, Trainer};
use std::sync::Arc;

fn run(method: Method, epochs: usize, seed: u64) -> Vec<EpochMetrics> {
    let split = Synthetic::new(200, 100, [1, 16, 16], 4, 5).split().unwrap();
    let train = Arc::new(split.train);
    let test = Arc::new(split.test);
    let cfg = TrainConfig {
        method,
        psi: vec![2],
        epochs,
        batch_size: 50,
        lr: 0.05,
        cosine_every: 2,
        seed,
        ..TrainConfig::default()
    };
    let train_loader = Loader::new(
        train.clone(),
        LoaderConfig::train(&train, cfg.batch_size, seed),
    )
    .unwrap();
    let test_loader = Loader::new(test.clone(), LoaderConfig::eval(&test, 100)).unwrap();
    let mut t = Trainer::new(cfg, &train).unwrap();
    (0..epochs)
        .map(|_| {
            t.run_epoch(&train_loader, &test_loader, &mut |_| {})
                .unwrap()
        })
        .collect()
}

#[test]
fn maxl_two_epochs_lower_the_meta_loss_and_report_utilisation() {
    let m = run(Method::Maxl, 2, 1);
    let before: f64 = m.iter().map(|e| e.meta_loss_before).sum();
    let after: f64 = m.iter().map(|e| e.meta_loss_after).sum();
    assert!(
        after < before,
        "virtual step did not lower the meta loss: {before} -> {after}"
    );
    for e in &m {
        assert!(e.utilisation > 0.0 && e.utilisation <= 100.0, "{e:?}");
        assert!(e.cosine.abs() <= 1.0 && e.cosine != 0.0, "{e:?}");
        assert!(
            (0.0..=100.0).contains(&e.test_acc) && e.test_loss.is_finite(),
            "{e:?}"
        );
        assert!(e.pass1_s > 0.0 && e.pass2_s > 0.0);
    }
    assert_eq!(m[1].epoch, 2);
}

#[test]
fn one_seed_gives_identical_metrics() {
    let strip = |v: Vec<EpochMetrics>| -> Vec<EpochMetrics> {
        v.into_iter()
            .map(|e| EpochMetrics {
                pass1_s: 0.0,
                pass2_s: 0.0,
                ..e
            })
            .collect()
    };
    let a = strip(run(Method::Maxl, 1, 4));
    let b = strip(run(Method::Maxl, 1, 4));
    assert_eq!(a, b);
    let c = strip(run(Method::Maxl, 1, 5));
    assert_ne!(a, c, "another seed should give other numbers");
}

#[test]
fn baselines_train_and_learn_the_synthetic_task() {
    for method in [Method::Single, Method::Random, Method::MaxlFo] {
        let m = run(method, 2, 2);
        let last = m.last().unwrap();
        assert!(
            last.test_acc > 40.0,
            "{method:?} test accuracy {} on a 4-class toy task",
            last.test_acc
        );
        assert_eq!(last.pass2_s > 0.0, method == Method::MaxlFo);
    }
}

/// A CIFAR-100 binary folder: `n` random 32x32 images per file, fine labels cycling through
/// 0..100 and coarse = fine / 5 (a consistent fine -> coarse map).
fn cifar100_folder(n_train: usize, n_test: usize) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("maxl-test-human-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = maxl_engine::Rng::new(3);
    for (name, n) in [("train.bin", n_train), ("test.bin", n_test)] {
        let mut bytes = Vec::new();
        for i in 0..n {
            let fine = (i % 100) as u8;
            bytes.extend([fine / 5, fine]);
            bytes.extend((0..3072).map(|_| rng.below(256) as u8));
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

#[test]
fn human_baseline_uses_the_finer_level_as_auxiliary_labels() {
    let dir = cifar100_folder(200, 100);
    let split = maxl::data::read_cifar100(&dir)
        .unwrap()
        .at_level(20)
        .unwrap();
    let train = Arc::new(split.train);
    let test = Arc::new(split.test);
    let cfg = TrainConfig {
        method: Method::Human,
        aux_level: Some(100),
        epochs: 1,
        batch_size: 50,
        lr: 0.05,
        ..TrainConfig::default()
    };
    let train_loader = Loader::new(train.clone(), LoaderConfig::train(&train, 50, 0)).unwrap();
    let test_loader = Loader::new(test.clone(), LoaderConfig::eval(&test, 100)).unwrap();
    let mut t = Trainer::new(cfg, &train).unwrap();
    assert_eq!(
        t.setup.hierarchy.psi(),
        &[5; 20],
        "five fine classes under each coarse one"
    );
    let m = t
        .run_epoch(&train_loader, &test_loader, &mut |_| {})
        .unwrap();
    assert!(m.train_loss.is_finite() && m.cosine != 0.0, "{m:?}");
    // Without the hierarchy's finer level it is an error, not a silent fallback.
    let bad = TrainConfig {
        method: Method::Human,
        aux_level: None,
        ..TrainConfig::default()
    };
    assert!(Trainer::new(bad, &train).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every method's run stopped after one epoch, saved, restored into a fresh trainer and run on
/// ends with the metrics and the state of a run that never stopped, bit for bit.
#[test]
fn every_method_resumes_exactly_from_its_checkpoint() {
    use maxl::checkpoint::Checkpoint;
    use std::collections::BTreeMap;
    use std::path::Path;

    let split = Synthetic::new(120, 40, [1, 16, 16], 4, 5).split().unwrap();
    let (train, test) = (Arc::new(split.train), Arc::new(split.test));
    let train_loader = Loader::new(train.clone(), LoaderConfig::train(&train, 40, 3)).unwrap();
    let test_loader = Loader::new(test.clone(), LoaderConfig::eval(&test, 40)).unwrap();
    let timeless = |mut m: EpochMetrics| {
        m.pass1_s = 0.0;
        m.pass2_s = 0.0;
        m
    };
    // Every record's values and every tensor's name, shape and bits.
    type Flat = Vec<(String, Vec<usize>, Vec<u64>)>;
    let state = |t: &Trainer| -> (Vec<(String, String)>, Flat) {
        let (mut values, mut tensors) = (Vec::new(), Vec::new());
        for (c, r) in t.records().unwrap() {
            values.extend(r.values().map(|(k, v)| (format!("{c}/{k}"), v.to_string())));
            tensors.extend(r.tensors().map(|(k, x)| {
                let bits = x.to_f64_vec().iter().map(|v| v.to_bits()).collect();
                (format!("{c}/{k}"), x.shape().to_vec(), bits)
            }));
        }
        (values, tensors)
    };
    for method in [
        Method::Maxl,
        Method::MaxlFo,
        Method::Single,
        Method::Random,
        Method::KMeans,
    ] {
        let cfg = TrainConfig {
            method,
            psi: vec![2],
            epochs: 2,
            batch_size: 40,
            seed: 3,
            ..TrainConfig::default()
        };
        let epoch = |t: &mut Trainer| {
            timeless(
                t.run_epoch(&train_loader, &test_loader, &mut |_| {})
                    .unwrap(),
            )
        };
        let mut straight = Trainer::new(cfg.clone(), &train).unwrap();
        let want = [epoch(&mut straight), epoch(&mut straight)];

        let mut first = Trainer::new(cfg.clone(), &train).unwrap();
        let one = epoch(&mut first);
        let bytes = Checkpoint::of(&first, BTreeMap::new())
            .unwrap()
            .to_bytes()
            .unwrap();
        drop(first);
        let mut resumed = Trainer::new(cfg, &train).unwrap();
        Checkpoint::from_bytes(&bytes, Path::new("ckpt"))
            .unwrap()
            .restore(&mut resumed)
            .unwrap();
        assert_eq!(resumed.epoch, 1, "{method:?}");
        let two = epoch(&mut resumed);
        assert_eq!([one, two], want, "{method:?}");
        assert!(
            state(&resumed) == state(&straight),
            "{method:?}: the final states differ"
        );
    }
}
