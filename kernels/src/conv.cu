// 2-D convolution (NCHW, groups = 1, stride / padding / dilation per axis) as implicit GEMM:
// the GEMM main loops of gemm_core.cuh with loaders that gather the convolution's operands
// directly (no im2col buffer). Shapes: x [n, c, h, w], weight [k, c, r, s], y [n, k, ho, wo],
// ho = (h + 2 ph - dh (r - 1) - 1) / sh + 1 (the host checks the geometry).
//
// conv2d_fwd:   y = conv(x, w) (+ bias[k])    GEMM M = k, N = n ho wo, K = c r s
// conv2d_dgrad: dx = conv_transpose(dy, w)    GEMM M = c, N = n h w,   K = k r s
//               (each dx element gathered once: deterministic, no atomics)
// conv2d_wgrad: dw = corr(x, dy)              GEMM M = k, N = c r s,   K = n ho wo
//               (deterministic split-K: blockIdx.z = split; with gridDim.z > 1 each split
//               writes ws[z][k][c r s], then splitk_reduce sums the splits in order)
//
// Launch, SIMT (_f32, _f64): block (256); tensor cores (_tf32_f32, sm_80+): block (128);
//   fwd:   grid (ceil(n ho wo / 64), ceil(k / 64), 1)
//   dgrad: grid (ceil(n h w / 64),   ceil(c / 64), 1)
//   wgrad: grid (ceil(c r s / 64),   ceil(k / 64), splits), k_chunk = ceil(n ho wo / splits)
//   splitk_reduce: block (256), grid (min(ceil(k c r s / 256), 262140))

struct ConvGeom {
    int n, c, h, w; // input
    int k, r, s;    // filters
    int ho, wo;     // output
    int sh, sw;     // stride
    int ph, pw;     // zero padding
    int dh, dw;     // dilation
};

// ---- forward -------------------------------------------------------------------------------

// A(m, kd) = w[m, kd] with kd = (c, r, s) flattened: rows of the weight matrix.
template <typename T> struct WeightRows {
    struct Row {
        const T* p;
    };
    const T* w;
    int rows, len;
    __device__ __forceinline__ Row row(int m) const {
        Row r;
        r.p = m < rows ? w + (i64)m * len : nullptr;
        return r;
    }
    __device__ __forceinline__ T load(const Row& r, int k) const { return r.p ? r.p[k] : T(0); }
};

// B(kd, p) = x[nb, c, oh sh - ph + r dh, ow sw - pw + s dw] for output pixel p = (nb, oh, ow).
template <typename T> struct ImageCols {
    struct Col {
        const T* img;
        int ih0, iw0;
    };
    const T* x;
    ConvGeom g;
    __device__ __forceinline__ Col col(int p) const {
        Col c;
        const int hw = g.ho * g.wo;
        if (p < g.n * hw) {
            const int nb = p / hw, q = p - nb * hw, oh = q / g.wo, ow = q - oh * g.wo;
            c.img = x + (i64)nb * g.c * g.h * g.w;
            c.ih0 = oh * g.sh - g.ph;
            c.iw0 = ow * g.sw - g.pw;
        } else {
            c.img = nullptr;
            c.ih0 = c.iw0 = 0;
        }
        return c;
    }
    __device__ __forceinline__ T load(const Col& c, int kd) const {
        if (!c.img) return T(0);
        const int rs = g.r * g.s, ch = kd / rs, t = kd - ch * rs, r = t / g.s, s = t - r * g.s;
        const int ih = c.ih0 + r * g.dh, iw = c.iw0 + s * g.dw;
        if ((unsigned)ih >= (unsigned)g.h || (unsigned)iw >= (unsigned)g.w) return T(0);
        return c.img[((i64)ch * g.h + ih) * g.w + iw];
    }
};

template <typename T> struct FwdOut {
    T* y;
    const T* bias;
    ConvGeom g;
    __device__ __forceinline__ void operator()(int m, int p, T acc) const {
        const int hw = g.ho * g.wo, nb = p / hw, q = p - nb * hw;
        y[((i64)nb * g.k + m) * hw + q] = bias ? acc + bias[m] : acc;
    }
};

