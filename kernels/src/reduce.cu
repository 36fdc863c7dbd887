// Reductions over the last axis of a contiguous [rows, n] buffer (sum/mean, max/min with the
// index of the first extremum) and over the middle axis of [pre, d, post] (sum). Deterministic:
// each thread visits a fixed set of elements in a fixed order and threads are combined in a
// fixed tree, so the bits depend only on the input and the launch shape, which the host derives
// from the shape alone. Sums of f32 are accumulated in f64.

#define REDUCE_THREADS 256

// out[r] = scale * sum_j x[r * n + j].
// Launch: block (256), grid (rows) (grid.x up to 2^31 - 1).
template <typename T>
__device__ __forceinline__ void sum_last_impl(i64 n, const T* __restrict__ x, T* __restrict__ out,
                                              T scale) {
    typedef typename Acc<T>::type A;
    __shared__ A scratch[32];
    const i64 r = blockIdx.x;
    const T* row = x + r * n;
    A acc = A(0);
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) acc += (A)row[j];
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) out[r] = (T)(acc * (A)scale);
}

extern "C" __global__ void sum_last_f32(i64 n, const float* x, float* out, float scale) {
    sum_last_impl<float>(n, x, out, scale);
}
extern "C" __global__ void sum_last_f64(i64 n, const double* x, double* out, double scale) {
    sum_last_impl<double>(n, x, out, scale);
}

// First stage of a long sum: partial[r * chunks + c] = sum of x[r, c * chunk .. (c + 1) * chunk]
// where chunks = ceil(n / chunk); finish with sum_last over [rows, chunks].
// Launch: block (256), grid (chunks, rows).
template <typename T>
__device__ __forceinline__ void sum_partial_impl(i64 n, i64 chunk, const T* __restrict__ x,
                                                 T* __restrict__ partial) {
    typedef typename Acc<T>::type A;
    __shared__ A scratch[32];
    const i64 r = blockIdx.y, c = blockIdx.x;
    const i64 lo = c * chunk, hi = (lo + chunk < n) ? lo + chunk : n;
    const T* row = x + r * n;
    A acc = A(0);
    for (i64 j = lo + threadIdx.x; j < hi; j += blockDim.x) acc += (A)row[j];
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) partial[r * gridDim.x + c] = (T)acc;
}

extern "C" __global__ void sum_partial_f32(i64 n, i64 chunk, const float* x, float* partial) {
    sum_partial_impl<float>(n, chunk, x, partial);
}
extern "C" __global__ void sum_partial_f64(i64 n, i64 chunk, const double* x, double* partial) {
    sum_partial_impl<double>(n, chunk, x, partial);
}

// out[p * post + q] = scale * sum_i x[(p * d + i) * post + q]: one thread per output, the
// middle axis summed in order (coalesced across q).
// Launch: block (256), grid (min(ceil(pre * post / 256), 262140)) (grid-stride).
template <typename T>
__device__ __forceinline__ void sum_mid_impl(i64 pre, i64 d, i64 post, const T* __restrict__ x,
                                             T* __restrict__ out, T scale) {
    typedef typename Acc<T>::type A;
    const i64 total = pre * post, step = maxl_grid_stride();
    for (i64 o = maxl_global_id(); o < total; o += step) {
        const i64 p = o / post, q = o % post;
        const T* col = x + p * d * post + q;
        A acc = A(0);
        for (i64 i = 0; i < d; ++i) acc += (A)col[i * post];
        out[o] = (T)(acc * (A)scale);
    }
}

extern "C" __global__ void sum_mid_f32(i64 pre, i64 d, i64 post, const float* x, float* out,
                                       float scale) {
    sum_mid_impl<float>(pre, d, post, x, out, scale);
}
extern "C" __global__ void sum_mid_f64(i64 pre, i64 d, i64 post, const double* x, double* out,
                                       double scale) {
    sum_mid_impl<double>(pre, d, post, x, out, scale);
}

// (value, index) pairs: `better(a, b)` says whether a replaces b. NaN beats everything; among
// equal values (or two NaNs) the smaller index wins, so the result is the first extremum.
template <typename T, bool IS_MAX>
__device__ __forceinline__ bool arg_better(T va, i64 ia, T vb, i64 ib) {
    const bool na = va != va, nb = vb != vb;
    if (na || nb) return na && (!nb || ia < ib);
    if (va == vb) return ia < ib;
    return IS_MAX ? va > vb : va < vb;
}

// out[r] = max (or min) of row r, idx[r] = index of its first occurrence (idx may be null).
// An empty row gives -inf (+inf for min) and index -1.
// Launch: block (256), grid (rows).
template <typename T, bool IS_MAX>
__device__ __forceinline__ void arg_last_impl(i64 n, const T* __restrict__ x, T* __restrict__ out,
                                              i64* __restrict__ idx) {
    __shared__ T sv[32];
    __shared__ i64 si[32];
    const i64 r = blockIdx.x;
    const T* row = x + r * n;
    T best = IS_MAX ? -m_inf<T>() : m_inf<T>();
    i64 at = -1;
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
        const T v = row[j];
        if (at < 0 || arg_better<T, IS_MAX>(v, j, best, at)) {
            best = v;
            at = j;
        }
    }
    // Fixed butterfly within the warp, then over warps.
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const T v = __shfl_xor_sync(MAXL_FULL_MASK, best, o);
        const i64 i = __shfl_xor_sync(MAXL_FULL_MASK, at, o);
        if (i >= 0 && (at < 0 || arg_better<T, IS_MAX>(v, i, best, at))) {
            best = v;
            at = i;
        }
    }
    if (lane == 0) {
        sv[warp] = best;
        si[warp] = at;
    }
    __syncthreads();
    if (warp == 0) {
        best = lane < nwarps ? sv[lane] : (IS_MAX ? -m_inf<T>() : m_inf<T>());
        at = lane < nwarps ? si[lane] : -1;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const T v = __shfl_xor_sync(MAXL_FULL_MASK, best, o);
            const i64 i = __shfl_xor_sync(MAXL_FULL_MASK, at, o);
            if (i >= 0 && (at < 0 || arg_better<T, IS_MAX>(v, i, best, at))) {
                best = v;
                at = i;
            }
        }
        if (lane == 0) {
            out[r] = best;
            if (idx) idx[r] = at;
        }
    }
}

extern "C" __global__ void max_last_f32(i64 n, const float* x, float* out, i64* idx) {
    arg_last_impl<float, true>(n, x, out, idx);
}
extern "C" __global__ void max_last_f64(i64 n, const double* x, double* out, i64* idx) {
    arg_last_impl<double, true>(n, x, out, idx);
}
extern "C" __global__ void min_last_f32(i64 n, const float* x, float* out, i64* idx) {
    arg_last_impl<float, false>(n, x, out, idx);
}
extern "C" __global__ void min_last_f64(i64 n, const double* x, double* out, i64* idx) {
    arg_last_impl<double, false>(n, x, out, idx);
}
