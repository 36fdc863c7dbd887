//! `maxl-cli visualize` end to end on tiny synthetic runs: both pictures of a MAXL run (sizes
//! from their documented layouts), `--pick`/`--only`, a run without a label generator (t-SNE
//! written, then a one-line error), and a folder that holds no run.

mod common;

use common::{cli, ok, Temp, TINY};
use serde_json::Value;
use std::path::Path;

/// aux_examples.png's layout (cli/src/visualize/aux_examples.rs): label column 190, cells of
/// 64 with gaps of 4, 5 per row, a title band of 32, 14 between primary classes.
fn aux_size(rows: u32, groups: u32) -> (u32, u32) {
    (190 + 5 * 68 + 4, 32 + rows * 68 + (groups - 1) * 14 + 4)
}

/// tsne.png's fixed size.
const TSNE_SIZE: (u32, u32) = (1000, 800);

fn train(tmp: &Temp, method: &str) -> String {
    let run = tmp.arg(method);
    let args = [
        &["train"][..],
        &TINY,
        &[
            "--epochs", "1", "--quiet", "--method", method, "--out", &run,
        ],
    ]
    .concat();
    ok(&tmp.0, &args);
    run
}

/// Decodes a PNG and returns its size, checking that it is not blank.
fn png_size(path: &Path) -> (u32, u32) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{} decodes: {e}", path.display()))
        .into_rgb8();
    let ink = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(ink > 1000, "{} has content ({ink} pixels)", path.display());
    img.dimensions()
}

fn json(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {stdout}");
    serde_json::from_str(lines[0]).expect("stdout is JSON")
}

#[test]
fn a_maxl_run_gets_both_pictures() {
    let tmp = Temp::new("vis-maxl");
    let run = train(&tmp, "maxl");
    let out = ok(&tmp.0, &["visualize", "--run", &run]);
    let v = json(&out.stdout);
    let (tsne, aux) = (
        Path::new(&run).join("tsne.png"),
        Path::new(&run).join("aux_examples.png"),
    );
    assert_eq!(v["tsne"].as_str(), tsne.to_str());
    assert_eq!(v["aux_examples"].as_str(), aux.to_str());
    assert_eq!(v["classes"], serde_json::json!([0, 1, 2]), "the first 3");
    // 200 synthetic training images come with 50 test images: all shown.
    assert_eq!(v["tsne_points"], 50);
    assert_eq!(png_size(&tsne), TSNE_SIZE);
    // psi 3 (the default) for 3 primary classes: 9 rows in 3 groups.
    assert_eq!(png_size(&aux), aux_size(9, 3));

    // Chosen classes, aux_examples.png only; fewer points than test images.
    std::fs::remove_file(&tsne).unwrap();
    let out = ok(
        &tmp.0,
        &[
            "visualize",
            "--run",
            &run,
            "--only",
            "aux-examples",
            "--pick",
            "7,class2",
        ],
    );
    let v = json(&out.stdout);
    assert_eq!(v["classes"], serde_json::json!([7, 2]));
    assert!(v["tsne"].is_null());
    assert!(!tsne.exists());
    assert_eq!(png_size(&aux), aux_size(6, 2));
    let out = ok(
        &tmp.0,
        &[
            "visualize",
            "--run",
            &run,
            "--only",
            "tsne",
            "--points",
            "20",
        ],
    );
    assert_eq!(json(&out.stdout)["tsne_points"], 20);
    assert_eq!(png_size(&tsne), TSNE_SIZE);

    let bad = cli(&tmp.0, &["visualize", "--run", &run, "--pick", "12"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("class 12 is outside 0..10"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_run_without_generator_gets_tsne_then_an_error() {
    let tmp = Temp::new("vis-single");
    let run = train(&tmp, "single");
    let out = cli(&tmp.0, &["visualize", "--run", &run]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let err: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(err.len(), 1, "one line: {}", out.stderr);
    assert!(
        err[0].starts_with("error: aux_examples.png needs a label generator")
            && err[0].contains("--method single"),
        "{}",
        err[0]
    );
    // What was written is still reported, and t-SNE works for any method.
    let v = json(&out.stdout);
    assert!(v["aux_examples"].is_null());
    let tsne = Path::new(&run).join("tsne.png");
    assert_eq!(v["tsne"].as_str(), tsne.to_str());
    assert_eq!(png_size(&tsne), TSNE_SIZE);
    assert!(!Path::new(&run).join("aux_examples.png").exists());

    let out = ok(&tmp.0, &["visualize", "--run", &run, "--only", "tsne"]);
    assert!(json(&out.stdout)["aux_examples"].is_null());
}

#[test]
fn a_folder_without_a_run_is_an_error() {
    let tmp = Temp::new("vis-missing");
    let missing = tmp.arg("nothing-here");
    let out = cli(&tmp.0, &["visualize", "--run", &missing]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("config.toml: not found") && out.stderr.contains("nothing-here"),
        "{}",
        out.stderr
    );
    let out = cli(
        &tmp.0,
        &["visualize", "--run", &tmp.arg("."), "--points", "0"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--points must be at least 1"),
        "{}",
        out.stderr
    );
}
