//! Every kernel module compiles with NVRTC to PTX for compute_90 and assembles with `ptxas
//! -arch=sm_90`, and its PTX defines exactly the kernels `MODULES` lists (the lists that
//! `build.rs` derives from the sources: so this also checks the derivation against NVRTC). No GPU is needed:
//! libnvrtc comes from the PyPI wheel nvidia-cuda-nvrtc (`MAXL_NVRTC_LIB` or `LD_LIBRARY_PATH`),
//! ptxas from nvidia-cuda-nvcc (`MAXL_PTXAS`, or `ptxas` on `PATH`); `.ci/run` installs both.
//! Where either is missing the tests say why and pass, except in CI (`CI=true`), where a
//! missing tool fails them: there, a kernel that does not compile must fail the run.

use maxl_kernels::{compile_module, compile_source, nvrtc_available, nvrtc_version, ptx_entries};
use maxl_kernels::{CompileOptions, KernelModule, MODULES};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips (returns false) outside CI, fails in CI.
fn missing(what: &str) -> bool {
    if in_ci() {
        panic!("CI=true but {what}: .ci/run must install it (see its CUDA step)");
    }
    eprintln!("SKIPPED: {what}");
    false
}

fn have_nvrtc() -> bool {
    match nvrtc_available() {
        Ok(()) => true,
        Err(e) => missing(&e.to_string()),
    }
}

/// ptxas from `$MAXL_PTXAS`, else from `PATH`.
fn ptxas() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MAXL_PTXAS") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Some(p);
        }
        missing(&format!("MAXL_PTXAS={} is not a file", p.display()));
        return None;
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("ptxas"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        missing("ptxas not found (set MAXL_PTXAS or put it on PATH)");
    }
    found
}

fn scratch_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("maxl-kernels-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("create a temp dir");
    d
}

/// Assembles `ptx` for sm_90; returns the cubin size and ptxas' per-kernel resource lines.
fn assemble(ptxas: &Path, dir: &Path, name: &str, ptx: &str) -> Result<(u64, String), String> {
    let src = dir.join(format!("{name}.ptx"));
    let out = dir.join(format!("{name}.cubin"));
    std::fs::write(&src, ptx).map_err(|e| e.to_string())?;
    let o = Command::new(ptxas)
        .args(["-arch=sm_90", "-v", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .map_err(|e| format!("running {}: {e}", ptxas.display()))?;
    let log = String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        return Err(format!("ptxas failed ({}):\n{log}", o.status));
    }
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    Ok((size, log))
}

/// The heaviest kernel of a ptxas -v log, by registers: "name: N registers, S bytes spill".
fn resource_summary(log: &str) -> String {
    let mut current = String::new();
    let mut worst: Option<(u32, String, String)> = None;
    let mut spills = 0u32;
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            current = rest.split('\'').next().unwrap_or("").to_string();
        }
        if line.contains("bytes spill stores") {
            let n: u32 = line
                .split_whitespace()
                .find_map(|w| w.parse().ok())
                .unwrap_or(0);
            spills += n;
        }
        if let Some(r) = line.split("Used ").nth(1) {
            let regs: u32 = r
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
                .unwrap_or(0);
            if worst.as_ref().is_none_or(|w| regs > w.0) {
                worst = Some((regs, current.clone(), r.trim().to_string()));
            }
        }
    }
    match worst {
        Some((_, k, r)) => format!("max regs in {k}: {r}; spill stores total {spills} B"),
        None => "no resource lines".to_string(),
    }
}

