//! `maxl-cli train --resume`: a run stopped after epoch 1, or killed (-9) in the middle of an
//! epoch, and resumed ends with the same metrics.jsonl, byte for byte but for the timings, as a
//! run that never stopped; other settings, or an edited config.toml, are refused; a folder
//! whose checkpoint is missing is an error that changes nothing; a complete run can be
//! extended with more --epochs, its summary.json replaced only when the extension completes.

mod common;

use common::{cli, json_file, metrics, metrics_text_without_timing, ok, Temp, TINY};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn train(tmp: &Temp, extra: &[&str]) {
    ok(
        &tmp.0,
        &[
            &["train", "--quiet", "--threads", "2"][..],
            &TINY[..],
            extra,
        ]
        .concat(),
    );
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Lines of metrics.jsonl so far (0 while it does not exist).
fn lines(run: &Path) -> usize {
    std::fs::read_to_string(run.join("metrics.jsonl")).map_or(0, |t| t.lines().count())
}

#[test]
fn resume_ends_with_the_numbers_of_an_unbroken_run() {
    let tmp = Temp::new("resume");
    // MAXL: both networks, momentum buffers, the generator's state and the schedule matter.
    train(&tmp, &["--epochs", "2", "--out", "full"]);
    train(
        &tmp,
        &["--epochs", "2", "--out", "part", "--stop-after", "1"],
    );
    assert_eq!(metrics(&tmp.join("part")).len(), 1);
    assert!(
        !tmp.join("part/summary.json").exists(),
        "a stopped run is not complete"
    );
    ok(&tmp.0, &["train", "--resume", "part", "--quiet"]);

    // Byte for byte, timings aside: the epoch of the first process is written again from
    // the checkpoint's history, which must round-trip every f64 exactly.
    let full = metrics_text_without_timing(&tmp.join("full"));
    assert_eq!(full.lines().count(), 2);
    assert_eq!(full, metrics_text_without_timing(&tmp.join("part")));
    let (a, b) = (
        json_file(&tmp.join("full/summary.json")),
        json_file(&tmp.join("part/summary.json")),
    );
    assert_eq!(a["final_test_acc"], b["final_test_acc"]);
    assert_eq!(a["settings"], b["settings"]);
}

#[test]
fn a_run_killed_mid_epoch_resumes_to_the_same_bytes() {
    let tmp = Temp::new("kill");
    let args = |out: &str| -> Vec<String> {
        [&["train", "--quiet", "--threads", "2"][..], &TINY[..]]
            .concat()
            .into_iter()
            .chain(["--epochs", "3", "--out", out])
            .map(String::from)
            .collect()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_maxl-cli"))
        .args(args("part"))
        .current_dir(&tmp.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let part = tmp.join("part");
    // Kill -9 as soon as epoch 1 is saved: in the middle of epoch 2.
    let start = Instant::now();
    while lines(&part) < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "epoch 1 never ended"
        );
        assert!(child.try_wait().unwrap().is_none(), "ended before the kill");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = lines(&part);
    assert!(done < 3, "killed before the end ({done} epochs)");
    assert!(!part.join("summary.json").exists());

    // The kernel released the killed process's lock: the resume is not refused.
    ok(&tmp.0, &["train", "--resume", "part", "--quiet"]);
    let a: Vec<String> = args("full");
    ok(&tmp.0, &a.iter().map(String::as_str).collect::<Vec<_>>());
    let full = metrics_text_without_timing(&tmp.join("full"));
    assert_eq!(full.lines().count(), 3);
    assert_eq!(full, metrics_text_without_timing(&part));
    assert!(
        !part.join("train.lock").exists(),
        "the lock file goes with its run"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn resume_refuses_other_settings_and_edited_configs() {
    let tmp = Temp::new("resume-bad");
    let a = [
        "--method",
        "single",
        "--epochs",
        "2",
        "--out",
        "run",
        "--stop-after",
        "1",
    ];
    train(&tmp, &a);

    let out = cli(&tmp.0, &["train", "--resume", "run", "--lr", "0.5"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("other settings (lr: 0.1 -> 0.5)"),
        "{}",
        out.stderr
    );
    assert_eq!(
        metrics(&tmp.join("run")).len(),
        1,
        "the run is left as it was"
    );

    let out = cli(&tmp.0, &["train", "--resume", "run", "--out", "x"]);
    assert_ne!(out.code, 0, "--out with --resume is refused");

    // config.toml no longer says what the checkpoint was made with.
    let path = tmp.join("run/config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("lr = 0.1", "lr = 0.3")).unwrap();
    let out = cli(&tmp.0, &["train", "--resume", "run"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("was config.toml edited?"),
        "{}",
        out.stderr
    );
    std::fs::write(&path, text).unwrap();

    ok(&tmp.0, &["train", "--resume", "run", "--quiet"]);
    assert!(tmp.join("run/summary.json").exists());
    // A finished run resumes to nothing new.
    ok(&tmp.0, &["train", "--resume", "run", "--quiet"]);
    assert_eq!(metrics(&tmp.join("run")).len(), 2);
}

#[test]
fn a_missing_checkpoint_is_an_error_that_changes_nothing() {
    let tmp = Temp::new("resume-missing");
    train(
        &tmp,
        &["--method", "single", "--epochs", "2", "--out", "run"],
    );
    let run = tmp.join("run");
    std::fs::remove_file(run.join("checkpoint.safetensors")).unwrap();
    let files = ["config.toml", "metrics.jsonl", "summary.json", "curves.png"];
    let before: Vec<Vec<u8>> = files.iter().map(|f| read(&run.join(f))).collect();

    let out = cli(&tmp.0, &["train", "--resume", "run", "--quiet"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let err = out.stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("metrics.jsonl records 2 epochs but checkpoint.safetensors is missing"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    for (f, b) in files.iter().zip(&before) {
        assert_eq!(&read(&run.join(f)), b, "{f} was rewritten");
    }
    assert!(!run.join("checkpoint.safetensors").exists());

    // Without metrics.jsonl, summary.json still records the epochs.
    std::fs::remove_file(run.join("metrics.jsonl")).unwrap();
    let out = cli(&tmp.0, &["train", "--resume", "run", "--quiet"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("records 2 epochs"), "{}", out.stderr);
    assert_eq!(read(&run.join("summary.json")), before[2]);
}

#[test]
fn an_older_checkpoint_than_the_metrics_is_refused() {
    let tmp = Temp::new("resume-older");
    let a = ["--method", "single", "--epochs", "2", "--out", "run"];
    train(&tmp, &[&a[..], &["--stop-after", "1"]].concat());
    let run = tmp.join("run");
    let old = read(&run.join("checkpoint.safetensors"));
    ok(&tmp.0, &["train", "--resume", "run", "--quiet"]);
    std::fs::write(run.join("checkpoint.safetensors"), &old).unwrap();
    let metrics_before = read(&run.join("metrics.jsonl"));
    let out = cli(&tmp.0, &["train", "--resume", "run", "--quiet"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("metrics.jsonl records 2 epochs but checkpoint.safetensors holds 1"),
        "{}",
        out.stderr
    );
    assert_eq!(read(&run.join("metrics.jsonl")), metrics_before);
}

#[test]
fn a_complete_run_is_extended_by_more_epochs() {
    let tmp = Temp::new("extend");
    // A constant schedule: the extended run must equal one made with 4 epochs from the start.
    let a = [
        "--method",
        "single",
        "--schedule",
        "constant",
        "--lr",
        "0.05",
    ];
    train(
        &tmp,
        &[&a[..], &["--epochs", "4", "--out", "full"]].concat(),
    );
    train(&tmp, &[&a[..], &["--epochs", "2", "--out", "run"]].concat());
    let run = tmp.join("run");
    let summary2 = read(&run.join("summary.json"));
    assert_eq!(json_file(&run.join("summary.json"))["epochs"], 2);

    // Extended, stopped on the way: the old summary stays until the extension completes.
    let out = ok(
        &tmp.0,
        &[
            "train",
            "--resume",
            "run",
            "--epochs",
            "4",
            "--stop-after",
            "3",
        ],
    );
    assert!(
        out.stderr.contains("extending the run from 2 to 4 epochs"),
        "{}",
        out.stderr
    );
    assert_eq!(lines(&run), 3);
    assert_eq!(read(&run.join("summary.json")), summary2);
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("epochs = 4"), "{config}");

    ok(&tmp.0, &["train", "--resume", "run", "--quiet"]);
    let s = json_file(&run.join("summary.json"));
    assert_eq!(
        (s["status"].as_str(), s["epochs"].as_u64()),
        (Some("complete"), Some(4))
    );
    assert_eq!(
        metrics_text_without_timing(&run),
        metrics_text_without_timing(&tmp.join("full"))
    );

    // Fewer epochs than done: refused, nothing changed.
    let before = read(&run.join("metrics.jsonl"));
    let out = cli(&tmp.0, &["train", "--resume", "run", "--epochs", "3"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--epochs 3 is fewer than the 4 epochs the run has done"),
        "{}",
        out.stderr
    );
    assert_eq!(read(&run.join("metrics.jsonl")), before);
    assert!(std::fs::read_to_string(run.join("config.toml"))
        .unwrap()
        .contains("epochs = 4"));
}
