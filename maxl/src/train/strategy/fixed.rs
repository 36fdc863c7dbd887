//! Fixed auxiliary labels: one auxiliary column per training sample, chosen once when the run
//! starts and never trained. Random: a column drawn uniformly inside the sample's primary
//! class's block. Human: the sample's class at a finer level of the data set's label
//! hierarchy (CIFAR-100). The labels follow from the settings and the data, so the record
//! holds nothing.

use super::base::AuxStrategy;
use super::columns::column_targets;
use crate::data::{Batch, Dataset};
use crate::hierarchy::Hierarchy;
use crate::train::epoch::EpochContext;
use crate::train::record::Record;
use crate::{Error, Result};
use maxl_engine::{Rng, Tensor};

/// Per-sample auxiliary columns fixed for the run.
pub struct FixedLabels {
    name: &'static str,
    columns: Vec<usize>,
    total: usize,
}

impl FixedLabels {
    /// Random labels: for each sample of class l, a column of l's block drawn from `rng`.
    pub fn random(train: &Dataset, hierarchy: &Hierarchy, rng: &mut Rng) -> FixedLabels {
        let columns = train
            .labels()
            .iter()
            .map(|&l| {
                let l = l as usize;
                hierarchy.offset(l) + rng.below(hierarchy.psi()[l])
            })
            .collect();
        FixedLabels {
            name: "random",
            columns,
            total: hierarchy.total(),
        }
    }

    /// Human labels: each sample's class at the hierarchy level with `aux_level` classes,
    /// laid out in the blocks of the primary level.
    pub fn human(train: &Dataset, aux_level: usize, hierarchy: &Hierarchy) -> Result<FixedLabels> {
        let lh = train
            .hierarchy()
            .ok_or_else(|| Error::Invalid("no label hierarchy".into()))?;
        let cols = lh.block_columns(train.classes(), aux_level)?;
        let columns = lh
            .labels(aux_level)?
            .iter()
            .map(|&a| cols[a as usize])
            .collect();
        Ok(FixedLabels {
            name: "human",
            columns,
            total: hierarchy.total(),
        })
    }
}

impl AuxStrategy for FixedLabels {
    fn name(&self) -> &'static str {
        self.name
    }

    fn targets(&mut self, _cx: &EpochContext, b: &Batch) -> Result<Option<Tensor>> {
        Ok(Some(column_targets(&self.columns, b, self.total)?))
    }

    fn record(&self) -> Result<Record> {
        Ok(Record::new())
    }

    fn load_record(&mut self, record: Record) -> Result<()> {
        record.finish("the fixed labels' record")
    }

    fn to_device(&mut self, _device: maxl_engine::Device) -> Result<()> {
        Ok(())
    }

    fn columns(&self) -> Option<&[usize]> {
        Some(&self.columns)
    }
}
