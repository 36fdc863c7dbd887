//! Layer-level ops built from the recorded ones: `linear` (a matmul with the transposed weight,
//! read through strides, plus a broadcast bias) and `dropout` (a product with a constant mask
//! drawn from a seeded generator and scaled by `1 / (1 - p)`, as PyTorch's).

pub(crate) mod cases;

use super::checks::{check_float, check_same};
use crate::error::{invalid, Error, Result};
use crate::{Rng, Tensor};

impl Tensor {
    /// `self @ weight^T + bias` for `self` `[..., in]`, `weight` `[out, in]`, `bias` `[out]`
    /// (PyTorch's `F.linear`).
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let op = "linear";
        check_same(op, self, weight)?;
        check_float(op, self)?;
        let mismatch = |rhs: &Tensor| Error::ShapeMismatch {
            op,
            lhs: self.shape().to_vec(),
            rhs: rhs.shape().to_vec(),
        };
        if self.rank() == 0
            || weight.rank() != 2
            || self.shape()[self.rank() - 1] != weight.shape()[1]
        {
            return Err(mismatch(weight));
        }
        if let Some(b) = bias {
            check_same(op, self, b)?;
            if b.shape() != [weight.shape()[0]] {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: weight.shape().to_vec(),
                    rhs: b.shape().to_vec(),
                });
            }
        }
        let y = if self.rank() == 1 {
            self.unsqueeze(0)?.matmul(&weight.t()?)?.squeeze(0)?
        } else {
            self.matmul(&weight.t()?)?
        };
        match bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }

    /// Dropout: in training mode each element is zeroed with probability `p` and the rest are
    /// scaled by `1 / (1 - p)`; the mask is a constant drawn from `rng`. Not training, or
    /// `p = 0`, returns `self` unchanged.
    pub fn dropout(&self, p: f64, train: bool, rng: &mut Rng) -> Result<Tensor> {
        check_float("dropout", self)?;
        if !(0.0..=1.0).contains(&p) {
            return invalid(format!("dropout: probability must be in [0, 1], got {p}"));
        }
        if !train || p == 0.0 {
            return Ok(self.clone());
        }
        if p == 1.0 {
            return self.mul_scalar(0.0);
        }
        let scale = 1.0 / (1.0 - p);
        let mask: Vec<f64> = (0..self.numel())
            .map(|_| if rng.uniform() < p { 0.0 } else { scale })
            .collect();
        self.mul(&Tensor::from_f64s(&mask, self.shape(), self.dtype()).to_device(self.device())?)
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Rng, Tensor};

    #[test]
    fn linear_by_hand() {
        let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
        let w = Tensor::from_vec(vec![1.0f32, 0.0, 1.0, 1.0, 0.5, -1.0], &[3, 2]).unwrap();
        let b = Tensor::from_vec(vec![0.0f32, 1.0, 2.0], &[3]).unwrap();
        let y = x.linear(&w, Some(&b)).unwrap();
        assert_eq!(y.shape(), [2, 3]);
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            vec![1.0, 4.0, 0.5, 3.0, 8.0, -0.5]
        );
        let e = x
            .linear(&Tensor::zeros(&[3, 3], DType::F32), None)
            .unwrap_err();
        assert!(e.to_string().contains("[2, 2]") && e.to_string().contains("[3, 3]"));
        assert!(x
            .linear(&w, Some(&Tensor::zeros(&[2], DType::F32)))
            .is_err());
    }

    #[test]
    fn dropout_mask_is_seeded_and_scaled() {
        let x = Tensor::ones(&[1000], DType::F64);
        let a = x
            .dropout(0.25, true, &mut Rng::new(1))
            .unwrap()
            .to_f64_vec();
        let b = x
            .dropout(0.25, true, &mut Rng::new(1))
            .unwrap()
            .to_f64_vec();
        assert_eq!(a, b);
        assert!(a.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-12));
        let kept = a.iter().filter(|&&v| v != 0.0).count();
        assert!((700..800).contains(&kept), "kept {kept}");
        let e = x.dropout(0.25, false, &mut Rng::new(1)).unwrap();
        assert_eq!(e.to_f64_vec(), x.to_f64_vec());
        assert!(x.dropout(1.5, true, &mut Rng::new(1)).is_err());
        assert!(x
            .dropout(1.0, true, &mut Rng::new(1))
            .unwrap()
            .to_f64_vec()
            .iter()
            .all(|&v| v == 0.0));
    }
}
