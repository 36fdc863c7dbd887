//! End to end: `maxl-cli bench b1 --steps ...` times only the steps named and reports the
//! process's resident memory (the figures' values are not checked, only their shape; the
//! memory figures only on Linux, where /proc/self/status has them).

use serde_json::Value;
use std::process::Command;

fn bench(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_maxl-cli"))
        .arg("bench")
        .args(args)
        .output()
        .expect("maxl-cli runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn steps_times_only_the_named_steps_and_reports_peak_memory() {
    let (code, out, err) = bench(&["b1", "--steps", "stage1", "--threads", "1", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["config"], "b1");
    assert!(v["stage1_s"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["stage1_syncs"].as_u64(), Some(0), "{v}");
    for absent in ["single_s", "meta_s", "stage2_s"] {
        assert!(v.get(absent).is_none(), "{absent} was not asked for: {v}");
    }
    if cfg!(target_os = "linux") {
        let start = v["rss_start_mib"].as_f64().unwrap();
        let peak = v["max_rss_mib"].as_f64().unwrap();
        // A batch of 100 images through ConvNet-4 with its activations kept for the backward
        // pass needs tens of MiB at least.
        assert!(start > 0.0 && peak > start + 10.0, "{v}");
    }
}

#[test]
fn an_unknown_step_is_refused_with_the_choices() {
    let (code, _, err) = bench(&["b1", "--steps", "stage3"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("single, meta, stage1, stage2"), "{err}");
}

/// A reader that closes the pipe early (`maxl-cli bench gemm | head -1`) ends the program
/// quietly, by SIGPIPE as other tools, not with a panic in `println!`.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_the_program_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_maxl-cli"))
        .args(["bench", "gemm", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("maxl-cli starts");
    drop(child.stdout.take()); // the reader is gone before the first line
    let out = child.wait_with_output().expect("maxl-cli ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {err}",
        out.status
    );
}
