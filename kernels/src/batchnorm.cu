// Batch normalisation in training mode over axis 1 of a contiguous [n, c, l] buffer (l = the
// product of the spatial axes), as engine/src/ops/norm.rs: biased batch variance, y = (x -
// mean) invstd w + b, and the fused input/weight/bias gradients
// dx = w invstd (g - mean(g) - xhat mean(g xhat)), dw = sum(g xhat), db = sum(g).
//
// Statistics are two-stage and deterministic: stage 1 reduces fixed chunks of each channel
// (grid (chunks, c)) into f64 partials [c][chunks][2], stage 2 adds the chunks in order. The
// host picks `chunk` from the shape alone. Sums are of x - x[channel's first element] (a shift
// that removes most of the cancellation of sum(x^2) - m mean^2). Per-channel element count
// m = n l must be below 2^31.
//
// Launch:
//   bn_stats_partial, bn_backward_partial: block (256), grid (ceil(n l / chunk), c)
//   bn_stats_finalize, bn_backward_finalize: block (256), grid (ceil(c / 256))
//   bn_forward_apply, bn_backward_input: block (256), grid (min(ceil(n c l / 256), 262140))

// Element j (0 <= j < n l) of channel ch.
__device__ __forceinline__ i64 bn_at(u32 j, u32 l, int c, int ch) {
    const u32 ni = j / l, li = j - ni * l;
    return ((i64)ni * c + ch) * l + li;
}

// partial[ch][chunk] = (sum (x - x0), sum (x - x0)^2) over the chunk, x0 = channel's first.
template <typename T>
__device__ __forceinline__ void stats_partial_impl(int n, int c, int l, int chunk,
                                                   const T* __restrict__ x,
                                                   double* __restrict__ partial) {
    __shared__ double scratch[32];
    const int ch = blockIdx.y, chunks = gridDim.x;
    const u32 m = (u32)n * (u32)l;
    const u32 lo = (u32)blockIdx.x * (u32)chunk;
    const u32 hi = lo + (u32)chunk < m ? lo + (u32)chunk : m;
    const double x0 = m > 0 ? (double)x[(i64)ch * l] : 0.0;
    double s = 0.0, q = 0.0;
    for (u32 j = lo + threadIdx.x; j < hi; j += blockDim.x) {
        const double d = (double)x[bn_at(j, (u32)l, c, ch)] - x0;
        s += d;
        q += d * d;
    }
    s = block_sum(s, scratch);
    q = block_sum(q, scratch);
    if (threadIdx.x == 0) {
        partial[((i64)ch * chunks + blockIdx.x) * 2] = s;
        partial[((i64)ch * chunks + blockIdx.x) * 2 + 1] = q;
    }
}

// mean, biased var and invstd = 1 / sqrt(var + eps) per channel; when running_mean is not
// null, also running = (1 - momentum) running + momentum stat, with the unbiased variance
// (m / (m - 1)) in running_var, as PyTorch.
template <typename T>
__device__ __forceinline__ void stats_finalize_impl(int n, int c, int l, int chunks,
                                                    const T* __restrict__ x,
                                                    const double* __restrict__ partial,
                                                    double eps, T* mean, T* var, T* invstd,
                                                    T* running_mean, T* running_var,
                                                    double momentum) {
    const int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    const double m = (double)n * (double)l;
    double s = 0.0, q = 0.0;
    for (int k = 0; k < chunks; ++k) {
        s += partial[((i64)ch * chunks + k) * 2];
        q += partial[((i64)ch * chunks + k) * 2 + 1];
    }
    const double x0 = m > 0.0 ? (double)x[(i64)ch * l] : 0.0;
    const double ms = m > 0.0 ? s / m : 0.0;
    double v = m > 0.0 ? q / m - ms * ms : 0.0;
    v = v > 0.0 ? v : 0.0;
    const double mu = x0 + ms;
    if (mean) mean[ch] = (T)mu;
    if (var) var[ch] = (T)v;
    if (invstd) invstd[ch] = (T)(1.0 / sqrt(v + eps));
    if (running_mean) {
        const double unbiased = m > 1.0 ? v * m / (m - 1.0) : v;
        running_mean[ch] = (T)((1.0 - momentum) * (double)running_mean[ch] + momentum * mu);
        running_var[ch] = (T)((1.0 - momentum) * (double)running_var[ch] + momentum * unbiased);
    }
}

// y = (x - mean[ch]) invstd[ch] w[ch] + b[ch]; w and b may be null (1 and 0).
template <typename T>
__device__ __forceinline__ void forward_apply_impl(int n, int c, int l, const T* __restrict__ x,
                                                   const T* __restrict__ mean,
                                                   const T* __restrict__ invstd,
                                                   const T* __restrict__ w,
                                                   const T* __restrict__ b, T* __restrict__ y) {
    const i64 total = (i64)n * c * l, step = maxl_grid_stride();
    for (i64 i = maxl_global_id(); i < total; i += step) {
        const int ch = (int)((i / l) % c);
        const T scale = invstd[ch] * (w ? w[ch] : T(1));
        const T shift = (b ? b[ch] : T(0)) - mean[ch] * scale;
        y[i] = x[i] * scale + shift;
    }
}

