// 2-D convolution (NCHW, groups = 1, stride / padding / dilation per axis) as implicit GEMM:
// the GEMM main loops of gemm_core.cuh with loaders that gather the convolution's operands
// directly (no im2col buffer). Shapes: x [n, c, h, w], weight [k, c, r, s], y [n, k, ho, wo],
// ho = (h + 2 ph - dh (r - 1) - 1) / sh + 1 (the host checks the geometry). Every GEMM
// dimension and every tensor below 2^31 elements per image; index arithmetic is 32-bit, and
// the per-element divisions of the gathers use FastDiv (common.cuh) instead of integer division.
//
// conv2d_fwd:   y = conv(x, w) (+ bias[k])    GEMM M = k, N = n ho wo, K = c r s
// conv2d_dgrad: dx = conv_transpose(dy, w)    GEMM M = c, N = n h w,   K = k r s
//               (each dx element gathered once: deterministic, no atomics)
// conv2d_wgrad: dw = corr(x, dy)              GEMM M = k, N = c r s,   K = n ho wo
//               (deterministic split-K: blockIdx.z = split; with gridDim.z > 1 each split
//               writes ws[z][k][c r s], then splitk_reduce sums the splits in order)
// conv2d_fwd_splitk, conv2d_dgrad_splitk: the forward and input gradient split over GEMM K, for
//               small outputs (VGG's 4x4 and 2x2 layers give too few 64 x 64 tiles to fill the
//               GPU): with gridDim.z = S > 1, split z sums K range [z k_chunk, min(K, (z + 1)
//               k_chunk)) and writes ws[z] in the layout of y (dx), the bias added by split 0
//               only; splitk_reduce(|y|, S, ws, y, 1, 0) then sums the splits in order
//               (deterministic). With gridDim.z = 1 they are conv2d_fwd / conv2d_dgrad (ws unused).
//
// Launch, SIMT (_f32, _f64): block (256); tensor cores (_tf32_f32, sm_80+): block (128);
//   fwd:   grid (ceil(n ho wo / 64), ceil(k / 64), 1)
//   dgrad: grid (ceil(n h w / 64),   ceil(c / 64), 1)
//   wgrad: grid (ceil(c r s / 64),   ceil(k / 64), splits), k_chunk = ceil(n ho wo / splits)
//   fwd_splitk:   grid (ceil(n ho wo / 64), ceil(k / 64), S), ws: S n k ho wo elements
//   dgrad_splitk: grid (ceil(n h w / 64),   ceil(c / 64), S), ws: S n c h w elements
//                 (S k_chunk >= K, else the kernel traps; k_chunk best a multiple of 16)
//   splitk_reduce: block (256), grid (min(ceil(mn / 256), 262140))

struct ConvGeom {
    int n, c, h, w; // input
    int k, r, s;    // filters
    int ho, wo;     // output
    int sh, sw;     // stride
    int ph, pw;     // zero padding
    int dh, dw;     // dilation
};

// ---- forward -------------------------------------------------------------------------------

// The GEMM K range of split blockIdx.z: all of [0, K) with one split, else [z k_chunk,
// min(K, (z + 1) k_chunk)) (empty past K). Splits that do not cover K are a launcher bug that
// would drop terms silently: the kernel traps instead.
__device__ __forceinline__ void split_range(int K, int k_chunk, int& k_begin, int& k_end) {
    if (gridDim.z == 1) {
        k_begin = 0;
        k_end = K;
        return;
    }
    if (k_chunk < 1 || (i64)k_chunk * gridDim.z < K) __trap();
    const i64 b = (i64)blockIdx.z * k_chunk, e = b + k_chunk;
    k_begin = b < K ? (int)b : K;
    k_end = e < K ? (int)e : K;
}

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
    int in_hw;         // h w
    FastDiv rs_div;    // by r s
    FastDiv s_div;     // by s
    __device__ __forceinline__ Col col(int p) const {
        Col c;
        const int hw = g.ho * g.wo;
        if (p < g.n * hw) {
            const int nb = p / hw, q = p - nb * hw, oh = q / g.wo, ow = q - oh * g.wo;
            c.img = x + (i64)nb * g.c * in_hw;
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
        const int ch = (int)rs_div.div(kd), t = kd - ch * (int)rs_div.d;
        const int r = (int)s_div.div(t), s = t - r * g.s;
        const int ih = c.ih0 + r * g.dh, iw = c.iw0 + s * g.dw;
        if ((unsigned)ih >= (unsigned)g.h || (unsigned)iw >= (unsigned)g.w) return T(0);
        return c.img[(i64)ch * in_hw + ih * g.w + iw];
    }
};

