//! A seeded, learnable toy data set for tests and benchmarks: each class has its own smooth
//! pattern per channel (a 2-D sine wave of random frequency and phase), each sample is its
//! class's pattern plus Gaussian pixel noise. One seed gives the same bytes on every machine.

use super::dataset::{Dataset, Split};
use super::seed::derive_seed;
use crate::error::{Error, Result};
use maxl_engine::Rng;
use rayon::prelude::*;

/// Amplitude of the class patterns around mid-grey, in pixel units.
const AMPLITUDE: f64 = 60.0;

/// The recipe of a synthetic split.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthetic {
    pub train: usize,
    pub test: usize,
    /// [C, H, W] of one image.
    pub shape: [usize; 3],
    pub classes: usize,
    /// Standard deviation of the pixel noise, in pixel units (0..255).
    pub noise: f64,
    pub seed: u64,
}

impl Synthetic {
    /// `train` and `test` samples of `shape` in `classes` balanced classes, noise 40.
    pub fn new(train: usize, test: usize, shape: [usize; 3], classes: usize, seed: u64) -> Self {
        Synthetic {
            train,
            test,
            shape,
            classes,
            noise: 40.0,
            seed,
        }
    }

    /// The per-class patterns, classes x C x H x W, in pixel units.
    fn patterns(&self) -> Vec<f64> {
        let [c, h, w] = self.shape;
        let mut rng = Rng::new(derive_seed(self.seed, &[0]));
        let mut out = Vec::with_capacity(self.classes * c * h * w);
        for _ in 0..self.classes * c {
            // Frequencies 0..3 cycles per image in each direction, not both 0.
            let (fy, fx) = loop {
                let f = (rng.below(4) as f64, rng.below(4) as f64);
                if f != (0.0, 0.0) {
                    break f;
                }
            };
            let phase = rng.uniform() * std::f64::consts::TAU;
            for y in 0..h {
                for x in 0..w {
                    let t = fy * y as f64 / h as f64 + fx * x as f64 / w as f64;
                    out.push(128.0 + AMPLITUDE * (std::f64::consts::TAU * t + phase).sin());
                }
            }
        }
        out
    }

    fn dataset(&self, n: usize, patterns: &[f64], stream: u64) -> Result<Dataset> {
        let per: usize = self.shape.iter().product();
        let mut labels: Vec<i64> = (0..n).map(|i| (i % self.classes) as i64).collect();
        Rng::new(derive_seed(self.seed, &[stream])).shuffle(&mut labels);
        // One generator per sample, so that the parallel fill gives the same bytes.
        let mut images = vec![0u8; n * per];
        images
            .par_chunks_mut(per)
            .zip(labels.par_iter())
            .enumerate()
            .for_each(|(i, (img, &l))| {
                let mut rng = Rng::new(derive_seed(self.seed, &[stream, i as u64]));
                let p = &patterns[l as usize * per..(l as usize + 1) * per];
                for (o, &v) in img.iter_mut().zip(p) {
                    *o = (v + self.noise * rng.normal()).round().clamp(0.0, 255.0) as u8;
                }
            });
        Dataset::new(images, labels, self.shape, self.classes)
    }

    /// The train and test sets (same patterns, independent noise).
    pub fn split(&self) -> Result<Split> {
        if self.train == 0 || self.classes == 0 || self.shape.contains(&0) {
            return Err(Error::Invalid(format!(
                "synthetic: need train > 0, classes > 0 and a non-empty shape, got train {}, \
                 classes {}, shape {:?}",
                self.train, self.classes, self.shape
            )));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(Error::Invalid(format!(
                "synthetic: noise must be finite and >= 0, got {}",
                self.noise
            )));
        }
        let patterns = self.patterns();
        let names = (0..self.classes)
            .map(|k| format!("class{k}"))
            .collect::<Vec<_>>();
        Split::new(
            self.dataset(self.train, &patterns, 1)?
                .with_class_names(names.clone())?,
            self.dataset(self.test, &patterns, 2)?
                .with_class_names(names)?,
        )
    }
}
