//! The kernel modules: each `.cu` file embedded with `include_str!`, the shared headers it is
//! compiled with, and the `extern "C"` names of every kernel it defines. The names are derived
//! from the sources at build time (`build.rs`), never typed; the compile test checks them
//! against the PTX entries, both ways.

/// A header prepended to modules before compilation (NVRTC sees one translation unit).
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub file: &'static str,
    pub source: &'static str,
}

/// One `.cu` file: compiled as one NVRTC program, loaded as one CUDA module.
#[derive(Debug, Clone, Copy)]
pub struct KernelModule {
    /// Short name, the cache key (`"gemm"`).
    pub name: &'static str,
    /// File name under `kernels/src/` (`"gemm.cu"`), as NVRTC's messages name it.
    pub file: &'static str,
    pub source: &'static str,
    /// Headers prepended, in order.
    pub headers: &'static [Header],
    /// Every `extern "C" __global__` function of the module.
    pub kernels: &'static [&'static str],
}

impl KernelModule {
    /// The program text NVRTC compiles: each header, then the module, each behind a `#line`
    /// directive so that diagnostics name the original file and line.
    pub fn program(&self) -> String {
        let mut s = String::new();
        for h in self.headers {
            s.push_str(&format!("#line 1 \"{}\"\n", h.file));
            s.push_str(h.source);
            s.push('\n');
        }
        s.push_str(&format!("#line 1 \"{}\"\n", self.file));
        s.push_str(self.source);
        s.push('\n');
        s
    }

    /// Whether the module defines kernel `name`.
    pub fn has_kernel(&self, name: &str) -> bool {
        self.kernels.contains(&name)
    }
}

pub const COMMON: Header = Header {
    file: "common.cuh",
    source: include_str!("common.cuh"),
};

pub const GEMM_CORE: Header = Header {
    file: "gemm_core.cuh",
    source: include_str!("gemm_core.cuh"),
};

/// The kernel names of each `.cu` file, derived by `build.rs` from the sources.
mod derived {
    include!(concat!(env!("OUT_DIR"), "/kernel_names.rs"));
}
pub use derived::CU_FILES;

const BASE: &[Header] = &[COMMON];
const WITH_GEMM: &[Header] = &[COMMON, GEMM_CORE];

/// Every kernel module, in the order `doctor` reports them.
pub static MODULES: &[KernelModule] = &[
    KernelModule {
        name: "elementwise",
        file: "elementwise.cu",
        source: include_str!("elementwise.cu"),
        headers: BASE,
        kernels: derived::ELEMENTWISE,
    },
    KernelModule {
        name: "reduce",
        file: "reduce.cu",
        source: include_str!("reduce.cu"),
        headers: BASE,
        kernels: derived::REDUCE,
    },
    KernelModule {
        name: "gemm",
        file: "gemm.cu",
        source: include_str!("gemm.cu"),
        headers: WITH_GEMM,
        kernels: derived::GEMM,
    },
    KernelModule {
        name: "conv",
        file: "conv.cu",
        source: include_str!("conv.cu"),
        headers: WITH_GEMM,
        kernels: derived::CONV,
    },
    KernelModule {
        name: "pool",
        file: "pool.cu",
        source: include_str!("pool.cu"),
        headers: BASE,
        kernels: derived::POOL,
    },
    KernelModule {
        name: "batchnorm",
        file: "batchnorm.cu",
        source: include_str!("batchnorm.cu"),
        headers: BASE,
        kernels: derived::BATCHNORM,
    },
    KernelModule {
        name: "masked_softmax",
        file: "masked_softmax.cu",
        source: include_str!("masked_softmax.cu"),
        headers: BASE,
        kernels: derived::MASKED_SOFTMAX,
    },
    KernelModule {
        name: "focal_loss",
        file: "focal_loss.cu",
        source: include_str!("focal_loss.cu"),
        headers: BASE,
        kernels: derived::FOCAL_LOSS,
    },
];

/// The module called `name`.
pub fn module(name: &str) -> Option<&'static KernelModule> {
    MODULES.iter().find(|m| m.name == name)
}

/// The module that defines kernel `kernel`.
pub fn module_of(kernel: &str) -> Option<&'static KernelModule> {
    MODULES.iter().find(|m| m.has_kernel(kernel))
}

/// Every kernel name of every module.
pub fn all_kernels() -> impl Iterator<Item = &'static str> {
    MODULES.iter().flat_map(|m| m.kernels.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_derived_unique_and_every_cu_file_is_a_module() {
        let mut seen = HashSet::new();
        for m in MODULES {
            assert!(!m.kernels.is_empty(), "{} defines no kernel", m.file);
            for k in m.kernels {
                assert!(seen.insert(*k), "kernel {k} defined twice");
            }
        }
        let modules: HashSet<&str> = MODULES.iter().map(|m| m.name).collect();
        for f in CU_FILES {
            assert!(modules.contains(f), "{f}.cu is not a module of MODULES");
        }
        // Spot checks of the derivation: a kernel written out, one instantiated by a typed
        // macro, and one by an X-macro.
        assert!(module_of("gemm_tf32_f32").is_some_and(|m| m.name == "gemm"));
        assert!(module_of("bn_backward_finalize_f64").is_some_and(|m| m.name == "batchnorm"));
        assert!(module_of("relu_grad_f32").is_some_and(|m| m.name == "elementwise"));
        assert!(module("nope").is_none());
    }

    #[test]
    fn program_has_line_directives() {
        let p = module("conv").unwrap().program();
        assert!(p.starts_with("#line 1 \"common.cuh\"\n"));
        assert!(p.contains("#line 1 \"gemm_core.cuh\"\n"));
        assert!(p.contains("#line 1 \"conv.cu\"\n"));
    }
}
