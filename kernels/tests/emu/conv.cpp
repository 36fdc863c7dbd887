#include "../../emu/emu.h"
#include "../../src/common.cuh"
#include "../../src/gemm_core.cuh"
#include "../../src/conv.cu"
#include "check.h"

static_assert(sizeof(ConvGeom) == 60, "ConvGeom layout (kernels/src/params.rs)");

static ConvGeom geom(int n, int c, int h, int w, int k, int r, int s, int sh, int sw, int ph,
                     int pw, int dh, int dw) {
    ConvGeom g;
    g.n = n; g.c = c; g.h = h; g.w = w; g.k = k; g.r = r; g.s = s;
    g.sh = sh; g.sw = sw; g.ph = ph; g.pw = pw; g.dh = dh; g.dw = dw;
    g.ho = (h + 2 * ph - dh * (r - 1) - 1) / sh + 1;
    g.wo = (w + 2 * pw - dw * (s - 1) - 1) / sw + 1;
    return g;
}

// Calls f(n, k, c, oh, ow, r, s, ih, iw) for every in-bounds tap of the convolution.
template <typename F> static void taps(const ConvGeom& g, F f) {
    for (int n = 0; n < g.n; ++n)
        for (int k = 0; k < g.k; ++k)
            for (int oh = 0; oh < g.ho; ++oh)
                for (int ow = 0; ow < g.wo; ++ow)
                    for (int c = 0; c < g.c; ++c)
                        for (int r = 0; r < g.r; ++r)
                            for (int s = 0; s < g.s; ++s) {
                                const int ih = oh * g.sh - g.ph + r * g.dh;
                                const int iw = ow * g.sw - g.pw + s * g.dw;
                                if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
                                    f(n, k, c, oh, ow, r, s, ih, iw);
                            }
}

template <typename T> static int run(const char* tag, const ConvGeom& g, bool tc, int splits,
                                     double atol, double rtol, Checker& c, Rng& rng) {
    const size_t nx = (size_t)g.n * g.c * g.h * g.w, nw = (size_t)g.k * g.c * g.r * g.s;
    const size_t ny = (size_t)g.n * g.k * g.ho * g.wo;
    auto x = rng.vec<T>(nx), w = rng.vec<T>(nw), bias = rng.vec<T>(g.k), dy = rng.vec<T>(ny);
    std::vector<double> y_ref(ny, 0.0), dx_ref(nx, 0.0), dw_ref(nw, 0.0);
    auto X = [&](int n, int ch, int ih, int iw) { return (((size_t)n * g.c + ch) * g.h + ih) * g.w + iw; };
    auto W = [&](int k, int ch, int r, int s) { return (((size_t)k * g.c + ch) * g.r + r) * g.s + s; };
    auto Y = [&](int n, int k, int oh, int ow) { return (((size_t)n * g.k + k) * g.ho + oh) * g.wo + ow; };
    taps(g, [&](int n, int k, int ch, int oh, int ow, int r, int s, int ih, int iw) {
        y_ref[Y(n, k, oh, ow)] += (double)x[X(n, ch, ih, iw)] * (double)w[W(k, ch, r, s)];
        dx_ref[X(n, ch, ih, iw)] += (double)dy[Y(n, k, oh, ow)] * (double)w[W(k, ch, r, s)];
        dw_ref[W(k, ch, r, s)] += (double)dy[Y(n, k, oh, ow)] * (double)x[X(n, ch, ih, iw)];
    });
    for (int n = 0; n < g.n; ++n)
        for (int k = 0; k < g.k; ++k)
            for (int q = 0; q < g.ho * g.wo; ++q) y_ref[((size_t)n * g.k + k) * g.ho * g.wo + q] += (double)bias[k];

    const int threads = tc ? 128 : 256;
    std::vector<T> y(ny, (T)NAN), dx(nx, (T)NAN), dw(nw, (T)NAN);
    const unsigned pix = g.n * g.ho * g.wo, ipix = g.n * g.h * g.w, crs = g.c * g.r * g.s;
    const int kd = g.n * g.ho * g.wo, k_chunk = (kd + splits - 1) / splits;
    std::vector<T> ws((size_t)splits * nw, (T)NAN);
    if constexpr (sizeof(T) == 4) {
        auto fwd = tc ? conv2d_fwd_tf32_f32 : conv2d_fwd_f32;
        auto dgr = tc ? conv2d_dgrad_tf32_f32 : conv2d_dgrad_f32;
        auto wgr = tc ? conv2d_wgrad_tf32_f32 : conv2d_wgrad_f32;
        emu_launch(fwd, dim3(ceil_div(pix, 64), ceil_div(g.k, 64)), dim3(threads), g,
                   (const T*)x.data(), (const T*)w.data(), (const T*)bias.data(), y.data());
        emu_launch(dgr, dim3(ceil_div(ipix, 64), ceil_div(g.c, 64)), dim3(threads), g,
                   (const T*)dy.data(), (const T*)w.data(), dx.data());
        emu_launch(wgr, dim3(ceil_div(crs, 64), ceil_div(g.k, 64), splits), dim3(threads), g,
                   (const T*)x.data(), (const T*)dy.data(), dw.data(), ws.data(), k_chunk);
        if (splits > 1)
            emu_launch(splitk_reduce_f32, dim3(2), dim3(256), (i64)nw, splits, (const T*)ws.data(),
                       dw.data(), 1.0f, 0.0f);
    } else {
        emu_launch(conv2d_fwd_f64, dim3(ceil_div(pix, 64), ceil_div(g.k, 64)), dim3(threads), g,
                   (const T*)x.data(), (const T*)w.data(), (const T*)bias.data(), y.data());
        emu_launch(conv2d_dgrad_f64, dim3(ceil_div(ipix, 64), ceil_div(g.c, 64)), dim3(threads), g,
                   (const T*)dy.data(), (const T*)w.data(), dx.data());
        emu_launch(conv2d_wgrad_f64, dim3(ceil_div(crs, 64), ceil_div(g.k, 64), splits),
                   dim3(threads), g, (const T*)x.data(), (const T*)dy.data(), dw.data(),
                   ws.data(), k_chunk);
        if (splits > 1)
            emu_launch(splitk_reduce_f64, dim3(2), dim3(256), (i64)nw, splits, (const T*)ws.data(),
                       dw.data(), 1.0, 0.0);
    }
    std::string t = tag;
    c.close(t + " fwd", y, y_ref, atol, rtol);
    c.close(t + " dgrad", dx, dx_ref, atol, rtol);
    c.close(t + " wgrad" + (splits > 1 ? " split-K " + std::to_string(splits) : ""), dw, dw_ref,
            atol, rtol);
    return 0;
}

