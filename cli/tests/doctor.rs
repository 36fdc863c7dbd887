//! `maxl-cli doctor`: runs on any machine (with or without CUDA), exits 0 unless NVRTC is
//! present and a kernel module fails, and prints the documented JSON lines; a second run reads
//! every module from the kernel cache that the first one filled.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn doctor(args: &[&str]) -> (i32, String, String) {
    doctor_with_cache(args, Path::new("off"))
}

/// Runs `maxl-cli doctor` with `MAXL_KERNEL_CACHE=cache` (`off`: no disk cache).
fn doctor_with_cache(args: &[&str], cache: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_maxl-cli"))
        .arg("doctor")
        .args(args)
        .env("MAXL_KERNEL_CACHE", cache)
        .output()
        .expect("maxl-cli runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn doctor_json_reports_environment_and_every_kernel_module() {
    let cache = std::env::temp_dir().join(format!("maxl-doctor-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let (code, out, err) = doctor_with_cache(&["--json"], &cache);
    assert_eq!(code, 0, "doctor failed:\n{out}\n{err}");
    let lines = json_lines(&out);
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
    let on_gpu = gpus["count"].as_u64().unwrap() > 0;
    let arch = nvrtc["arch"].as_str().unwrap();
    // Without a GPU: PTX for compute_90; with one: the CUBIN of its architecture (or PTX).
    assert!(
        arch.starts_with("compute_") || (on_gpu && arch.starts_with("sm_")),
        "{arch}"
    );
    if nvrtc_ok {
        let v = nvrtc["version"].as_str().unwrap();
        assert!(v.split('.').all(|p| p.parse::<u32>().is_ok()), "{v}");
        assert!(nvrtc["supported_archs"]
            .as_array()
            .unwrap()
            .contains(&Value::from(90)));
    }
    let kc = env("kernel_cache");
    assert_eq!(kc["enabled"], true);
    assert_eq!(kc["dir"].as_str().unwrap(), cache.display().to_string());

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
            assert_eq!(k["source"], "compiled", "{k}");
            let image = if arch.starts_with("sm_") {
                "cubin"
            } else {
                "ptx"
            };
            assert_eq!(k["image"], image, "{k}");
            // Loaded through the driver on a GPU; nothing to load on without one.
            assert_eq!(
                k["loaded"],
                if on_gpu {
                    Value::from(true)
                } else {
                    Value::Null
                }
            );
        } else {
            assert_eq!(k["ok"], false, "{k}");
            assert_eq!(k["skipped"], true, "{k}");
            assert!(k["ms"].is_null(), "{k}");
            let e = k["error"].as_str().unwrap();
            assert!(e.starts_with("NVRTC not available"), "{e}");
        }
    }
    assert_eq!(lines.len(), 7 + want.len(), "{out}");

    // A second process reads every module from the disk cache instead of compiling it.
    if nvrtc_ok {
        let (code, out, err) = doctor_with_cache(&["--json"], &cache);
        assert_eq!(code, 0, "second doctor failed:\n{out}\n{err}");
        let lines = json_lines(&out);
        let kc = lines.iter().find(|l| l["env"] == "kernel_cache").unwrap();
        assert_eq!(
            kc["entries"].as_u64().unwrap() as usize,
            maxl_kernel_module_names().len(),
            "{kc}"
        );
        for k in lines.iter().filter(|l| l.get("kernel").is_some()) {
            assert_eq!(k["source"], "disk cache", "{k}");
            assert_eq!(k["ok"], true, "{k}");
        }
    }
    let _ = std::fs::remove_dir_all(&cache);
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
    for key in [
        "cpu:",
        "rayon threads:",
        "libcuda:",
        "gpus:",
        "libnvrtc:",
        "kernel cache:  off",
        "doctor: ok",
    ] {
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
