//! Ctrl-C (SIGINT) and SIGTERM (Slurm's scancel and time limit) as a flag that the sweep polls:
//! it then stops its `train` children, whose folders keep their last checkpoint, releases
//! their locks and exits with 130.

use anyhow::{anyhow, Result};
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Exit code of an interrupted sweep (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Installs the handler (once per process).
pub fn install() -> Result<()> {
    ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst))
        .map_err(|e| anyhow!("installing the Ctrl-C handler: {e}"))
}

pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
