//! `maxl-cli doctor`: runs on any machine (with or without CUDA), exits 0 unless NVRTC is
//! present and a kernel module fails, and prints the documented JSON lines.

use serde_json::Value;
use std::process::Command;

fn doctor(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_maxl-cli"))
        .arg("doctor")
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
fn doctor_json_reports_environment_and_every_kernel_module() {
    let (code, out, err) = doctor(&["--json"]);
    assert_eq!(code, 0, "doctor failed:\n{out}\n{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let env = |name: &str| -> &Value {
        lines
            .iter()
            .find(|l| l["env"] == name)
            .unwrap_or_else(|| panic!("no {name} line in:\n{out}"))
    };
    assert!(!env("cpu")["model"].as_str().unwrap().is_empty());
    assert!(env("cpu")["logical_cpus"].as_u64().unwrap() >= 1);
    assert!(env("rayon")["threads"].as_u64().unwrap() >= 1);
    let cuda = env("libcuda");
    let gpus = env("gpus");
    if cuda["ok"] == true {
        assert!(cuda["error"].is_null());
    } else {
        let e = cuda["error"].as_str().unwrap();
        assert!(e.starts_with("CUDA not available"), "{e}");
        assert_eq!(gpus["count"], 0);
    }
    assert_eq!(
        gpus["count"].as_u64().unwrap() as usize,
        gpus["devices"].as_array().unwrap().len()
    );
    let emu = env("kernel_emulator");
    assert_eq!(
        emu["ok"].as_bool().unwrap(),
        emu["error"].is_null(),
        "{emu}"
    );
    let nvrtc = env("libnvrtc");
    let nvrtc_ok = nvrtc["ok"].as_bool().unwrap();
    assert!(nvrtc["arch"].as_str().unwrap().starts_with("compute_"));

    // One object per kernel, module by module in the crate's order, every listed kernel once.
    let kernels: Vec<&Value> = lines.iter().filter(|l| l.get("kernel").is_some()).collect();
    let names: Vec<&str> = kernels
        .iter()
        .map(|k| k["kernel"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = maxl_kernels::all_kernels().collect();
    assert_eq!(names, want);
    let mut modules: Vec<&str> = kernels
        .iter()
        .map(|k| k["module"].as_str().unwrap())
        .collect();
    modules.dedup();
    assert_eq!(modules, maxl_kernel_module_names());
    for k in &kernels {
        assert!(k["ok"].is_boolean() && k["skipped"].is_boolean(), "{k}");
        if nvrtc_ok {
            // A present NVRTC compiles every module (else the exit code was not 0).
            assert_eq!(k["ok"], true, "{k}");
            assert!(k["ms"].as_f64().unwrap() >= 0.0, "{k}");
            assert!(k["error"].is_null(), "{k}");
        } else {
            assert_eq!(k["ok"], false, "{k}");
            assert_eq!(k["skipped"], true, "{k}");
            assert!(k["ms"].is_null(), "{k}");
            let e = k["error"].as_str().unwrap();
            assert!(e.starts_with("NVRTC not available"), "{e}");
        }
    }
    assert_eq!(lines.len(), 6 + want.len(), "{out}");
}

/// The module names, in order, as the kernels crate lists them.
fn maxl_kernel_module_names() -> Vec<&'static str> {
    vec![
        "elementwise",
        "reduce",
        "gemm",
        "conv",
        "pool",
        "batchnorm",
        "masked_softmax",
        "focal_loss",
    ]
}

#[test]
fn doctor_text_report_runs_without_cuda_and_names_each_module() {
    let (code, out, err) = doctor(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    for key in ["cpu:", "rayon threads:", "libcuda:", "gpus:", "libnvrtc:"] {
        assert!(out.contains(key), "no {key} in:\n{out}");
    }
    for m in maxl_kernel_module_names() {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(m)),
            "no line for {m}:\n{out}"
        );
    }
}

#[test]
fn doctor_rejects_unknown_flags() {
    let (code, _, err) = doctor(&["--bogus"]);
    assert_ne!(code, 0);
    assert!(err.contains("--bogus"), "{err}");
}
