#include "../../emu/emu.h"
#include "../../src/common.cuh"
#include "../../src/masked_softmax.cu"
#include "check.h"

int test_masked_softmax() {
    Checker c;
    Rng rng(7);
    const int rows = 5, k = 40, P = 3;
    auto z = rng.vec<double>(rows * k, -4, 4);
    // Log-masks: row p keeps columns [p * 13, p * 13 + 13); off-block ln(1e-8), or -inf for p = 2.
    std::vector<double> table(P * k);
    for (int p = 0; p < P; ++p)
        for (int j = 0; j < k; ++j)
            table[p * k + j] = (j >= p * 13 && j < p * 13 + 13) ? 0.0 : (p == 2 ? -INFINITY : std::log(1e-8));
    std::vector<long long> labels = {0, 2, 1, 7, 2}; // 7 is out of range: a NaN row
    std::vector<double> want(rows * k);
    for (int r = 0; r < rows; ++r) {
        if (labels[r] >= P) {
            for (int j = 0; j < k; ++j) want[r * k + j] = NAN;
            continue;
        }
        double m = -INFINITY, s = 0.0;
        for (int j = 0; j < k; ++j) m = std::max(m, z[r * k + j] + table[labels[r] * k + j]);
        for (int j = 0; j < k; ++j) s += std::exp(z[r * k + j] + table[labels[r] * k + j] - m);
        for (int j = 0; j < k; ++j) want[r * k + j] = std::exp(z[r * k + j] + table[labels[r] * k + j] - m) / s;
    }
    std::vector<double> p(rows * k);
    emu_launch(masked_softmax_fwd_f64, dim3(1), dim3(256), (i64)rows, k, (const double*)z.data(),
               (const long long*)labels.data(), (const double*)table.data(), (i64)P, p.data());
    c.close("masked_softmax_fwd_f64 (1e-8 and -inf masks, bad label)", p, want, 1e-15, 1e-13);
    bool zeros = true;
    for (int j = 0; j < k; ++j)
        if ((j < 26 || j >= 39) && p[1 * k + j] != 0.0) zeros = false;
    c.truth("masked_softmax -inf mask gives exact zeros off the block", zeros);

    auto g = rng.vec<double>(rows * k);
    std::vector<double> dz(rows * k), want_dz(rows * k);
    for (int r = 0; r < rows; ++r) {
        double s = 0.0;
        for (int j = 0; j < k; ++j) s += g[r * k + j] * p[r * k + j];
        for (int j = 0; j < k; ++j) want_dz[r * k + j] = p[r * k + j] * (g[r * k + j] - s);
    }
    emu_launch(masked_softmax_bwd_f64, dim3(1), dim3(256), (i64)rows, k, (const double*)p.data(),
               (const double*)g.data(), dz.data());
    c.close("masked_softmax_bwd_f64", dz, want_dz, 1e-15, 1e-13);

    // Plain log_softmax / logsumexp (f32), 9 rows: two blocks of 8 rows.
    const int rr = 9;
    auto zf = rng.vec<float>(rr * k, -5, 5);
    auto gf = rng.vec<float>(rr * k);
    std::vector<float> ls(rr * k), lse(rr), dls(rr * k);
    std::vector<double> want_ls(rr * k), want_lse(rr), want_dls(rr * k);
    for (int r = 0; r < rr; ++r) {
        double m = -INFINITY, s = 0.0, gs = 0.0;
        for (int j = 0; j < k; ++j) m = std::max(m, (double)zf[r * k + j]);
        for (int j = 0; j < k; ++j) s += std::exp(zf[r * k + j] - m);
        want_lse[r] = std::log(s) + m;
        for (int j = 0; j < k; ++j) {
            want_ls[r * k + j] = zf[r * k + j] - want_lse[r];
            gs += gf[r * k + j];
        }
        for (int j = 0; j < k; ++j) want_dls[r * k + j] = gf[r * k + j] - std::exp(want_ls[r * k + j]) * gs;
    }
    emu_launch(log_softmax_fwd_f32, dim3(2), dim3(256), (i64)rr, k, (const float*)zf.data(), ls.data());
    emu_launch(logsumexp_fwd_f32, dim3(2), dim3(256), (i64)rr, k, (const float*)zf.data(), lse.data());
    emu_launch(log_softmax_bwd_f32, dim3(2), dim3(256), (i64)rr, k, (const float*)ls.data(),
               (const float*)gf.data(), dls.data());
    c.close("log_softmax_fwd_f32", ls, want_ls, 1e-5, 1e-6);
    c.close("logsumexp_fwd_f32", lse, want_lse, 1e-5, 1e-6);
    c.close("log_softmax_bwd_f32", dls, want_dls, 1e-5, 1e-5);
    return c.failures;
}
