//! What MAXL's generated labels look like over an epoch's pass 1: which auxiliary classes are
//! some image's argmax (label utilisation), the entropy of the mean generated label vector, and
//! the share of training images whose argmax changed since the previous epoch. The previous
//! epoch's argmax per image is state between epochs: the strategy's record keeps it. During
//! the pass each batch's argmax and the column sums stay on the labels' device; they are read
//! once, at the end of the pass (no step of the pass waits for the host).

use crate::metrics::{argmax_rows_on_device, EpochMetrics};
use crate::{Error, Result};
use maxl_engine::{no_grad, DType, Tensor};

/// The label figures of the current epoch and the argmax of the previous one.
#[derive(Debug, Clone)]
pub struct LabelStats {
    /// sum psi; also the mark of an image without an argmax yet.
    classes: usize,
    /// Per training image, its argmax in the previous epoch's pass 1 (`classes`: none).
    previous: Vec<usize>,
    /// The same for this epoch, as far as it has been read.
    current: Vec<usize>,
    used: Vec<bool>,
    /// Column sums of the generated label vectors, and how many rows they hold.
    sums: Vec<f64>,
    rows: usize,
    /// Batches observed but not read yet: each one's argmax per row (on the device) and images.
    pending: Vec<(Tensor, Vec<usize>)>,
    /// Their column sums, on the device in f64.
    pending_sums: Option<Tensor>,
}

impl LabelStats {
    /// For `samples` training images and `classes` (sum psi) auxiliary classes, before any
    /// epoch.
    pub fn new(samples: usize, classes: usize) -> LabelStats {
        LabelStats {
            classes,
            previous: vec![classes; samples],
            current: vec![classes; samples],
            used: vec![false; classes],
            sums: vec![0.0; classes],
            rows: 0,
            pending: Vec::new(),
            pending_sums: None,
        }
    }

    /// Forgets the figures of the last epoch (not its argmax).
    pub fn begin_epoch(&mut self) {
        self.current.fill(self.classes);
        self.used.fill(false);
        self.sums.fill(0.0);
        self.rows = 0;
        self.pending.clear();
        self.pending_sums = None;
    }

    /// Takes in the generated labels `[B, classes]` of the training images `indices` (device
    /// work only; read in [`LabelStats::finish`]).
    pub fn observe(&mut self, targets: &Tensor, indices: &[usize]) -> Result<()> {
        if targets.shape() != [indices.len(), self.classes] {
            return Err(Error::Invalid(format!(
                "label statistics: labels of shape {:?} for {} images and {} classes",
                targets.shape(),
                indices.len(),
                self.classes
            )));
        }
        if let Some(&i) = indices.iter().find(|&&i| i >= self.current.len()) {
            return Err(Error::Invalid(format!(
                "label statistics: image {i} of a training set of {}",
                self.previous.len()
            )));
        }
        if indices.is_empty() {
            return Ok(());
        }
        let _g = no_grad();
        let argmax = argmax_rows_on_device(targets)?.to_dtype(DType::F64)?;
        let col_sums = targets.to_dtype(DType::F64)?.sum(&[0], false)?;
        self.pending_sums = Some(match self.pending_sums.take() {
            Some(s) => s.add(&col_sums)?,
            None => col_sums,
        });
        self.pending.push((argmax, indices.to_vec()));
        Ok(())
    }

    /// Reads the batches observed since the last read (one copy from the device).
    fn read_pending(&mut self) -> Result<()> {
        let Some(sums) = self.pending_sums.take() else {
            return Ok(());
        };
        let mut parts: Vec<Tensor> = self.pending.iter().map(|(a, _)| a.clone()).collect();
        parts.push(sums);
        let values = Tensor::concat(&parts, 0)?.to_vec::<f64>()?;
        let (argmax, sums) = values.split_at(values.len() - self.classes);
        let images = self.pending.drain(..).flat_map(|(_, i)| i);
        for (&c, i) in argmax.iter().zip(images) {
            // A row without a maximum (NaN throughout) has no argmax.
            let c = c as usize;
            if c < self.classes {
                self.current[i] = c;
                self.used[c] = true;
            }
            self.rows += 1;
        }
        for (s, v) in self.sums.iter_mut().zip(sums) {
            *s += v;
        }
        Ok(())
    }

