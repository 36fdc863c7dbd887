//! Clocks of the detailed benchmarks (`bench ops`, `bench conv`): wall seconds, or the CPU
//! seconds of the whole process (steadier on a shared machine; with one thread, the work).

use std::time::Instant;

/// Which clock a figure is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    Wall,
    Cpu,
}

impl Clock {
    /// `wall` or `cpu`, as the JSON says it.
    pub fn name(self) -> &'static str {
        match self {
            Clock::Wall => "wall",
            Clock::Cpu => "cpu",
        }
    }

    /// A reading in seconds from an arbitrary origin.
    pub fn now(self, origin: Instant) -> f64 {
        match self {
            Clock::Wall => origin.elapsed().as_secs_f64(),
            Clock::Cpu => cpu_secs(),
        }
    }
}

/// CPU seconds used so far by all threads of this process (Linux: the sum of
/// `/proc/self/task/*/schedstat`; 0 elsewhere).
fn cpu_secs() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let ns: u64 = dir
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 * 1e-9
}

/// The median of `xs` (0 when empty).
pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Median seconds of `runs` timed calls of `f` after `warmup` untimed ones.
pub fn time_median(
    clock: Clock,
    runs: usize,
    warmup: usize,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    for _ in 0..warmup {
        f()?;
    }
    let origin = Instant::now();
    let mut t = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let s = clock.now(origin);
        f()?;
        t.push(clock.now(origin) - s);
    }
    Ok(median(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
        assert_eq!(median(vec![]), 0.0);
    }
}
