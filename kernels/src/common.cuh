// Shared prelude of every maxl kernel module (prepended by the Rust side before NVRTC sees a
// module, with a #line directive so that errors name the module's own file and line).
// No system headers: NVRTC compiles these without a CUDA toolkit.
//
// Conventions of all modules:
// - Kernels are `extern "C"` (unmangled names, looked up by name), one per dtype, named
//   `<op>_f32` / `<op>_f64`; the body is a template instantiated by a macro.
// - Element counts and offsets are 64-bit (`i64`); per-tile indices are 32-bit.
// - Elementwise kernels use grid-stride loops, so any grid works; the suggested launch is
//   block 256, grid min(ceil(n / 256), 65535 * 4).
// - Reductions are deterministic: a fixed thread-to-element assignment and a fixed tree, so
//   the same input and launch shape give the same bits on any GPU.

typedef long long i64;
typedef unsigned long long u64;
typedef unsigned int u32;

#define MAXL_MAX_DIMS 6
#define MAXL_WARP 32
#define MAXL_FULL_MASK 0xffffffffu

// Broadcast/strided description of up to three operands over one logical output shape
// (row-major, `rank` dims, the last varying fastest). `s0`, `s1`, `s2` are element strides of
// operands 0..2 (0 on a broadcast axis). `contiguous != 0` promises that every operand used is
// dense in the output's order, so the kernel may skip the index arithmetic.
struct Strided {
    int rank;
    int contiguous;
    i64 dims[MAXL_MAX_DIMS];
    i64 s0[MAXL_MAX_DIMS];
    i64 s1[MAXL_MAX_DIMS];
    i64 s2[MAXL_MAX_DIMS];
};

// Offsets of logical element `i` in up to three operands.
__device__ __forceinline__ void maxl_offsets3(const Strided& L, i64 i, i64& o0, i64& o1,
                                              i64& o2) {
    o0 = 0;
    o1 = 0;
    o2 = 0;
#pragma unroll
    for (int d = MAXL_MAX_DIMS - 1; d >= 0; --d) {
        if (d < L.rank) {
            i64 n = L.dims[d];
            i64 c = i % n;
            i /= n;
            o0 += c * L.s0[d];
            o1 += c * L.s1[d];
            o2 += c * L.s2[d];
        }
    }
}

__device__ __forceinline__ i64 maxl_offset1(const Strided& L, i64 i) {
    i64 o = 0;
#pragma unroll
    for (int d = MAXL_MAX_DIMS - 1; d >= 0; --d) {
        if (d < L.rank) {
            i64 n = L.dims[d];
            i64 c = i % n;
            i /= n;
            o += c * L.s0[d];
        }
    }
    return o;
}

