//! `maxl-cli bench`: speed figures as JSON. `gemm` times square f32 matmuls; `b1` and `b2` time
//! the training steps of MODELS.md's benchmark configurations. Each figure is the median of at
//! least 10 runs after 3 warm-ups; compare with `benches/torch_*.py` on the same machine.
//! `ops` (per-op gradient-of-gradient cost), `ops-table` (it and PyTorch's side by side) and
//! `conv` (the CPU convolution kernels) take the options of [`detail::DetailArgs`].

mod clock;
mod conv;
mod detail;
mod gemm;
mod memory;
mod op_cases;
mod ops;
mod ops_chart;
mod ops_report;
mod ops_table;
mod steps;
mod timing;

use crate::train::threads::on_pool;
use anyhow::Result;
use maxl_engine::Device;

#[derive(clap::Args)]
pub struct Args {
    /// Which benchmark: gemm (square f32 matmuls), b1 (ConvNet-4, 1x28x28) or b2 (VGG-16,
    /// 3x32x32): single-task, second-order meta, MAXL stage-1 and stage-2 steps, batch 100.
    /// ops: forward, backward and backward-of-backward times of each op at its B1/B2 shapes;
    /// conv: the CPU convolution kernels on every 3x3 layer shape of B1 and B2; ops-table:
    /// the figures of ops and of benches/torch_ops.py as Markdown tables (--torch, --ours).
    #[arg(value_parser = ["gemm", "b1", "b2", "ops", "conv", "ops-table"])]
    which: String,
    /// Print JSON (one object per line). Figures are JSON either way; kept for symmetry.
    #[arg(long)]
    json: bool,
    /// Device: cpu, cuda or cuda:N. On a GPU each timed run ends with a device
    /// synchronisation, and gemm runs n = 1024, 2048, 4096.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// On a GPU, let f32 matmuls and convolutions use TF32 tensor cores (PyTorch's
    /// `allow_tf32`); off by default, so figures are plain FP32.
    #[arg(long)]
    tf32: bool,
    /// Worker threads; 0 or none: all cores (as `train`); at most 4 per core.
    #[arg(long)]
    threads: Option<usize>,
    /// b1, b2: time only these steps (comma-separated: single, meta, stage1, stage2; default
    /// all four). With one step the JSON's max_rss_mib is that step's peak memory.
    #[arg(long, value_delimiter = ',', value_parser = steps::STEPS)]
    steps: Vec<String>,
    #[command(flatten)]
    detail: detail::DetailArgs,
}

pub fn run(a: Args) -> Result<()> {
    let dev = Device::parse(&a.device)?;
    dev.ensure_available()?;
    maxl_engine::backend::cuda::set_allow_tf32(a.tf32);
    crate::train::set_threads(a.threads)?;
    let threads = rayon::current_num_threads();
    // CPU work runs on a worker of the pool, as `train` does.
    match a.which.as_str() {
        "gemm" => on_pool(dev, || gemm::run(threads, dev, a.tf32)),
        "b1" => on_pool(dev, || {
            steps::run(steps::Config::B1, &a.steps, threads, dev, a.tf32)
        }),
        "b2" => on_pool(dev, || {
            steps::run(steps::Config::B2, &a.steps, threads, dev, a.tf32)
        }),
        "ops-table" => {
            let d = &a.detail;
            ops_report::run(d.torch.as_deref(), d.ours.as_deref(), d.png.as_deref())
        }
        "ops" if dev == Device::Cpu => on_pool(dev, || ops::run(&a.detail, threads)),
        "conv" if dev == Device::Cpu => on_pool(dev, || conv::run(&a.detail, threads)),
        "ops" | "conv" => anyhow::bail!("bench {} runs on the CPU: use --device cpu", a.which),
        _ => unreachable!("clap restricts the choices"),
    }
}
