//! The benchmarks' clock: the median wall time of a step after warm-up.

use anyhow::Result;
use std::time::Instant;

/// Median wall time of `f` over at least `min_runs` runs and about `min_secs`, after warm-up.
pub fn median_secs(
    mut f: impl FnMut() -> Result<()>,
    min_runs: usize,
    min_secs: f64,
) -> Result<f64> {
    for _ in 0..3 {
        f()?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < min_runs || start.elapsed().as_secs_f64() < min_secs {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
