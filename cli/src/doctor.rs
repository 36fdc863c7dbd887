//! `maxl-cli doctor`: what this machine offers maxl-rs: the CPU and rayon's threads, whether
//! libcuda and libnvrtc load, the GPUs, and whether every CUDA kernel module compiles with
//! NVRTC. A report: it exits 0 on a CPU-only machine, and fails only when NVRTC is present and
//! a kernel module does not compile (or compiles to other kernels than the crate lists).

use anyhow::Result;
use maxl_kernels::{compile_module, ptx_entries, CompileOptions, GpuInfo, MODULES};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// One JSON object per line: the environment (`{"env": ...}`), then one object per kernel
    /// (`{"kernel": name, "module": ..., "ok": bool, "ms": ..., "error": ...}`; `ms` is the
    /// compile time of the kernel's module, which NVRTC compiles as one program).
    #[arg(long)]
    json: bool,
    /// NVRTC target architecture (default: compute_<cc> of GPU 0, else compute_90).
    #[arg(long)]
    arch: Option<String>,
}

/// `model name` of the first processor in /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

struct ModuleReport {
    name: &'static str,
    ok: bool,
    skipped: bool,
    ms: Option<f64>,
    kernels: usize,
    error: Option<String>,
    /// The kernels found in the module's PTX.
    present: BTreeSet<String>,
}

fn check_module(m: &maxl_kernels::KernelModule, opts: &CompileOptions) -> ModuleReport {
    let t = Instant::now();
    let result = compile_module(m, opts);
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let mut present = BTreeSet::new();
    let (ok, error) = match result {
        Ok(ptx) => {
            let got: BTreeSet<String> = ptx_entries(&ptx).into_iter().collect();
            present = got.clone();
            let want: BTreeSet<String> = m.kernels.iter().map(|s| s.to_string()).collect();
            if got == want {
                (true, None)
            } else {
                (
                    false,
                    Some(format!(
                        "PTX kernels differ from the listed ones: only in PTX {:?}, only listed {:?}",
                        got.difference(&want).collect::<Vec<_>>(),
                        want.difference(&got).collect::<Vec<_>>()
                    )),
                )
            }
        }
        Err(e) => (false, Some(e.to_string())),
    };
    ModuleReport {
        name: m.name,
        ok,
        skipped: false,
        ms: Some(ms),
        kernels: m.kernels.len(),
        error,
        present,
    }
}

