//! The auxiliary-label strategy: what makes the methods differ. The trainer runs the same
//! epoch for every method (pass 1 on theta1, then the test) and asks its one strategy for the
//! auxiliary targets of each batch, lets it act before pass 1 and after each step, runs its
//! meta pass where it has one, and saves its state as a named record.

use crate::data::Batch;
use crate::metrics::EpochMetrics;
use crate::models::NetState;
use crate::nn::Sgd;
use crate::train::epoch::{EpochContext, Progress};
use crate::train::record::Record;
use crate::Result;
use maxl_engine::Tensor;

/// How the auxiliary labels of a run are made (MAXL's generator, fixed labels, k-means, or
/// none), with the state that takes. `Send`: `maxl-cli train` runs a CPU run's loop on a
/// worker thread of rayon's pool.
pub trait AuxStrategy: Send {
    /// The method's name as `--method` spells it; a checkpoint records it.
    fn name(&self) -> &'static str;

    /// False where there is no auxiliary task (the single-task network has one head).
    fn has_aux_task(&self) -> bool {
        true
    }

    /// True where the epoch has a meta pass (pass 2).
    fn has_meta_pass(&self) -> bool {
        false
    }

    /// Before pass 1 of each epoch (inside its timing).
    fn begin_epoch(&mut self, _cx: &EpochContext, _m: &mut EpochMetrics) -> Result<()> {
        Ok(())
    }

    /// The auxiliary targets `[B, sum psi]` of a pass-1 batch (on the batch's device); `None`
    /// without an auxiliary task.
    fn targets(&mut self, cx: &EpochContext, batch: &Batch) -> Result<Option<Tensor>>;

    /// After theta1's step on a pass-1 batch.
    fn after_step(&mut self, _cx: &EpochContext, _batch: &Batch) -> Result<()> {
        Ok(())
    }

    /// After pass 1: the strategy's figures of the epoch's labels.
    fn end_pass1(&mut self, _m: &mut EpochMetrics) -> Result<()> {
        Ok(())
    }

    /// Pass 2, where the strategy has one: updates its own state from theta1 (`mt`, and its
    /// optimiser `theta1` for a look-ahead step like its own) and writes the pass's figures
    /// into `m`. Called every epoch, after pass 1.
    fn meta_pass(
        &mut self,
        _cx: &EpochContext,
        _mt: &NetState,
        _theta1: &Sgd,
        _m: &mut EpochMetrics,
        _on_batch: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        Ok(())
    }

    /// The strategy's state, for a checkpoint.
    fn record(&self) -> Result<Record>;

    /// Puts a saved state back, after checking it against the state these settings make;
    /// on an error nothing has changed.
    fn load_record(&mut self, record: Record) -> Result<()>;

    /// Moves the strategy's tensors to `device`.
    fn to_device(&mut self, device: maxl_engine::Device) -> Result<()>;

    /// The label generator's state, where the strategy trains one.
    fn generator(&self) -> Option<&NetState> {
        None
    }

    /// The auxiliary column of every training sample, where the labels are per sample (fixed
    /// labels, or the last clustering).
    fn columns(&self) -> Option<&[usize]> {
        None
    }
}
