//! `maxl-cli doctor`: what this machine offers maxl-rs: the CPU and rayon's threads, whether
//! libcuda and libnvrtc load (with their CUDA versions), the GPUs, the kernel cache, and whether
//! every CUDA kernel module compiles with NVRTC (modules compiled in parallel, through the disk
//! cache). On a machine with a GPU every module is also loaded through the driver (the CUBIN
//! for the GPU's architecture, PTX as the fallback) and every kernel looked up in it.
//!
//! A report: it exits 0 on a CPU-only machine, and fails when NVRTC is present and a kernel
//! module does not compile (or compiles to other kernels than the crate lists), or when a GPU
//! is present and a module does not load or NVRTC is missing.

use anyhow::Result;
use maxl_kernels::driver::{check_module_loads, device_target, LoadedFrom, PrimaryContext};
use maxl_kernels::{
    global_cache, ptx_entries, CompileOptions, DiskCache, GpuInfo, KernelModule, ModuleImage,
    Origin, KERNEL_CACHE_ENV, MODULES,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// One JSON object per line: the environment (`{"env": ...}`), then one object per kernel
    /// (`{"kernel": name, "module": ..., "ok": bool, "ms": ..., "error": ..., "image":
    /// "cubin"|"ptx", "source": "compiled"|"disk cache", "loaded": bool|null}`; `ms` is the time
    /// to compile (or read from the cache) the kernel's module, which NVRTC compiles as one
    /// program; `loaded` is null without a GPU).
    #[arg(long)]
    json: bool,
    /// NVRTC target architecture: `sm_XY` compiles a CUBIN (and PTX), `compute_XY` PTX only
    /// (default: the CUBIN of GPU 0's architecture, else compute_90).
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
    /// The kernels found in the module's PTX (and CUBIN, when there is one).
    present: BTreeSet<String>,
    /// "cubin" or "ptx": what the module was (or, without a GPU, would be) loaded from.
    image: Option<&'static str>,
    source: Option<Origin>,
    /// With a GPU: whether the module loaded and every kernel was found in it.
    loaded: Option<bool>,
    load_ms: Option<f64>,
}

impl ModuleReport {
    fn skipped(m: &KernelModule, why: Option<String>) -> ModuleReport {
        ModuleReport {
            name: m.name,
            ok: false,
            skipped: true,
            ms: None,
            kernels: m.kernels.len(),
            error: why,
            present: BTreeSet::new(),
            image: None,
            source: None,
            loaded: None,
            load_ms: None,
        }
    }
}

/// `true` when the ELF image has a section `.text.<kernel>` (each kernel's machine code).
fn cubin_has_kernel(cubin: &[u8], kernel: &str) -> bool {
    let needle = format!(".text.{kernel}\0");
    cubin.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The report of a compiled (or failed) module: the PTX's kernels against the listed ones.
fn check_image(
    m: &KernelModule,
    result: maxl_kernels::Result<(Arc<ModuleImage>, Origin)>,
    ms: f64,
) -> ModuleReport {
    let mut r = ModuleReport::skipped(m, None);
    r.skipped = false;
    r.ms = Some(ms);
    match result {
        Ok((img, origin)) => {
            r.source = Some(origin);
            r.image = Some(if img.cubin.is_some() { "cubin" } else { "ptx" });
            let got: BTreeSet<String> = ptx_entries(&img.ptx).into_iter().collect();
            let want: BTreeSet<String> = m.kernels.iter().map(|s| s.to_string()).collect();
            let not_in_cubin: Vec<&str> = img
                .cubin
                .as_ref()
                .map(|c| {
                    m.kernels
                        .iter()
                        .copied()
                        .filter(|k| !cubin_has_kernel(c, k))
                        .collect()
                })
                .unwrap_or_default();
            r.present = got
                .iter()
                .filter(|k| !not_in_cubin.contains(&k.as_str()))
                .cloned()
                .collect();
            if got != want {
                r.error = Some(format!(
                    "PTX kernels differ from the listed ones: only in PTX {:?}, only listed {:?}",
                    got.difference(&want).collect::<Vec<_>>(),
                    want.difference(&got).collect::<Vec<_>>()
                ));
            } else if !not_in_cubin.is_empty() {
                r.error = Some(format!("not in the CUBIN: {not_in_cubin:?}"));
            } else {
                r.ok = true;
            }
        }
        Err(e) => r.error = Some(e.to_string()),
    }
    r
}

/// Compiles (or reads from the caches) every module for device slot 0 of the process cache,
/// several at a time.
fn compile_all(opts: &CompileOptions) -> Vec<ModuleReport> {
    let cache = global_cache();
    cache.set_options(0, opts.clone());
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<Option<ModuleReport>>> =
        Mutex::new((0..MODULES.len()).map(|_| None).collect());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, MODULES.len());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(m) = MODULES.get(i) else { break };
                let t = Instant::now();
                let result = cache.image_of(0, m);
                let r = check_image(m, result, t.elapsed().as_secs_f64() * 1e3);
                reports.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    reports
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .zip(MODULES)
        .map(|(r, m)| {
            r.unwrap_or_else(|| ModuleReport::skipped(m, Some("not compiled".to_string())))
        })
        .collect()
}

