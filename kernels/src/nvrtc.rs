//! NVRTC: checking that libnvrtc loads, and compiling a module to PTX. cudarc panics when it
//! cannot load a library, so every entry point checks `is_culib_present()` first and returns
//! `Error::NvrtcUnavailable` instead.

use crate::error::{no_panic, Error, Result};
use crate::modules::KernelModule;
use cudarc::nvrtc::{self, CompileError};
use std::sync::OnceLock;

/// The default target: Hopper (H100/H200). PTX for `compute_90` runs on sm_90 and later.
pub const DEFAULT_ARCH: &str = "compute_90";

/// NVRTC options of a compilation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompileOptions {
    /// `--gpu-architecture=` value, a virtual architecture (`compute_90`) for PTX output.
    pub arch: String,
    /// `--use_fast_math` (approximate exp/log/div, flush-to-zero): off by default, since CUDA
    /// results are checked against the CPU backend.
    pub fast_math: bool,
    /// Further options, passed as they are (`-lineinfo`, `-DNAME=1`, ...).
    pub extra: Vec<String>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            arch: DEFAULT_ARCH.to_string(),
            fast_math: false,
            extra: Vec::new(),
        }
    }
}

impl CompileOptions {
    /// Options for a device of compute capability `major.minor` (`compute_<major><minor>`).
    pub fn for_compute_capability(major: u32, minor: u32) -> Self {
        CompileOptions {
            arch: format!("compute_{major}{minor}"),
            ..Self::default()
        }
    }

    /// The command-line options NVRTC receives.
    pub fn to_args(&self) -> Vec<String> {
        let mut v = vec![
            format!("--gpu-architecture={}", self.arch),
            "-std=c++17".to_string(),
        ];
        if self.fast_math {
            v.push("--use_fast_math".to_string());
        }
        v.extend(self.extra.iter().cloned());
        v
    }
}

/// Environment variable naming a folder that holds `libnvrtc.so.13` and
/// `libnvrtc-builtins.so.13.*` (the `nvidia/cu13/lib` folder of the PyPI wheel
/// `nvidia-cuda-nvrtc`, say). When set, both are loaded from there by full path before cudarc
/// looks for libnvrtc by name, so the folder need not be on `LD_LIBRARY_PATH`.
pub const NVRTC_LIB_ENV: &str = "MAXL_NVRTC_LIB";

/// Loads the NVRTC libraries of `$MAXL_NVRTC_LIB` (once), keeping them loaded for the life of
/// the process: a later `dlopen("libnvrtc.so.13")` by cudarc, or of the builtins by libnvrtc,
/// then finds them by their soname. Returns what it could not load.
fn preload_from_env() -> Option<String> {
    static PRELOADED: OnceLock<(Vec<libloading::Library>, Option<String>)> = OnceLock::new();
    PRELOADED
        .get_or_init(|| {
            let Some(dir) = std::env::var_os(NVRTC_LIB_ENV) else {
                return (Vec::new(), None);
            };
            let dir = std::path::PathBuf::from(dir);
            let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
                Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                Err(e) => {
                    return (
                        Vec::new(),
                        Some(format!("{NVRTC_LIB_ENV}={}: {e}", dir.display())),
                    )
                }
            };
            files.sort();
            let name_of = |p: &std::path::Path| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            // The builtins first (libnvrtc opens them by soname), skipping the `.alt.` variants.
            let builtins = files
                .iter()
                .find(|p| name_of(p).starts_with("libnvrtc-builtins.so"));
            let main = files.iter().find(|p| {
                let n = name_of(p);
                n.starts_with("libnvrtc.so") && !n.contains(".alt.")
            });
            let mut libs = Vec::new();
            let mut problem = None;
            for path in [builtins, main].into_iter().flatten() {
                // SAFETY: loading NVIDIA's NVRTC libraries runs only their initialisers.
                match unsafe { libloading::Library::new(path) } {
                    Ok(l) => libs.push(l),
                    Err(e) => problem = Some(format!("{}: {e}", path.display())),
                }
            }
            if main.is_none() {
                problem = Some(format!(
                    "{NVRTC_LIB_ENV}={} holds no libnvrtc.so*",
                    dir.display()
                ));
            }
            (libs, problem)
        })
        .1
        .clone()
}

/// `Ok(())` when libnvrtc can be loaded (checked once per process).
pub fn nvrtc_available() -> Result<()> {
    static PRESENT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    PRESENT
        .get_or_init(|| {
            let preload_problem = preload_from_env();
            // SAFETY: only tries to dlopen the library names cudarc would use, and closes them.
            if unsafe { nvrtc::sys::is_culib_present() } {
                return Ok(());
            }
            let mut why = format!(
                "libnvrtc could not be loaded (tried {}); put the folder holding libnvrtc.so.13 \
                 (for example nvidia/cu13/lib of the PyPI wheel nvidia-cuda-nvrtc) on \
                 LD_LIBRARY_PATH or in {NVRTC_LIB_ENV}",
                lib_candidates("nvrtc")
            );
            if let Some(p) = preload_problem {
                why.push_str(&format!(" ({p})"));
            }
            Err(why)
        })
        .clone()
        .map_err(Error::NvrtcUnavailable)
}

