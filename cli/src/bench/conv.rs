//! `maxl-cli bench conv`: the CPU convolution kernels side by side on the 3x3 layer shapes of
//! ConvNet-4 (B1) and VGG-16 (B2), batch 100, f32: for each layer and each kernel that can
//! compute it (im2col + gemm, Winograd F(2x2) and F(4x4), per-pair gemms), the median time of
//! the forward pass, the input gradient and the weight gradient. One JSON object per (layer,
//! kernel); `chosen` names the kernel the engine picks for each pass. This is how the
//! engine's shape-based kernel choice (`maxl_engine::ops::conv::algo`) was measured.

use super::clock::{time_median, Clock};
use super::detail::DetailArgs;
use anyhow::{anyhow, Result};
use maxl_engine::ops::conv::algo::{force, select, Algo};
use maxl_engine::ops::conv::{ConvGeom, Dir};
use maxl_engine::{no_grad, DType, Rng, Tensor};
use serde_json::json;

/// A 3x3, padding-1 convolution layer: (config, c, k, plane side).
pub const LAYERS: [(&str, usize, usize, usize); 13] = [
    ("b1", 1, 32, 28),
    ("b1", 32, 64, 14),
    ("b1", 64, 128, 7),
    ("b1", 128, 256, 3),
    ("b2", 3, 64, 32),
    ("b2", 64, 64, 32),
    ("b2", 64, 128, 16),
    ("b2", 128, 128, 16),
    ("b2", 128, 256, 8),
    ("b2", 256, 256, 8),
    ("b2", 256, 512, 4),
    ("b2", 512, 512, 4),
    ("b2", 512, 512, 2),
];

const BATCH: usize = 100;

/// Resets the forced kernel when dropped (also on an error).
struct Unforce;

impl Drop for Unforce {
    fn drop(&mut self) {
        force(None);
    }
}

pub fn run(a: &DetailArgs, threads: usize) -> Result<()> {
    let algos = a
        .algos
        .iter()
        .map(|s| {
            Algo::parse(s).ok_or_else(|| {
                let known: Vec<&str> = Algo::ALL.iter().map(|a| a.name()).collect();
                anyhow!("--algos: unknown kernel {s:?} ({})", known.join(", "))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let clock = if a.cpu_time { Clock::Cpu } else { Clock::Wall };
    let (runs, warmup) = (a.runs.unwrap_or(5), a.warmup.unwrap_or(1));
    let wanted = |&&(cfg, c, k, s): &&(&str, usize, usize, usize)| {
        (a.config == "all" || cfg == a.config)
            && (a.layers.is_empty() || a.layers.iter().any(|l| *l == format!("{c}x{k}x{s}")))
    };
    let mut rng = Rng::new(0);
    for &(cfg, c, k, s) in LAYERS.iter().filter(wanted) {
        let g = ConvGeom {
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            input: [s, s],
            output: [s, s],
        };
        let x = Tensor::randn(&[BATCH, c, s, s], DType::F32, &mut rng);
        let w = Tensor::randn(&[k, c, 3, 3], DType::F32, &mut rng);
        let gy = Tensor::randn(&[BATCH, k, s, s], DType::F32, &mut rng);
        let _guard = no_grad();
        let one = [1, 1];
        let chosen =
            [Dir::Forward, Dir::Transpose, Dir::Weight].map(|d| select(d, BATCH, c, k, &g).name());
        for &algo in algos.iter().filter(|a| a.applies(&g)) {
            force(Some(algo));
            let _unforce = Unforce;
            // Through the tensor ops, so that outputs are recycled as in training.
            let fwd = time_median(clock, runs, warmup, || {
                drop(x.conv2d(&w, None, one, one, one)?);
                Ok(())
            })?;
            let dgrad = time_median(clock, runs, warmup, || {
                drop(gy.conv_transpose2d(&w, None, one, one, [0, 0], one)?);
                Ok(())
            })?;
            let wgrad = time_median(clock, runs, warmup, || {
                drop(x.conv2d_weight(&gy, [3, 3], one, one, one)?);
                Ok(())
            })?;
            let flops = 2.0 * (BATCH * c * k * 9 * s * s) as f64;
            println!(
                "{}",
                json!({
                    "config": cfg, "c": c, "k": k, "h": s, "w": s, "n": BATCH,
                    "algo": algo.name(), "fwd_s": fwd, "dgrad_s": dgrad, "wgrad_s": wgrad,
                    "direct_flops": flops,
                    "chosen": {"fwd": chosen[0], "dgrad": chosen[1], "wgrad": chosen[2]},
                    "clock": clock.name(), "threads": threads, "impl": "maxl-rs",
                })
            );
        }
    }
    Ok(())
}
