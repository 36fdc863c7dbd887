//! `maxl-cli`: the command-line tool of maxl-rs. Subcommands today: `gradcheck` (the engine's
//! op-by-op gradient checks) and `bench` (speed figures as JSON). `train`, `eval` and
//! `visualize` arrive with the MAXL issues.

mod bench;
mod gradcheck;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "maxl-cli",
    version,
    about = "Meta Auxiliary Learning in Rust: checks and benchmarks of the maxl-rs engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check every op's gradients (orders 1..=K) against central finite differences in f64.
    Gradcheck(gradcheck::Args),
    /// Time the engine and print JSON figures.
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gradcheck(a) => gradcheck::run(a),
        Command::Bench(a) => bench::run(a).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