pub fn run(a: Args) -> Result<bool> {
    let cpu = cpu_model();
    let logical = std::thread::available_parallelism().map_or(0, |n| n.get());
    let threads = rayon::current_num_threads();

    let cuda = maxl_kernels::cuda_available();
    let driver = maxl_kernels::driver_version().ok();
    let (gpus, gpu_error): (Vec<GpuInfo>, Option<String>) = match &cuda {
        Ok(()) => match maxl_kernels::gpus() {
            Ok(g) => (g, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        },
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let nvrtc = maxl_kernels::nvrtc_available();
    let nvrtc_version = maxl_kernels::nvrtc_version().ok();

    let arch = a.arch.clone().unwrap_or_else(|| match gpus.first() {
        Some(g) => format!(
            "compute_{}{}",
            g.compute_capability.0, g.compute_capability.1
        ),
        None => maxl_kernels::DEFAULT_ARCH.to_string(),
    });
    let opts = CompileOptions {
        arch: arch.clone(),
        ..CompileOptions::default()
    };

    // The kernel emulator (MAXL_CUDA_EMULATOR=1) needs only a C++ compiler.
    let emulator = maxl_kernels::emulator::compiler_available();
    let env_lines = vec![
        json!({"env": "cpu", "model": cpu, "logical_cpus": logical}),
        json!({"env": "rayon", "threads": threads}),
        json!({
            "env": "libcuda",
            "ok": cuda.is_ok(),
            "driver_cuda_version": driver.map(|(x, y)| format!("{x}.{y}")),
            "error": cuda.as_ref().err().map(|e| e.to_string()),
        }),
        json!({
            "env": "gpus",
            "count": gpus.len(),
            "devices": gpus.iter().map(|g| json!({
                "ordinal": g.ordinal,
                "name": g.name,
                "compute_capability": format!("{}.{}", g.compute_capability.0, g.compute_capability.1),
                "memory_bytes": g.total_memory_bytes,
            })).collect::<Vec<Value>>(),
            "error": gpu_error,
        }),
        json!({
            "env": "kernel_emulator",
            "compiler": emulator.as_ref().ok(),
            "ok": emulator.is_ok(),
            "error": emulator.as_ref().err().map(|e| e.to_string()),
        }),
        json!({
            "env": "libnvrtc",
            "ok": nvrtc.is_ok(),
            "version": nvrtc_version.map(|(x, y)| format!("{x}.{y}")),
            "arch": arch,
            "error": nvrtc.as_ref().err().map(|e| e.to_string()),
        }),
    ];

    if a.json {
        for l in &env_lines {
            println!("{l}");
        }
    } else {
        println!("cpu:           {cpu} ({logical} logical CPUs)");
        println!("rayon threads: {threads}");
        match (&cuda, driver) {
            (Ok(()), Some((x, y))) => println!("libcuda:       loaded, driver CUDA {x}.{y}"),
            (Ok(()), None) => println!("libcuda:       loaded"),
            (Err(e), _) => println!("libcuda:       {e}"),
        }
        match (&gpu_error, gpus.is_empty()) {
            (Some(e), _) if cuda.is_ok() => println!("gpus:          {e}"),
            (_, true) => println!("gpus:          none"),
            _ => {
                for g in &gpus {
                    println!(
                        "gpu {}:         {} (sm_{}{}, {:.1} GiB)",
                        g.ordinal,
                        g.name,
                        g.compute_capability.0,
                        g.compute_capability.1,
                        g.total_memory_bytes as f64 / (1u64 << 30) as f64
                    );
                }
            }
        }
        match &emulator {
            Ok(c) => {
                println!("emulator:      {c} (MAXL_CUDA_EMULATOR=1 runs the kernels on the CPU)")
            }
            Err(e) => println!("emulator:      {e}"),
        }
        match (&nvrtc, nvrtc_version) {
            (Ok(()), Some((x, y))) => println!("libnvrtc:      loaded, NVRTC {x}.{y}"),
            (Ok(()), None) => println!("libnvrtc:      loaded"),
            (Err(e), _) => println!("libnvrtc:      {e}"),
        }
        println!("kernel modules ({}):", opts.to_args().join(" "));
    }

    let mut all_ok = true;
    for m in MODULES {
        let r = if nvrtc.is_ok() {
            check_module(m, &opts)
        } else {
            ModuleReport {
                name: m.name,
                ok: false,
                skipped: true,
                ms: None,
                kernels: m.kernels.len(),
                error: nvrtc.as_ref().err().map(|e| e.to_string()),
                present: BTreeSet::new(),
            }
        };
        all_ok &= r.ok || r.skipped;
        if a.json {
            for k in m.kernels {
                let found = r.present.contains(*k);
                let error = match (&r.error, r.ok || r.skipped || found) {
                    (Some(e), _) if !r.ok => Some(e.clone()),
                    (_, false) => Some(format!("{k} is not in the PTX of module {}", r.name)),
                    _ => None,
                };
                println!(
                    "{}",
                    json!({
                        "kernel": k,
                        "module": r.name,
                        "ok": r.ok && found,
                        "skipped": r.skipped,
                        "ms": r.ms.map(|v| (v * 10.0).round() / 10.0),
                        "error": error,
                    })
                );
            }
        } else {
            let status = if r.skipped {
                "skipped (no NVRTC)".to_string()
            } else if r.ok {
                format!("ok  {:>7.1} ms", r.ms.unwrap_or(0.0))
            } else {
                let e = r.error.as_deref().unwrap_or("unknown error");
                format!("FAILED:\n      {}", e.replace('\n', "\n      "))
            };
            println!("  {:<15} {:>3} kernels  {status}", r.name, r.kernels);
        }
    }
    Ok(all_ok)
}