__device__ __forceinline__ i64 maxl_global_id() {
    return (i64)blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ i64 maxl_grid_stride() {
    return (i64)gridDim.x * blockDim.x;
}

// Grid-stride walk over `planes` planes of `plane` items (0 <= plane < 2^31): the plane index `p`
// and the in-plane index `q` of the current item, kept up to date by additions, so that a loop
// over `planes * plane` items does no 64-bit division per item (one per thread, at the start).
//   for (PlaneWalk it(maxl_global_id(), maxl_grid_stride(), plane); it.p < planes; it.next())
struct PlaneWalk {
    i64 p;    // plane of the current item
    u32 q;    // its index in the plane
    i64 dp;   // the grid stride, in whole planes
    u32 dq;   // and the rest of it
    u32 plane;
    __device__ __forceinline__ PlaneWalk(i64 start, i64 step, i64 plane_size) {
        if (plane_size <= 0) { // empty planes: nothing to walk
            p = 0x7fffffffffffffffLL;
            q = dq = 0;
            dp = 0;
            plane = 1;
            return;
        }
        plane = (u32)plane_size;
        p = start / plane_size;
        q = (u32)(start - p * plane_size);
        dp = step / plane_size;
        dq = (u32)(step - dp * plane_size);
    }
    __device__ __forceinline__ i64 flat() const { return p * plane + q; }
    __device__ __forceinline__ void next() {
        p += dp;
        q += dq; // < 2 plane < 2^32
        if (q >= plane) {
            q -= plane;
            ++p;
        }
    }
};

// Division by a run-time constant 1 <= d <= 2^31 with a multiply-high, an add and a shift
// (Granlund and Montgomery's method, as PyTorch's IntDivider), exact for 0 <= n < 2^31. Set
// up once per thread (one 64-bit division), then used per element instead of a 32-bit
// division (about 20 instructions on the GPU).
struct FastDiv {
    u32 d, m, s;
    static __device__ __forceinline__ FastDiv make(u32 dv) {
        FastDiv f;
        f.d = dv;
        f.s = 0;
        while (f.s < 31 && (1u << f.s) < dv) ++f.s;
        const u64 one = 1;
        f.m = (u32)(((one << 32) * ((one << f.s) - dv)) / dv + 1);
        return f;
    }
    __device__ __forceinline__ u32 div(u32 n) const {
        const u32 t = (u32)(((u64)n * m) >> 32); // mul.hi
        return (t + n) >> s;
    }
};

// Math overloads, so that templates read the same for float and double.
__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double m_expm1(double x) { return expm1(x); }
__device__ __forceinline__ float m_log(float x) { return logf(x); }
__device__ __forceinline__ double m_log(double x) { return log(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float m_rsqrt(float x) { return rsqrtf(x); }
__device__ __forceinline__ double m_rsqrt(double x) { return rsqrt(x); }
__device__ __forceinline__ float m_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double m_abs(double x) { return fabs(x); }
__device__ __forceinline__ float m_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double m_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float m_fma(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double m_fma(double a, double b, double c) { return fma(a, b, c); }
__device__ __forceinline__ float m_pow(float x, float p) { return powf(x, p); }
__device__ __forceinline__ double m_pow(double x, double p) { return pow(x, p); }

template <typename T> __device__ __forceinline__ T m_inf();
template <> __device__ __forceinline__ float m_inf<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double m_inf<double>() {
    return __longlong_as_double(0x7ff0000000000000LL);
}
template <typename T> __device__ __forceinline__ T m_nan();
template <> __device__ __forceinline__ float m_nan<float>() { return __int_as_float(0x7fc00000); }
template <> __device__ __forceinline__ double m_nan<double>() {
    return __longlong_as_double(0x7ff8000000000000LL);
}

template <typename T> __device__ __forceinline__ bool m_isnan(T x) { return x != x; }
template <typename T> __device__ __forceinline__ bool m_isfinite(T x) {
    return x == x && m_abs(x) != m_inf<T>();
}

// Accumulator type of sums: f32 data is summed in f64 (memory-bound anyway, and it keeps CUDA
// results close to the CPU backend, which finishes its sums in f64).
template <typename T> struct Acc { typedef T type; };
template <> struct Acc<float> { typedef double type; };

// Warp reductions with a fixed butterfly (every lane ends with the same, order-fixed result).
template <typename T> __device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(MAXL_FULL_MASK, v, o);
    return v;
}
// Maximum with NaN propagation (a NaN anywhere makes the result NaN, as PyTorch's max).
template <typename T> __device__ __forceinline__ T nan_max(T a, T b) {
    return (a != a || a > b) ? a : (b != b ? b : (a >= b ? a : b));
}
template <typename T> __device__ __forceinline__ T nan_min(T a, T b) {
    return (a != a || a < b) ? a : (b != b ? b : (a <= b ? a : b));
}
template <typename T> __device__ __forceinline__ T warp_max(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = nan_max(v, __shfl_xor_sync(MAXL_FULL_MASK, v, o));
    return v;
}

// Block-wide sum of one value per thread (blockDim.x a multiple of 32, at most 1024), in a
// fixed tree: warp butterflies, then warp 0 over the per-warp results. Every thread gets the
// result. `scratch` holds at least 32 values. Contains __syncthreads: call from all threads.
template <typename T> __device__ __forceinline__ T block_sum(T v, T* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    T r = (lane < nwarps) ? scratch[lane] : T(0);
    r = warp_sum(r);
    return r;
}
