//! The kernel modules: each `.cu` file embedded with `include_str!`, the shared headers it is
//! compiled with, and the `extern "C"` names of every kernel it defines (the compile test checks
//! these lists against the PTX entries, both ways).

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

/// `["a_f32", "a_f64", "b_f32", ...]` from `["a", "b", ...]`.
macro_rules! f32_f64 {
    ($($n:literal),* $(,)?) => { [$(concat!($n, "_f32"), concat!($n, "_f64")),*] };
}

const ELEMENTWISE_TYPED: [&str; 60] = f32_f64![
    // unary
    "neg",
    "exp",
    "log",
    "sqrt",
    "abs",
    "relu",
    "sigmoid",
    "tanh",
    "sign",
    "copy",
    "pow",
    "add_scalar",
    "mul_scalar",
    "rsub_scalar",
    "clamp",
    "in_range",
    "relu_mask",
    // binary
    "add",
    "sub",
    "mul",
    "div",
    "maximum",
    "minimum",
    "gt",
    "ge",
    "lt",
    "le",
    "eq",
    // others
    "where",
    "axpby",
];
const ELEMENTWISE_OTHER: [&str; 6] = [
    "cast_f32_f64",
    "cast_f64_f32",
    "cast_i64_f32",
    "cast_i64_f64",
    "copy_i64",
    "fill_i64",
];
const ELEMENTWISE_FILL: [&str; 2] = f32_f64!["fill"];

const fn concat3<const A: usize, const B: usize, const C: usize, const N: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
    c: [&'static str; C],
) -> [&'static str; N] {
    assert!(A + B + C == N);
    let mut out = [""; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < B {
        out[A + j] = b[j];
        j += 1;
    }
    let mut k = 0;
    while k < C {
        out[A + B + k] = c[k];
        k += 1;
    }
    out
}

const ELEMENTWISE_KERNELS: [&str; 68] =
    concat3(ELEMENTWISE_TYPED, ELEMENTWISE_OTHER, ELEMENTWISE_FILL);

const REDUCE_KERNELS: [&str; 10] =
    f32_f64!["sum_last", "sum_partial", "sum_mid", "max_last", "min_last"];

const GEMM_KERNELS: [&str; 4] = ["gemm_f32", "gemm_f64", "gemm_big_f32", "gemm_tf32_f32"];

const CONV_KERNELS: [&str; 17] = [
    "conv2d_fwd_f32",
    "conv2d_fwd_f64",
    "conv2d_fwd_tf32_f32",
    "conv2d_fwd_splitk_f32",
    "conv2d_fwd_splitk_f64",
    "conv2d_fwd_splitk_tf32_f32",
    "conv2d_dgrad_f32",
    "conv2d_dgrad_f64",
    "conv2d_dgrad_tf32_f32",
    "conv2d_dgrad_splitk_f32",
    "conv2d_dgrad_splitk_f64",
    "conv2d_dgrad_splitk_tf32_f32",
    "conv2d_wgrad_f32",
    "conv2d_wgrad_f64",
    "conv2d_wgrad_tf32_f32",
    "splitk_reduce_f32",
    "splitk_reduce_f64",
];

const POOL_KERNELS: [&str; 12] = f32_f64![
    "max_pool2d_fwd",
    "max_pool2d_bwd",
    "plane_gather",
    "plane_scatter_add",
    "avg_pool2d_fwd",
    "avg_pool2d_bwd",
];

const BATCHNORM_KERNELS: [&str; 12] = f32_f64![
    "bn_stats_partial",
    "bn_stats_finalize",
    "bn_forward_apply",
    "bn_backward_partial",
    "bn_backward_finalize",
    "bn_backward_input",
];

const MASKED_SOFTMAX_KERNELS: [&str; 10] = f32_f64![
    "masked_softmax_fwd",
    "masked_softmax_bwd",
    "log_softmax_fwd",
    "log_softmax_bwd",
    "logsumexp_fwd",
];

const FOCAL_LOSS_KERNELS: [&str; 4] = f32_f64!["focal_loss_fwd", "focal_loss_bwd"];

const BASE: &[Header] = &[COMMON];
const WITH_GEMM: &[Header] = &[COMMON, GEMM_CORE];

/// Every kernel module, in the order `doctor` reports them.
pub static MODULES: &[KernelModule] = &[
    KernelModule {
        name: "elementwise",
        file: "elementwise.cu",
        source: include_str!("elementwise.cu"),
        headers: BASE,
        kernels: &ELEMENTWISE_KERNELS,
    },
    KernelModule {
        name: "reduce",
        file: "reduce.cu",
        source: include_str!("reduce.cu"),
        headers: BASE,
        kernels: &REDUCE_KERNELS,
    },
    KernelModule {
        name: "gemm",
        file: "gemm.cu",
        source: include_str!("gemm.cu"),
        headers: WITH_GEMM,
        kernels: &GEMM_KERNELS,
    },
    KernelModule {
        name: "conv",
        file: "conv.cu",
        source: include_str!("conv.cu"),
        headers: WITH_GEMM,
        kernels: &CONV_KERNELS,
    },
    KernelModule {
        name: "pool",
        file: "pool.cu",
        source: include_str!("pool.cu"),
        headers: BASE,
        kernels: &POOL_KERNELS,
    },
    KernelModule {
        name: "batchnorm",
        file: "batchnorm.cu",
        source: include_str!("batchnorm.cu"),
        headers: BASE,
        kernels: &BATCHNORM_KERNELS,
    },
    KernelModule {
        name: "masked_softmax",
        file: "masked_softmax.cu",
        source: include_str!("masked_softmax.cu"),
        headers: BASE,
        kernels: &MASKED_SOFTMAX_KERNELS,
    },
    KernelModule {
        name: "focal_loss",
        file: "focal_loss.cu",
        source: include_str!("focal_loss.cu"),
        headers: BASE,
        kernels: &FOCAL_LOSS_KERNELS,
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
    fn names_are_unique_and_appear_in_their_source() {
        let mut seen = HashSet::new();
        for m in MODULES {
            for k in m.kernels {
                assert!(seen.insert(*k), "kernel {k} listed twice");
            }
        }
        // Every kernel defined verbatim in a source is listed (macro-generated ones are
        // checked against the PTX by tests/compile.rs).
        for m in MODULES {
            for line in m.source.lines() {
                if let Some(rest) = line.split("__global__ void ").nth(1) {
                    let name = rest.split('(').next().unwrap_or("").trim();
                    if !name.contains("##") && !name.is_empty() && name != "__launch_bounds__" {
                        assert!(m.has_kernel(name), "{} defines {name}, not listed", m.file);
                    }
                }
            }
        }
        assert!(module_of("gemm_tf32_f32").is_some_and(|m| m.name == "gemm"));
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