template <typename T, bool TC>
__device__ __forceinline__ void conv_fwd(const ConvGeom& g, const T* x, const T* w,
                                         const T* bias, T* y) {
    WeightRows<T> la;
    la.w = w;
    la.rows = g.k;
    la.len = g.c * g.r * g.s;
    ImageCols<T> lb;
    lb.x = x;
    lb.g = g;
    FwdOut<T> ep;
    ep.y = y;
    ep.bias = bias;
    ep.g = g;
    const int m0 = blockIdx.y * SG_BM, n0 = blockIdx.x * SG_BN;
    const int M = g.k, N = g.n * g.ho * g.wo, K = la.len;
    if constexpr (TC) {
        __shared__ TcSmem sm;
        float acc[2][4][4];
        tc_mainloop<true, true>(sm, la, lb, m0, n0, 0, K, acc);
        tc_epilogue(ep, m0, n0, M, N, acc);
    } else {
        __shared__ SimtSmem<T> sm;
        T acc[4][4];
        simt_mainloop<T, true, true>(sm, la, lb, m0, n0, 0, K, acc);
        simt_epilogue<T>(ep, m0, n0, M, N, acc);
    }
}

// ---- input gradient (transposed convolution) -----------------------------------------------

// A(c, kd) = w[kch, c, r, s] with kd = (kch, r, s) flattened.
template <typename T> struct WeightCols {
    struct Row {
        const T* p;
    };
    const T* w;
    int c, rs;
    __device__ __forceinline__ Row row(int m) const {
        Row r;
        r.p = m < c ? w + (i64)m * rs : nullptr;
        return r;
    }
    __device__ __forceinline__ T load(const Row& r, int kd) const {
        if (!r.p) return T(0);
        const int kch = kd / rs, t = kd - kch * rs;
        return r.p[(i64)kch * c * rs + t];
    }
};

// B(kd, p) = dy[nb, kch, oh, ow] where input pixel p = (nb, h, w) is tap (r, s) of output
// (oh, ow): h + ph - r dh = oh sh (and the same for w); 0 where no such output exists.
template <typename T> struct GradCols {
    struct Col {
        const T* img;
        int th0, tw0;
    };
    const T* dy;
    ConvGeom g;
    __device__ __forceinline__ Col col(int p) const {
        Col c;
        const int hw = g.h * g.w;
        if (p < g.n * hw) {
            const int nb = p / hw, q = p - nb * hw, h = q / g.w, w = q - h * g.w;
            c.img = dy + (i64)nb * g.k * g.ho * g.wo;
            c.th0 = h + g.ph;
            c.tw0 = w + g.pw;
        } else {
            c.img = nullptr;
            c.th0 = c.tw0 = 0;
        }
        return c;
    }
    __device__ __forceinline__ T load(const Col& c, int kd) const {
        if (!c.img) return T(0);
        const int rs = g.r * g.s, kch = kd / rs, t = kd - kch * rs, r = t / g.s, s = t - r * g.s;
        int oh = c.th0 - r * g.dh, ow = c.tw0 - s * g.dw;
        if (oh < 0 || ow < 0) return T(0);
        if (g.sh != 1) {
            if (oh % g.sh) return T(0);
            oh /= g.sh;
        }
        if (g.sw != 1) {
            if (ow % g.sw) return T(0);
            ow /= g.sw;
        }
        if (oh >= g.ho || ow >= g.wo) return T(0);
        return c.img[((i64)kch * g.ho + oh) * g.wo + ow];
    }
};

template <typename T> struct DgradOut {
    T* dx;
    ConvGeom g;
    __device__ __forceinline__ void operator()(int m, int p, T acc) const {
        const int hw = g.h * g.w, nb = p / hw, q = p - nb * hw;
        dx[((i64)nb * g.c + m) * hw + q] = acc;
    }
};

