//! `bench ops-table`: our `bench ops` figures and PyTorch's (benches/torch_ops.py) paired into
//! one Markdown table with ratios, and the per-op ratio chart.

use super::ops_chart;
use super::ops_table::{markdown, pair, read_figures};
use anyhow::{bail, Result};
use std::path::Path;

pub fn run(torch: Option<&Path>, ours: Option<&Path>, png: Option<&Path>) -> Result<()> {
    let (Some(torch), Some(ours)) = (torch, ours) else {
        bail!("bench ops-table needs --torch FILE and --ours FILE (JSON lines of torch_ops.py and bench ops)");
    };
    let p = pair(&read_figures(ours)?, &read_figures(torch)?);
    if p.rows.is_empty() {
        bail!("no figures in {} or {}", ours.display(), torch.display());
    }
    print!("{}", markdown(&p));
    if let Some(png) = png {
        ops_chart::draw(&p, png)?;
        eprintln!("chart: {}", png.display());
    }
    Ok(())
}