// The forward and input gradient split over GEMM K (conv2d_*_splitk) against the CPU formula:
// each split's partial to ws, then splitk_reduce in order. `splits` = 1 runs the split kernels
// as the plain ones (ws unused).
template <typename T> static void run_split(const char* tag, const ConvGeom& g, bool tc, int splits,
                                            int k_chunk_fwd, int k_chunk_dgrad, double atol,
                                            double rtol, Checker& c, Rng& rng) {
    const size_t nx = (size_t)g.n * g.c * g.h * g.w, nw = (size_t)g.k * g.c * g.r * g.s;
    const size_t ny = (size_t)g.n * g.k * g.ho * g.wo;
    auto x = rng.vec<T>(nx), w = rng.vec<T>(nw), bias = rng.vec<T>(g.k), dy = rng.vec<T>(ny);
    std::vector<double> y_ref(ny, 0.0), dx_ref(nx, 0.0);
    auto X = [&](int n, int ch, int ih, int iw) { return (((size_t)n * g.c + ch) * g.h + ih) * g.w + iw; };
    auto W = [&](int k, int ch, int r, int s) { return (((size_t)k * g.c + ch) * g.r + r) * g.s + s; };
    auto Y = [&](int n, int k, int oh, int ow) { return (((size_t)n * g.k + k) * g.ho + oh) * g.wo + ow; };
    taps(g, [&](int n, int k, int ch, int oh, int ow, int r, int s, int ih, int iw) {
        y_ref[Y(n, k, oh, ow)] += (double)x[X(n, ch, ih, iw)] * (double)w[W(k, ch, r, s)];
        dx_ref[X(n, ch, ih, iw)] += (double)dy[Y(n, k, oh, ow)] * (double)w[W(k, ch, r, s)];
    });
    for (int n = 0; n < g.n; ++n)
        for (int k = 0; k < g.k; ++k)
            for (int q = 0; q < g.ho * g.wo; ++q) y_ref[((size_t)n * g.k + k) * g.ho * g.wo + q] += (double)bias[k];
    const int threads = tc ? 128 : 256;
    const unsigned pix = g.n * g.ho * g.wo, ipix = g.n * g.h * g.w;
    std::vector<T> y(ny, (T)NAN), dx(nx, (T)NAN);
    std::vector<T> wsy((size_t)splits * ny, (T)NAN), wsx((size_t)splits * nx, (T)NAN);
    T* py = splits > 1 ? nullptr : y.data(); // the split kernels must not touch y then
    T* pdx = splits > 1 ? nullptr : dx.data();
    if constexpr (sizeof(T) == 4) {
        auto fwd = tc ? conv2d_fwd_splitk_tf32_f32 : conv2d_fwd_splitk_f32;
        auto dgr = tc ? conv2d_dgrad_splitk_tf32_f32 : conv2d_dgrad_splitk_f32;
        emu_launch(fwd, dim3(ceil_div(pix, 64), ceil_div(g.k, 64), splits), dim3(threads), g,
                   (const T*)x.data(), (const T*)w.data(), (const T*)bias.data(), py, wsy.data(),
                   k_chunk_fwd);
        emu_launch(dgr, dim3(ceil_div(ipix, 64), ceil_div(g.c, 64), splits), dim3(threads), g,
                   (const T*)dy.data(), (const T*)w.data(), pdx, wsx.data(), k_chunk_dgrad);
        if (splits > 1) {
            emu_launch(splitk_reduce_f32, dim3(3), dim3(256), (i64)ny, splits, (const T*)wsy.data(),
                       y.data(), 1.0f, 0.0f);
            emu_launch(splitk_reduce_f32, dim3(3), dim3(256), (i64)nx, splits, (const T*)wsx.data(),
                       dx.data(), 1.0f, 0.0f);
        }
    } else {
        emu_launch(conv2d_fwd_splitk_f64, dim3(ceil_div(pix, 64), ceil_div(g.k, 64), splits),
                   dim3(threads), g, (const T*)x.data(), (const T*)w.data(),
                   (const T*)bias.data(), py, wsy.data(), k_chunk_fwd);
        emu_launch(conv2d_dgrad_splitk_f64, dim3(ceil_div(ipix, 64), ceil_div(g.c, 64), splits),
                   dim3(threads), g, (const T*)dy.data(), (const T*)w.data(), pdx, wsx.data(),
                   k_chunk_dgrad);
        if (splits > 1) {
            emu_launch(splitk_reduce_f64, dim3(3), dim3(256), (i64)ny, splits, (const T*)wsy.data(),
                       y.data(), 1.0, 0.0);
            emu_launch(splitk_reduce_f64, dim3(3), dim3(256), (i64)nx, splits, (const T*)wsx.data(),
                       dx.data(), 1.0, 0.0);
        }
    }
    std::string t = std::string(tag) + " split-K " + std::to_string(splits);
    c.close(t + " fwd", y, y_ref, atol, rtol);
    c.close(t + " dgrad", dx, dx_ref, atol, rtol);
}

