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

// Max pooling forward and its gather backward against the CPU formulas (windows clipped to the
// input, first maximum wins, NaN wins; dx[j] = sum of dy over the windows whose argmax is j),
// for `planes` planes of h x w, launched with `blocks` x `threads` (grid-stride loops).
static void max_pool_case(Checker& c, Rng& rng, const char* tag, int planes, PoolGeom g,
                          unsigned blocks, unsigned threads) {
    const int hw = g.h * g.w, plane = g.ho * g.wo;
    auto x = rng.vec<float>((size_t)planes * hw);
    if (hw > 3) x[3] = x[2]; // a tie
    std::vector<float> want_y((size_t)planes * plane);
    std::vector<long long> want_i((size_t)planes * plane);
    for (int p = 0; p < planes; ++p)
        for (int oy = 0; oy < g.ho; ++oy)
            for (int ox = 0; ox < g.wo; ++ox) {
                float best = -INFINITY;
                long long at = -1;
                for (int iy = oy * g.sh - g.ph; iy < oy * g.sh - g.ph + g.kh; ++iy)
                    for (int ix = ox * g.sw - g.pw; ix < ox * g.sw - g.pw + g.kw; ++ix) {
                        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                        const float v = x[(size_t)p * hw + iy * g.w + ix];
                        if (at < 0) at = iy * g.w + ix;
                        if (v > best || v != v) { best = v; at = iy * g.w + ix; }
                    }
                want_y[(size_t)p * plane + oy * g.wo + ox] = best;
                want_i[(size_t)p * plane + oy * g.wo + ox] = at;
            }
    std::vector<float> y((size_t)planes * plane, NAN);
    std::vector<long long> idx((size_t)planes * plane, -7);
    emu_launch(max_pool2d_fwd_f32, dim3(blocks), dim3(threads), (i64)planes, g,
               (const float*)x.data(), y.data(), idx.data());
    c.close(std::string("max_pool2d_fwd_f32 ") + tag + " values", y, want_y, 0, 0);
    c.close(std::string("max_pool2d_fwd_f32 ") + tag + " indices", idx, want_i, 0, 0);
    auto dy = rng.vec<float>((size_t)planes * plane);
    std::vector<double> want_dx((size_t)planes * hw, 0.0);
    for (int p = 0; p < planes; ++p)
        for (int j = 0; j < plane; ++j)
            want_dx[(size_t)p * hw + want_i[(size_t)p * plane + j]] += dy[(size_t)p * plane + j];
    std::vector<float> dx((size_t)planes * hw, NAN);
    emu_launch(max_pool2d_bwd_f32, dim3(blocks), dim3(threads), (i64)planes, g,
               (const float*)dy.data(), (const long long*)idx.data(), dx.data());
    c.close(std::string("max_pool2d_bwd_f32 (gather) ") + tag, dx, want_dx, 1e-6, 1e-6);
}

// FastDiv (common.cuh) against the division operator, over divisors and numerators that
// include the edges (1, powers of two and their neighbours, 2^31 - 1, 2^31).
static void fast_div_checks(Checker& c, Rng& rng) {
    std::vector<unsigned> ds = {1, 2, 3, 4, 5, 6, 7, 9, 16, 17, 25, 49, 64, 100, 255, 256, 1000,
                                4095, 65535, 65536, 65537, 1u << 30, 2147483647u, 2147483648u};
    for (int i = 0; i < 40; ++i) ds.push_back(1 + (unsigned)(rng.next() % 2147483647u));
    size_t bad = 0, checked = 0;
    for (unsigned d : ds) {
        const FastDiv f = FastDiv::make(d);
        std::vector<unsigned> ns = {0, 1, d - 1, d, d + 1, 2 * d - 1, 2147483647u, 2147483646u};
        for (int i = 0; i < 200; ++i) ns.push_back((unsigned)(rng.next() % 2147483648u));
        for (unsigned n : ns) {
            if (n > 2147483647u) continue;
            ++checked;
            if (f.div(n) != n / d) {
                if (bad++ < 3) std::printf("     FastDiv %u / %u: %u, want %u\n", n, d, f.div(n), n / d);
            }
        }
    }
    c.truth("FastDiv exact on " + std::to_string(checked) + " numerators (n < 2^31)", bad == 0);
    // PlaneWalk visits (plane, index) pairs in order for strides below, at and above a plane.
    for (i64 step : {3, 7, 20, 21, 64}) {
        const i64 plane = 7, planes = 5;
        bool ok = true;
        for (i64 start = 0; start < step; ++start) {
            i64 o = start;
            for (PlaneWalk it(start, step, plane); it.p < planes; it.next(), o += step)
                ok &= it.p == o / plane && (i64)it.q == o % plane && it.flat() == o;
            ok &= o >= planes * plane;
        }
        c.truth("PlaneWalk over 5 planes of 7, stride " + std::to_string(step), ok);
    }
}

int test_pool() {
    Checker c;
    Rng rng(5);
    fast_div_checks(c, rng);
    // VGG's 2x2 stride 2 (each input in one window), on odd sizes (the last row and column in
    // no window: dx 0); many small planes with a grid stride of several planes; overlapping
    // 3x3 stride 1 windows (each input in up to 9); a grid stride smaller than a plane.
    max_pool_case(c, rng, "2x2 s2 on 5x7", 10, pgeom(5, 7, 2, 2, 2, 2, 0, 0), 2, 32);
    max_pool_case(c, rng, "2x2 s2 on 4x4, 37 planes", 37, pgeom(4, 4, 2, 2, 2, 2, 0, 0), 3, 32);
    max_pool_case(c, rng, "3x3 s1 p1 on 6x5", 4, pgeom(6, 5, 3, 3, 1, 1, 1, 1), 1, 64);
    max_pool_case(c, rng, "3x2 s(2,1) p(1,0) on 9x8", 3, pgeom(9, 8, 3, 2, 2, 1, 1, 0), 1, 32);
    {
        // Empty planes (0 x 0 outputs): nothing is read or written, no division by zero.
        PoolGeom g = pgeom(1, 1, 1, 1, 1, 1, 0, 0);
        g.ho = g.wo = 0;
        std::vector<float> x(4, 1.0f), y(1, 5.0f);
        std::vector<long long> idx(1, 9);
        emu_launch(max_pool2d_fwd_f32, dim3(1), dim3(32), (i64)4, g, (const float*)x.data(),
                   y.data(), idx.data());
        c.truth("max_pool2d_fwd_f32 with empty output planes writes nothing",
                y[0] == 5.0f && idx[0] == 9);
    }
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
