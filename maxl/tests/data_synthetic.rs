//! The synthetic data set: the same bytes for one seed, other bytes for another, balanced
//! classes, and learnable (a nearest-class-mean rule fitted on train classifies test well).

use maxl::data::{Dataset, Source, Synthetic};

#[test]
fn synthetic_is_deterministic_per_seed() {
    let a = Synthetic::new(60, 20, [3, 8, 8], 4, 11).split().unwrap();
    let b = Source::Synthetic(Synthetic::new(60, 20, [3, 8, 8], 4, 11))
        .load()
        .unwrap();
    assert_eq!(a, b);
    let c = Synthetic::new(60, 20, [3, 8, 8], 4, 12).split().unwrap();
    assert_ne!(a.train.images(), c.train.images());
    // Pinned bytes and labels of seed 11, so that a change of the recipe shows.
    assert_eq!(
        &a.train.images()[..8],
        &[58, 64, 166, 94, 147, 53, 174, 176]
    );
    assert_eq!(&a.train.labels()[..8], &[1, 3, 0, 1, 3, 0, 0, 1]);
}

#[test]
fn synthetic_shape_and_balance() {
    let s = Synthetic::new(100, 30, [1, 28, 28], 10, 3).split().unwrap();
    assert_eq!(s.train.len(), 100);
    assert_eq!(s.test.len(), 30);
    assert_eq!(s.train.image_shape(), [1, 28, 28]);
    assert_eq!(s.train.class_counts(), vec![10; 10]);
    assert_eq!(s.test.class_counts(), vec![3; 10]);
    assert_eq!(s.train.class_names().unwrap()[3], "class3");
}

fn class_means(d: &Dataset) -> Vec<Vec<f64>> {
    let per = d.image_len();
    let mut sums = vec![vec![0.0; per]; d.classes()];
    let counts = d.class_counts();
    for i in 0..d.len() {
        let l = d.labels()[i] as usize;
        for (s, &v) in sums[l].iter_mut().zip(d.image(i).unwrap()) {
            *s += v as f64 / counts[l] as f64;
        }
    }
    sums
}

#[test]
fn synthetic_is_learnable() {
    let s = Synthetic::new(200, 100, [3, 16, 16], 5, 7).split().unwrap();
    let means = class_means(&s.train);
    let mut right = 0;
    for i in 0..s.test.len() {
        let img = s.test.image(i).unwrap();
        let dist = |m: &Vec<f64>| -> f64 {
            m.iter()
                .zip(img)
                .map(|(a, &b)| (a - b as f64).powi(2))
                .sum()
        };
        let best = (0..5)
            .min_by(|&a, &b| dist(&means[a]).total_cmp(&dist(&means[b])))
            .unwrap();
        right += (best as i64 == s.test.labels()[i]) as usize;
    }
    assert!(right >= 90, "nearest class mean got {right}/100");
}

#[test]
fn synthetic_rejects_bad_recipes() {
    assert!(Synthetic::new(0, 5, [1, 4, 4], 2, 0).split().is_err());
    assert!(Synthetic::new(5, 5, [1, 0, 4], 2, 0).split().is_err());
    assert!(Synthetic::new(5, 5, [1, 4, 4], 0, 0).split().is_err());
    let mut s = Synthetic::new(5, 5, [1, 4, 4], 2, 0);
    s.noise = f64::NAN;
    assert!(s.split().is_err());
}
