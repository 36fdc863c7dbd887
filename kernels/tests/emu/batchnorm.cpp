#include "../../emu/emu.h"
#include "../../src/common.cuh"
#include "../../src/batchnorm.cu"
#include "check.h"

// Naive training-mode batch norm in double: y and, for loss = sum(g y), the three gradients.
static void reference(int n, int c, int l, const std::vector<double>& x, const std::vector<double>& w,
                      const std::vector<double>& b, double eps, std::vector<double>& y,
                      std::vector<double>& mean, std::vector<double>& var) {
    const double m = (double)n * l;
    mean.assign(c, 0.0);
    var.assign(c, 0.0);
    y.assign(x.size(), 0.0);
    for (int ch = 0; ch < c; ++ch) {
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < l; ++j) mean[ch] += x[((size_t)i * c + ch) * l + j] / m;
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < l; ++j) {
                const double d = x[((size_t)i * c + ch) * l + j] - mean[ch];
                var[ch] += d * d / m;
            }
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < l; ++j) {
                const size_t at = ((size_t)i * c + ch) * l + j;
                y[at] = (x[at] - mean[ch]) / std::sqrt(var[ch] + eps) * w[ch] + b[ch];
            }
    }
}

int test_batchnorm() {
    Checker c;
    Rng rng(6);
    const int n = 3, ch = 4, l = 10, chunk = 7, chunks = (n * l + chunk - 1) / chunk;
    const double eps = 1e-5;
    auto x = rng.vec<double>(n * ch * l, 2.0, 4.0); // offset mean: tests the shifted sums
    auto w = rng.vec<double>(ch, 0.5, 1.5), b = rng.vec<double>(ch), g = rng.vec<double>(n * ch * l);
    std::vector<double> y_ref, mean_ref, var_ref;
    reference(n, ch, l, x, w, b, eps, y_ref, mean_ref, var_ref);

    std::vector<double> partial(ch * chunks * 2), mean(ch), var(ch), invstd(ch);
    std::vector<double> rm(ch, 0.0), rv(ch, 1.0);
    emu_launch(bn_stats_partial_f64, dim3(chunks, ch), dim3(256), n, ch, l, chunk,
               (const double*)x.data(), partial.data());
    emu_launch(bn_stats_finalize_f64, dim3(1), dim3(256), n, ch, l, chunks, (const double*)x.data(),
               (const double*)partial.data(), eps, mean.data(), var.data(), invstd.data(), rm.data(),
               rv.data(), 0.1);
    c.close("bn_stats mean", mean, mean_ref, 1e-14, 1e-14);
    c.close("bn_stats biased var", var, var_ref, 1e-14, 1e-12);
    std::vector<double> want_rm(ch), want_rv(ch), want_inv(ch);
    for (int i = 0; i < ch; ++i) {
        want_rm[i] = 0.1 * mean_ref[i];
        want_rv[i] = 0.9 + 0.1 * var_ref[i] * 30.0 / 29.0;
        want_inv[i] = 1.0 / std::sqrt(var_ref[i] + eps);
    }
    c.close("bn_stats invstd", invstd, want_inv, 1e-12, 1e-12);
    c.close("bn running mean", rm, want_rm, 1e-15, 1e-14);
    c.close("bn running var (unbiased)", rv, want_rv, 1e-15, 1e-14);

    std::vector<double> y(x.size());
    emu_launch(bn_forward_apply_f64, dim3(1), dim3(64), n, ch, l, (const double*)x.data(),
               (const double*)mean.data(), (const double*)invstd.data(), (const double*)w.data(),
               (const double*)b.data(), y.data());
    c.close("bn_forward_apply_f64", y, y_ref, 1e-12, 1e-12);

    std::vector<double> bpart(ch * chunks * 2), dw(ch), db(ch), coef(ch * 3), dx(x.size());
    emu_launch(bn_backward_partial_f64, dim3(chunks, ch), dim3(256), n, ch, l, chunk,
               (const double*)x.data(), (const double*)g.data(), (const double*)mean.data(),
               bpart.data());
    emu_launch(bn_backward_finalize_f64, dim3(1), dim3(256), n, ch, l, chunks,
               (const double*)bpart.data(), (const double*)mean.data(), (const double*)invstd.data(),
               (const double*)w.data(), dw.data(), db.data(), coef.data());
    emu_launch(bn_backward_input_f64, dim3(1), dim3(64), n, ch, l, (const double*)x.data(),
               (const double*)g.data(), (const double*)coef.data(), dx.data());
    // Central differences of loss = sum(g y) through the naive forward.
    auto loss = [&](const std::vector<double>& xx, const std::vector<double>& ww,
                    const std::vector<double>& bb) {
        std::vector<double> yy, mm, vv;
        reference(n, ch, l, xx, ww, bb, eps, yy, mm, vv);
        double s = 0.0;
        for (size_t i = 0; i < yy.size(); ++i) s += g[i] * yy[i];
        return s;
    };
    const double h = 1e-6;
    std::vector<double> fd_x(x.size()), fd_w(ch), fd_b(ch);
    for (size_t i = 0; i < x.size(); ++i) {
        auto xp = x, xm = x;
        xp[i] += h;
        xm[i] -= h;
        fd_x[i] = (loss(xp, w, b) - loss(xm, w, b)) / (2 * h);
    }
    for (int i = 0; i < ch; ++i) {
        auto wp = w, wm = w, bp = b, bm = b;
        wp[i] += h; wm[i] -= h; bp[i] += h; bm[i] -= h;
        fd_w[i] = (loss(x, wp, b) - loss(x, wm, b)) / (2 * h);
        fd_b[i] = (loss(x, w, bp) - loss(x, w, bm)) / (2 * h);
    }
    c.close("bn_backward dx vs finite differences", dx, fd_x, 1e-6, 1e-5);
    c.close("bn_backward dweight vs finite differences", dw, fd_w, 1e-6, 1e-5);
    c.close("bn_backward dbias vs finite differences", db, fd_b, 1e-6, 1e-5);

    // f32 path against the f64 results.
    std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), bf(b.begin(), b.end());
    std::vector<float> meanf(ch), varf(ch), invf(ch), yf(x.size());
    emu_launch(bn_stats_partial_f32, dim3(chunks, ch), dim3(256), n, ch, l, chunk,
               (const float*)xf.data(), partial.data());
    emu_launch(bn_stats_finalize_f32, dim3(1), dim3(256), n, ch, l, chunks, (const float*)xf.data(),
               (const double*)partial.data(), eps, meanf.data(), varf.data(), invf.data(),
               (float*)nullptr, (float*)nullptr, 0.1);
    emu_launch(bn_forward_apply_f32, dim3(1), dim3(64), n, ch, l, (const float*)xf.data(),
               (const float*)meanf.data(), (const float*)invf.data(), (const float*)wf.data(),
               (const float*)bf.data(), yf.data());
    c.close("bn forward f32", yf, y_ref, 1e-5, 1e-5);
    return c.failures;
}
