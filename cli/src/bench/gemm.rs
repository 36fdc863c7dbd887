//! Square f32 matmul speed, one JSON line per size with GFLOP/s: n = 256 .. 2048 on the CPU,
//! 1024, 2048, 4096 on a GPU (each timed run waits for the device).

use super::timing::median_secs;
use anyhow::Result;
use maxl_engine::{DType, Device, Rng, Tensor};
use serde_json::json;

pub fn run(threads: usize, dev: Device, tf32: bool) -> Result<()> {
    let mut rng = Rng::new(0);
    let sizes: &[usize] = if dev.is_cuda() {
        &[1024, 2048, 4096]
    } else {
        &[256, 512, 1024, 2048]
    };
    for &n in sizes {
        let a = Tensor::randn(&[n, n], DType::F32, &mut rng).to_device(dev)?;
        let b = Tensor::randn(&[n, n], DType::F32, &mut rng).to_device(dev)?;
        let t = median_secs(
            || {
                let c = a.matmul(&b)?;
                dev.synchronize()?;
                drop(c);
                Ok(())
            },
            10,
            0.5,
        )?;
        let gflops = 2.0 * (n as f64).powi(3) / t / 1e9;
        let mut line = json!({"n": n, "gflops": (gflops * 10.0).round() / 10.0, "median_s": t, "threads": threads, "device": dev.to_string(), "impl": "maxl-rs"});
        if dev.is_cuda() {
            line["tf32"] = json!(tf32);
            line["gpu"] = json!(gpu_name(dev));
        }
        println!("{line}");
    }
    Ok(())
}

/// The GPU's name (or the emulator's description).
pub fn gpu_name(dev: Device) -> String {
    match dev {
        Device::Cuda(n) => maxl_engine::backend::cuda::device(n)
            .map(|d| d.describe())
            .unwrap_or_default(),
        Device::Cpu => String::new(),
    }
}
