//! NVRTC: checking that libnvrtc loads, and compiling a module to PTX, or, for a real
//! architecture (`sm_90`), to a CUBIN (the device's own machine code, which any driver that
//! knows the GPU loads without a JIT step) together with its PTX (the fallback). cudarc panics
//! when it cannot load a library, so every entry point checks `is_culib_present()` first and
//! returns `Error::NvrtcUnavailable` instead.

use crate::error::{no_panic, Error, Result};
use crate::modules::KernelModule;
use cudarc::nvrtc::{self, result as nv, sys as nvsys};
use std::ffi::{c_char, CStr, CString};
use std::sync::OnceLock;

/// The default target: Hopper (H100/H200). PTX for `compute_90` runs on sm_90 and later.
pub const DEFAULT_ARCH: &str = "compute_90";

/// NVRTC options of a compilation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompileOptions {
    /// `--gpu-architecture=` value: a virtual architecture (`compute_90`) gives PTX only, a
    /// real one (`sm_90`) a CUBIN for that GPU and its PTX.
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

    /// Options for a CUBIN of a device of compute capability `major.minor` (`sm_<major><minor>`).
    pub fn cubin_for(major: u32, minor: u32) -> Self {
        CompileOptions {
            arch: format!("sm_{major}{minor}"),
            ..Self::default()
        }
    }

    /// Whether the target is a real architecture (`sm_XY`: NVRTC makes a CUBIN too).
    pub fn makes_cubin(&self) -> bool {
        self.arch.starts_with("sm_")
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

/// What NVRTC made of one program: its PTX, and with a real target architecture (`sm_XY`) the
/// CUBIN for that architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleImage {
    /// The `--gpu-architecture` it was compiled for.
    pub arch: String,
    pub ptx: String,
    /// An ELF image of the GPU's machine code (`None` for a virtual architecture).
    pub cubin: Option<Vec<u8>>,
}

impl ModuleImage {
    /// The PTX as `cuModuleLoadData` takes it (NUL-terminated).
    pub fn ptx_image(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.ptx.len() + 1);
        v.extend_from_slice(self.ptx.as_bytes());
        v.push(0);
        v
    }
}

/// An NVRTC program, destroyed on drop (keeps the source and name alive as NVRTC requires).
struct Program {
    prog: nvsys::nvrtcProgram,
    _src: CString,
    _name: CString,
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: `prog` came from nvrtcCreateProgram and is destroyed once, here.
        let _ = unsafe { nv::destroy_program(self.prog) };
    }
}

fn nul_terminated_string(bytes: &[c_char]) -> String {
    // SAFETY: c_char and u8 have the same size and alignment.
    let b: &[u8] = unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len()) };
    CStr::from_bytes_until_nul(b)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(b).into_owned())
}

/// Compiles CUDA C++ `source` (a program named `name`, as diagnostics call it): PTX, plus a
/// CUBIN when `opts.arch` is a real architecture (`sm_90`). No GPU is needed for either.
pub fn compile_image(name: &str, source: &str, opts: &CompileOptions) -> Result<ModuleImage> {
    nvrtc_available()?;
    let compile_err = |log: String| Error::Compile {
        module: name.to_string(),
        log,
    };
    let args = opts.to_args();
    if source.contains('\0') || name.contains('\0') || args.iter().any(|a| a.contains('\0')) {
        return Err(compile_err(
            "source, name or options contain a NUL byte".to_string(),
        ));
    }
    no_panic(
        || {
            let src = CString::new(source).map_err(|e| compile_err(e.to_string()))?;
            let cname = CString::new(name).map_err(|e| compile_err(e.to_string()))?;
            let prog = nv::create_program(&src, Some(&cname))
                .map_err(|e| compile_err(format!("nvrtcCreateProgram: {e:?}")))?;
            let prog = Program {
                prog,
                _src: src,
                _name: cname,
            };
            // SAFETY: a live program; options without NUL bytes (checked above).
            if let Err(e) = unsafe { nv::compile_program(prog.prog, &args) } {
                // SAFETY: as above.
                let log = unsafe { nv::get_program_log(prog.prog) }
                    .map(|l| nul_terminated_string(&l).trim().to_string())
                    .unwrap_or_default();
                return Err(compile_err(if log.is_empty() {
                    format!("{e:?}")
                } else {
                    log
                }));
            }
            // SAFETY: as above, compiled.
            let ptx = unsafe { nv::get_ptx(prog.prog) }
                .map_err(|e| compile_err(format!("nvrtcGetPTX: {e:?}")))?;
            let ptx = nul_terminated_string(&ptx);
            let cubin = if opts.makes_cubin() {
                Some(get_cubin(&prog).map_err(compile_err)?)
            } else {
                None
            };
            Ok(ModuleImage {
                arch: opts.arch.clone(),
                ptx,
                cubin,
            })
        },
        |msg| compile_err(format!("NVRTC panicked: {msg}")),
    )
}

