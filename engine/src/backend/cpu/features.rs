//! What the CPU's vector unit offers the hand-written kernels: one place for the AVX-512
//! checks (the direct convolution, the Winograd gathers and transposes, max pooling), each
//! kernel keeping a portable path for other CPUs and element types.

/// Whether the CPU has AVX-512F.
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether an f32 AVX-512 kernel may run on elements of type `T`: `T` is f32 and the CPU has
/// AVX-512F (the kernels then re-type their slices after this check).
pub fn avx512_f32<T: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && has_avx512()
}
