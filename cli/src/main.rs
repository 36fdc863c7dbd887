//! `maxl-cli`: the command-line tool of maxl-rs. Subcommands: `train` (MAXL and its baselines,
//! into a run folder), `eval` (a run's checkpoint on test data, JSON), `gradcheck` (the
//! engine's op-by-op gradient checks), `bench` (speed figures as JSON), `visualize` (a
//! run's t-SNE and auxiliary-class examples, PNG), `sweep` (many runs, locally or on Slurm)
//! and `report` (a folder of runs as tables and figures).

mod bench;
mod doctor;
mod eval;
mod gradcheck;
mod message;
mod report;
mod sweep;
mod train;
mod visualize;

use clap::{Parser, Subcommand};
use message::one_message;

// Training allocates and frees many buffers of the same sizes every step; mimalloc keeps them
// instead of returning pages to the OS and faulting them back in (10-25% of a B1 step with glibc).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "maxl-cli",
    version,
    about = "Meta Auxiliary Learning in Rust: train, evaluate, check gradients, benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train MAXL or a baseline; writes a run folder (settings, metrics, checkpoints, curves).
    Train(Box<train::Args>),
    /// Test accuracy and primary focal loss (the run's gamma, 2 by default) of a run's last
    /// checkpoint, as JSON.
    Eval(eval::Args),
    /// Check every op's gradients (orders 1..=K) against central finite differences in f64.
    Gradcheck(gradcheck::Args),
    /// Time the engine and print JSON figures.
    Bench(bench::Args),
    /// Report the CPU, CUDA libraries, GPUs, and whether every CUDA kernel module compiles.
    Doctor(doctor::Args),
    /// Draw a run's t-SNE of features and its auxiliary classes' top test images (PNG).
    Visualize(visualize::Args),
    /// Run a study: a sweep file's grid of runs, on this machine or as a Slurm array job.
    Sweep(Box<sweep::Args>),
    /// Tables (mean +- std over seeds, paired t) and figures of a folder of runs.
    Report(report::Args),
}

/// mimalloc's `mi_option_purge_delay` (position 15 of `mi_option_e` in mimalloc.h; the Rust
/// bindings do not export it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Never hand freed pages back to the OS: the next step needs the same sizes again, and
    // faulting fresh zeroed pages back in cost about 6% of a B1 step.
    // SAFETY: sets a plain integer option before any thread is started.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // A closed pipe ends the program quietly, as for other command-line tools
    // (`maxl-cli bench gemm | head -1`), instead of a panic in `println!`; Rust sets SIGPIPE
    // to be ignored before `main`.
    // SAFETY: restores the default action of one signal before any thread is started.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A value a flag's parser refused: its reason on one line, as other errors.
        Err(e) if e.kind() == clap::error::ErrorKind::ValueValidation => {
            let text = e.to_string();
            eprintln!("{}", text.lines().next().unwrap_or_default());
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Train(a) => train::run(*a).map(|()| true),
        Command::Eval(a) => eval::run(a).map(|()| true),
        Command::Gradcheck(a) => gradcheck::run(a),
        Command::Bench(a) => bench::run(a).map(|()| true),
        Command::Doctor(a) => doctor::run(a),
        Command::Visualize(a) => visualize::run(a).map(|()| true),
        Command::Report(a) => report::run(a).map(|()| true),
        // Exit codes of its own: 1 if a run failed, 130 if interrupted.
        Command::Sweep(a) => match sweep::run(*a) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", one_message(&e));
            ExitCode::from(2)
        }
    }
}