/// The `(major, minor)` version of the loaded libnvrtc.
pub fn nvrtc_version() -> Result<(i32, i32)> {
    nvrtc_available()?;
    no_panic(
        || {
            let (mut major, mut minor) = (0, 0);
            // SAFETY: two valid out-pointers; the library is present (checked above).
            let r = unsafe { nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
            if r == nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
                Ok((major, minor))
            } else {
                Err(Error::NvrtcUnavailable(format!(
                    "nvrtcVersion failed: {r:?}"
                )))
            }
        },
        Error::NvrtcUnavailable,
    )
}

/// The Linux file names cudarc tries for `lib` (`libnvrtc.so`, `libnvrtc.so.13`, ...), the
/// first few, for error messages.
pub(crate) fn lib_candidates(lib: &str) -> String {
    let names = cudarc::get_lib_name_candidates(lib);
    let plain = format!("lib{lib}.so");
    let mut shown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| {
            *n == plain
                || n.strip_prefix(plain.as_str())
                    .and_then(|v| v.strip_prefix('.'))
                    .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit()))
        })
        .take(3)
        .collect();
    if shown.is_empty() {
        shown = names.iter().map(String::as_str).take(3).collect();
    }
    shown.join(", ")
}

/// Compiles CUDA C++ `source` (a program named `name`, as diagnostics call it) to PTX.
pub fn compile_source(name: &str, source: &str, opts: &CompileOptions) -> Result<String> {
    nvrtc_available()?;
    if source.contains('\0') || name.contains('\0') {
        return Err(Error::Compile {
            module: name.to_string(),
            log: "source contains a NUL byte".to_string(),
        });
    }
    let copts = nvrtc::CompileOptions {
        options: opts.to_args(),
        name: Some(name.to_string()),
        ..Default::default()
    };
    no_panic(
        || match nvrtc::compile_ptx_with_opts(source, copts) {
            Ok(ptx) => Ok(ptx.to_src()),
            Err(CompileError::CompileError { nvrtc, log, .. }) => {
                let log = log.to_string_lossy().trim().to_string();
                Err(Error::Compile {
                    module: name.to_string(),
                    log: if log.is_empty() {
                        format!("{nvrtc:?}")
                    } else {
                        log
                    },
                })
            }
            Err(e) => Err(Error::Compile {
                module: name.to_string(),
                log: format!("{e:?}"),
            }),
        },
        |msg| Error::Compile {
            module: name.to_string(),
            log: format!("NVRTC panicked: {msg}"),
        },
    )
}

/// Compiles one kernel module (its headers and source) to PTX.
pub fn compile_module(module: &KernelModule, opts: &CompileOptions) -> Result<String> {
    compile_source(module.file, &module.program(), opts)
}

/// The names of the kernels (`.entry`) that a PTX text defines.
pub fn ptx_entries(ptx: &str) -> Vec<String> {
    ptx.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l
                .strip_prefix(".visible .entry ")
                .or_else(|| l.strip_prefix(".entry "))?;
            let name = rest.split(['(', ' ']).next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_are_as_documented() {
        let o = CompileOptions::default();
        assert_eq!(o.to_args(), ["--gpu-architecture=compute_90", "-std=c++17"]);
        let f = CompileOptions {
            fast_math: true,
            ..CompileOptions::for_compute_capability(8, 0)
        };
        assert_eq!(
            f.to_args(),
            [
                "--gpu-architecture=compute_80",
                "-std=c++17",
                "--use_fast_math"
            ]
        );
    }

    #[test]
    fn entries_are_parsed() {
        let ptx = "//\n.visible .entry add_f32(\n\t.param .u64 a\n)\n.visible .entry gemm_f32(\n";
        assert_eq!(ptx_entries(ptx), ["add_f32", "gemm_f32"]);
    }

    #[test]
    fn missing_nvrtc_is_an_error_not_a_panic() {
        // Whatever this machine has, the call returns (no panic), and an error names NVRTC.
        match compile_source(
            "t.cu",
            "extern \"C\" __global__ void k() {}",
            &CompileOptions::default(),
        ) {
            Ok(ptx) => assert!(ptx_entries(&ptx).contains(&"k".to_string())),
            Err(e) => assert!(e.to_string().starts_with("NVRTC not available"), "{e}"),
        }
    }
}
