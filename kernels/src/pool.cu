// 2-D pooling on contiguous [planes, h, w] buffers (planes = n c), as engine/src/ops/pool.rs:
// - max_pool2d_fwd: maxima and the flat index ih * w + iw of each maximum in its plane; a NaN
//   wins (a later NaN replaces an earlier one), the first maximum wins ties. A window that sees
//   no input (impossible with padding <= kernel / 2) yields -inf at its first in-plane index
//   (PyTorch's choice; the CPU backend points such windows at 0).
// - max_pool2d_bwd: dx from dy and those indices, gathered per input element: one thread per
//   input element reads the argmax indices of the (at most ceil(kh / sh) ceil(kw / sw)) windows
//   that cover it and sums the dy of those that chose it (each dx written once, in a fixed
//   order: deterministic, no atomics). The indices must come from max_pool2d_fwd with the same
//   geometry (an index outside its window is not seen).
// - plane_gather / plane_scatter_add: the gather at indices (the forward at fixed indices) and
//   its adjoint, for indices of any origin.
// - avg_pool2d_fwd / avg_pool2d_bwd: fixed windows with zero padding counted in the divisor
//   (count_include_pad, divisor kh kw) or adaptive windows (adaptive != 0: window i of o over
//   n is floor(i n / o) .. ceil((i + 1) n / o), divisor its area).
//
// Launch: block (256), grid (min(ceil(work / 256), 262140)), grid-stride; work = outputs for
// the forward kernels and plane_gather, inputs for the backward kernels, planes for
// plane_scatter_add. Planes (h w and ho wo) hold fewer than 2^31 elements; the loops walk them
// with 32-bit in-plane indices (PlaneWalk: no 64-bit division per element).

struct PoolGeom {
    int h, w;   // input plane
    int ho, wo; // output plane
    int kh, kw; // window (ignored when adaptive)
    int sh, sw; // stride (ignored when adaptive)
    int ph, pw; // zero padding (ignored when adaptive)
    int adaptive;
};

// Input range [lo, hi) of output i along one axis of a fixed-stride pool.
__device__ __forceinline__ void fixed_window(int i, int k, int s, int p, int n, int& lo, int& hi) {
    const int start = i * s - p;
    const int end = start + k < n ? start + k : n;
    lo = start > 0 ? start : 0;
    hi = end > 0 ? end : 0;
}

__device__ __forceinline__ void adaptive_window(int i, int o, int n, int& lo, int& hi) {
    lo = (int)(((i64)i * n) / o);
    hi = (int)(((i64)(i + 1) * n + o - 1) / o);
}

// Outputs [lo, hi] (inclusive) of a fixed-stride pool whose windows contain input j.
__device__ __forceinline__ void covering(int j, int k, int s, int p, int o, int& lo, int& hi) {
    const int t = j + p - k + 1;
    lo = t <= 0 ? 0 : (t + s - 1) / s;
    hi = (j + p) / s;
    if (hi > o - 1) hi = o - 1;
}

template <typename T>
__device__ __forceinline__ void max_fwd_impl(i64 planes, PoolGeom g, const T* __restrict__ x,
                                             T* __restrict__ y, i64* __restrict__ idx) {
    const int hw = g.h * g.w;
    for (PlaneWalk it(maxl_global_id(), maxl_grid_stride(), (i64)g.ho * g.wo); it.p < planes;
         it.next()) {
        const int q = (int)it.q, oy = q / g.wo, ox = q - oy * g.wo;
        int y0, y1, x0, x1;
        fixed_window(oy, g.kh, g.sh, g.ph, g.h, y0, y1);
        fixed_window(ox, g.kw, g.sw, g.pw, g.w, x0, x1);
        const T* src = x + it.p * hw;
        T best = -m_inf<T>();
        int at = y0 * g.w + x0;
        for (int iy = y0; iy < y1; ++iy) {
            const int row = iy * g.w;
            for (int ix = x0; ix < x1; ++ix) {
                const T v = src[row + ix];
                if (v > best || v != v) {
                    best = v;
                    at = row + ix;
                }
            }
        }
        const i64 o = it.flat();
        y[o] = best;
        idx[o] = at;
    }
}

