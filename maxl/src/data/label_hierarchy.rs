//! Label hierarchies: levels of labels from coarse to fine where every class of a level has one
//! parent class in the level above (CIFAR-100: 3 -> 10 -> 20 -> 100). Gives each sample's label
//! at every level, the psi of a (primary, auxiliary) pair (the input of `crate::hierarchy`'s
//! `Hierarchy`) and the Human baseline's class layout.

use super::names;
use crate::error::{Error, Result};

/// Labels of one set of samples at several nested levels.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelHierarchy {
    /// Classes per level, coarse to fine, strictly increasing.
    sizes: Vec<usize>,
    /// `parents[k][c]`: the class at level `k - 1` of class `c` at level `k`; `parents[0]` empty.
    parents: Vec<Vec<usize>>,
    names: Vec<Option<Vec<String>>>,
    /// `labels[k][i]`: sample `i`'s label at level `k`.
    labels: Vec<Vec<i64>>,
}

impl LabelHierarchy {
    /// A hierarchy from level sizes (coarse to fine), the parent map of every level below the
    /// first (`parents[k - 1]` maps level `k` to level `k - 1`) and the finest labels.
    pub fn new(
        sizes: Vec<usize>,
        parents: Vec<Vec<usize>>,
        finest: Vec<i64>,
    ) -> Result<LabelHierarchy> {
        if sizes.is_empty() || sizes.contains(&0) || sizes.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::Invalid(format!(
                "hierarchy: level sizes {sizes:?} must be non-zero and strictly increasing"
            )));
        }
        if parents.len() + 1 != sizes.len() {
            return Err(Error::Invalid(format!(
                "hierarchy: {} levels need {} parent maps, got {}",
                sizes.len(),
                sizes.len() - 1,
                parents.len()
            )));
        }
        let mut all_parents = vec![Vec::new()];
        for (k, p) in parents.into_iter().enumerate() {
            let (up, here) = (sizes[k], sizes[k + 1]);
            if p.len() != here {
                return Err(Error::Invalid(format!(
                    "hierarchy: the map from level {here} to level {up} has {} entries",
                    p.len()
                )));
            }
            if let Some((c, &q)) = p.iter().enumerate().find(|(_, &q)| q >= up) {
                return Err(Error::Invalid(format!(
                    "hierarchy: class {c} of level {here} maps to {q}, outside 0..{up}"
                )));
            }
            all_parents.push(p);
        }
        let fine = *sizes.last().unwrap_or(&0);
        if let Some((i, l)) = super::labels::out_of_range(&finest, fine) {
            return Err(Error::Invalid(format!(
                "hierarchy: label {l} of sample {i} is outside 0..{fine}"
            )));
        }
        let mut labels = vec![finest];
        for k in (1..sizes.len()).rev() {
            let below = &labels[0];
            let up: Vec<i64> = below
                .iter()
                .map(|&l| all_parents[k][l as usize] as i64)
                .collect();
            labels.insert(0, up);
        }
        Ok(LabelHierarchy {
            names: vec![None; sizes.len()],
            sizes,
            parents: all_parents,
            labels,
        })
    }

    /// CIFAR-100's four levels 3, 10, 20, 100 from the fine labels and the fine -> coarse (20)
    /// map; the 20 -> 10 and 10 -> 3 maps are the authors' (`REFERENCE.md`). The 20 coarse and
    /// 100 fine levels are named.
    pub fn cifar100(fine: Vec<i64>, fine_to_coarse: Vec<usize>) -> Result<LabelHierarchy> {
        let h = LabelHierarchy::new(
            vec![3, 10, 20, 100],
            vec![
                names::CIFAR100_10_TO_3.to_vec(),
                names::CIFAR100_20_TO_10.to_vec(),
                fine_to_coarse,
            ],
            fine,
        )?;
        h.with_names(20, names::owned(&names::CIFAR100_COARSE))?
            .with_names(100, names::owned(&names::CIFAR100_FINE))
    }

    /// Names the classes of the level with `classes` classes.
    pub fn with_names(mut self, classes: usize, names: Vec<String>) -> Result<LabelHierarchy> {
        let k = self.level(classes)?;
        if names.len() != classes {
            return Err(Error::Invalid(format!(
                "hierarchy: {} names for level {classes}",
                names.len()
            )));
        }
        self.names[k] = Some(names);
        Ok(self)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.first().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Classes per level, coarse to fine.
    pub fn levels(&self) -> &[usize] {
        &self.sizes
    }

    fn level(&self, classes: usize) -> Result<usize> {
        self.sizes
            .iter()
            .position(|&s| s == classes)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "hierarchy: no level with {classes} classes (levels: {:?})",
                    self.sizes
                ))
            })
    }

    /// Every sample's label at the level with `classes` classes.
    pub fn labels(&self, classes: usize) -> Result<&[i64]> {
        Ok(&self.labels[self.level(classes)?])
    }

    /// The class names of a level, where known.
    pub fn names(&self, classes: usize) -> Option<&[String]> {
        self.level(classes)
            .ok()
            .and_then(|k| self.names[k].as_deref())
    }

    /// For each class of the level `fine`, its ancestor in the coarser (or same) level `coarse`.
    pub fn ancestors(&self, fine: usize, coarse: usize) -> Result<Vec<usize>> {
        let (kf, kc) = (self.level(fine)?, self.level(coarse)?);
        if kc > kf {
            return Err(Error::Invalid(format!(
                "hierarchy: level {coarse} is finer than level {fine}"
            )));
        }
        let mut map: Vec<usize> = (0..fine).collect();
        for k in (kc + 1..=kf).rev() {
            for m in &mut map {
                *m = self.parents[k][*m];
            }
        }
        Ok(map)
    }

    /// psi for a primary level and a finer auxiliary level: the number of auxiliary classes
    /// under each primary class (CIFAR-100, 20 and 100: five each).
    pub fn psi(&self, primary: usize, auxiliary: usize) -> Result<Vec<usize>> {
        let map = self.ancestors(auxiliary, primary)?;
        let mut psi = vec![0; primary];
        for p in map {
            psi[p] += 1;
        }
        Ok(psi)
    }

    /// For each auxiliary class, its column when the auxiliary classes are laid out in psi
    /// blocks (block `i` holds primary class `i`'s children in increasing order), the layout of
    /// Mask SoftMax. Used to give the Human baseline's labels the generator's layout.
    pub fn block_columns(&self, primary: usize, auxiliary: usize) -> Result<Vec<usize>> {
        let map = self.ancestors(auxiliary, primary)?;
        let psi = self.psi(primary, auxiliary)?;
        let mut next: Vec<usize> = psi
            .iter()
            .scan(0, |s, &p| {
                let start = *s;
                *s += p;
                Some(start)
            })
            .collect();
        Ok(map
            .into_iter()
            .map(|p| {
                let c = next[p];
                next[p] += 1;
                c
            })
            .collect())
    }

    /// The hierarchy of the samples at `indices`.
    pub(crate) fn subset(&self, indices: &[usize]) -> Result<LabelHierarchy> {
        let n = self.len();
        if let Some(&i) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::Invalid(format!(
                "subset: index {i} is past the end of {n} samples"
            )));
        }
        Ok(LabelHierarchy {
            sizes: self.sizes.clone(),
            parents: self.parents.clone(),
            names: self.names.clone(),
            labels: self
                .labels
                .iter()
                .map(|l| indices.iter().map(|&i| l[i]).collect())
                .collect(),
        })
    }
}