template <typename T, bool TC>
__device__ __forceinline__ void conv_dgrad(const ConvGeom& g, const T* dy, const T* w, T* dx) {
    WeightCols<T> la;
    la.w = w;
    la.c = g.c;
    la.rs = g.r * g.s;
    GradCols<T> lb;
    lb.dy = dy;
    lb.g = g;
    DgradOut<T> ep;
    ep.dx = dx;
    ep.g = g;
    const int m0 = blockIdx.y * SG_BM, n0 = blockIdx.x * SG_BN;
    const int M = g.c, N = g.n * g.h * g.w, K = g.k * g.r * g.s;
    if constexpr (TC) {
        __shared__ TcSmem sm;
        float acc[2][4][4];
        tc_mainloop<true, true>(sm, la, lb, m0, n0, 0, K, acc);
        tc_epilogue(ep, m0, n0, M, N, acc);
    } else {
        __shared__ SimtSmem<T> sm;
        T acc[4][4];
        simt_mainloop<T, true, true>(sm, la, lb, m0, n0, 0, K, acc);
        simt_epilogue<T>(ep, m0, n0, M, N, acc);
    }
}

// ---- weight gradient -----------------------------------------------------------------------

// A(kch, kd) = dy[nb, kch, oh, ow] with kd = (nb, oh, ow) flattened.
template <typename T> struct GradRows {
    struct Row {
        int m;
    };
    const T* dy;
    ConvGeom g;
    __device__ __forceinline__ Row row(int m) const {
        Row r;
        r.m = m < g.k ? m : -1;
        return r;
    }
    __device__ __forceinline__ T load(const Row& r, int kd) const {
        if (r.m < 0) return T(0);
        const int hw = g.ho * g.wo, nb = kd / hw, q = kd - nb * hw;
        return dy[((i64)nb * g.k + r.m) * hw + q];
    }
};

// B(kd, (c, r, s)) = x[nb, c, oh sh - ph + r dh, ow sw - pw + s dw] with kd = (nb, oh, ow).
template <typename T> struct TapCols {
    struct Col {
        const T* plane; // x + c h w (batch added per load)
        int roff, soff;
    };
    const T* x;
    ConvGeom g;
    __device__ __forceinline__ Col col(int n) const {
        Col c;
        const int rs = g.r * g.s;
        if (n < g.c * rs) {
            const int ch = n / rs, t = n - ch * rs, r = t / g.s, s = t - r * g.s;
            c.plane = x + (i64)ch * g.h * g.w;
            c.roff = r * g.dh - g.ph;
            c.soff = s * g.dw - g.pw;
        } else {
            c.plane = nullptr;
            c.roff = c.soff = 0;
        }
        return c;
    }
    __device__ __forceinline__ T load(const Col& c, int kd) const {
        if (!c.plane) return T(0);
        const int hw = g.ho * g.wo, nb = kd / hw, q = kd - nb * hw, oh = q / g.wo,
                  ow = q - oh * g.wo;
        const int ih = oh * g.sh + c.roff, iw = ow * g.sw + c.soff;
        if ((unsigned)ih >= (unsigned)g.h || (unsigned)iw >= (unsigned)g.w) return T(0);
        return c.plane[(i64)nb * g.c * g.h * g.w + (i64)ih * g.w + iw];
    }
};

template <typename T> struct WgradOut {
    T* out; // dw, or this split's slice of the workspace
    int n;  // row length c r s
    __device__ __forceinline__ void operator()(int m, int col, T acc) const {
        out[(i64)m * n + col] = acc;
    }
};

