//! Options of the detailed CPU benchmarks, `bench ops` and `bench conv` (flattened into
//! `bench`'s arguments; the other benchmarks ignore them), and of `bench ops-table`.

use std::path::PathBuf;

/// `bench ops` / `bench conv` options.
#[derive(clap::Args, Debug, Clone)]
pub struct DetailArgs {
    /// ops, conv: the shapes of which configuration: b1 (ConvNet-4), b2 (VGG-16) or all.
    #[arg(long, default_value = "all", value_parser = ["b1", "b2", "all"])]
    pub config: String,
    /// ops: the highest order of gradient timed; one JSON object per order from 1 up to it
    /// (order 2 times `grad(grad(f(x)) . v)` with create_graph, as a meta step does).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub order: u8,
    /// ops: only these ops (comma-separated; default all of them).
    #[arg(long, value_delimiter = ',')]
    pub ops: Vec<String>,
    /// conv: the kernels to compare (comma-separated: im2col, winograd2, winograd4, pairs, direct).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "im2col,winograd2,winograd4,pairs,direct"
    )]
    pub algos: Vec<String>,
    /// conv: only these layers, as CxKxS (input channels, output channels, plane side), e.g.
    /// 64x64x32,512x512x2.
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// ops, conv: timed runs per figure (default 5), after --warmup untimed ones (default 1).
    #[arg(long)]
    pub runs: Option<usize>,
    /// ops, conv: untimed warm-up runs before each figure (default 1).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// ops, conv: time in CPU seconds of the whole process instead of wall seconds (steadier on
    /// a shared machine; use with --threads 1).
    #[arg(long)]
    pub cpu_time: bool,
    /// ops-table: PyTorch's figures (JSON lines of benches/torch_ops.py).
    #[arg(long)]
    pub torch: Option<PathBuf>,
    /// ops-table: our figures (JSON lines of `bench ops`).
    #[arg(long)]
    pub ours: Option<PathBuf>,
    /// ops-table: also draw the per-op ratios at orders 1 and 2 to this PNG file.
    #[arg(long)]
    pub png: Option<PathBuf>,
}
