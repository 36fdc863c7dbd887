//! The batch iterator and `train_limit`: every sample once per epoch, the last partial batch,
//! the same bits across runs and between the threaded and the direct path, seeded subsets.

use maxl::data::{Augment, Dataset, LabelHierarchy, Loader, LoaderConfig, Normalize, Synthetic};
use std::sync::Arc;

fn grey_set(n: usize) -> Arc<Dataset> {
    Arc::new(
        Synthetic::new(n, 1, [1, 5, 4], 3, 42)
            .split()
            .unwrap()
            .train,
    )
}

fn colour_set(n: usize) -> Arc<Dataset> {
    Arc::new(Synthetic::new(n, 1, [3, 8, 8], 4, 9).split().unwrap().train)
}

/// All batches of one epoch as (image floats, labels, indices).
fn collect(loader: &Loader, epoch: u64) -> Vec<(Vec<f32>, Vec<i64>, Vec<usize>)> {
    loader
        .epoch(epoch)
        .map(|b| {
            let b = b.unwrap();
            (
                b.images.to_vec::<f32>().unwrap(),
                b.labels.to_vec::<i64>().unwrap(),
                b.indices,
            )
        })
        .collect()
}

#[test]
fn every_sample_once_per_epoch_with_partial_last_batch() {
    let data = grey_set(23);
    let loader = Loader::new(data.clone(), LoaderConfig::train(&data, 10, 5)).unwrap();
    assert_eq!(loader.num_batches(), 3);
    for epoch in 0..3 {
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        for (i, b) in loader.epoch(epoch).enumerate() {
            let b = b.unwrap();
            assert_eq!(b.index, i);
            let n = b.indices.len();
            sizes.push(n);
            assert_eq!(b.images.shape(), &[n, 1, 5, 4]);
            assert_eq!(b.labels.shape(), &[n]);
            // Grey data: no augmentation, so each image is its normalised sample.
            let imgs = b.images.to_vec::<f32>().unwrap();
            let labels = b.labels.to_vec::<i64>().unwrap();
            for (k, &s) in b.indices.iter().enumerate() {
                assert_eq!(labels[k], data.labels()[s]);
                let want = Normalize::maxl(1)
                    .to_tensor(data.image(s).unwrap(), [1, 1, 5, 4])
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap();
                assert_eq!(&imgs[k * 20..(k + 1) * 20], want.as_slice());
            }
            seen.extend(b.indices);
        }
        assert_eq!(sizes, vec![10, 10, 3]);
        assert_ne!(
            seen,
            (0..23).collect::<Vec<_>>(),
            "epoch {epoch} not shuffled"
        );
        seen.sort_unstable();
        assert_eq!(seen, (0..23).collect::<Vec<_>>());
    }
}

#[test]
fn drop_last_and_eval_order() {
    let data = grey_set(23);
    let mut cfg = LoaderConfig::train(&data, 10, 5);
    cfg.drop_last = true;
    let loader = Loader::new(data.clone(), cfg).unwrap();
    let sizes: Vec<usize> = collect(&loader, 0).iter().map(|b| b.1.len()).collect();
    assert_eq!(sizes, vec![10, 10]);

    let eval = Loader::new(data.clone(), LoaderConfig::eval(&data, 8)).unwrap();
    let idx: Vec<usize> = collect(&eval, 3).into_iter().flat_map(|b| b.2).collect();
    assert_eq!(idx, (0..23).collect::<Vec<_>>());
}