// partial[ch][chunk] = (sum g, sum g (x - mean)) over the chunk.
template <typename T>
__device__ __forceinline__ void backward_partial_impl(int n, int c, int l, int chunk,
                                                      const T* __restrict__ x,
                                                      const T* __restrict__ g,
                                                      const T* __restrict__ mean,
                                                      double* __restrict__ partial) {
    __shared__ double scratch[32];
    const int ch = blockIdx.y, chunks = gridDim.x;
    const u32 m = (u32)n * (u32)l;
    const u32 lo = (u32)blockIdx.x * (u32)chunk;
    const u32 hi = lo + (u32)chunk < m ? lo + (u32)chunk : m;
    const double mu = (double)mean[ch];
    double sg = 0.0, sgx = 0.0;
    for (u32 j = lo + threadIdx.x; j < hi; j += blockDim.x) {
        const i64 at = bn_at(j, (u32)l, c, ch);
        const double gv = (double)g[at];
        sg += gv;
        sgx += gv * ((double)x[at] - mu);
    }
    sg = block_sum(sg, scratch);
    sgx = block_sum(sgx, scratch);
    if (threadIdx.x == 0) {
        partial[((i64)ch * chunks + blockIdx.x) * 2] = sg;
        partial[((i64)ch * chunks + blockIdx.x) * 2 + 1] = sgx;
    }
}

// Per channel: dweight = sum(g xhat), dbias = sum(g) (either may be null), and the input
// gradient's coefficients coef[ch] = (a, b, k) with dx = a g + b x + k:
// a = w r, b = -w r^3 sgx / m, k = -w r sg / m - b mean (r = invstd).
template <typename T>
__device__ __forceinline__ void backward_finalize_impl(int n, int c, int l, int chunks,
                                                       const double* __restrict__ partial,
                                                       const T* __restrict__ mean,
                                                       const T* __restrict__ invstd,
                                                       const T* __restrict__ w, T* dweight,
                                                       T* dbias, T* coef) {
    const int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    const double m = (double)n * (double)l;
    double sg = 0.0, sgx = 0.0;
    for (int k = 0; k < chunks; ++k) {
        sg += partial[((i64)ch * chunks + k) * 2];
        sgx += partial[((i64)ch * chunks + k) * 2 + 1];
    }
    const double r = (double)invstd[ch];
    if (dweight) dweight[ch] = (T)(sgx * r);
    if (dbias) dbias[ch] = (T)sg;
    if (coef) {
        const double mm = m > 0.0 ? m : 1.0;
        const double wr = (w ? (double)w[ch] : 1.0) * r;
        const double bc = -wr * r * r * sgx / mm;
        coef[3 * ch] = (T)wr;
        coef[3 * ch + 1] = (T)bc;
        coef[3 * ch + 2] = (T)(-wr * sg / mm - bc * (double)mean[ch]);
    }
}

// dx = a g + b x + k with (a, b, k) = coef[ch] from bn_backward_finalize.
template <typename T>
__device__ __forceinline__ void backward_input_impl(int n, int c, int l, const T* __restrict__ x,
                                                    const T* __restrict__ g,
                                                    const T* __restrict__ coef,
                                                    T* __restrict__ dx) {
    const i64 total = (i64)n * c * l, step = maxl_grid_stride();
    for (i64 i = maxl_global_id(); i < total; i += step) {
        const int ch = (int)((i / l) % c);
        dx[i] = coef[3 * ch] * g[i] + coef[3 * ch + 1] * x[i] + coef[3 * ch + 2];
    }
}

#define MAXL_BN_KERNELS(T, sfx)                                                               \
    extern "C" __global__ void bn_stats_partial_##sfx(int n, int c, int l, int chunk,         \
                                                      const T* x, double* partial) {          \
        stats_partial_impl<T>(n, c, l, chunk, x, partial);                                    \
    }                                                                                         \
    extern "C" __global__ void bn_stats_finalize_##sfx(                                       \
        int n, int c, int l, int chunks, const T* x, const double* partial, double eps,       \
        T* mean, T* var, T* invstd, T* running_mean, T* running_var, double momentum) {       \
        stats_finalize_impl<T>(n, c, l, chunks, x, partial, eps, mean, var, invstd,           \
                               running_mean, running_var, momentum);                          \
    }                                                                                         \
    extern "C" __global__ void bn_forward_apply_##sfx(int n, int c, int l, const T* x,        \
                                                      const T* mean, const T* invstd,         \
                                                      const T* w, const T* b, T* y) {         \
        forward_apply_impl<T>(n, c, l, x, mean, invstd, w, b, y);                             \
    }                                                                                         \
    extern "C" __global__ void bn_backward_partial_##sfx(int n, int c, int l, int chunk,      \
                                                         const T* x, const T* g,              \
                                                         const T* mean, double* partial) {    \
        backward_partial_impl<T>(n, c, l, chunk, x, g, mean, partial);                        \
    }                                                                                         \
    extern "C" __global__ void bn_backward_finalize_##sfx(                                    \
        int n, int c, int l, int chunks, const double* partial, const T* mean,                \
        const T* invstd, const T* w, T* dweight, T* dbias, T* coef) {                         \
        backward_finalize_impl<T>(n, c, l, chunks, partial, mean, invstd, w, dweight, dbias,  \
                                  coef);                                                      \
    }                                                                                         \
    extern "C" __global__ void bn_backward_input_##sfx(int n, int c, int l, const T* x,       \
                                                       const T* g, const T* coef, T* dx) {    \
        backward_input_impl<T>(n, c, l, x, g, coef, dx);                                      \
    }

MAXL_BN_KERNELS(float, f32)
MAXL_BN_KERNELS(double, f64)
