//! `maxl-cli sweep`: a study as one command. A sweep file (shared settings, axes to cross,
//! extra runs) expands into run folders with readable names and `plan.jsonl`; the runs then go
//! on this machine, N at a time (`--local`, the default), or to Slurm as one array job
//! (`--slurm`). Each run is a `maxl-cli train` child process; running a sweep again skips what
//! is finished, resumes what was interrupted and retries what failed.

mod check;
mod execute;
mod expand;
mod file;
pub(crate) mod files;
mod interrupt;
mod job;
mod lock;
mod naming;
mod plan;
mod presets;
mod slurm;
mod state;

use anyhow::{anyhow, bail, Context, Result};
use execute::{execute, RunRef, Tally};
use files::write_atomic;
use job::Launcher;
use plan::{read_plan, Sweep, SWEEP_FILE};
use presets::Preset;
use state::{state, RunState};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Sweep file (TOML: [settings], [axes], [[runs]]), or the folder of a sweep made before
    /// (runs its sweep.toml again)
    #[arg(value_name = "FILE|DIR", required_unless_present = "preset")]
    pub source: Option<PathBuf>,
    /// Folder of the sweep: plan.jsonl and a folder per run [default for a sweep folder: itself]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write the sweep file of one of the paper's experiments to OUT/sweep.toml (then edit
    /// its data_dir and run it)
    #[arg(long, value_name = "NAME", conflicts_with = "source", requires = "out")]
    pub preset: Option<Preset>,
    /// Run on this machine (the default)
    #[arg(long, conflicts_with = "slurm")]
    pub local: bool,
    /// Runs at once on this machine; the cores are split between them [default: 1]
    #[arg(long, value_name = "N", conflicts_with = "slurm")]
    pub jobs: Option<usize>,
    /// Threads of each run [default: the cores / --jobs; for --task: $SLURM_CPUS_PER_TASK or
    /// all cores]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Submit the runs to Slurm as one array job (one task per unfinished run)
    #[arg(long)]
    pub slurm: bool,
    /// Slurm partition of the tasks
    #[arg(long, value_name = "P", requires = "slurm")]
    pub partition: Option<String>,
    /// Slurm time limit of each task, e.g. 12:00:00 (an interrupted run resumes when the sweep
    /// is submitted again)
    #[arg(long, value_name = "T", requires = "slurm")]
    pub time: Option<String>,
    /// CPU cores of each task (its training threads)
    #[arg(long, value_name = "C", requires = "slurm")]
    pub cpus_per_task: Option<usize>,
    /// GPUs of each task (set device = "cuda" in the sweep file)
    #[arg(long, value_name = "G", requires = "slurm")]
    pub gpus_per_task: Option<usize>,
    /// Expand and write the plan (and, with --slurm, the sbatch script) but start nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Run task I of the sweep folder's plan (what each Slurm array task does)
    #[arg(long, value_name = "I", conflicts_with_all = ["slurm", "preset", "dry_run", "jobs"])]
    pub task: Option<usize>,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("{}", p.display()))
}

fn positive(v: Option<usize>, flag: &str) -> Result<Option<usize>> {
    match v {
        Some(0) => bail!("{flag} must be at least 1"),
        v => Ok(v),
    }
}

/// The exit code: 0, 1 if a run failed, 130 if interrupted.
fn exit_code(t: &Tally) -> u8 {
    if t.interrupted {
        interrupt::EXIT_INTERRUPTED
    } else if t.failed.is_empty() {
        0
    } else {
        1
    }
}