#[test]
fn every_module_compiles_to_ptx_and_assembles_for_sm_90() {
    if !have_nvrtc() {
        return;
    }
    let Some(ptxas) = ptxas() else { return };
    let (maj, min) = nvrtc_version().expect("nvrtc version");
    let ver = Command::new(&ptxas)
        .arg("--version")
        .output()
        .expect("ptxas --version");
    let ver = String::from_utf8_lossy(&ver.stdout);
    println!(
        "NVRTC {maj}.{min}; ptxas: {}",
        ver.lines().last().unwrap_or("?").trim()
    );
    let opts = CompileOptions::default();
    println!("options: {}", opts.to_args().join(" "));
    let dir = scratch_dir("compile");
    let mut failures = Vec::new();
    let mut total = 0;
    for m in MODULES {
        let t = Instant::now();
        let ptx = match compile_module(m, &opts) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{}: {e}", m.file));
                continue;
            }
        };
        let ms = t.elapsed().as_millis();
        assert!(
            ptx.contains(".target sm_90"),
            "{}: PTX is not for sm_90",
            m.file
        );
        let entries: BTreeSet<String> = ptx_entries(&ptx).into_iter().collect();
        let listed: BTreeSet<String> = m.kernels.iter().map(|s| s.to_string()).collect();
        if entries != listed {
            failures.push(format!(
                "{}: PTX entries and the listed kernels differ: only in PTX {:?}, only listed {:?}",
                m.file,
                entries.difference(&listed).collect::<Vec<_>>(),
                listed.difference(&entries).collect::<Vec<_>>()
            ));
        }
        let t2 = Instant::now();
        match assemble(&ptxas, &dir, m.name, &ptx) {
            Ok((size, log)) => {
                total += entries.len();
                println!(
                    "ok  {:<18} {:>2} kernels  nvrtc {:>5} ms  PTX {:>7} B  ptxas sm_90 {:>5} ms  \
                     cubin {:>7} B  ({})",
                    m.file,
                    entries.len(),
                    ms,
                    ptx.len(),
                    t2.elapsed().as_millis(),
                    size,
                    resource_summary(&log)
                );
            }
            Err(e) => failures.push(format!("{}: {e}", m.file)),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "kernel modules failed:\n{}",
        failures.join("\n")
    );
    println!(
        "{} modules, {total} kernels compiled and assembled",
        MODULES.len()
    );
}

#[test]
fn a_syntax_error_fails_with_its_file_and_line() {
    if !have_nvrtc() {
        return;
    }
    let src = "extern \"C\" __global__ void broken(float* y) {\n    int i = threadIdx.x;\n    \
               y[i] = undefined_name;\n}\n";
    let err = compile_source("broken.cu", src, &CompileOptions::default())
        .expect_err("a broken kernel must not compile")
        .to_string();
    println!("{err}");
    assert!(
        err.starts_with("NVRTC failed to compile broken.cu"),
        "{err}"
    );
    assert!(
        err.contains("broken.cu(3)"),
        "error does not name line 3: {err}"
    );
    assert!(err.contains("undefined_name"), "{err}");
}

#[test]
fn an_error_inside_a_module_names_the_module_line_not_the_program_line() {
    if !have_nvrtc() {
        return;
    }
    // Break line 3 of conv.cu (after the two headers in the program text).
    let base = maxl_kernels::module("conv").expect("conv module");
    let mut lines: Vec<&str> = base.source.lines().collect();
    lines.insert(2, "this is not C++;");
    let broken: &'static str = Box::leak(lines.join("\n").into_boxed_str());
    let m = KernelModule {
        source: broken,
        ..*base
    };
    let err = compile_module(&m, &CompileOptions::default())
        .expect_err("a broken module must not compile")
        .to_string();
    assert!(
        err.contains("conv.cu(3)"),
        "error does not name conv.cu(3): {err}"
    );
}

#[test]
fn fast_math_and_other_archs_compile() {
    if !have_nvrtc() {
        return;
    }
    // The tensor-core kernels guard their mma by __CUDA_ARCH__, so compute_75 still compiles.
    for opts in [
        CompileOptions {
            fast_math: true,
            ..CompileOptions::default()
        },
        CompileOptions::for_compute_capability(7, 5),
    ] {
        for name in ["gemm", "focal_loss"] {
            let m = maxl_kernels::module(name).expect("module");
            let ptx = compile_module(m, &opts).unwrap_or_else(|e| panic!("{opts:?}: {e}"));
            assert!(ptx.contains(&format!(".target sm_{}", &opts.arch["compute_".len()..])));
        }
    }
}
