//! `maxl-cli train --resume`: a run stopped after epoch 1 and resumed ends with the same
//! numbers as a run that never stopped; other settings, or an edited config.toml, are refused.

mod common;

use common::{cli, json_file, metrics, ok, without_timing, Temp, TINY};

fn train(tmp: &Temp, extra: &[&str]) {
    ok(
        &tmp.0,
        &[&["train", "--quiet"][..], &TINY[..], extra].concat(),
    );
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

    let (full, part) = (metrics(&tmp.join("full")), metrics(&tmp.join("part")));
    assert_eq!(part.len(), 2);
    assert_eq!(without_timing(full), without_timing(part));
    let (a, b) = (
        json_file(&tmp.join("full/summary.json")),
        json_file(&tmp.join("part/summary.json")),
    );
    assert_eq!(a["final_test_acc"], b["final_test_acc"]);
    assert_eq!(a["settings"], b["settings"]);
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
