//! Bad input to `maxl-cli train`: a one-line message on stderr, a non-zero exit, no panic,
//! and no run folder that looks complete; a loss that blows up keeps the last good
//! checkpoint (whose values are all finite) and writes no summary. `--method kmeans`, once refused, now trains and resumes.

mod common;

use common::{cli, metrics, ok, without_timing, Temp, TINY};
use serde_json::Value;

#[test]
fn bad_input_is_one_line_and_leaves_no_run_folder() {
    let tmp = Temp::new("errors");
    std::fs::write(tmp.join("typo.toml"), "lr_typo = 1.0\n").unwrap();
    let missing = tmp.arg("no-such-folder");
    let tiny = TINY.to_vec();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--dataset", "mnist"],
            "--dataset mnist needs --data-dir",
        ),
        (
            vec!["--dataset", "fashion-mnist", "--data-dir", &missing],
            "no-such-folder: not found",
        ),
        (vec!["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (
            [&tiny[..], &["--psi", "3,3"]].concat(),
            "psi has 2 entries but the data set has 10",
        ),
        ([&tiny[..], &["--psi", "three"]].concat(), "bad psi 'three'"),
        (vec!["--model", "vgg19"], "unknown model 'vgg19'"),
        (vec!["--method", "magic"], "unknown method 'magic'"),
        (vec!["--schedule", "linear"], "unknown schedule 'linear'"),
        (vec!["--device", "cuda:7"], "CUDA not available"),
        (vec!["--device", "cuda:1"], "CUDA not available"),
        (vec!["--device", "tpu"], "unknown device 'tpu'"),
        (
            [&tiny[..], &["--primary-level", "20"]].concat(),
            "cifar100 only",
        ),
        (
            [&tiny[..], &["--method", "human", "--aux-level", "100"]].concat(),
            "label hierarchy",
        ),
        ([&tiny[..], &["--epochs", "0"]].concat(), "at least 1"),
        (
            [&tiny[..], &["--lr", "-1"]].concat(),
            "--lr must be a finite number >= 0, not -1",
        ),
        (
            vec!["--epochs", "ten"],
            "invalid value 'ten' for '--epochs <N>'",
        ),
        (vec!["--config", "typo.toml"], "unknown key 'lr_typo'"),
        (vec!["--init", "he"], "unknown init 'he'"),
        ([&tiny[..], &["--psi", "-1"]].concat(), "-1 is negative"),
        (vec!["--batch-size", "-5"], "-5 is negative"),
        ([&tiny[..], &["--psi", "2000"]].concat(), "psi gives 20000"),
        (vec!["--resume", &missing], "not found"),
        (
            [&tiny[..], &["--lr", "1e6", "--epochs", "1"]].concat(),
            "in epoch 1",
        ),
    ];
    for (i, (args, want)) in cases.iter().enumerate() {
        let out_dir = format!("out{i}");
        let mut full = vec!["train", "--quiet"];
        full.extend(args);
        if !args.contains(&"--resume") {
            full.extend(["--out", &out_dir]);
        }
        let out = cli(&tmp.0, &full);
        assert_eq!(out.code, 2, "{full:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{full:?}: {}", out.stdout);
        let err = out.stderr.trim_end();
        assert_eq!(err.lines().count(), 1, "{full:?}: one line, got {err}");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{full:?}: {err}"
        );
        assert!(!tmp.join(&out_dir).exists(), "{full:?} left {out_dir}");
    }
    assert!(!tmp.join("runs").exists(), "no default run folder either");
}

#[test]
fn a_loss_that_blows_up_keeps_the_last_good_checkpoint() {
    let tmp = Temp::new("nan");
    // Plain SGD at lr 5 on the toy task: finite for some epochs, then NaN.
    let a = [
        "--method",
        "single",
        "--schedule",
        "constant",
        "--lr",
        "5",
        "--epochs",
        "6",
    ];
    let out = cli(
        &tmp.0,
        &[
            &["train", "--quiet", "--threads", "2", "--out", "run"][..],
            &TINY,
            &a,
        ]
        .concat(),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let err = out.stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "{err}");
    // The loss, or (with relu mapping NaN to 0) the state's check after the epoch.
    assert!(
        err.contains("loss became NaN in epoch")
            || err.contains("left NaN or infinite values in the run's state"),
        "{err}"
    );
    let kept: usize = err
        .split("keeps the checkpoint of epoch ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no kept epoch in: {err}"));
    assert!(kept >= 1);
    assert_eq!(metrics(&tmp.join("run")).len(), kept);
    assert!(
        !tmp.join("run/summary.json").exists(),
        "nothing claims completion"
    );

    let e = ok(&tmp.0, &["eval", "--run", "run"]);
    let v: Value = serde_json::from_str(e.stdout.trim()).unwrap();
    assert_eq!(v["epoch"], kept);
}

#[test]
fn kmeans_is_accepted_reports_utilisation_and_resumes_exactly() {
    let tmp = Temp::new("kmeans");
    let run = |extra: &[&str]| {
        ok(
            &tmp.0,
            &[
                &["train", "--quiet", "--threads", "2", "--method", "kmeans"][..],
                &TINY,
                &["--epochs", "2"],
                extra,
            ]
            .concat(),
        )
    };
    run(&["--out", "full"]);
    run(&["--out", "part", "--stop-after", "1"]);
    ok(&tmp.0, &["train", "--resume", "part", "--quiet"]);
    let (full, part) = (metrics(&tmp.join("full")), metrics(&tmp.join("part")));
    assert_eq!(full.len(), 2);
    for m in &full {
        let u = m["utilisation"].as_f64().unwrap();
        assert!(u > 0.0 && u <= 100.0, "{m}");
    }
    assert_eq!(without_timing(full), without_timing(part));
    assert!(tmp.join("part/summary.json").exists());
}
