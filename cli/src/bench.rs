//! `maxl-cli bench`: speed figures as JSON lines. `gemm` times square f32 matmuls (median of
//! at least 10 runs after warm-up); compare with `benches/torch_gemm.py` on the same machine.

use anyhow::Result;
use maxl_engine::{DType, Device, Rng, Tensor};
use serde_json::json;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Which benchmark: gemm.
    #[arg(value_parser = ["gemm"])]
    which: String,
    /// Print JSON (one object per line). Figures are JSON either way; kept for symmetry.
    #[arg(long)]
    json: bool,
    /// Device: cpu (cuda needs the CUDA backend, not built yet).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

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

fn gemm(threads: usize) -> Result<()> {
    let mut rng = Rng::new(0);
    for n in [256usize, 512, 1024, 2048] {
        let a = Tensor::randn(&[n, n], DType::F32, &mut rng);
        let b = Tensor::randn(&[n, n], DType::F32, &mut rng);
        let t = median_secs(|| a.matmul(&b).map(drop).map_err(Into::into), 10, 0.5)?;
        let gflops = 2.0 * (n as f64).powi(3) / t / 1e9;
        println!(
            "{}",
            json!({"n": n, "gflops": (gflops * 10.0).round() / 10.0, "median_s": t, "threads": threads, "device": "cpu", "impl": "maxl-rs"})
        );
    }
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    Device::parse(&a.device)?.ensure_available()?;
    if let Some(t) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()?;
    }
    let threads = rayon::current_num_threads();
    match a.which.as_str() {
        "gemm" => gemm(threads),
        _ => unreachable!("clap restricts the choices"),
    }
}
