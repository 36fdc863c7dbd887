//! Issue 14 end to end: a diverging run never looks complete and never keeps a non-finite
//! checkpoint, `eval` refuses one; the run folder's lock refuses a second process with the
//! holder's pid; a new run that fails to write (a full disk, simulated with `ulimit -f`)
//! leaves nothing behind and says the OS error once;
//! `--threads` and psi are bounded; a batch larger than the training set is explained;
//! `--method single` shows only what applies.

mod common;

use common::{cli, metrics, ok, Temp, TINY};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn train_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [
        &["train", "--quiet", "--threads", "2"][..],
        &TINY[..],
        extra,
    ]
    .concat()
}

/// Every float value of a checkpoint file, by tensor, is finite (decoded here, not by the
/// check under test).
fn assert_all_finite(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    for (name, t) in header.as_object().unwrap() {
        if name == "__metadata__" || t["dtype"] != "F32" {
            continue;
        }
        let (a, b) = (
            t["data_offsets"][0].as_u64().unwrap() as usize,
            t["data_offsets"][1].as_u64().unwrap() as usize,
        );
        let bad = data[a..b]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .filter(|v| !v.is_finite())
            .count();
        assert_eq!(bad, 0, "{name} of {}", path.display());
    }
}

#[test]
fn a_diverging_run_stops_with_an_error_and_keeps_only_finite_checkpoints() {
    let tmp = Temp::new("diverge");
    // lr 30 breaks the first epoch; lr 4 (constant) the second, keeping the first (lr 3 to 6
    // all do; lr 2 sat at the edge, breaking the third epoch or not at all as rounding moved).
    // relu propagates NaN, so the losses usually catch it; the state check catches weights
    // that diverge first.
    for (lr, out) in [("30", "a"), ("4", "b")] {
        let o = cli(
            &tmp.0,
            &train_args(&[
                "--method",
                "random",
                "--schedule",
                "constant",
                "--lr",
                lr,
                "--epochs",
                "4",
                "--out",
                out,
            ]),
        );
        assert_eq!(o.code, 2, "lr {lr}: {}", o.stderr);
        let err = o.stderr.trim_end();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("left NaN or infinite values in the run's state ('")
                || err.contains(" loss became "),
            "{err}"
        );
        assert!(err.contains("try a smaller learning rate"), "{err}");
        let run = tmp.join(out);
        assert!(!run.join("summary.json").exists(), "lr {lr}: not complete");
        if !run.exists() {
            assert!(err.ends_with("(no epoch saved; nothing kept)"), "{err}");
            continue;
        }
        let kept: usize = err
            .split("keeps the checkpoint of epoch ")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no kept epoch in: {err}"));
        assert_eq!(metrics(&run).len(), kept);
        assert_all_finite(&run.join("checkpoint.safetensors"));
        let e = ok(&tmp.0, &["eval", "--run", out]);
        let v: Value = serde_json::from_str(e.stdout.trim()).unwrap();
        assert_eq!(v["epoch"], kept);
    }
}

#[test]
fn eval_and_resume_refuse_a_checkpoint_with_a_nan_naming_the_tensor() {
    let tmp = Temp::new("nan-ckpt");
    ok(
        &tmp.0,
        &train_args(&[
            "--method",
            "single",
            "--epochs",
            "2",
            "--stop-after",
            "1",
            "--out",
            "run",
        ]),
    );
    // Put a NaN into one weight of the file.
    let path = tmp.join("run/checkpoint.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let name = "model/param.primary.fc2.weight";
    let at = 8 + n + header[name]["data_offsets"][0].as_u64().unwrap() as usize + 12;
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();

    for args in [
        &["eval", "--run", "run"][..],
        &["train", "--resume", "run", "--quiet"][..],
    ] {
        let o = cli(&tmp.0, args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        let err = o.stderr.trim_end();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("tensor '{name}' holds NaN or infinite values")),
            "{args:?}: {err}"
        );
        assert!(o.stdout.is_empty());
    }
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "left as it was");
    assert_eq!(metrics(&tmp.join("run")).len(), 1);
}