template <typename T, bool TC>
__device__ __forceinline__ void conv_wgrad(const ConvGeom& g, const T* x, const T* dy, T* dw,
                                           T* ws, int k_chunk) {
    GradRows<T> la;
    la.dy = dy;
    la.g = g;
    TapCols<T> lb;
    lb.x = x;
    lb.g = g;
    const int M = g.k, N = g.c * g.r * g.s, K = g.n * g.ho * g.wo;
    const int z = blockIdx.z;
    const int k_begin = z * k_chunk;
    const int k_end = (gridDim.z == 1 || K - k_begin < k_chunk) ? K : k_begin + k_chunk;
    WgradOut<T> ep;
    ep.out = gridDim.z == 1 ? dw : ws + (i64)z * M * N;
    ep.n = N;
    const int m0 = blockIdx.y * SG_BM, n0 = blockIdx.x * SG_BN;
    // dy rows are contiguous along k (output pixels); x taps along k too (k-fast B).
    if constexpr (TC) {
        __shared__ TcSmem sm;
        float acc[2][4][4];
        tc_mainloop<true, false>(sm, la, lb, m0, n0, k_begin, k_end, acc);
        tc_epilogue(ep, m0, n0, M, N, acc);
    } else {
        __shared__ SimtSmem<T> sm;
        T acc[4][4];
        simt_mainloop<T, true, false>(sm, la, lb, m0, n0, k_begin, k_end, acc);
        simt_epilogue<T>(ep, m0, n0, M, N, acc);
    }
}

// ---- kernels -------------------------------------------------------------------------------

// bias may be null.
extern "C" __global__ void __launch_bounds__(SG_THREADS)
    conv2d_fwd_f32(ConvGeom g, const float* x, const float* w, const float* bias, float* y) {
    conv_fwd<float, false>(g, x, w, bias, y);
}
extern "C" __global__ void __launch_bounds__(SG_THREADS)
    conv2d_fwd_f64(ConvGeom g, const double* x, const double* w, const double* bias,
                   double* y) {
    conv_fwd<double, false>(g, x, w, bias, y);
}
extern "C" __global__ void __launch_bounds__(TC_THREADS)
    conv2d_fwd_tf32_f32(ConvGeom g, const float* x, const float* w, const float* bias,
                        float* y) {
    conv_fwd<float, true>(g, x, w, bias, y);
}

extern "C" __global__ void __launch_bounds__(SG_THREADS)
    conv2d_dgrad_f32(ConvGeom g, const float* dy, const float* w, float* dx) {
    conv_dgrad<float, false>(g, dy, w, dx);
}
extern "C" __global__ void __launch_bounds__(SG_THREADS)
    conv2d_dgrad_f64(ConvGeom g, const double* dy, const double* w, double* dx) {
    conv_dgrad<double, false>(g, dy, w, dx);
}
extern "C" __global__ void __launch_bounds__(TC_THREADS)
    conv2d_dgrad_tf32_f32(ConvGeom g, const float* dy, const float* w, float* dx) {
    conv_dgrad<float, true>(g, dy, w, dx);
}

// ws: splits * k * c r s elements when gridDim.z > 1 (unused, may be null, otherwise).
extern "C" __global__ void __launch_bounds__(SG_THREADS)
    conv2d_wgrad_f32(ConvGeom g, const float* x, const float* dy, float* dw, float* ws,
                     int k_chunk) {
    conv_wgrad<float, false>(g, x, dy, dw, ws, k_chunk);
}
extern "C" __global__ void __launch_bounds__(SG_THREADS)
    conv2d_wgrad_f64(ConvGeom g, const double* x, const double* dy, double* dw, double* ws,
                     int k_chunk) {
    conv_wgrad<double, false>(g, x, dy, dw, ws, k_chunk);
}
extern "C" __global__ void __launch_bounds__(TC_THREADS)
    conv2d_wgrad_tf32_f32(ConvGeom g, const float* x, const float* dy, float* dw, float* ws,
                          int k_chunk) {
    conv_wgrad<float, true>(g, x, dy, dw, ws, k_chunk);
}

extern "C" __global__ void splitk_reduce_f32(i64 mn, int splits, const float* ws, float* out,
                                             float alpha, float beta) {
    splitk_reduce_impl<float>(mn, splits, ws, out, alpha, beta);
}
extern "C" __global__ void splitk_reduce_f64(i64 mn, int splits, const double* ws, double* out,
                                             double alpha, double beta) {
    splitk_reduce_impl<double>(mn, splits, ws, out, alpha, beta);
}
