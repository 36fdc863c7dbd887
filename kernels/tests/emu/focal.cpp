#include "../../emu/emu.h"
#include "../../src/common.cuh"
#include "../../src/focal_loss.cu"
#include "check.h"

// Per-row focal loss in double, straight from the definition.
static std::vector<double> ref_loss(int rows, int k, const std::vector<double>& z,
                                    const std::vector<double>& t, double gamma) {
    std::vector<double> out(rows);
    for (int r = 0; r < rows; ++r) {
        double m = -INFINITY, s = 0.0, l = 0.0;
        for (int j = 0; j < k; ++j) m = std::max(m, z[r * k + j]);
        for (int j = 0; j < k; ++j) s += std::exp(z[r * k + j] - m);
        for (int j = 0; j < k; ++j) {
            const double logp = z[r * k + j] - m - std::log(s), p = std::exp(logp);
            if (t[r * k + j] != 0.0) l -= t[r * k + j] * std::pow(1.0 - p, gamma) * logp;
        }
        out[r] = l;
    }
    return out;
}

int test_focal_loss() {
    Checker c;
    Rng rng(8);
    const int rows = 4, k = 37;
    auto z = rng.vec<double>(rows * k, -3, 3);
    std::vector<double> t(rows * k, 0.0);
    for (int r = 0; r < rows; ++r) {
        double s = 0.0;
        for (int j = 0; j < k; ++j) {
            t[r * k + j] = (j % 3 == 0) ? 0.0 : rng.uniform(0, 1); // soft, with zeros
            s += t[r * k + j];
        }
        for (int j = 0; j < k; ++j) t[r * k + j] /= s;
    }
    for (double gamma : {0.0, 0.5, 2.0}) {
        const std::string tag = "gamma " + std::to_string(gamma).substr(0, 3);
        std::vector<double> loss(rows);
        emu_launch(focal_loss_fwd_f64, dim3(1), dim3(256), (i64)rows, k, (const double*)z.data(),
                   (const double*)t.data(), gamma, loss.data());
        c.close("focal_loss_fwd_f64 " + tag, loss, ref_loss(rows, k, z, t, gamma), 1e-14, 1e-13);
        // Mean over rows, upstream gradient 1.5 as a device scalar (stride 0).
        const double up = 1.5;
        std::vector<double> dz(rows * k), fd(rows * k);
        emu_launch(focal_loss_bwd_f64, dim3(1), dim3(256), (i64)rows, k, (const double*)z.data(),
                   (const double*)t.data(), gamma, (const double*)&up, (i64)0, 1.0 / rows, dz.data());
        const double h = 1e-6;
        for (int i = 0; i < rows * k; ++i) {
            auto zp = z, zm = z;
            zp[i] += h;
            zm[i] -= h;
            double lp = 0, lm = 0;
            for (double v : ref_loss(rows, k, zp, t, gamma)) lp += v;
            for (double v : ref_loss(rows, k, zm, t, gamma)) lm += v;
            fd[i] = up * (lp - lm) / (2 * h) / rows;
        }
        c.close("focal_loss_bwd_f64 vs finite differences " + tag, dz, fd, 1e-8, 1e-6);
    }
    {
        // Per-row upstream gradients (stride 1), f32.
        std::vector<float> zf(z.begin(), z.end()), tf(t.begin(), t.end()), gout = {1, -2, 0.5, 3};
        std::vector<float> dz(rows * k), dz1(rows * k);
        emu_launch(focal_loss_bwd_f32, dim3(1), dim3(256), (i64)rows, k, (const float*)zf.data(),
                   (const float*)tf.data(), 2.0f, (const float*)gout.data(), (i64)1, 1.0f, dz.data());
        emu_launch(focal_loss_bwd_f32, dim3(1), dim3(256), (i64)rows, k, (const float*)zf.data(),
                   (const float*)tf.data(), 2.0f, (const float*)nullptr, (i64)0, 1.0f, dz1.data());
        std::vector<double> want(rows * k);
        for (int r = 0; r < rows; ++r)
            for (int j = 0; j < k; ++j) want[r * k + j] = (double)gout[r] * dz1[r * k + j];
        c.close("focal_loss_bwd_f32 per-row upstream", dz, want, 1e-6, 1e-6);
    }
    return c.failures;
}
