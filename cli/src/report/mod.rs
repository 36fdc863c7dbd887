//! `maxl-cli report DIR`: the runs under a folder (a sweep, or any folder of run folders) as
//! the paper's tables and figures: per data set and backbone, final test accuracy over seeds
//! per method (and psi), paired comparisons on matching seeds, and per-epoch curves (PNG).
//! `--format md` (default) writes report.md with its figures; json and csv are for scripts.

mod contents;
mod figures;
mod render;
mod runs;
mod stats;
mod tables;

use anyhow::{bail, Result};
pub use contents::{Incomplete, Report};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// report.md with tables and PNG figures (in report-figures/)
    Md,
    /// report.json, also printed on stdout
    Json,
    /// report.csv (one line per row) and report-comparisons.csv; the first printed on stdout
    Csv,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A sweep folder, or any folder holding run folders (searched 4 levels deep)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
}

pub const FIGURES: &str = "report-figures";

pub fn build(dir: &Path) -> Result<Report> {
    let all = runs::read_all(dir)?;
    if all.is_empty() {
        bail!(
            "{}: no run folders (folders with config.toml or summary.json) found",
            dir.display()
        );
    }
    let incomplete = all
        .iter()
        .filter(|r| r.summary.is_none())
        .map(|r| Incomplete {
            name: r.name.clone(),
            epochs_done: r.metrics.len(),
            epochs: r.epochs(),
        })
        .collect();
    Ok(Report {
        folder: folder_name(dir),
        runs: all.len(),
        complete: all.iter().filter(|r| r.summary.is_some()).count(),
        tables: tables::tables(&all),
        incomplete,
    })
}

pub fn run(a: Args) -> Result<()> {
    let report = build(&a.dir)?;
    let write = |name: &str, text: &str| -> Result<PathBuf> {
        let path = a.dir.join(name);
        crate::sweep::files::write_atomic(&path, text.as_bytes())?;
        Ok(path)
    };
    match a.format {
        Format::Md => {
            let dir = a.dir.join(FIGURES);
            let figures = report
                .tables
                .iter()
                .map(|t| figures::write(t, &dir))
                .collect::<Result<Vec<_>>>()?;
            let path = write("report.md", &render::markdown(&report, &figures, &a.dir))?;
            let n: usize = figures.iter().map(Vec::len).sum();
            eprintln!(
                "{} tables from {} complete runs ({} not complete), {n} figures in {}",
                report.tables.len(),
                report.complete,
                report.incomplete.len(),
                dir.display()
            );
            println!("{}", path.display());
        }
        Format::Json => {
            let text = serde_json::to_string_pretty(&report)? + "\n";
            write("report.json", &text)?;
            print!("{text}");
        }
        Format::Csv => {
            let (rows, comparisons) = render::csv(&report);
            write("report.csv", &rows)?;
            write("report-comparisons.csv", &comparisons)?;
            print!("{rows}");
        }
    }
    Ok(())
}

/// The report's title: the folder as given, or, for "." or "..", the name of the folder it
/// stands for.
fn folder_name(dir: &std::path::Path) -> String {
    match dir.file_name() {
        Some(_) => dir.display().to_string(),
        None => dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string()),
    }
}
