//! The K-Means baseline: Lloyd's k-means recovers obvious clusters, per-class clustering keeps
//! every sample inside its class's block, the autoencoder learns, and a run on the synthetic
//! toy learns, reports utilisation, is deterministic for a seed and resumes exactly from a
//! checkpoint.

use maxl::checkpoint::Checkpoint;
use maxl::data::{Loader, LoaderConfig, Synthetic};
use maxl::hierarchy::Hierarchy;
use maxl::metrics::EpochMetrics;
use maxl::nn::Sgd;
use maxl::train::kmeans::{
    cluster_per_class, kmeans, utilisation, Autoencoder, AE_LR, AE_MOMENTUM,
};
use maxl::train::{Method, TrainConfig, Trainer};
use maxl_engine::{DType, Rng, Tensor};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// `n` points around each of `centres` (2-D), jittered by at most 0.5; labels by centre.
fn blobs(centres: &[[f64; 2]], n: usize, rng: &mut Rng) -> (Vec<f64>, Vec<usize>) {
    let (mut pts, mut truth) = (Vec::new(), Vec::new());
    for _ in 0..n {
        // Interleave the clusters so that the order says nothing.
        for (c, m) in centres.iter().enumerate() {
            pts.push(m[0] + rng.uniform() - 0.5);
            pts.push(m[1] + rng.uniform() - 0.5);
            truth.push(c);
        }
    }
    (pts, truth)
}

/// True if `a` and `b` are the same partition (equal up to renaming the clusters).
fn same_partition(a: &[usize], b: &[usize]) -> bool {
    let mut map = BTreeMap::new();
    let mut back = BTreeMap::new();
    a.iter()
        .zip(b)
        .all(|(x, y)| *map.entry(*x).or_insert(*y) == *y && *back.entry(*y).or_insert(*x) == *x)
}

#[test]
fn kmeans_recovers_obvious_clusters_up_to_permutation() {
    let centres = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
    let (pts, truth) = blobs(&centres, 25, &mut Rng::new(3));
    for seed in 0..5 {
        let got = kmeans(&pts, 2, 4, None, &mut Rng::new(seed)).unwrap();
        assert_eq!(got.len(), 100);
        assert!(same_partition(&got, &truth), "seed {seed}: {got:?}");
        // Deterministic for a seed.
        assert_eq!(got, kmeans(&pts, 2, 4, None, &mut Rng::new(seed)).unwrap());
    }
    // A warm start from a scrambled but mostly right assignment converges to the truth and
    // keeps its column names.
    let mut prev: Vec<usize> = truth.iter().map(|&c| (c + 1) % 4).collect();
    prev[0] = 2;
    prev[5] = 0;
    let got = kmeans(&pts, 2, 4, Some(&prev), &mut Rng::new(0)).unwrap();
    let want: Vec<usize> = truth.iter().map(|&c| (c + 1) % 4).collect();
    assert_eq!(got, want);
}

#[test]
fn kmeans_handles_fewer_points_than_clusters_and_bad_input() {
    // 2 points, 3 clusters: both points get their own cluster, one cluster stays empty.
    let got = kmeans(&[0.0, 0.0, 5.0, 5.0], 2, 3, None, &mut Rng::new(1)).unwrap();
    assert_eq!(got.len(), 2);
    assert_ne!(got[0], got[1]);
    assert!(got.iter().all(|&c| c < 3));
    // Identical points, and no points at all.
    let got = kmeans(&[1.0; 8], 2, 3, None, &mut Rng::new(1)).unwrap();
    assert!(got.iter().all(|&c| c == got[0]));
    assert!(kmeans(&[], 2, 3, None, &mut Rng::new(1))
        .unwrap()
        .is_empty());
    assert!(kmeans(&[1.0, 2.0, 3.0], 2, 3, None, &mut Rng::new(1)).is_err());
    assert!(kmeans(&[1.0, 2.0], 2, 0, None, &mut Rng::new(1)).is_err());
    assert!(kmeans(&[1.0, 2.0], 2, 2, Some(&[2]), &mut Rng::new(1)).is_err());
}