    /// Writes the epoch's figures into `m` (utilisation, label_change, gen_label_entropy) and
    /// keeps this epoch's argmax as the previous one.
    pub fn finish(&mut self, m: &mut EpochMetrics) -> Result<()> {
        self.read_pending()?;
        let used = self.used.iter().filter(|&&u| u).count();
        m.utilisation = 100.0 * used as f64 / self.used.len().max(1) as f64;
        let none = self.classes;
        let (mut compared, mut changed) = (0usize, 0usize);
        for (p, &c) in self.previous.iter_mut().zip(&self.current) {
            if c == none {
                continue;
            }
            if *p != none {
                compared += 1;
                changed += usize::from(*p != c);
            }
            *p = c;
        }
        m.label_change = (compared > 0).then(|| 100.0 * changed as f64 / compared as f64);
        m.gen_label_entropy = (self.rows > 0).then(|| {
            let n = self.rows as f64;
            -self
                .sums
                .iter()
                .map(|s| s / n)
                .filter(|&q| q > 0.0)
                .map(|q| q * q.ln())
                .sum::<f64>()
        });
        Ok(())
    }

    /// The previous epoch's argmax per training image (`classes` where there is none).
    pub fn previous(&self) -> &[usize] {
        &self.previous
    }

    /// Puts back a saved [`LabelStats::previous`], after checking its length and values.
    pub fn set_previous(&mut self, previous: Vec<usize>) -> Result<()> {
        if previous.len() != self.previous.len() {
            return Err(Error::Invalid(format!(
                "checkpoint: the generated labels of {} training images; the data have {}",
                previous.len(),
                self.previous.len()
            )));
        }
        if let Some(bad) = previous.iter().find(|&&c| c > self.classes) {
            return Err(Error::Invalid(format!(
                "checkpoint: a generated label {bad} of {} auxiliary classes",
                self.classes
            )));
        }
        self.previous = previous;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(v: &[f64], rows: usize) -> Tensor {
        Tensor::from_vec(v.to_vec(), &[rows, v.len() / rows]).unwrap()
    }

    #[test]
    fn figures_by_hand_over_two_epochs() {
        // 3 images, 3 classes, seen in two batches.
        let mut s = LabelStats::new(3, 3);
        let mut m = EpochMetrics::default();
        s.begin_epoch();
        s.observe(&labels(&[0.5, 0.3, 0.2, 0.1, 0.1, 0.8], 2), &[2, 0])
            .unwrap();
        s.observe(&labels(&[0.6, 0.4, 0.0], 1), &[1]).unwrap();
        s.finish(&mut m).unwrap();
        // Argmax: image 2 -> 0, image 0 -> 2, image 1 -> 0: classes 0 and 2 of 3 used.
        assert!((m.utilisation - 200.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.label_change, None, "no previous epoch");
        // Mean label vector (1.2, 0.8, 1.0) / 3.
        let q: [f64; 3] = [0.4, 0.8 / 3.0, 1.0 / 3.0];
        let want: f64 = -q.iter().map(|q| q * q.ln()).sum::<f64>();
        assert!((m.gen_label_entropy.unwrap() - want).abs() < 1e-12);
        assert_eq!(s.previous(), &[2, 0, 0]);

        // Second epoch: image 0 -> 1 (changed), image 1 -> 0, image 2 -> 0 (unchanged).
        s.begin_epoch();
        s.observe(&labels(&[0.2, 0.7, 0.1, 0.9, 0.05, 0.05], 2), &[0, 1])
            .unwrap();
        s.observe(&labels(&[0.4, 0.3, 0.3], 1), &[2]).unwrap();
        s.finish(&mut m).unwrap();
        assert!((m.label_change.unwrap() - 100.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.previous(), &[1, 0, 0]);
        // One class used by all on average: entropy 0.
        s.begin_epoch();
        s.observe(&labels(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0], 2), &[0, 1])
            .unwrap();
        s.finish(&mut m).unwrap();
        assert_eq!(m.gen_label_entropy, Some(0.0));
        // Only images 0 and 1 were compared; image 0 changed (1 -> 0).
        assert!((m.label_change.unwrap() - 50.0).abs() < 1e-12);
        assert_eq!(s.previous(), &[0, 0, 0], "image 2 keeps its last argmax");
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut s = LabelStats::new(2, 3);
        assert!(s.observe(&labels(&[0.1, 0.2, 0.7], 1), &[5]).is_err());
        assert!(s.observe(&labels(&[0.1, 0.9], 1), &[0]).is_err());
        assert!(s.set_previous(vec![0, 1, 2]).is_err());
        assert!(s.set_previous(vec![0, 4]).is_err());
        s.set_previous(vec![3, 2]).unwrap();
        assert_eq!(s.previous(), &[3, 2]);
    }
}
