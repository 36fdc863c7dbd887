//! The SIMD dispatch the CPU convolution kernels run under: a closure compiled for the widest
//! vector unit of the CPU, so that their loops over 16-lane blocks (Winograd transforms, the
//! direct kernel's register blocks) vectorize and fuse their multiply-adds.

/// Runs `f` compiled for the widest vector unit of the CPU (AVX-512, else AVX2 + FMA, else
/// the build's baseline): the transforms are written for 16 lanes and inlined into `f`.
#[inline(always)]
pub(crate) fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { with_avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
