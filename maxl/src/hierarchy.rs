//! The hierarchy psi: how many auxiliary classes each primary class owns. Balanced `[k] * P`,
//! an explicit list, or the paper's split of a total that is unbalanced by one, with the
//! primary classes that get the extra class chosen from a seed. Also the Mask SoftMax table.

use crate::{Error, Result};
use maxl_engine::{DType, Rng, Tensor};

/// psi: auxiliary classes per primary class; class i owns columns `offset(i)..offset(i+1)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    psi: Vec<usize>,
}

impl Hierarchy {
    /// An explicit psi; every entry must be at least 1.
    pub fn new(psi: Vec<usize>) -> Result<Hierarchy> {
        if psi.is_empty() || psi.contains(&0) {
            return Err(Error::Invalid(format!(
                "psi {psi:?}: every primary class needs at least one auxiliary class"
            )));
        }
        Ok(Hierarchy { psi })
    }

    /// `[k] * primary`.
    pub fn balanced(k: usize, primary: usize) -> Result<Hierarchy> {
        Hierarchy::new(vec![k; primary])
    }

    /// `total` auxiliary classes over `primary` classes, unbalanced by at most one; the
    /// classes that get one more are drawn from `seed` (paper, section 4.3).
    pub fn split(total: usize, primary: usize, seed: u64) -> Result<Hierarchy> {
        if primary == 0 || total < primary {
            return Err(Error::Invalid(format!(
                "cannot split {total} auxiliary classes over {primary} primary classes (need at least one each)"
            )));
        }
        let (base, extra) = (total / primary, total % primary);
        let mut order: Vec<usize> = (0..primary).collect();
        Rng::new(seed).shuffle(&mut order);
        let mut psi = vec![base; primary];
        for &i in &order[..extra] {
            psi[i] += 1;
        }
        Hierarchy::new(psi)
    }

    /// Checks that psi has one entry per primary class.
    pub fn check_primary(&self, primary: usize) -> Result<()> {
        if self.psi.len() != primary {
            return Err(Error::Invalid(format!(
                "psi has {} entries but the data set has {primary} primary classes",
                self.psi.len()
            )));
        }
        Ok(())
    }

    pub fn psi(&self) -> &[usize] {
        &self.psi
    }

    pub fn primary(&self) -> usize {
        self.psi.len()
    }

    /// sum psi.
    pub fn total(&self) -> usize {
        self.psi.iter().sum()
    }

    /// First auxiliary column of primary class `i`.
    pub fn offset(&self, i: usize) -> usize {
        self.psi[..i].iter().sum()
    }

    /// The primary class that owns auxiliary column `j`.
    pub fn owner(&self, j: usize) -> Option<usize> {
        let mut end = 0;
        self.psi.iter().position(|&k| {
            end += k;
            j < end
        })
    }

    /// The `[P, sum psi]` table of ln(mask): 0 on each class's own block and `ln(1e-8)` (the
    /// authors' form) or `-inf` (exact) elsewhere.
    pub fn log_mask(&self, exact: bool, dtype: DType) -> Tensor {
        let off = if exact {
            f64::NEG_INFINITY
        } else {
            1e-8f64.ln()
        };
        let (p, t) = (self.primary(), self.total());
        let mut v = vec![off; p * t];
        for i in 0..p {
            let o = self.offset(i);
            v[i * t + o..i * t + o + self.psi[i]].fill(0.0);
        }
        Tensor::from_f64s(&v, &[p, t], dtype)
    }
}
