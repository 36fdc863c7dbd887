//! Per-epoch metrics (one struct, serialised as one JSON line per epoch) and the helpers that
//! compute them: accuracy from logits and gradient cosine similarity (REFERENCE.md's recipe),
//! both on the tensors' device (nothing read back until asked).

use crate::{Error, Result};
use maxl_engine::{no_grad, DType, Tensor};
use serde::{Deserialize, Serialize};

/// Everything measured in one epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub lr: f64,
    /// Training loss of pass 1: the primary focal loss plus the auxiliary focal loss (gamma
    /// `focal_gamma`, 2 by default), mean over the images.
    pub train_loss: f64,
    pub train_acc: f64,
    /// Its two parts: the primary focal loss and the auxiliary focal loss (0 without an
    /// auxiliary task). Runs written before these keys read them as 0.
    #[serde(default)]
    pub train_primary_loss: f64,
    #[serde(default)]
    pub train_aux_loss: f64,
    /// Primary focal loss on the test set.
    pub test_loss: f64,
    pub test_acc: f64,
    /// Meta (pass 2) primary loss and accuracy at theta1, before the virtual step.
    pub meta_loss_before: f64,
    pub meta_acc_before: f64,
    /// The same at the fast weights theta1+, after the virtual step.
    pub meta_loss_after: f64,
    pub meta_acc_after: f64,
    /// Mean cosine similarity of primary and auxiliary gradients on the shared trunk.
    pub cosine: f64,
    /// Share (%) of auxiliary classes assigned (the generator's argmax, or the k-means cluster)
    /// to at least one training image; 0 for methods with fixed or no auxiliary labels.
    pub utilisation: f64,
    pub pass1_s: f64,
    pub pass2_s: f64,
    /// The label generator's diagnostics (MAXL only; absent for other methods, see
    /// [`crate::train::strategy::MetaLearned`]). Share (%) of training images whose generated
    /// auxiliary label (argmax) changed since the previous epoch's pass 1; absent in the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_change: Option<f64>,
    /// Entropy (nats) of the mean of the generated label vectors over the epoch's pass 1 (at
    /// most ln(sum psi): every auxiliary class used equally on average).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_label_entropy: Option<f64>,
    /// ||theta2 - theta2 at the start|| / ||theta2 at the start|| after the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_distance: Option<f64>,
    /// Mean L2 norms of the two parts of theta2's meta gradient over the measured batches: the
    /// primary loss at theta1+ and lambda times the entropy term's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_grad_primary: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_grad_entropy: Option<f64>,
    /// meta_acc_after - meta_acc_before (percentage points): what the virtual step gains on
    /// the meta batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_acc_gain: Option<f64>,
}

/// Row-wise argmax of a `[N, C]` tensor.
pub fn argmax_rows(t: &Tensor) -> Vec<usize> {
    let c = t.shape().get(1).copied().unwrap_or(1).max(1);
    t.to_f64_vec()
        .chunks(c)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv {
                        (i, v)
                    } else {
                        (bi, bv)
                    }
                })
                .0
        })
        .collect()
}

/// Row-wise argmax of a `[N, C]` tensor (the first maximum, as [`argmax_rows`]) on its device:
/// `[N]` indices as values of its dtype, `C` for a row without a maximum (NaN throughout).
pub fn argmax_rows_on_device(t: &Tensor) -> Result<Tensor> {
    let _g = no_grad();
    let c = match *t.shape() {
        [_, c] if c > 0 => c,
        _ => {
            return Err(Error::Invalid(format!(
                "argmax: a [N, C] tensor with C >= 1 expected, got {:?}",
                t.shape()
            )))
        }
    };
    let (t, dtype, dev) = (t.detach(), t.dtype(), t.device());
    let at_max = t.eq_mask(&t.max(&[1], true)?)?;
    let cols = Tensor::arange(0.0, c as f64, 1.0, dtype)?
        .reshape(&[1, c])?
        .to_device(dev)?;
    let none = Tensor::full_on(&[], c as f64, dtype, dev)?;
    Ok(Tensor::where_cond(&at_max, &cols, &none)?.min(&[1], false)?)
}