/// `--preset`: writes the sweep file and checks that it expands.
fn write_preset(p: Preset, out: &Path) -> Result<u8> {
    let path = out.join(SWEEP_FILE);
    let text = p.text();
    if path.exists() && std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        bail!(
            "{}: exists with other text; remove it or choose another --out",
            path.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_atomic(&path, text.as_bytes())?;
    let sweep = Sweep::from_file(&path, out)?;
    println!(
        "wrote {} ({} runs); set its data_dir, then: maxl-cli sweep {} --out {} [--jobs N | --slurm ...]",
        path.display(),
        sweep.runs.len(),
        path.display(),
        out.display()
    );
    Ok(0)
}

/// `--task I`: one run of an expanded sweep (a Slurm array task).
fn run_task(dir: &Path, index: usize, threads: Option<usize>) -> Result<u8> {
    let plan = read_plan(dir)?;
    let line = plan.get(index).ok_or_else(|| {
        anyhow!(
            "--task {index}: {} has {} runs (0..{})",
            dir.join(plan::PLAN).display(),
            plan.len(),
            plan.len().saturating_sub(1)
        )
    })?;
    let threads = match threads {
        Some(t) => t,
        None => std::env::var("SLURM_CPUS_PER_TASK")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(cores),
    };
    let launcher = Launcher {
        exe: std::env::current_exe().context("the path of maxl-cli")?,
        threads,
    };
    eprintln!(
        "sweep task {index}: run {} in {} with {threads} threads on {}",
        line.name,
        dir.display(),
        lock::host()
    );
    let run = RunRef {
        name: line.name.clone(),
        dir: dir.join(&line.name),
    };
    let tally = execute(&launcher, &[run], 1, false)?;
    eprintln!("{}", tally.summary());
    Ok(exit_code(&tally))
}

/// The sweep file and folder that the arguments name.
fn file_and_folder(a: &Args, source: &Path) -> Result<(PathBuf, PathBuf)> {
    if source.is_dir() {
        let file = source.join(SWEEP_FILE);
        if !file.exists() {
            bail!(
                "{}: not found; pass a sweep file, or the folder of a sweep made with --out",
                file.display()
            );
        }
        if let Some(out) = &a.out {
            if absolute(out)? != absolute(source)? {
                bail!(
                    "{} is a sweep folder: drop --out (it runs there)",
                    source.display()
                );
            }
        }
        return Ok((file, source.to_path_buf()));
    }
    match &a.out {
        Some(out) => Ok((source.to_path_buf(), out.clone())),
        None => bail!("--out DIR is needed: the folder for the sweep's plan and run folders"),
    }
}

pub fn run(a: Args) -> Result<u8> {
    positive(a.jobs, "--jobs")?;
    positive(a.threads, "--threads")?;
    crate::train::threads::check_bound(a.threads, "--threads")?;
    positive(a.cpus_per_task, "--cpus-per-task")?;
    if let Some(p) = a.preset {
        let out = a
            .out
            .as_deref()
            .ok_or_else(|| anyhow!("--preset needs --out DIR"))?;
        return write_preset(p, out);
    }
    let source = a
        .source
        .as_deref()
        .ok_or_else(|| anyhow!("give a sweep file, a sweep folder or --preset"))?;
    if let Some(index) = a.task {
        interrupt::install()?;
        return run_task(&absolute(source)?, index, a.threads);
    }
    let (file, dir) = file_and_folder(&a, source)?;
    let dir = absolute(&dir)?;
    let sweep = Sweep::from_file(&file, &dir)?;
    sweep.write(&file)?;
    let states: Vec<RunState> = sweep
        .runs
        .iter()
        .map(|r| state(&sweep.run_dir(r)))
        .collect();
    let count = |s: RunState| states.iter().filter(|x| **x == s).count();
    let (finished, started) = (count(RunState::Complete), count(RunState::Started));
    eprintln!(
        "sweep {}: {} runs in {} ({finished} finished, {started} started); plan: {}",
        sweep.name,
        sweep.runs.len(),
        dir.display(),
        dir.join(plan::PLAN).display()
    );
    let exe = std::env::current_exe().context("the path of maxl-cli")?;

    if a.slurm {
        let todo: Vec<usize> = (0..sweep.runs.len())
            .filter(|i| states[*i] != RunState::Complete)
            .collect();
        if todo.is_empty() {
            eprintln!(
                "every run is finished: nothing to submit; maxl-cli report {}",
                dir.display()
            );
            return Ok(0);
        }
        let resources = slurm::Resources {
            partition: a.partition.clone(),
            time: a.time.clone(),
            cpus_per_task: a.cpus_per_task,
            gpus_per_task: a.gpus_per_task,
        };
        let script = slurm::write(&exe, &dir, &sweep.name, &todo, &resources)?;
        if a.dry_run {
            eprintln!(
                "wrote {} ({} array tasks); submit it with: sbatch {}",
                script.display(),
                todo.len(),
                script.display()
            );
            return Ok(0);
        }
        let id = slurm::submit(&script)?;
        eprintln!(
            "submitted Slurm job {id}: {} array tasks ({}); watch: squeue -j {id}; then: maxl-cli report {}",
            todo.len(),
            script.display(),
            dir.display()
        );
        println!("{id}");
        return Ok(0);
    }

    let jobs = a.jobs.unwrap_or(1);
    let threads = a.threads.unwrap_or_else(|| (cores() / jobs).max(1));
    if a.dry_run {
        for (run, s) in sweep.runs.iter().zip(&states) {
            println!("{}\t{s:?}", run.name);
        }
        return Ok(0);
    }
    interrupt::install()?;
    eprintln!(
        "running {jobs} at a time, {threads} thread{} each; each run's log: <run>/{}",
        crate::train::progress::plural(threads),
        job::LOG
    );
    let launcher = Launcher { exe, threads };
    let runs: Vec<RunRef> = sweep
        .runs
        .iter()
        .map(|r| RunRef {
            name: r.name.clone(),
            dir: sweep.run_dir(r),
        })
        .collect();
    let tally = execute(&launcher, &runs, jobs, std::io::stderr().is_terminal())?;
    eprintln!("{}", tally.summary());
    if !tally.interrupted {
        eprintln!("report: maxl-cli report {}", dir.display());
    }
    Ok(exit_code(&tally))
}
