//! `--threads` of every subcommand that computes (`train`, `eval`, `visualize`, `bench`,
//! `sweep`): 0 or no flag means all cores, as rayon's own default; more than
//! [`PER_CORE`] threads per core is refused before any thread pool starts (a huge count
//! would spend minutes starting threads and then thrash).

use anyhow::{bail, Result};
use maxl_engine::Device;

/// The most threads per core `--threads` accepts.
pub const PER_CORE: usize = 4;

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// An error if `threads` is above [`PER_CORE`] x the cores; `flag` names it.
pub fn check_bound(threads: Option<usize>, flag: &str) -> Result<()> {
    let cores = cores();
    match threads {
        Some(t) if t > PER_CORE * cores => bail!(
            "{flag} {t}: at most {} ({PER_CORE} per core; this machine has {cores} core{}); 0 \
             means all cores",
            PER_CORE * cores,
            if cores == 1 { "" } else { "s" }
        ),
        _ => Ok(()),
    }
}

/// Sizes rayon's global pool: `None` and `Some(0)` leave all cores, others are checked by
/// [`check_bound`] first.
pub fn set_threads(threads: Option<usize>) -> Result<()> {
    check_bound(threads, "--threads")?;
    match threads {
        None | Some(0) => Ok(()),
        Some(t) => Ok(rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()?),
    }
}

/// Runs `f` on a worker thread of rayon's pool when `device` is the CPU (the calling thread
/// waits), so that the CPU kernels' parallel loops start on a running worker instead of being
/// injected into the pool from outside it, which woke a sleeping worker and put the calling
/// thread to sleep at every parallel op: a B1 single-task step switched threads about 400
/// times, 5x as often as on a worker, each switch a wait for a CPU on a loaded host. On a GPU
/// `f` runs on the calling thread: a CUDA context is bound to the thread that made it.
pub fn on_pool<R: Send>(device: Device, f: impl FnOnce() -> R + Send) -> R {
    if device == Device::Cpu {
        rayon::scope(|_| f())
    } else {
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_on_the_pool_runs_on_a_worker_thread() {
        assert_eq!(rayon::current_thread_index(), None);
        let inside = on_pool(Device::Cpu, rayon::current_thread_index);
        assert!(inside.is_some(), "ran on {inside:?}");
    }

    #[test]
    fn bounds_are_a_multiple_of_the_cores() {
        let c = cores();
        check_bound(None, "--threads").unwrap();
        check_bound(Some(0), "--threads").unwrap();
        check_bound(Some(PER_CORE * c), "--threads").unwrap();
        let e = check_bound(Some(PER_CORE * c + 1), "--threads")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "--threads {}: at most {}",
                PER_CORE * c + 1,
                4 * c
            )),
            "{e}"
        );
    }
}