template <typename T>
__device__ __forceinline__ void max_bwd_impl(i64 planes, PoolGeom g, const T* __restrict__ dy,
                                             const i64* __restrict__ idx, T* __restrict__ dx) {
    const int plane = g.ho * g.wo;
    for (PlaneWalk it(maxl_global_id(), maxl_grid_stride(), (i64)g.h * g.w); it.p < planes;
         it.next()) {
        const int j = (int)it.q, iy = j / g.w, ix = j - iy * g.w;
        int oy0, oy1, ox0, ox1;
        covering(iy, g.kh, g.sh, g.ph, g.ho, oy0, oy1);
        covering(ix, g.kw, g.sw, g.pw, g.wo, ox0, ox1);
        const i64 base = it.p * plane;
        const T* gp = dy + base;
        const i64* ip = idx + base;
        T s = T(0);
        for (int oy = oy0; oy <= oy1; ++oy) {
            const int row = oy * g.wo;
            for (int ox = ox0; ox <= ox1; ++ox)
                if (ip[row + ox] == j) s += gp[row + ox];
        }
        dx[it.flat()] = s;
    }
}

// out[p, j] = x[p, idx[p, j]] for planes of hw inputs and `plane` outputs.
template <typename T>
__device__ __forceinline__ void gather_impl(i64 planes, i64 hw, i64 plane, const T* __restrict__ x,
                                            const i64* __restrict__ idx, T* __restrict__ out) {
    for (PlaneWalk it(maxl_global_id(), maxl_grid_stride(), plane); it.p < planes; it.next()) {
        const i64 o = it.flat();
        out[o] = x[it.p * hw + idx[o]];
    }
}

// out[p, idx[p, j]] += g[p, j]: one thread per plane, in order (deterministic). `out` holds the
// starting values (zeros for a plain scatter).
template <typename T>
__device__ __forceinline__ void scatter_impl(i64 planes, i64 hw, i64 plane, const T* __restrict__ g,
                                             const i64* __restrict__ idx, T* __restrict__ out) {
    const i64 step = maxl_grid_stride();
    for (i64 pi = maxl_global_id(); pi < planes; pi += step) {
        T* dst = out + pi * hw;
        for (i64 j = 0; j < plane; ++j) dst[idx[pi * plane + j]] += g[pi * plane + j];
    }
}

template <typename T>
__device__ __forceinline__ void avg_fwd_impl(i64 planes, PoolGeom g, const T* __restrict__ x,
                                             T* __restrict__ y) {
    typedef typename Acc<T>::type A;
    const int hw = g.h * g.w;
    for (PlaneWalk it(maxl_global_id(), maxl_grid_stride(), (i64)g.ho * g.wo); it.p < planes;
         it.next()) {
        const int q = (int)it.q, oy = q / g.wo, ox = q - oy * g.wo;
        int y0, y1, x0, x1;
        i64 div;
        if (g.adaptive) {
            adaptive_window(oy, g.ho, g.h, y0, y1);
            adaptive_window(ox, g.wo, g.w, x0, x1);
            div = (i64)(y1 - y0) * (x1 - x0);
        } else {
            fixed_window(oy, g.kh, g.sh, g.ph, g.h, y0, y1);
            fixed_window(ox, g.kw, g.sw, g.pw, g.w, x0, x1);
            div = (i64)g.kh * g.kw;
        }
        if (div < 1) div = 1;
        const T* src = x + it.p * hw;
        A s = A(0);
        for (int iy = y0; iy < y1; ++iy)
            for (int ix = x0; ix < x1; ++ix) s += (A)src[iy * g.w + ix];
        y[it.flat()] = (T)(s / (A)div);
    }
}

