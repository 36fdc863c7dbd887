//! The single-task baseline's strategy: no auxiliary task, so no targets, no state and a
//! network with the primary head only.

use super::base::AuxStrategy;
use crate::data::Batch;
use crate::train::epoch::EpochContext;
use crate::train::record::Record;
use crate::Result;
use maxl_engine::Tensor;

/// No auxiliary labels.
pub struct NoAuxiliary;

impl AuxStrategy for NoAuxiliary {
    fn name(&self) -> &'static str {
        "single"
    }

    fn has_aux_task(&self) -> bool {
        false
    }

    fn targets(&mut self, _cx: &EpochContext, _b: &Batch) -> Result<Option<Tensor>> {
        Ok(None)
    }

    fn record(&self) -> Result<Record> {
        Ok(Record::new())
    }

    fn load_record(&mut self, record: Record) -> Result<()> {
        record.finish("the single-task record")
    }

    fn to_device(&mut self, _device: maxl_engine::Device) -> Result<()> {
        Ok(())
    }
}
