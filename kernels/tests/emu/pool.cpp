#include "../../emu/emu.h"
#include "../../src/common.cuh"
#include "../../src/pool.cu"
#include "check.h"

static_assert(sizeof(PoolGeom) == 44, "PoolGeom layout (kernels/src/params.rs)");

static PoolGeom pgeom(int h, int w, int kh, int kw, int sh, int sw, int ph, int pw) {
    PoolGeom g;
    g.h = h; g.w = w; g.kh = kh; g.kw = kw; g.sh = sh; g.sw = sw; g.ph = ph; g.pw = pw;
    g.ho = (h + 2 * ph - kh) / sh + 1;
    g.wo = (w + 2 * pw - kw) / sw + 1;
    g.adaptive = 0;
    return g;
}

int test_pool() {
    Checker c;
    Rng rng(5);
    const int planes = 3;
    {
        // 3x3 windows, stride 2, padding 1: overlapping windows.
        PoolGeom g = pgeom(7, 6, 3, 3, 2, 2, 1, 1);
        const int hw = g.h * g.w, plane = g.ho * g.wo;
        auto x = rng.vec<double>(planes * hw);
        x[8] = x[9]; // a tie inside one window
        x[hw + 13] = NAN;
        std::vector<double> y(planes * plane), want_y(planes * plane);
        std::vector<long long> idx(planes * plane), want_i(planes * plane);
        for (int p = 0; p < planes; ++p)
            for (int oy = 0; oy < g.ho; ++oy)
                for (int ox = 0; ox < g.wo; ++ox) {
                    double best = -INFINITY;
                    long long at = -1;
                    for (int iy = oy * 2 - 1; iy < oy * 2 + 2; ++iy)
                        for (int ix = ox * 2 - 1; ix < ox * 2 + 2; ++ix) {
                            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                            const double v = x[p * hw + iy * g.w + ix];
                            if (at < 0) at = iy * g.w + ix;
                            if (v > best || v != v) { best = v; at = iy * g.w + ix; }
                        }
                    want_y[p * plane + oy * g.wo + ox] = best;
                    want_i[p * plane + oy * g.wo + ox] = at;
                }
        emu_launch(max_pool2d_fwd_f64, dim3(1), dim3(32), (i64)planes, g, (const double*)x.data(),
                   y.data(), idx.data());
        c.close("max_pool2d_fwd_f64 3x3 s2 p1 values", y, want_y, 0, 0);
        c.close("max_pool2d_fwd_f64 indices (ties, NaN)", idx, want_i, 0, 0);
        auto dy = rng.vec<double>(planes * plane);
        std::vector<double> dx(planes * hw), want_dx(planes * hw, 0.0), sc(planes * hw, 0.0);
        for (int p = 0; p < planes; ++p)
            for (int j = 0; j < plane; ++j) want_dx[p * hw + want_i[p * plane + j]] += dy[p * plane + j];
        emu_launch(max_pool2d_bwd_f64, dim3(2), dim3(32), (i64)planes, g, (const double*)dy.data(),
                   (const long long*)idx.data(), dx.data());
        c.close("max_pool2d_bwd_f64 (overlapping windows)", dx, want_dx, 1e-15, 0);
        emu_launch(plane_scatter_add_f64, dim3(1), dim3(32), (i64)planes, (i64)hw, (i64)plane,
                   (const double*)dy.data(), (const long long*)idx.data(), sc.data());
        c.close("plane_scatter_add_f64", sc, want_dx, 1e-15, 0);
        std::vector<double> gat(planes * plane);
        emu_launch(plane_gather_f64, dim3(1), dim3(32), (i64)planes, (i64)hw, (i64)plane,
                   (const double*)x.data(), (const long long*)idx.data(), gat.data());
        c.close("plane_gather_f64 at the argmax = max", gat, want_y, 0, 0);
    }
    for (int adaptive = 0; adaptive < 2; ++adaptive) {
        PoolGeom g = pgeom(7, 6, 3, 2, 2, 2, 1, 1); // fixed: 4 x 4 outputs, count_include_pad
        if (adaptive) {
            g.ho = 3;
            g.wo = 4;
            g.adaptive = 1;
        }
        const int hw = g.h * g.w, plane = g.ho * g.wo;
        auto x = rng.vec<float>(planes * hw);
        auto dy = rng.vec<float>(planes * plane);
        std::vector<double> want(planes * plane, 0.0), want_dx(planes * hw, 0.0);
        for (int p = 0; p < planes; ++p)
            for (int oy = 0; oy < g.ho; ++oy)
                for (int ox = 0; ox < g.wo; ++ox) {
                    int y0, y1, x0, x1;
                    double div;
                    if (adaptive) {
                        y0 = oy * g.h / g.ho; y1 = ((oy + 1) * g.h + g.ho - 1) / g.ho;
                        x0 = ox * g.w / g.wo; x1 = ((ox + 1) * g.w + g.wo - 1) / g.wo;
                        div = (y1 - y0) * (x1 - x0);
                    } else {
                        y0 = std::max(oy * g.sh - g.ph, 0); y1 = std::min(oy * g.sh - g.ph + g.kh, g.h);
                        x0 = std::max(ox * g.sw - g.pw, 0); x1 = std::min(ox * g.sw - g.pw + g.kw, g.w);
                        div = g.kh * g.kw;
                    }
                    double s = 0.0;
                    for (int iy = y0; iy < y1; ++iy)
                        for (int ix = x0; ix < x1; ++ix) {
                            s += x[p * hw + iy * g.w + ix];
                            want_dx[p * hw + iy * g.w + ix] += dy[p * plane + oy * g.wo + ox] / div;
                        }
                    want[p * plane + oy * g.wo + ox] = s / div;
                }
        std::vector<float> y(planes * plane), dx(planes * hw);
        emu_launch(avg_pool2d_fwd_f32, dim3(1), dim3(64), (i64)planes, g, (const float*)x.data(), y.data());
        emu_launch(avg_pool2d_bwd_f32, dim3(1), dim3(64), (i64)planes, g, (const float*)dy.data(), dx.data());
        c.close(adaptive ? "avg_pool2d_fwd_f32 adaptive 7x6->3x4" : "avg_pool2d_fwd_f32 3x2 s2 p1", y,
                want, 1e-6, 1e-6);
        c.close(adaptive ? "avg_pool2d_bwd_f32 adaptive" : "avg_pool2d_bwd_f32 fixed", dx, want_dx,
                1e-6, 1e-6);
    }
    return c.failures;
}
