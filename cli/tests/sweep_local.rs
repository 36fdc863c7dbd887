//! `maxl-cli sweep --local` end to end on tiny synthetic runs: a 2 methods x 2 seeds sweep runs
//! (and `maxl-cli report` makes its table) and a second call skips it; a run whose `train` is killed is retried and resumed; Ctrl-C
//! stops cleanly and the next call resumes; a failing run is retried once and reported; a
//! run locked by a live process is left alone; a bad sweep file is one error and writes nothing.

mod common;

use common::{cli, json_file, metrics, ok, Temp};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Shared settings of every test sweep: 100 synthetic images, batches of 50.
const TINY: &str = "dataset = \"synthetic\"\ntrain_limit = 100\nbatch_size = 50\n";

fn sweep_file(tmp: &Temp, name: &str, settings: &str, axes: &str) -> String {
    let text = format!("[settings]\n{TINY}{settings}\n[axes]\n{axes}\n");
    std::fs::write(tmp.join(name), text).unwrap();
    name.to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Run folders holding a sweep.lock.
fn locks(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("sweep.lock").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Waits (at most 5 minutes) until `done` holds.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "waited 5 minutes for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tiny_sweep_runs_and_a_second_call_skips_it() {
    let tmp = Temp::new("sweep-tiny");
    let file = sweep_file(
        &tmp,
        "tiny.toml",
        "epochs = 1",
        "method = [\"maxl\", \"single\"]\nseed = [0, 1]",
    );
    let out = ok(&tmp.0, &["sweep", &file, "--out", "out", "--jobs", "2"]);
    assert!(
        out.stderr
            .contains("4 ran (0 resumed), 0 already finished, 0 failed"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("running 2 at a time"), "{}", out.stderr);

    let plan: Vec<serde_json::Value> = read(&tmp.join("out/plan.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = plan.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "maxl_seed-0",
            "maxl_seed-1",
            "single_seed-0",
            "single_seed-1"
        ]
    );
    for (i, line) in plan.iter().enumerate() {
        assert_eq!(line["index"], i);
        let run = tmp.join("out").join(names[i]);
        let summary = json_file(&run.join("summary.json"));
        assert_eq!(summary["status"], "complete");
        // The run was made with the keys its name says, through train's config.
        let (method, seed) = names[i].split_once("_seed-").unwrap();
        assert_eq!(summary["settings"]["method"], method);
        assert_eq!(summary["settings"]["seed"].to_string(), seed);
        assert_eq!(summary["settings"]["train_limit"], 100);
        assert_eq!(summary["settings"]["epochs"], 1);
        assert_eq!(metrics(&run).len(), 1);
        let log = read(&run.join("train.log"));
        assert!(
            log.contains("attempt 1 of 2, new run") && log.contains("EPOCH 1"),
            "{log}"
        );
        // The cores split over the 2 jobs.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = format!("--threads\" \"{}\"", (cores / 2).max(1));
        assert!(log.contains(&threads), "{threads} in {log}");
    }
    assert!(locks(&tmp.join("out")).is_empty(), "locks are released");

    // The report of this real sweep: a row per method over both seeds, MAXL - Single paired.
    ok(&tmp.0, &["report", "out"]);
    let md = read(&tmp.join("out/report.md"));
    assert!(md.contains("## synthetic / convnet4"), "{md}");
    for row in ["| MAXL | 3 | ", "| Single | - | "] {
        let line = md
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("{row} in {md}"));
        assert_eq!(line.split(" | ").nth(3), Some("2"), "n = 2 seeds: {line}");
    }
    assert!(md.contains("| MAXL psi 3 - Single | 2 | "), "{md}");
    assert!(tmp
        .join("out/report-figures/synthetic-convnet4-test-acc.png")
        .exists());

    let before: Vec<String> = names
        .iter()
        .map(|n| read(&tmp.join("out").join(n).join("metrics.jsonl")))
        .collect();
    let again = ok(&tmp.0, &["sweep", "out"]);
    assert!(
        again
            .stderr
            .contains("0 ran (0 resumed), 4 already finished, 0 failed"),
        "{}",
        again.stderr
    );
    for (n, b) in names.iter().zip(&before) {
        assert_eq!(&read(&tmp.join("out").join(n).join("metrics.jsonl")), b);
        assert_eq!(
            read(&tmp.join("out").join(n).join("train.log"))
                .matches("attempt")
                .count(),
            1
        );
    }

    // The plan alone: names and states, nothing run.
    let dry = ok(&tmp.0, &["sweep", &file, "--out", "out", "--dry-run"]);
    assert_eq!(dry.stdout.lines().count(), 4, "{}", dry.stdout);
    assert!(
        dry.stdout.lines().all(|l| l.ends_with("\tComplete")),
        "{}",
        dry.stdout
    );

    // Changing a shared setting under finished runs is refused, naming them.
    let changed = sweep_file(
        &tmp,
        "tiny.toml",
        "epochs = 2",
        "method = [\"maxl\", \"single\"]\nseed = [0, 1]",
    );
    let e = cli(&tmp.0, &["sweep", &changed, "--out", "out"]);
    assert_eq!(e.code, 2, "{}", e.stderr);
    assert!(
        e.stderr
            .contains("4 run(s) were started with other settings")
            && e.stderr.contains("maxl_seed-0 (epochs: 1 -> 2)"),
        "{}",
        e.stderr
    );
}

#[test]
fn a_killed_run_is_retried_and_resumed() {
    let tmp = Temp::new("sweep-kill");
    let file = sweep_file(
        &tmp,
        "k.toml",
        "epochs = 4\nmethod = \"maxl\"",
        "seed = [3]",
    );
    let run = tmp.join("out/seed-3");
    let sweep = Command::new(env!("CARGO_BIN_EXE_maxl-cli"))
        .args(["sweep", &file, "--out", "out", "--threads", "1"])
        .current_dir(&tmp.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once epoch 1 is saved, kill train (as the OOM killer or a node failure would).
    wait_for("epoch 1 of the run", || {
        run.join("metrics.jsonl").exists() && run.join("sweep.lock").exists()
    });
    let lock: serde_json::Value = serde_json::from_str(&read(&run.join("sweep.lock"))).unwrap();
    let child = lock["child"]["pid"]
        .as_u64()
        .expect("the lock names train's process");
    let killed = Command::new("kill")
        .args(["-KILL", &child.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = sweep.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("1 ran (1 resumed), 0 already finished, 0 failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("seed-3 failed (attempt 1 of 2): train was killed by signal 9; retrying"),
        "{stderr}"
    );
    let log = read(&run.join("train.log"));
    assert!(log.contains("attempt 2 of 2, resuming"), "{log}");
    assert!(log.contains("continuing after epoch"), "{log}");
    assert_eq!(metrics(&run).len(), 4);
    assert_eq!(json_file(&run.join("summary.json"))["epochs"], 4);
}

#[test]
fn ctrl_c_stops_cleanly_and_the_next_call_resumes() {
    let tmp = Temp::new("sweep-int");
    let file = sweep_file(
        &tmp,
        "i.toml",
        "epochs = 3\nmethod = \"maxl\"",
        "seed = [0, 1]",
    );
    let first = tmp.join("out/seed-0");
    let sweep = Command::new(env!("CARGO_BIN_EXE_maxl-cli"))
        .args(["sweep", &file, "--out", "out", "--threads", "1"])
        .current_dir(&tmp.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("epoch 1 of the first run", || {
        first.join("metrics.jsonl").exists()
    });
    let lock: serde_json::Value = serde_json::from_str(&read(&first.join("sweep.lock"))).unwrap();
    let child = lock["child"]["pid"].as_u64().unwrap();
    let sent = Command::new("kill")
        .args(["-INT", &sweep.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = sweep.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr
            .contains("interrupted: 1 run(s) stopped (seed-0); run the sweep again to resume them"),
        "{stderr}"
    );
    assert!(
        !Path::new(&format!("/proc/{child}")).exists(),
        "train was stopped with the sweep"
    );
    assert!(locks(&tmp.join("out")).is_empty(), "no lock left behind");
    assert!(!first.join("summary.json").exists());
    assert!(
        !tmp.join("out/seed-1/config.toml").exists(),
        "nothing new started after Ctrl-C"
    );

    let again = ok(&tmp.0, &["sweep", "out", "--threads", "1"]);
    assert!(
        again.stderr.contains("2 ran (1 resumed)"),
        "{}",
        again.stderr
    );
    let log = read(&first.join("train.log"));
    assert!(
        log.contains("resuming") && log.contains("continuing after epoch"),
        "{log}"
    );
    for run in ["seed-0", "seed-1"] {
        assert_eq!(metrics(&tmp.join("out").join(run)).len(), 3);
    }
}

#[test]
fn a_failing_run_is_retried_once_and_reported() {
    let tmp = Temp::new("sweep-fail");
    // psi with 2 entries for 10 classes: valid keys, refused by train once the data are read.
    let file = sweep_file(
        &tmp,
        "f.toml",
        "epochs = 1\nmethod = \"single\"",
        "psi = [\"3,3\", 2]",
    );
    let out = cli(&tmp.0, &["sweep", &file, "--out", "out"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("psi-3.3 failed (attempt 1 of 2): psi has 2 entries but the data set has 10"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("psi-3.3 FAILED twice"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("1 ran (0 resumed), 0 already finished, 1 failed"),
        "{}",
        out.stderr
    );
    let log = read(&tmp.join("out/psi-3.3/train.log"));
    assert_eq!(
        log.matches("== maxl-cli sweep: attempt").count(),
        2,
        "{log}"
    );
    assert!(tmp.join("out/psi-2/summary.json").exists());
    assert!(locks(&tmp.join("out")).is_empty());
}

#[test]
fn a_run_locked_by_a_live_process_is_left_alone() {
    let tmp = Temp::new("sweep-lock");
    let file = sweep_file(
        &tmp,
        "l.toml",
        "epochs = 1\nmethod = \"single\"",
        "seed = [0, 1]",
    );
    ok(&tmp.0, &["sweep", &file, "--out", "out", "--dry-run"]);
    // This test's own process holds seed-0 (as another sweep task would).
    let stat = read(Path::new("/proc/self/stat"));
    let start: u64 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    let host = read(Path::new("/proc/sys/kernel/hostname"));
    let holder = serde_json::json!({
        "host": host.trim(),
        "sweep": { "pid": std::process::id(), "start": start },
        "child": null,
    });
    let lock = tmp.join("out/seed-0/sweep.lock");
    std::fs::write(&lock, holder.to_string()).unwrap();
    let out = ok(&tmp.0, &["sweep", "out"]);
    assert!(
        out.stderr.contains(&format!(
            "seed-0: skipped, run by another process (host {}, sweep process {})",
            host.trim(),
            std::process::id()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("1 run by other processes"),
        "{}",
        out.stderr
    );
    assert!(
        !tmp.join("out/seed-0/config.toml").exists(),
        "the held run was not touched"
    );
    assert!(lock.exists(), "another's lock stays");
    assert!(tmp.join("out/seed-1/summary.json").exists());
}

#[test]
fn a_bad_sweep_file_is_one_error_and_writes_nothing() {
    let tmp = Temp::new("sweep-bad");
    let cases = [
        (
            "[axes]\nmethod = [\"maxl\", \"magic\"]",
            "b.toml: axis 'method' value \"magic\": unknown method 'magic'",
        ),
        (
            "[settings]\nlr_typo = 1.0",
            "b.toml: [settings] lr_typo = 1.0: unknown key 'lr_typo'",
        ),
        (
            "[axes]\nepochs = [0]",
            "run 'epochs-0' (the grid): epochs and batch size must be at least 1",
        ),
        (
            "[settings]\nmethod = \"maxl\"\n[[runs]]\naux-level = 10",
            "run 'aux-level-10' (runs[0]): --aux-level applies to --method human only",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(tmp.join("b.toml"), text).unwrap();
        let out = cli(&tmp.0, &["sweep", "b.toml", "--out", "out"]);
        assert_eq!(out.code, 2, "{text}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains(want), "{text}: {}", out.stderr);
        assert!(!tmp.join("out").exists(), "nothing written for {text}");
    }
    let out = cli(&tmp.0, &["sweep", "b.toml"]);
    assert!(out.stderr.contains("--out DIR is needed"), "{}", out.stderr);
}