// Writes output pixel p = (nb, q) of channel m: y[nb, m, q] (+ bias[m]).
template <typename T> struct FwdOut {
    T* y;
    const T* bias;
    int k, hw;     // channels, ho wo
    FastDiv hw_div;
    __device__ __forceinline__ void operator()(int m, int p, T acc) const {
        const int nb = (int)hw_div.div(p), q = p - nb * hw;
        y[((i64)nb * k + m) * hw + q] = bias ? acc + bias[m] : acc;
    }
};

template <typename T, bool TC>
__device__ __forceinline__ void conv_fwd(const ConvGeom& g, const T* x, const T* w,
                                         const T* bias, T* y, T* ws, int k_chunk) {
    WeightRows<T> la;
    la.w = w;
    la.rows = g.k;
    la.len = g.c * g.r * g.s;
    ImageCols<T> lb;
    lb.x = x;
    lb.g = g;
    lb.in_hw = g.h * g.w;
    lb.rs_div = FastDiv::make(g.r * g.s);
    lb.s_div = FastDiv::make(g.s);
    const int M = g.k, N = g.n * g.ho * g.wo, K = la.len;
    int k_begin, k_end;
    split_range(K, k_chunk, k_begin, k_end);
    FwdOut<T> ep;
    ep.y = gridDim.z == 1 ? y : ws + (i64)blockIdx.z * M * N;
    ep.bias = blockIdx.z == 0 ? bias : nullptr;
    ep.k = g.k;
    ep.hw = g.ho * g.wo;
    ep.hw_div = FastDiv::make(ep.hw);
    const int m0 = blockIdx.y * SG_BM, n0 = blockIdx.x * SG_BN;
    if constexpr (TC) {
        __shared__ TcSmem sm;
        float acc[2][4][4];
        tc_mainloop<true, true>(sm, la, lb, m0, n0, k_begin, k_end, acc);
        tc_epilogue(ep, m0, n0, M, N, acc);
    } else {
        __shared__ SimtSmem<T> sm;
        T acc[4][4];
        simt_mainloop<T, true, true>(sm, la, lb, m0, n0, k_begin, k_end, acc);
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
    FastDiv rs_div;
    __device__ __forceinline__ Row row(int m) const {
        Row r;
        r.p = m < c ? w + (i64)m * rs : nullptr;
        return r;
    }
    __device__ __forceinline__ T load(const Row& r, int kd) const {
        if (!r.p) return T(0);
        const int kch = (int)rs_div.div(kd), t = kd - kch * rs;
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
    int out_hw;                // ho wo
    FastDiv rs_div, s_div;     // by r s, by s
    FastDiv sh_div, sw_div;    // by the strides
    __device__ __forceinline__ Col col(int p) const {
        Col c;
        const int hw = g.h * g.w;
        if (p < g.n * hw) {
            const int nb = p / hw, q = p - nb * hw, h = q / g.w, w = q - h * g.w;
            c.img = dy + (i64)nb * g.k * out_hw;
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
        const int kch = (int)rs_div.div(kd), t = kd - kch * (int)rs_div.d;
        const int r = (int)s_div.div(t), s = t - r * g.s;
        int oh = c.th0 - r * g.dh, ow = c.tw0 - s * g.dw;
        if (oh < 0 || ow < 0) return T(0);
        if (g.sh != 1) {
            const int q = (int)sh_div.div(oh);
            if (oh != q * g.sh) return T(0);
            oh = q;
        }
        if (g.sw != 1) {
            const int q = (int)sw_div.div(ow);
            if (ow != q * g.sw) return T(0);
            ow = q;
        }
        if (oh >= g.ho || ow >= g.wo) return T(0);
        return c.img[(i64)kch * out_hw + oh * g.wo + ow];
    }
};

// Writes input pixel p = (nb, q) of channel m: dx[nb, m, q].
template <typename T> struct DgradOut {
    T* dx;
    int c, hw;     // channels, h w
    FastDiv hw_div;
    __device__ __forceinline__ void operator()(int m, int p, T acc) const {
        const int nb = (int)hw_div.div(p), q = p - nb * hw;
        dx[((i64)nb * c + m) * hw + q] = acc;
    }
};

template <typename T, bool TC>
__device__ __forceinline__ void conv_dgrad(const ConvGeom& g, const T* dy, const T* w, T* dx,
                                           T* ws, int k_chunk) {
    WeightCols<T> la;
    la.w = w;
    la.c = g.c;
    la.rs = g.r * g.s;
    la.rs_div = FastDiv::make(la.rs);
    GradCols<T> lb;
    lb.dy = dy;
    lb.g = g;
    lb.out_hw = g.ho * g.wo;
    lb.rs_div = la.rs_div;
    lb.s_div = FastDiv::make(g.s);
    lb.sh_div = FastDiv::make(g.sh);
    lb.sw_div = FastDiv::make(g.sw);
    const int M = g.c, N = g.n * g.h * g.w, K = g.k * g.r * g.s;
    int k_begin, k_end;
    split_range(K, k_chunk, k_begin, k_end);
    DgradOut<T> ep;
    ep.dx = gridDim.z == 1 ? dx : ws + (i64)blockIdx.z * M * N;
    ep.c = g.c;
    ep.hw = g.h * g.w;
    ep.hw_div = FastDiv::make(ep.hw);
    const int m0 = blockIdx.y * SG_BM, n0 = blockIdx.x * SG_BN;
    if constexpr (TC) {
        __shared__ TcSmem sm;
        float acc[2][4][4];
        tc_mainloop<true, true>(sm, la, lb, m0, n0, k_begin, k_end, acc);
        tc_epilogue(ep, m0, n0, M, N, acc);
    } else {
        __shared__ SimtSmem<T> sm;
        T acc[4][4];
        simt_mainloop<T, true, true>(sm, la, lb, m0, n0, k_begin, k_end, acc);
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
    FastDiv hw_div; // by ho wo
    __device__ __forceinline__ Row row(int m) const {
        Row r;
        r.m = m < g.k ? m : -1;
        return r;
    }
    __device__ __forceinline__ T load(const Row& r, int kd) const {
        if (r.m < 0) return T(0);
        const int hw = (int)hw_div.d, nb = (int)hw_div.div(kd), q = kd - nb * hw;
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
    int in_hw;             // h w
    FastDiv hw_div, wo_div; // by ho wo, by wo
    __device__ __forceinline__ Col col(int n) const {
        Col c;
        const int rs = g.r * g.s;
        if (n < g.c * rs) {
            const int ch = n / rs, t = n - ch * rs, r = t / g.s, s = t - r * g.s;
            c.plane = x + (i64)ch * in_hw;
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
        const int nb = (int)hw_div.div(kd), q = kd - nb * (int)hw_div.d;
        const int oh = (int)wo_div.div(q), ow = q - oh * g.wo;
        const int ih = oh * g.sh + c.roff, iw = ow * g.sw + c.soff;
        if ((unsigned)ih >= (unsigned)g.h || (unsigned)iw >= (unsigned)g.w) return T(0);
        return c.plane[(i64)nb * g.c * in_hw + ih * g.w + iw];
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
    la.hw_div = FastDiv::make(g.ho * g.wo);
    TapCols<T> lb;
    lb.x = x;
    lb.g = g;
    lb.in_hw = g.h * g.w;
    lb.hw_div = la.hw_div;
    lb.wo_div = FastDiv::make(g.wo);
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

#define MAXL_CONV_FWD_DGRAD(T, sfx, TC, THREADS)                                                  \
    extern "C" __global__ void __launch_bounds__(THREADS)                                         \
        conv2d_fwd_##sfx(ConvGeom g, const T* x, const T* w, const T* bias, T* y) {               \
        conv_fwd<T, TC>(g, x, w, bias, y, nullptr, 0);                                             \
    }                                                                                              \
    extern "C" __global__ void __launch_bounds__(THREADS) conv2d_fwd_splitk_##sfx(                \
        ConvGeom g, const T* x, const T* w, const T* bias, T* y, T* ws, int k_chunk) {            \
        conv_fwd<T, TC>(g, x, w, bias, y, ws, k_chunk);                                            \
    }                                                                                              \
    extern "C" __global__ void __launch_bounds__(THREADS)                                         \
        conv2d_dgrad_##sfx(ConvGeom g, const T* dy, const T* w, T* dx) {                          \
        conv_dgrad<T, TC>(g, dy, w, dx, nullptr, 0);                                               \
    }                                                                                              \
    extern "C" __global__ void __launch_bounds__(THREADS) conv2d_dgrad_splitk_##sfx(              \
        ConvGeom g, const T* dy, const T* w, T* dx, T* ws, int k_chunk) {                         \
        conv_dgrad<T, TC>(g, dy, w, dx, ws, k_chunk);                                              \
    }

// bias may be null; ws and k_chunk: see conv2d_fwd_splitk above.
MAXL_CONV_FWD_DGRAD(float, f32, false, SG_THREADS)
MAXL_CONV_FWD_DGRAD(double, f64, false, SG_THREADS)
MAXL_CONV_FWD_DGRAD(float, tf32_f32, true, TC_THREADS)

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