#[test]
fn a_second_process_on_a_run_folder_is_refused_with_the_holders_pid() {
    let tmp = Temp::new("lock");
    let args: Vec<&str> = train_args(&["--method", "single", "--epochs", "500", "--out", "run"]);
    let mut holder = Command::new(env!("CARGO_BIN_EXE_maxl-cli"))
        .args(&args)
        .current_dir(&tmp.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = tmp.join("run/train.lock");
    let pid = holder.id().to_string();
    let start = Instant::now();
    while std::fs::read_to_string(&lock).map_or(true, |t| t.trim() != pid) {
        assert!(start.elapsed() < Duration::from_secs(300), "no lock file");
        assert!(holder.try_wait().unwrap().is_none(), "the holder ended");
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = cli(&tmp.0, &["train", "--resume", "run", "--quiet"]);
    let still = holder.try_wait().unwrap().is_none();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(still, "the holder ran through the second process's attempt");
    assert_eq!(o.code, 2, "{}", o.stderr);
    let err = o.stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("is in use by another maxl-cli train (process ")
            && err.contains(&format!("process {pid}, which holds")),
        "{err}"
    );
    // Killed (-9): the kernel released the lock; the stale file is taken over.
    assert!(lock.exists());
    ok(
        &tmp.0,
        &[
            "train",
            "--resume",
            "run",
            "--quiet",
            "--threads",
            "2",
            "--stop-after",
            "1",
        ],
    );
    assert!(!lock.exists(), "removed when the run ends");
}

/// Runs `maxl-cli args` with files limited to `kib` KiB (a write past it fails with EFBIG,
/// as on a full disk; SIGXFSZ ignored so that the write returns the error).
fn with_file_limit(cwd: &Path, kib: u32, args: &[&str]) -> common::Out {
    let script = format!("trap '' XFSZ; ulimit -f {}; exec \"$0\" \"$@\"", kib * 2);
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_maxl-cli"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    common::Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_write_that_fails_before_the_first_epoch_leaves_nothing() {
    let tmp = Temp::new("full");
    // 32 KiB files: config.toml fits, the first checkpoint does not.
    let o = with_file_limit(
        &tmp.0,
        32,
        &train_args(&["--method", "single", "--epochs", "2", "--out", "new/run"]),
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    let err = o.stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "{err}");
    let os = std::io::Error::from_raw_os_error(27).to_string(); // EFBIG
    assert_eq!(err.matches(&os).count(), 1, "the OS error once: {err}");
    assert!(err.contains("checkpoint.safetensors.tmp"), "{err}");
    assert!(err.ends_with("(no epoch saved; nothing kept)"), "{err}");
    assert!(!tmp.join("new").exists(), "no folder left");

    // A folder that existed (empty) is kept, emptied of what the run wrote.
    let dir = tmp.join("old");
    std::fs::create_dir(&dir).unwrap();
    let o = with_file_limit(
        &tmp.0,
        32,
        &train_args(&["--method", "single", "--epochs", "1", "--out", "old"]),
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Nothing in the way of the same --out now.
    ok(
        &tmp.0,
        &train_args(&["--method", "single", "--epochs", "1", "--out", "old"]),
    );
}

#[test]
fn threads_and_psi_are_bounded_and_negative_numbers_get_the_real_reason() {
    let tmp = Temp::new("bounds");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let many = (4 * cores + 1).to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            [&["train", "--threads", &many][..], &TINY].concat(),
            format!("--threads {many}: at most {}", 4 * cores),
        ),
        (
            vec!["bench", "gemm", "--threads", "100000"],
            format!("--threads 100000: at most {}", 4 * cores),
        ),
        (
            vec!["sweep", "nothing.toml", "--out", "s", "--threads", "100000"],
            format!("--threads 100000: at most {}", 4 * cores),
        ),
        (
            vec!["eval", "--run", "x", "--threads", &many],
            format!("at most {}", 4 * cores),
        ),
        (
            [&["train", "--psi", "100000"][..], &TINY].concat(),
            "psi gives 1000000 auxiliary classes; at most 10000 are allowed".into(),
        ),
        (
            [&["train", "--psi", "20000,1"][..], &TINY].concat(),
            "psi gives 20001 auxiliary classes".into(),
        ),
        (
            [&["train", "--psi", "-1"][..], &TINY].concat(),
            "bad psi '-1': -1 is negative".into(),
        ),
        (
            [&["train", "--lr", "-1"][..], &TINY].concat(),
            "--lr must be a finite number >= 0, not -1".into(),
        ),
        (
            [&["train", "--epochs", "-1"][..], &TINY].concat(),
            "'--epochs <N>': -1 is negative".into(),
        ),
        (
            [&["train", "--seed", "-3"][..], &TINY].concat(),
            "-3 is negative".into(),
        ),
        (
            [&["train", "--threads", "-2"][..], &TINY].concat(),
            "-2 is negative".into(),
        ),
    ];
    for (args, want) in cases {
        let start = Instant::now();
        let o = cli(&tmp.0, &args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        let err = o.stderr.trim_end();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(&want), "{args:?}: {err}");
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{args:?} is refused without running"
        );
    }
    assert!(!tmp.join("runs").exists() && !tmp.join("s").exists());
}