/// Loads every compiled module into GPU 0's primary context and looks up its kernels.
fn load_all(reports: &mut [ModuleReport]) {
    let ctx = match PrimaryContext::open(0) {
        Ok(c) => c,
        Err(e) => {
            for r in reports.iter_mut() {
                r.loaded = Some(false);
                r.ok = false;
                r.error
                    .get_or_insert_with(|| format!("no context on cuda:0: {e}"));
            }
            return;
        }
    };
    for (r, m) in reports.iter_mut().zip(MODULES) {
        if r.skipped || !r.ok {
            r.loaded = Some(false);
            continue;
        }
        match check_module_loads(&ctx, m) {
            Ok(c) => {
                r.load_ms = Some(c.ms);
                r.image = Some(match c.from {
                    LoadedFrom::Cubin => "cubin",
                    LoadedFrom::Ptx => "ptx",
                });
                for (k, _) in &c.missing {
                    r.present.remove(k);
                }
                let ok = c.missing.is_empty();
                r.loaded = Some(ok);
                r.ok &= ok;
                let mut notes = Vec::new();
                if !ok {
                    notes.push(format!("kernels not found by the driver: {:?}", c.missing));
                }
                if let Some(p) = c.cubin_problem {
                    notes.push(format!("CUBIN refused, loaded the PTX: {p}"));
                }
                if !notes.is_empty() {
                    r.error = Some(notes.join("; "));
                }
            }
            Err(e) => {
                r.loaded = Some(false);
                r.ok = false;
                r.error = Some(e.to_string());
            }
        }
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
    let supported = maxl_kernels::supported_archs().unwrap_or_default();
    let disk = DiskCache::global();

    let (arch, target_error) = match (&a.arch, gpus.is_empty(), nvrtc.is_ok()) {
        (Some(x), _, _) => (x.clone(), None),
        (None, false, true) => match device_target(0) {
            Ok(o) => (o.arch, None),
            Err(e) => (maxl_kernels::DEFAULT_ARCH.to_string(), Some(e.to_string())),
        },
        _ => (maxl_kernels::DEFAULT_ARCH.to_string(), None),
    };
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
            "supported_archs": supported,
            "arch": arch,
            "error": nvrtc.as_ref().err().map(|e| e.to_string()).or(target_error.clone()),
        }),
        json!({
            "env": "kernel_cache",
            "enabled": disk.is_some(),
            "dir": disk.map(|d| d.dir().display().to_string()),
            "entries": disk.map(|d| d.entries()),
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
            (Err(e), _) => println!("libcuda:       no driver: {e}"),
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
        let archs = match (supported.iter().min(), supported.iter().max()) {
            (Some(lo), Some(hi)) => format!(" (sm_{lo}..sm_{hi})"),
            _ => String::new(),
        };
        match (&nvrtc, nvrtc_version) {
            (Ok(()), Some((x, y))) => println!("libnvrtc:      loaded, NVRTC CUDA {x}.{y}{archs}"),
            (Ok(()), None) => println!("libnvrtc:      loaded"),
            (Err(e), _) => println!("libnvrtc:      {e}"),
        }
        if let Some(e) = &target_error {
            println!("target:        {e}");
        }
        match disk {
            Some(d) => println!(
                "kernel cache:  {} ({} entries; {KERNEL_CACHE_ENV}=off disables it)",
                d.dir().display(),
                d.entries()
            ),
            None => println!("kernel cache:  off ({KERNEL_CACHE_ENV})"),
        }
        let load = if gpus.is_empty() {
            "compiled; no GPU to load them on".to_string()
        } else {
            format!("compiled and loaded on cuda:0, {}", gpus[0].name)
        };
        println!("kernel modules ({}; {load}):", opts.to_args().join(" "));
    }

    let mut reports = if nvrtc.is_ok() {
        compile_all(&opts)
    } else {
        let why = nvrtc.as_ref().err().map(|e| e.to_string());
        MODULES
            .iter()
            .map(|m| ModuleReport::skipped(m, why.clone()))
            .collect()
    };
    let on_gpu = !gpus.is_empty();
    if on_gpu && nvrtc.is_ok() {
        load_all(&mut reports);
    }

    let mut all_ok = true;
    for (r, m) in reports.iter().zip(MODULES) {
        // On a GPU, kernels that cannot even be compiled (no NVRTC) are a failure.
        all_ok &= r.ok || (r.skipped && !on_gpu);
        if a.json {
            for k in m.kernels {
                let found = r.present.contains(*k);
                let error = match (&r.error, r.ok || r.skipped || found) {
                    (Some(e), _) if !r.ok => Some(e.clone()),
                    (_, false) => Some(format!("{k} is not in the compiled module {}", r.name)),
                    (Some(e), _) => Some(e.clone()), // a note (the CUBIN refused, PTX used)
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
                        "image": r.image,
                        "source": r.source.map(Origin::as_str),
                        "loaded": r.loaded,
                    })
                );
            }
        } else {
            let status = if r.skipped {
                "skipped (no NVRTC)".to_string()
            } else if r.ok {
                let mut s = format!(
                    "ok  {:<5} {:<11} {:>7.1} ms",
                    r.image.unwrap_or("?"),
                    r.source.map_or("?", Origin::as_str),
                    r.ms.unwrap_or(0.0)
                );
                if let Some(l) = r.load_ms {
                    s.push_str(&format!("  loaded {l:.1} ms"));
                }
                if let Some(e) = &r.error {
                    s.push_str(&format!("  ({e})"));
                }
                s
            } else {
                let e = r.error.as_deref().unwrap_or("unknown error");
                format!("FAILED:\n      {}", e.replace('\n', "\n      "))
            };
            println!("  {:<15} {:>3} kernels  {status}", r.name, r.kernels);
        }
    }
    if !a.json {
        println!("doctor: {}", if all_ok { "ok" } else { "FAILED" });
    }
    Ok(all_ok)
}
