//! `maxl-cli report DIR` on run folders written by hand with known numbers: the table's mean
//! and sample std, the paired MAXL - Single comparison on the seeds both have (mean difference,
//! standard error, t) against a hand computation, a second table for another data set, the
//! incomplete run listed apart, and the figures as PNGs; json and csv carry the same numbers.

mod common;

use common::{cli, ok, Temp};
use serde_json::{json, Value};
use std::path::Path;

fn write_run(dir: &Path, method: &str, seed: u64, dataset: &str, accs: &[f64], complete: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let settings = json!({
        "dataset": dataset, "model": "convnet4", "method": method, "seed": seed,
        "psi": [3], "epochs": accs.len() + usize::from(!complete), "lr": 0.1,
    });
    let toml: toml::Table = serde_json::from_value(settings.clone()).unwrap();
    std::fs::write(dir.join("config.toml"), toml::to_string(&toml).unwrap()).unwrap();
    let mut lines = String::new();
    for (i, acc) in accs.iter().enumerate() {
        let util = if method == "single" {
            0.0
        } else {
            50.0 * (i + 1) as f64
        };
        lines += &format!(
            "{}\n",
            json!({"epoch": i + 1, "test_acc": acc, "cosine": 0.1 * i as f64, "utilisation": util,
                   "train_loss": 1.0})
        );
    }
    std::fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    if complete {
        let last = *accs.last().unwrap();
        let best = accs.iter().cloned().fold(f64::MIN, f64::max);
        let summary = json!({
            "status": "complete", "epochs": accs.len(), "final_test_acc": last,
            "best_test_acc": best, "wall_s": 10.0 * (seed + 1) as f64, "settings": settings,
        });
        std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
    }
}