#[test]
fn per_class_clustering_stays_inside_each_classs_block() {
    // Primary class 0 owns columns 0..2, class 1 owns 2..5, class 2 owns 5..6; each class's
    // points form psi[i] obvious blobs.
    let h = Hierarchy::new(vec![2, 3, 1]).unwrap();
    let mut rng = Rng::new(7);
    let (mut codes, mut primary, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    let groups: [&[[f64; 2]]; 3] = [
        &[[0.0, 0.0], [20.0, 0.0]],
        &[[0.0, 0.0], [0.0, 20.0], [20.0, 20.0]],
        &[[5.0, 5.0]],
    ];
    for (class, centres) in groups.iter().enumerate() {
        let (pts, t) = blobs(centres, 10, &mut rng);
        codes.extend(pts);
        truth.extend(t.iter().map(|&c| (class, c)));
        primary.extend(std::iter::repeat_n(class as i64, t.len()));
    }
    let cols = cluster_per_class(&codes, 2, &primary, &h, None, 11).unwrap();
    assert_eq!(cols.len(), primary.len());
    for (j, &c) in cols.iter().enumerate() {
        assert_eq!(
            h.owner(c),
            Some(primary[j] as usize),
            "sample {j} column {c}"
        );
    }
    // Inside each class the blobs are recovered.
    let truth_ids: Vec<usize> = truth.iter().map(|&(cl, c)| h.offset(cl) + c).collect();
    assert!(same_partition(&cols, &truth_ids), "{cols:?}");
    assert_eq!(utilisation(&cols, h.total()), 100.0);
    assert_eq!(
        cols,
        cluster_per_class(&codes, 2, &primary, &h, None, 11).unwrap()
    );
    // A warm start from the result keeps it.
    assert_eq!(
        cols,
        cluster_per_class(&codes, 2, &primary, &h, Some(&cols), 99).unwrap()
    );
    // A class with no samples leaves its block unused; bad labels are errors.
    let only_first: Vec<i64> = vec![0; primary.len()];
    let cols = cluster_per_class(&codes, 2, &only_first, &h, None, 1).unwrap();
    assert!(cols.iter().all(|&c| c < 2));
    assert!((utilisation(&cols, h.total()) - 100.0 * 2.0 / 6.0).abs() < 1e-9);
    assert!(cluster_per_class(&codes, 2, &vec![3; primary.len()], &h, None, 1).is_err());
    let outside = vec![5; primary.len()];
    assert!(cluster_per_class(&codes, 2, &primary, &h, Some(&outside), 1).is_err());
}

#[test]
fn the_autoencoders_reconstruction_loss_decreases() {
    const STEPS: usize = 40;
    let split = Synthetic::new(100, 10, [1, 16, 16], 4, 2).split().unwrap();
    let train = Arc::new(split.train);
    let loader = Loader::new(train.clone(), LoaderConfig::eval(&train, 100)).unwrap();
    let images = loader.batch(0, 0).unwrap().images;
    let ae = Autoencoder::new(256);
    let mut params = ae.init(&mut Rng::new(0));
    let mut opt = Sgd::new(AE_LR, AE_MOMENTUM, 0.0);
    let mut losses = Vec::new();
    for _ in 0..STEPS {
        let (p, l) = ae.step(&params, &mut opt, &images).unwrap();
        params = p;
        losses.push(l);
    }
    // Every step lowers the loss on this one batch, by a few per cent in all.
    assert!(
        losses.windows(2).all(|w| w[1] < w[0]) && losses[STEPS - 1] < 0.97 * losses[0],
        "reconstruction loss did not fall: {losses:?}"
    );
    let z = ae.encode(&params, &images).unwrap();
    assert_eq!(z.shape(), &[100, 64]);
    let codes = ae.encode_all(&params, &loader).unwrap();
    assert_eq!(codes.len(), 100 * 64);
    let first: Vec<f64> = z.to_f64_vec()[..64].to_vec();
    assert_eq!(&codes[..64], &first[..]);
    assert!(ae
        .loss(&params, &Tensor::zeros(&[2, 3, 4, 4], DType::F32))
        .is_err());
}

fn setup(seed: u64) -> (Loader, Loader, TrainConfig) {
    let split = Synthetic::new(200, 100, [1, 16, 16], 4, 5).split().unwrap();
    let train = Arc::new(split.train);
    let test = Arc::new(split.test);
    let cfg = TrainConfig {
        method: Method::KMeans,
        psi: vec![2],
        epochs: 2,
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
    (train_loader, test_loader, cfg)
}

fn strip(v: Vec<EpochMetrics>) -> Vec<EpochMetrics> {
    v.into_iter()
        .map(|e| EpochMetrics {
            pass1_s: 0.0,
            pass2_s: 0.0,
            ..e
        })
        .collect()
}

/// A kmeans run of 2 epochs: its metrics and the last clustering.
fn run(seed: u64) -> (Vec<EpochMetrics>, Vec<usize>) {
    let (train, test, cfg) = setup(seed);
    let mut t = Trainer::new(cfg, train.dataset()).unwrap();
    assert!(
        t.strategy.columns().is_none(),
        "no clustering before the first epoch"
    );
    let m = (0..2)
        .map(|_| t.run_epoch(&train, &test, &mut |_| {}).unwrap())
        .collect();
    let labels = t.strategy.columns().unwrap().to_vec();
    (strip(m), labels)
}

#[test]
fn a_kmeans_run_learns_and_is_deterministic_for_a_seed() {
    let (m, labels) = run(3);
    let last = m.last().unwrap();
    assert!(
        last.test_acc > 40.0,
        "kmeans test accuracy {} on a 4-class toy task",
        last.test_acc
    );
    let (train, _, cfg) = setup(3);
    let h = Hierarchy::balanced(2, 4).unwrap();
    assert_eq!(labels.len(), 200);
    for (l, &c) in train.dataset().labels().iter().zip(&labels) {
        assert_eq!(h.owner(c), Some(*l as usize));
    }
    for e in &m {
        assert!(e.utilisation > 0.0 && e.utilisation <= 100.0, "{e:?}");
        assert!(e.cosine.abs() <= 1.0 && e.cosine != 0.0, "{e:?}");
        assert_eq!(e.meta_loss_before, 0.0, "no meta pass");
    }
    assert_eq!(cfg.method.name(), "kmeans");
    assert_eq!(Method::parse("kmeans").unwrap(), Method::KMeans);
    assert_eq!((m.clone(), labels.clone()), run(3));
    assert_ne!(m, run(4).0, "another seed should give other numbers");
}

#[test]
fn a_kmeans_run_resumes_exactly_from_a_checkpoint() {
    let (train, test, cfg) = setup(6);
    let mut straight = Trainer::new(cfg.clone(), train.dataset()).unwrap();
    let mut want = Vec::new();
    for _ in 0..2 {
        want.push(straight.run_epoch(&train, &test, &mut |_| {}).unwrap());
    }

    let mut first = Trainer::new(cfg.clone(), train.dataset()).unwrap();
    let mut got = vec![first.run_epoch(&train, &test, &mut |_| {}).unwrap()];
    let bytes = Checkpoint::of(&first, BTreeMap::new())
        .unwrap()
        .to_bytes()
        .unwrap();
    drop(first);
    let mut resumed = Trainer::new(cfg, train.dataset()).unwrap();
    Checkpoint::from_bytes(&bytes, Path::new("ckpt"))
        .unwrap()
        .restore(&mut resumed)
        .unwrap();
    got.push(resumed.run_epoch(&train, &test, &mut |_| {}).unwrap());
    assert_eq!(strip(got), strip(want));
    assert_eq!(resumed.strategy.columns(), straight.strategy.columns());
}