#[test]
fn the_first_lines_say_what_applies() {
    let tmp = Temp::new("lines");
    // Single task, batch larger than the training set, 1 epoch, 1 thread.
    let o = ok(
        &tmp.0,
        &[
            "train",
            "--dataset",
            "synthetic",
            "--train-limit",
            "200",
            "--method",
            "single",
            "--batch-size",
            "500",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--out",
            "run",
        ],
    );
    let first = o.stderr.lines().next().unwrap();
    assert!(
        first.contains(", 1 epoch, cpu with 1 thread") && first.ends_with("1 thread"),
        "{first}"
    );
    assert!(first.contains("convnet4 with init auto"), "{first}");
    assert!(!first.contains("psi"), "no psi for single: {first}");
    assert!(
        o.stderr.contains(
            "--batch-size 500 is more than the 200 training images: each epoch trains on one \
             batch of all of them"
        ),
        "{}",
        o.stderr
    );
    let epoch = o.stderr.lines().find(|l| l.starts_with("EPOCH 1")).unwrap();
    assert!(!epoch.contains("cos"), "no cosine for single: {epoch}");
    assert!(o.stderr.contains("after 1 epoch,"), "{}", o.stderr);
    let m = metrics(&tmp.join("run"));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["train_aux_loss"], 0.0);
    assert_eq!(m[0]["train_primary_loss"], m[0]["train_loss"]);

    // With an auxiliary task: both parts recorded, summing to the training loss. --threads 0
    // is all cores, as in `bench`.
    let o = ok(
        &tmp.0,
        &[
            &["train", "--threads", "0"][..],
            &TINY,
            &["--method", "random", "--epochs", "1", "--out", "aux"],
        ]
        .concat(),
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let first = o.stderr.lines().next().unwrap();
    assert!(first.contains(", psi 3 x 10, "), "{first}");
    assert!(
        first.ends_with(&format!(
            "cpu with {cores} thread{}",
            if cores == 1 { "" } else { "s" }
        )),
        "{first}"
    );
    let m = &metrics(&tmp.join("aux"))[0];
    let (p, a, t) = (
        m["train_primary_loss"].as_f64().unwrap(),
        m["train_aux_loss"].as_f64().unwrap(),
        m["train_loss"].as_f64().unwrap(),
    );
    assert!(p > 0.0 && a > 0.0, "{m}");
    assert!((p + a - t).abs() < 1e-9 * t, "{p} + {a} vs {t}");
}