int test_conv() {
    Checker c;
    Rng rng(4);
    // Stride (2, 1), padding 1, dilation (1, 2), non-square kernel, more than one tile in
    // every GEMM dimension of the forward and dgrad.
    ConvGeom g = geom(2, 66, 9, 7, 70, 3, 2, 2, 1, 1, 1, 1, 2);
    run<double>("conv2d_f64 66->70 3x2 s(2,1) p1 d(1,2)", g, false, 1, 1e-12, 1e-12, c, rng);
    run<float>("conv2d_f32 same geometry", g, false, 3, 1e-4, 1e-5, c, rng);
    run<float>("conv2d_tf32_f32 same geometry", g, true, 2, 5e-2, 5e-3, c, rng);
    // ResNet's shortcut: 1x1, stride 2, no padding; and a 3x3 same-padding conv (the MODELS.md one).
    ConvGeom s = geom(3, 5, 8, 8, 9, 1, 1, 2, 2, 0, 0, 1, 1);
    run<double>("conv2d_f64 1x1 stride 2", s, false, 1, 1e-12, 1e-12, c, rng);
    ConvGeom b = geom(2, 4, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1);
    run<double>("conv2d_f64 3x3 pad 1", b, false, 4, 1e-12, 1e-12, c, rng);
    run<float>("conv2d_tf32_f32 3x3 pad 1", b, true, 1, 3e-2, 5e-3, c, rng);
    // VGG's small layers: 3x3 pad 1 on 2x2 and 4x4 images, more than one 64-wide tile of
    // channels. K = 70 * 9 = 630 for the forward and 66 * 9 = 594 for dgrad: chunks of 160
    // (4 splits), 128 (6 splits: the last starts past the end of K and is empty), 100 (not a
    // multiple of 16).
    ConvGeom v2 = geom(3, 70, 2, 2, 66, 3, 3, 1, 1, 1, 1, 1, 1);
    run_split<double>("conv2d_f64 2x2 3x3 p1", v2, false, 4, 160, 160, 1e-12, 1e-12, c, rng);
    run_split<double>("conv2d_f64 2x2 3x3 p1", v2, false, 6, 128, 128, 1e-12, 1e-12, c, rng);
    run_split<double>("conv2d_f64 2x2 3x3 p1", v2, false, 1, 0, 0, 1e-12, 1e-12, c, rng);
    run_split<float>("conv2d_f32 2x2 3x3 p1", v2, false, 7, 100, 100, 1e-4, 1e-5, c, rng);
    run_split<float>("conv2d_tf32_f32 2x2 3x3 p1", v2, true, 3, 224, 208, 5e-2, 5e-3, c, rng);
    ConvGeom v4 = geom(2, 20, 4, 4, 24, 3, 3, 1, 1, 1, 1, 1, 1);
    run_split<float>("conv2d_f32 4x4 3x3 p1", v4, false, 2, 96, 112, 1e-4, 1e-5, c, rng);
    // Strided and dilated geometry through the split kernels (dgrad's stride test per tap).
    ConvGeom sd = geom(2, 9, 9, 7, 11, 3, 2, 2, 1, 1, 1, 1, 2);
    run_split<double>("conv2d_f64 3x2 s(2,1) d(1,2)", sd, false, 3, 20, 32, 1e-12, 1e-12, c, rng);
    return c.failures;
}