/// Number of rows of `[N, C]` logits whose argmax (the first maximum, as [`argmax_rows`])
/// equals the i64 label, counted on the logits' device as a 0-d tensor of their dtype (no
/// host synchronisation): row `r` counts when `z[r, j] < z[r, y]` for every `j < y` and
/// `z[r, j] <= z[r, y]` for every `j > y`.
pub fn correct_count(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let _g = no_grad();
    let (n, c) = match *logits.shape() {
        [n, c] if c > 0 => (n, c),
        _ => {
            return Err(Error::Invalid(format!(
                "accuracy: logits must be [N, C] with C >= 1, got {:?}",
                logits.shape()
            )))
        }
    };
    if labels.shape() != [n] {
        return Err(Error::Invalid(format!(
            "accuracy: {n} rows of logits need labels of shape [{n}], got {:?}",
            labels.shape()
        )));
    }
    let (z, dtype, dev) = (logits.detach(), logits.dtype(), logits.device());
    let y = labels.unsqueeze(1)?;
    let zy = z.gather(1, &y)?;
    let cols = Tensor::arange(0.0, c as f64, 1.0, dtype)?
        .reshape(&[1, c])?
        .to_device(dev)?;
    let before = cols.lt_mask(&y.to_device(dev)?.to_dtype(dtype)?)?;
    let ok = Tensor::where_cond(&before, &z.lt_mask(&zy)?, &z.le_mask(&zy)?)?;
    Ok(ok.min(&[1], false)?.sum_all()?)
}

/// Number of rows whose argmax equals the i64 label ([`correct_count`], read back).
pub fn correct(logits: &Tensor, labels: &Tensor) -> Result<usize> {
    Ok(correct_count(logits, labels)?.item()? as usize)
}

