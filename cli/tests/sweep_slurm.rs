//! `maxl-cli sweep --slurm` on a real one-node Slurm cluster that the test starts on this
//! machine (tests/slurm/start_cluster.sh: munged, slurmctld, slurmd, state in a temp folder):
//! the tiny 2 methods x 2 seeds sweep is submitted as an array job, every task must complete
//! with its run's summary.json, and a second submission finds nothing to do; a task stopped
//! by scancel releases its run, which the next submission resumes. Where Slurm
//! cannot start (not installed, not root) the test says why and skips; under CI=true it fails.

mod common;

use common::{cli, json_file, Temp};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the array job may take (4 one-epoch runs on 100 images).
const JOB_LIMIT: Duration = Duration::from_secs(600);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/slurm")
        .join(name)
}

/// The cluster; stopped when dropped.
struct Cluster {
    state: PathBuf,
    conf: String,
}

impl Cluster {
    /// Starts it, or says why it cannot.
    fn start(state: PathBuf) -> Result<Cluster, String> {
        let out = Command::new("bash")
            .arg(script("start_cluster.sh"))
            .arg(&state)
            .output()
            .map_err(|e| format!("bash: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            // A failed start may have left some daemons running.
            let _ = Command::new("bash")
                .arg(script("stop_cluster.sh"))
                .arg(&state)
                .status();
            return Err(format!(
                "start_cluster.sh failed: {}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                stdout.trim()
            ));
        }
        let conf = stdout.lines().last().unwrap_or("").to_string();
        Ok(Cluster { state, conf })
    }

    /// A Slurm client command against this cluster.
    fn client(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["log/slurmctld.log", "log/slurmd.log"] {
            let text = std::fs::read_to_string(self.state.join(f)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            s += &format!(
                "--- {f} (last lines)\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script("stop_cluster.sh"))
            .arg(&self.state)
            .status();
    }
}

impl Cluster {
    /// Waits until job `job` has no task pending or running.
    fn wait(&self, job: &str, started: Instant) {
        loop {
            let q = self
                .client("squeue")
                .args(["-h", "-j", job])
                .output()
                .unwrap();
            let queued = String::from_utf8_lossy(&q.stdout).trim().to_string();
            if q.status.success() && queued.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < JOB_LIMIT,
                "job {job} not done after {JOB_LIMIT:?}: {queued}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `maxl-cli sweep ARGS --slurm ...` in `cwd`: the job id.
    fn submit(&self, cwd: &Path, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_maxl-cli"))
            .args(args)
            .args(["--slurm", "--cpus-per-task", "1", "--time", "10"])
            .env("SLURM_CONF", &self.conf)
            .current_dir(cwd)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}\n{}", self.logs());
        let job = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            job.parse::<u64>().is_ok(),
            "job id on stdout: {job:?}; {stderr}"
        );
        assert!(
            stderr.contains(&format!("submitted Slurm job {job}: ")),
            "{stderr}"
        );
        job
    }
}

fn skip_or_fail(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true, but Slurm could not start: {reason}");
    }
    eprintln!("SKIPPED sweep_slurm: Slurm could not start: {reason}");
}

#[test]
fn tiny_sweep_runs_as_a_slurm_array_job() {
    let tmp = Temp::new("slurm");
    let cluster = match Cluster::start(tmp.join("cluster")) {
        Ok(c) => c,
        Err(reason) => return skip_or_fail(&reason),
    };
    std::fs::write(
        tmp.join("tiny.toml"),
        "[settings]\ndataset = \"synthetic\"\ntrain_limit = 100\nbatch_size = 50\nepochs = 1\n\
         [axes]\nmethod = [\"maxl\", \"single\"]\nseed = [0, 1]\n",
    )
    .unwrap();
    let started = Instant::now();
    let job = cluster.submit(&tmp.0, &["sweep", "tiny.toml", "--out", "out"]);
    let sbatch = std::fs::read_to_string(tmp.join("out/sweep.sbatch")).unwrap();
    assert!(sbatch.contains("#SBATCH --array=0-3"), "{sbatch}");
    cluster.wait(&job, started);
    let took = started.elapsed();

    // Every array task ended COMPLETED (exit 0), as Slurm recorded it.
    let show = cluster
        .client("scontrol")
        .args(["show", "job", &job])
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    let states: Vec<&str> = show
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("JobState="))
        .collect();
    assert_eq!(states, ["COMPLETED"; 4], "{show}");
    for run in [
        "maxl_seed-0",
        "maxl_seed-1",
        "single_seed-0",
        "single_seed-1",
    ] {
        let dir = tmp.join("out").join(run);
        let summary = json_file(&dir.join("summary.json"));
        assert_eq!(summary["status"], "complete", "{run}");
        assert_eq!(summary["settings"]["epochs"], 1);
        assert!(!dir.join("sweep.lock").exists(), "{run}: lock released");
    }
    let logs = std::fs::read_dir(tmp.join("out/slurm-logs"))
        .unwrap()
        .count();
    assert_eq!(logs, 4, "one Slurm output file per task");
    eprintln!(
        "Slurm array job {job}: 4 runs done in {:.1} s",
        took.as_secs_f64()
    );

    // Submitting again: every run is finished, nothing to submit.
    let again = cli(&tmp.0, &["sweep", "out", "--slurm"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to submit"),
        "{}",
        again.stderr
    );

    // scancel (SIGTERM) stops a task cleanly; submitting the sweep again resumes its run.
    std::fs::write(
        tmp.join("long.toml"),
        "[settings]\ndataset = \"synthetic\"\ntrain_limit = 100\nbatch_size = 50\nepochs = 4\n\
         method = \"maxl\"\n[axes]\nseed = [5]\n",
    )
    .unwrap();
    let run = tmp.join("long/seed-5");
    let started = Instant::now();
    let job = cluster.submit(&tmp.0, &["sweep", "long.toml", "--out", "long"]);
    while !run.join("metrics.jsonl").exists() {
        assert!(
            started.elapsed() < JOB_LIMIT,
            "no epoch after {JOB_LIMIT:?}\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let cancel = cluster.client("scancel").arg(&job).status().unwrap();
    assert!(cancel.success());
    cluster.wait(&job, started);
    let task_log =
        std::fs::read_to_string(tmp.join(&format!("long/slurm-logs/{job}_0.out"))).unwrap();
    assert!(
        task_log.contains("interrupted: 1 run(s) stopped (seed-5)"),
        "{task_log}"
    );
    assert!(!run.join("sweep.lock").exists(), "lock released on SIGTERM");
    assert!(!run.join("summary.json").exists(), "stopped before the end");

    let job = cluster.submit(&tmp.0, &["sweep", "long"]);
    cluster.wait(&job, started);
    assert_eq!(json_file(&run.join("summary.json"))["status"], "complete");
    let log = std::fs::read_to_string(run.join("train.log")).unwrap();
    assert!(
        log.contains("resuming") && log.contains("continuing after epoch"),
        "{log}"
    );
    eprintln!(
        "scancel after epoch 1, then resumed: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
