//! Square f32 matmul speed: n = 256, 512, 1024, 2048, one JSON line each with GFLOP/s.

use super::median_secs;
use anyhow::Result;
use maxl_engine::{DType, Rng, Tensor};
use serde_json::json;

pub fn run(threads: usize) -> Result<()> {
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