/// Cosine similarity of two gradient lists, on their device as a 0-d tensor of their dtype:
/// each tensor viewed as `[dim0, -1]`, cosine per row (norms clamped at 1e-8, as
/// `torch.nn.functional.cosine_similarity`), mean per tensor, mean over tensors (0 for none).
pub fn grad_cosine(a: &[Tensor], b: &[Tensor]) -> Result<Tensor> {
    let _g = no_grad();
    let mut per_tensor = Vec::new();
    for (x, y) in a.iter().zip(b) {
        let rows = x.shape().first().copied().unwrap_or(1).max(1);
        let len = x.numel() / rows;
        if len == 0 {
            continue;
        }
        let (x, y) = (x.reshape(&[rows, len])?, y.reshape(&[rows, len])?);
        let norm = |v: &Tensor| -> Result<Tensor> {
            let n = v.mul(v)?.sum(&[1], false)?.sqrt()?;
            Ok(n.clamp(1e-8, f64::INFINITY)?)
        };
        let dot = x.mul(&y)?.sum(&[1], false)?;
        let cos = dot.div(&norm(&x)?.mul(&norm(&y)?)?)?;
        per_tensor.push(cos.mean(&[], false)?);
    }
    match a.first() {
        _ if !per_tensor.is_empty() => Ok(Tensor::stack(&per_tensor, 0)?.mean(&[], false)?),
        Some(t) => Ok(Tensor::full_on(&[], 0.0, t.dtype(), t.device())?),
        None => Ok(Tensor::zeros(&[], DType::F64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_round_trip_through_json_bit_for_bit() {
        // The value that came back 1 ULP off (...376) in issue 14's kill trials: a resumed
        // run rewrites metrics.jsonl from the checkpoint's JSON history, so parsing must give
        // the same f64 (serde_json's `float_roundtrip`, set in the workspace Cargo.toml).
        let m = EpochMetrics {
            test_loss: 10.816644287109375,
            train_loss: 0.1 + 0.2,
            lr: 0.05 * (1.0 + (std::f64::consts::PI * 3.0 / 7.0).cos()),
            cosine: -1.234_567_890_123_456_7e-300,
            ..EpochMetrics::default()
        };
        let text = serde_json::to_string(&m).unwrap();
        let back: EpochMetrics = serde_json::from_str(&text).unwrap();
        assert_eq!(back.test_loss.to_bits(), 10.816644287109375f64.to_bits());
        for (a, b) in [
            (back.train_loss, m.train_loss),
            (back.lr, m.lr),
            (back.cosine, m.cosine),
        ] {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
        }
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
        // A line written before the loss parts existed reads them as 0.
        let old: EpochMetrics = serde_json::from_str(
            "{\"epoch\":1,\"lr\":0.1,\"train_loss\":1.0,\"train_acc\":5.0,\"test_loss\":2.0,\
             \"test_acc\":3.0,\"meta_loss_before\":0.0,\"meta_acc_before\":0.0,\
             \"meta_loss_after\":0.0,\"meta_acc_after\":0.0,\"cosine\":0.0,\
             \"utilisation\":0.0,\"pass1_s\":1.0,\"pass2_s\":0.0}",
        )
        .unwrap();
        assert_eq!((old.train_primary_loss, old.train_aux_loss), (0.0, 0.0));
    }

    #[test]
    fn argmax_accuracy_and_cosine_by_hand() {
        let logits = Tensor::from_vec(vec![0.1f32, 0.9, 0.5, 0.2, 0.3, 0.3], &[3, 2]).unwrap();
        assert_eq!(argmax_rows(&logits), vec![1, 0, 0]);
        let labels = Tensor::from_vec(vec![1i64, 1, 0], &[3]).unwrap();
        assert_eq!(correct(&logits, &labels).unwrap(), 2);
        let a = Tensor::from_vec(vec![1.0f64, 0.0, 0.0, 1.0], &[2, 2]).unwrap();
        let b = Tensor::from_vec(vec![1.0f64, 1.0, 0.0, -2.0], &[2, 2]).unwrap();
        // Row cosines: 1/sqrt(2) and -1; mean over rows.
        let want = (std::f64::consts::FRAC_1_SQRT_2 - 1.0) / 2.0;
        let got = grad_cosine(&[a], &[b]).unwrap().item().unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn argmax_on_the_device_is_the_first_maximum() {
        let z = vec![
            0.5f64, 0.5, 0.1, 0.1, 0.7, 0.7, 0.3, 0.2, 0.9, 0.2, 0.2, 0.2,
        ];
        let t = Tensor::from_vec(z, &[4, 3]).unwrap();
        assert_eq!(argmax_rows(&t), vec![0, 1, 2, 0]);
        let got = argmax_rows_on_device(&t).unwrap().to_f64_vec();
        assert_eq!(got, vec![0.0, 1.0, 2.0, 0.0]);
    }

    #[test]
    fn ties_count_for_the_first_maximum_only() {
        // Rows with ties: the argmax is the first maximum, as argmax_rows.
        let z = vec![
            0.5f64, 0.5, 0.1, 0.1, 0.7, 0.7, 0.1, 0.7, 0.7, 0.2, 0.2, 0.2,
        ];
        let logits = Tensor::from_vec(z, &[4, 3]).unwrap();
        assert_eq!(argmax_rows(&logits), vec![0, 1, 1, 0]);
        let labels = Tensor::from_vec(vec![1i64, 1, 2, 0], &[4]).unwrap();
        // Row 0: label 1 ties with column 0, which comes first: wrong. Row 1: right. Row 2:
        // label 2 ties with column 1: wrong. Row 3: all equal, label 0: right.
        let n = correct_count(&logits, &labels).unwrap();
        assert_eq!((n.shape(), n.item().unwrap()), (&[][..], 2.0));
        assert!(correct_count(&logits, &Tensor::from_vec(vec![0i64; 3], &[3]).unwrap()).is_err());
    }
}