#[test]
fn same_seed_same_batches_across_runs_and_paths() {
    let data = colour_set(37);
    let cfg = LoaderConfig::train(&data, 8, 77);
    assert!(matches!(cfg.augment, Augment::CropFlip { padding: 4, .. }));
    let a = Loader::new(data.clone(), cfg.clone()).unwrap();
    let b = Loader::new(data.clone(), cfg.clone()).unwrap();
    for epoch in [0, 1, 9] {
        let ra = collect(&a, epoch);
        let rb = collect(&b, epoch);
        assert_eq!(ra, rb);
        // The direct path gives the same bits as the worker thread.
        for (i, batch) in ra.iter().enumerate() {
            let d = a.batch(epoch, i).unwrap();
            assert_eq!(d.images.to_vec::<f32>().unwrap(), batch.0);
            assert_eq!(d.indices, batch.2);
        }
    }
    // Other epochs and other seeds shuffle and augment differently.
    assert_ne!(collect(&a, 0), collect(&a, 1));
    let c = Loader::new(data.clone(), LoaderConfig::train(&data, 8, 78)).unwrap();
    assert_ne!(collect(&a, 0), collect(&c, 0));

    // Same order without augmentation, but augmentation changed some pixels.
    let mut plain = cfg;
    plain.augment = Augment::None;
    let p = Loader::new(data, plain).unwrap();
    let (ra, rp) = (collect(&a, 0), collect(&p, 0));
    assert_eq!(
        ra.iter().map(|b| &b.2).collect::<Vec<_>>(),
        rp.iter().map(|b| &b.2).collect::<Vec<_>>()
    );
    assert_ne!(ra[0].0, rp[0].0);
}

#[test]
fn stopping_early_does_not_hang() {
    let data = colour_set(50);
    let loader = Loader::new(data.clone(), LoaderConfig::train(&data, 5, 1)).unwrap();
    let mut it = loader.epoch(0);
    assert_eq!(it.len(), 10);
    let first = it.next().unwrap().unwrap();
    assert_eq!(first.indices.len(), 5);
    assert_eq!(it.len(), 9);
    drop(it);
    assert!(loader.batch(0, 10).is_err());
}

#[test]
fn loader_rejects_bad_settings() {
    let data = colour_set(4);
    let mut cfg = LoaderConfig::train(&data, 0, 1);
    assert!(Loader::new(data.clone(), cfg.clone()).is_err());
    cfg.batch_size = 2;
    cfg.normalize = Normalize::maxl(1);
    assert!(Loader::new(data, cfg).is_err());
}

#[test]
fn train_limit_is_a_fixed_seeded_subset() {
    let data = grey_set(50);
    let a = data.train_limit(12, 3).unwrap();
    let b = data.train_limit(12, 3).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 12);
    let c = data.train_limit(12, 4).unwrap();
    assert_ne!(a, c);
    // Each kept sample is a sample of the full set, with its label.
    for i in 0..a.len() {
        let img = a.image(i).unwrap();
        let j = (0..data.len())
            .find(|&j| data.image(j).unwrap() == img)
            .unwrap();
        assert_eq!(a.labels()[i], data.labels()[j]);
    }
    assert_eq!(data.train_limit(50, 1).unwrap(), *data);
    assert!(data.train_limit(0, 1).is_err());
    let e = data.train_limit(51, 1).unwrap_err().to_string();
    assert!(e.contains("51"), "{e}");
}

#[test]
fn train_limit_keeps_the_label_hierarchy() {
    let fine: Vec<i64> = (0..100).collect();
    let h = LabelHierarchy::cifar100(
        fine.clone(),
        maxl::data::names::CIFAR100_FINE_TO_COARSE.to_vec(),
    )
    .unwrap();
    let d = Dataset::new(vec![0u8; 100 * 3], fine, [3, 1, 1], 100)
        .unwrap()
        .with_hierarchy(h)
        .unwrap();
    let s = d.train_limit(10, 8).unwrap();
    let h = s.hierarchy().unwrap();
    assert_eq!(h.labels(100).unwrap(), s.labels());
    let map = maxl::data::names::CIFAR100_FINE_TO_COARSE;
    for (&f, &c) in s.labels().iter().zip(h.labels(20).unwrap()) {
        assert_eq!(c, map[f as usize] as i64);
    }
    let coarse = h.labels(20).unwrap().to_vec();
    let s20 = s.at_level(20).unwrap();
    assert_eq!(s20.classes(), 20);
    assert_eq!(s20.labels(), coarse.as_slice());
}