/// The CUBIN of a program compiled for a real architecture.
fn get_cubin(prog: &Program) -> std::result::Result<Vec<u8>, String> {
    let mut size = 0usize;
    // SAFETY: a compiled program and a valid out-pointer.
    let r = unsafe { nvsys::nvrtcGetCUBINSize(prog.prog, &mut size) };
    if r != nvsys::nvrtcResult::NVRTC_SUCCESS {
        return Err(format!("nvrtcGetCUBINSize: {r:?}"));
    }
    if size == 0 {
        return Err("NVRTC made no CUBIN (is the architecture a real one, sm_XY?)".into());
    }
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` holds `size` bytes, as NVRTC asked for.
    let r = unsafe { nvsys::nvrtcGetCUBIN(prog.prog, buf.as_mut_ptr().cast()) };
    if r != nvsys::nvrtcResult::NVRTC_SUCCESS {
        return Err(format!("nvrtcGetCUBIN: {r:?}"));
    }
    Ok(buf)
}

/// Compiles CUDA C++ `source` (a program named `name`, as diagnostics call it) to PTX.
pub fn compile_source(name: &str, source: &str, opts: &CompileOptions) -> Result<String> {
    compile_image(name, source, opts).map(|i| i.ptx)
}

/// Compiles one kernel module (its headers and source) to PTX.
pub fn compile_module(module: &KernelModule, opts: &CompileOptions) -> Result<String> {
    compile_source(module.file, &module.program(), opts)
}

/// Compiles one kernel module to PTX, and to a CUBIN for a real architecture.
pub fn compile_module_image(module: &KernelModule, opts: &CompileOptions) -> Result<ModuleImage> {
    compile_image(module.file, &module.program(), opts)
}

/// The real architectures this NVRTC compiles for, as numbers (`[75, 80, ..., 90, ...]`).
pub fn supported_archs() -> Result<Vec<u32>> {
    nvrtc_available()?;
    no_panic(
        || {
            let mut n = 0;
            // SAFETY: a valid out-pointer.
            let r = unsafe { nvsys::nvrtcGetNumSupportedArchs(&mut n) };
            if r != nvsys::nvrtcResult::NVRTC_SUCCESS || n < 0 {
                return Err(Error::NvrtcUnavailable(format!(
                    "nvrtcGetNumSupportedArchs failed: {r:?}"
                )));
            }
            let mut v = vec![0i32; n as usize];
            // SAFETY: `v` holds the `n` entries NVRTC writes.
            let r = unsafe { nvsys::nvrtcGetSupportedArchs(v.as_mut_ptr()) };
            if r != nvsys::nvrtcResult::NVRTC_SUCCESS {
                return Err(Error::NvrtcUnavailable(format!(
                    "nvrtcGetSupportedArchs failed: {r:?}"
                )));
            }
            Ok(v.into_iter().filter(|&a| a > 0).map(|a| a as u32).collect())
        },
        Error::NvrtcUnavailable,
    )
}

/// The compile target for a GPU of compute capability `major.minor`, given the architectures
/// NVRTC supports: a CUBIN for `sm_<major><minor>` when NVRTC knows it; else PTX for the newest
/// supported architecture below it (the driver compiles that PTX for the GPU); an error when
/// the GPU is older than every architecture NVRTC supports.
pub fn target_for(major: u32, minor: u32, supported: &[u32]) -> Result<CompileOptions> {
    let cc = major * 10 + minor;
    if supported.contains(&cc) {
        return Ok(CompileOptions::cubin_for(major, minor));
    }
    match supported.iter().copied().filter(|&a| a < cc).max() {
        Some(a) => Ok(CompileOptions {
            arch: format!("compute_{a}"),
            ..CompileOptions::default()
        }),
        None => Err(Error::Compile {
            module: "(all)".to_string(),
            log: format!(
                "this NVRTC supports sm_{}..sm_{}, the GPU is sm_{cc}: use an older CUDA \
                 toolkit's libnvrtc ({NVRTC_LIB_ENV})",
                supported.iter().min().unwrap_or(&0),
                supported.iter().max().unwrap_or(&0)
            ),
        }),
    }
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
    fn cubin_targets() {
        let o = CompileOptions::cubin_for(9, 0);
        assert_eq!(o.arch, "sm_90");
        assert!(o.makes_cubin() && !CompileOptions::default().makes_cubin());
        let sup = [75, 80, 86, 89, 90, 100, 120];
        assert_eq!(target_for(9, 0, &sup).unwrap().arch, "sm_90");
        // A GPU newer than this NVRTC knows: PTX of the newest architecture below it.
        assert_eq!(target_for(13, 0, &sup).unwrap().arch, "compute_120");
        assert_eq!(target_for(8, 7, &sup).unwrap().arch, "compute_86");
        let e = target_for(7, 0, &sup).unwrap_err().to_string();
        assert!(e.contains("sm_75..sm_120") && e.contains("sm_70"), "{e}");
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