template <typename T>
__device__ __forceinline__ void avg_bwd_impl(i64 planes, PoolGeom g, const T* __restrict__ dy,
                                             T* __restrict__ dx) {
    typedef typename Acc<T>::type A;
    const int plane = g.ho * g.wo;
    for (PlaneWalk it(maxl_global_id(), maxl_grid_stride(), (i64)g.h * g.w); it.p < planes;
         it.next()) {
        const int j = (int)it.q, iy = j / g.w, ix = j - iy * g.w;
        const T* gp = dy + it.p * plane;
        A s = A(0);
        if (g.adaptive) {
            int oy0 = (int)(((i64)iy * g.ho) / g.h) - 1, oy1 = (int)(((i64)(iy + 1) * g.ho) / g.h) + 1;
            int ox0 = (int)(((i64)ix * g.wo) / g.w) - 1, ox1 = (int)(((i64)(ix + 1) * g.wo) / g.w) + 1;
            oy0 = oy0 < 0 ? 0 : oy0;
            ox0 = ox0 < 0 ? 0 : ox0;
            oy1 = oy1 > g.ho - 1 ? g.ho - 1 : oy1;
            ox1 = ox1 > g.wo - 1 ? g.wo - 1 : ox1;
            for (int oy = oy0; oy <= oy1; ++oy) {
                int y0, y1;
                adaptive_window(oy, g.ho, g.h, y0, y1);
                if (iy < y0 || iy >= y1) continue;
                for (int ox = ox0; ox <= ox1; ++ox) {
                    int x0, x1;
                    adaptive_window(ox, g.wo, g.w, x0, x1);
                    if (ix < x0 || ix >= x1) continue;
                    s += (A)gp[oy * g.wo + ox] / (A)((i64)(y1 - y0) * (x1 - x0));
                }
            }
        } else {
            int oy0, oy1, ox0, ox1;
            covering(iy, g.kh, g.sh, g.ph, g.ho, oy0, oy1);
            covering(ix, g.kw, g.sw, g.pw, g.wo, ox0, ox1);
            for (int oy = oy0; oy <= oy1; ++oy)
                for (int ox = ox0; ox <= ox1; ++ox) s += (A)gp[oy * g.wo + ox];
            s /= (A)((i64)g.kh * g.kw);
        }
        dx[it.flat()] = (T)s;
    }
}

#define MAXL_POOL_KERNELS(T, sfx)                                                             \
    extern "C" __global__ void max_pool2d_fwd_##sfx(i64 planes, PoolGeom g, const T* x, T* y, \
                                                    i64* idx) {                               \
        max_fwd_impl<T>(planes, g, x, y, idx);                                                \
    }                                                                                         \
    extern "C" __global__ void max_pool2d_bwd_##sfx(i64 planes, PoolGeom g, const T* dy,      \
                                                    const i64* idx, T* dx) {                  \
        max_bwd_impl<T>(planes, g, dy, idx, dx);                                              \
    }                                                                                         \
    extern "C" __global__ void plane_gather_##sfx(i64 planes, i64 hw, i64 plane, const T* x,  \
                                                  const i64* idx, T* out) {                   \
        gather_impl<T>(planes, hw, plane, x, idx, out);                                       \
    }                                                                                         \
    extern "C" __global__ void plane_scatter_add_##sfx(i64 planes, i64 hw, i64 plane,         \
                                                       const T* g, const i64* idx, T* out) {  \
        scatter_impl<T>(planes, hw, plane, g, idx, out);                                      \
    }                                                                                         \
    extern "C" __global__ void avg_pool2d_fwd_##sfx(i64 planes, PoolGeom g, const T* x,       \
                                                    T* y) {                                   \
        avg_fwd_impl<T>(planes, g, x, y);                                                     \
    }                                                                                         \
    extern "C" __global__ void avg_pool2d_bwd_##sfx(i64 planes, PoolGeom g, const T* dy,      \
                                                    T* dx) {                                  \
        avg_bwd_impl<T>(planes, g, dy, dx);                                                   \
    }

MAXL_POOL_KERNELS(float, f32)
MAXL_POOL_KERNELS(double, f64)