/// Width and height of a PNG file, from its IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", path.display());
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn tables_and_paired_statistics_match_a_hand_computation() {
    let tmp = Temp::new("report");
    let study = tmp.join("study");
    // MAXL final accuracies 90, 91, 95 (seeds 0-2); Single 89, 90, 91 and 88 (seed 3, unpaired).
    for (seed, acc) in [(0, 90.0), (1, 91.0), (2, 95.0)] {
        write_run(
            &study.join(format!("maxl-{seed}")),
            "maxl",
            seed,
            "synthetic",
            &[80.0, acc],
            true,
        );
    }
    for (seed, acc) in [(0, 89.0), (1, 90.0), (2, 91.0), (3, 88.0)] {
        write_run(
            &study.join(format!("single-{seed}")),
            "single",
            seed,
            "synthetic",
            &[70.0, acc],
            true,
        );
    }
    write_run(
        &study.join("maxl-9"),
        "maxl",
        9,
        "synthetic",
        &[50.0],
        false,
    );
    write_run(
        &study.join("more/mnist-0"),
        "maxl",
        0,
        "mnist",
        &[99.0],
        true,
    );

    let out = ok(&tmp.0, &["report", "study", "--format", "json"]);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (r["runs"].as_u64(), r["complete"].as_u64()),
        (Some(9), Some(8))
    );
    assert_eq!(r["incomplete"][0]["name"], "maxl-9");
    let tables = r["tables"].as_array().unwrap();
    let titles: Vec<&str> = tables
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["mnist / convnet4", "synthetic / convnet4"]);
    let t = &tables[1];
    let (maxl, single) = (&t["rows"][0], &t["rows"][1]);
    // MAXL: mean 92; deviations -2, -1, 3: (4 + 1 + 9) / 2 = 7.
    assert!(close(&maxl["final_test_acc"]["mean"], 92.0));
    assert!(close(&maxl["final_test_acc"]["std"], 7f64.sqrt()));
    assert_eq!(maxl["final_test_acc"]["n"], 3);
    assert!(close(&maxl["best_test_acc"]["mean"], 92.0));
    assert!(close(&maxl["wall_s"]["mean"], 20.0));
    assert!(close(&maxl["utilisation"]["mean"], 100.0));
    // Single: mean 89.5; deviations -.5, .5, 1.5, -1.5: 5 / 3.
    assert!(close(&single["final_test_acc"]["mean"], 89.5));
    assert!(close(
        &single["final_test_acc"]["std"],
        (5.0f64 / 3.0).sqrt()
    ));
    assert!(single["utilisation"].is_null());
    // Paired on seeds 0-2: differences 1, 1, 4: mean 2; deviations -1, -1, 2: variance 6 / 2 =
    // 3; se = sqrt(3) / sqrt(3) = 1; t = 2 / 1 = 2 with 2 degrees of freedom.
    let c = &t["comparisons"][0];
    assert_eq!(
        (c["a"].as_str(), c["b"].as_str()),
        (Some("MAXL psi 3"), Some("Single"))
    );
    assert_eq!(c["seeds"], json!([0, 1, 2]));
    assert!(close(&c["mean_diff"], 2.0) && close(&c["se"], 1.0) && close(&c["t"], 2.0));
    assert_eq!(c["df"], 2);
    assert_eq!(t["comparisons"].as_array().unwrap().len(), 1);
    assert_eq!(
        std::fs::read_to_string(study.join("report.json")).unwrap(),
        out.stdout
    );

    ok(&tmp.0, &["report", "study"]);
    let md = std::fs::read_to_string(study.join("report.md")).unwrap();
    for line in [
        "## synthetic / convnet4",
        "| MAXL | 3 | 92.00 ± 2.65 | 3 | 92.00 ± 2.65 | 20.0 s | 100.0 |",
        "| Single | - | 89.50 ± 1.29 | 4 | 89.50 ± 1.29 | 25.0 s | - |",
        "| MAXL psi 3 - Single | 3 | +2.00 | 1.00 | 2.00 (2) |",
        "- maxl-9: 1 epochs of 2 done",
        "![test accuracy (%)](report-figures/synthetic-convnet4-test-acc.png)",
    ] {
        assert!(md.lines().any(|l| l == line), "missing {line:?} in\n{md}");
    }
    for fig in ["test-acc", "cosine", "utilisation"] {
        let path = study.join(format!("report-figures/synthetic-convnet4-{fig}.png"));
        assert_eq!(png_size(&path), (560, 420), "{fig}: one panel");
    }

    let csv = ok(&tmp.0, &["report", "study", "--format", "csv"]);
    let rows: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(
        rows.len(),
        1 + 3,
        "header, mnist MAXL, synthetic MAXL and Single"
    );
    assert!(
        rows[2]
            .starts_with("synthetic / convnet4,synthetic,convnet4,,maxl,3,,3,0 1 2,92,2.645751,"),
        "{}",
        rows[2]
    );
    let comps = std::fs::read_to_string(study.join("report-comparisons.csv")).unwrap();
    assert_eq!(
        comps.lines().nth(1),
        Some("synthetic / convnet4,MAXL psi 3,Single,3,0 1 2,2,1.000000,2.000000,2")
    );
}

#[test]
fn a_folder_without_runs_is_an_error() {
    let tmp = Temp::new("report-empty");
    let out = cli(&tmp.0, &["report", "."]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no run folders"), "{}", out.stderr);
    let out = cli(&tmp.0, &["report", "missing"]);
    assert!(
        out.stderr.contains("missing: not a folder"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_run_made_before_init_existed_sits_with_the_auto_runs() {
    let tmp = Temp::new("report-init");
    let study = tmp.join("study");
    write_run(&study.join("old-0"), "maxl", 0, "synthetic", &[90.0], true);
    for (name, seed, init) in [("new-1", 1, "auto"), ("xavier-0", 0, "xavier-uniform")] {
        let dir = study.join(name);
        write_run(&dir, "maxl", seed, "synthetic", &[92.0], true);
        let path = dir.join("summary.json");
        let mut summary: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        summary["settings"]["init"] = json!(init);
        std::fs::write(&path, summary.to_string()).unwrap();
    }
    let out = ok(&tmp.0, &["report", "study", "--format", "json"]);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = r["tables"][0]["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        2,
        "auto (old and new run) and xavier-uniform: {rows:?}"
    );
    let ns: Vec<u64> = rows
        .iter()
        .map(|row| row["final_test_acc"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns.iter().sum::<u64>(), 3);
    assert!(
        ns.contains(&2),
        "the old run and the new auto run in one row: {rows:?}"
    );
}
