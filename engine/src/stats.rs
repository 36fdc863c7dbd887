//! Work counters of the calling thread: ops run, tape nodes recorded, backward rules run, CUDA
//! kernel launches and host synchronisations (device-to-host copies). Tests and benchmarks
//! read them around a piece of work ([`stats`] before and after, or [`reset_stats`] first) to
//! show what a change saves; they are plain thread-local additions, cheap enough to stay on.
//! Separately, [`record_kernel_names`] makes every launch also note its kernel's name
//! process-wide (the orphan-kernel test compares those names with the compiled ones).

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Counts of work done by this thread since it started (or since [`reset_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Ops that produced a tensor from tensors (recorded or not; views included).
    pub ops_run: u64,
    /// Of those, the ones recorded on the tape (a node for a backward rule).
    pub ops_recorded: u64,
    /// Backward rules run by `grad`/`backward`.
    pub backward_rules: u64,
    /// CUDA kernel launches (on a GPU or the kernel emulator).
    pub kernel_launches: u64,
    /// Copies from a CUDA device to the host (each waits for the device's queued work).
    pub host_syncs: u64,
}

impl std::ops::Sub for Stats {
    type Output = Stats;
    fn sub(self, o: Stats) -> Stats {
        Stats {
            ops_run: self.ops_run - o.ops_run,
            ops_recorded: self.ops_recorded - o.ops_recorded,
            backward_rules: self.backward_rules - o.backward_rules,
            kernel_launches: self.kernel_launches - o.kernel_launches,
            host_syncs: self.host_syncs - o.host_syncs,
        }
    }
}

thread_local! {
    static COUNTS: Cell<Stats> = const {
        Cell::new(Stats {
            ops_run: 0,
            ops_recorded: 0,
            backward_rules: 0,
            kernel_launches: 0,
            host_syncs: 0,
        })
    };
}

/// The counters of the calling thread.
pub fn stats() -> Stats {
    COUNTS.with(Cell::get)
}

/// Sets the calling thread's counters to zero.
pub fn reset_stats() {
    COUNTS.with(|c| c.set(Stats::default()));
}

fn bump(f: impl FnOnce(&mut Stats)) {
    COUNTS.with(|c| {
        let mut s = c.get();
        f(&mut s);
        c.set(s);
    });
}

pub(crate) fn count_op(recorded: bool) {
    bump(|s| {
        s.ops_run += 1;
        s.ops_recorded += recorded as u64;
    });
}

pub(crate) fn count_backward_rule() {
    bump(|s| s.backward_rules += 1);
}

pub(crate) fn count_launch(name: &str) {
    bump(|s| s.kernel_launches += 1);
    if RECORD_NAMES.load(Ordering::Relaxed) {
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if !names.contains(name) {
            names.insert(name.to_string());
        }
    }
}

pub(crate) fn count_host_sync() {
    bump(|s| s.host_syncs += 1);
}

static RECORD_NAMES: AtomicBool = AtomicBool::new(false);
static NAMES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Starts (or stops) noting the name of every CUDA kernel launched, by any thread.
pub fn record_kernel_names(on: bool) {
    RECORD_NAMES.store(on, Ordering::Relaxed);
}

/// The names of the kernels launched while [`record_kernel_names`] was on.
pub fn launched_kernel_names() -> BTreeSet<String> {
    NAMES.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
