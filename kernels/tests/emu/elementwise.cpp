#include "../../emu/emu.h"
#include "../../src/common.cuh"
#include "../../src/elementwise.cu"
#include "check.h"

static_assert(sizeof(Strided) == 200 && alignof(Strided) == 8, "Strided layout (kernels/src/params.rs)");

int test_elementwise() {
    Checker c;
    Rng rng(1);
    {
        const i64 n = 1000;
        auto x = rng.vec<float>(n, -3, 3);
        std::vector<float> y(n), ys(n);
        Strided L = make_strided({n}, {1}, {}, {}, 1);
        emu_launch(exp_f32, dim3(2), dim3(256), n, x.data(), y.data(), 0.0f, 0.0f, L);
        emu_launch(sigmoid_f32, dim3(2), dim3(256), n, x.data(), ys.data(), 0.0f, 0.0f, L);
        std::vector<double> want(n), wants(n);
        for (i64 i = 0; i < n; ++i) {
            want[i] = std::exp((double)x[i]);
            wants[i] = 1.0 / (1.0 + std::exp(-(double)x[i]));
        }
        c.close("exp_f32 contiguous (grid-stride)", y, want, 0, 1e-6);
        c.close("sigmoid_f32", ys, wants, 1e-7, 1e-6);
    }
    {
        // [4, 5] logical, stored transposed ([5, 4] in memory): strides (1, 4).
        auto x = rng.vec<double>(20);
        std::vector<double> y(20), want(20);
        Strided L = make_strided({4, 5}, {1, 4});
        emu_launch(clamp_f64, dim3(1), dim3(64), (i64)20, x.data(), y.data(), -0.5, 0.25, L);
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 5; ++j) {
                const double v = x[j * 4 + i];
                want[i * 5 + j] = v < -0.5 ? -0.5 : (v > 0.25 ? 0.25 : v);
            }
        c.close("clamp_f64 on a transposed view", y, want, 0, 0);
    }
    {
        // a [3, 1, 5] + b [1, 4, 1] -> [3, 4, 5].
        auto a = rng.vec<float>(15);
        auto b = rng.vec<float>(4);
        std::vector<float> out(60), mx(60);
        std::vector<double> want(60), wmx(60);
        Strided L = make_strided({3, 4, 5}, {5, 0, 1}, {0, 1, 0});
        emu_launch(add_f32, dim3(1), dim3(32), (i64)60, a.data(), b.data(), out.data(), L);
        emu_launch(maximum_f32, dim3(1), dim3(32), (i64)60, a.data(), b.data(), mx.data(), L);
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 4; ++j)
                for (int k = 0; k < 5; ++k) {
                    want[(i * 4 + j) * 5 + k] = (double)a[i * 5 + k] + (double)b[j];
                    wmx[(i * 4 + j) * 5 + k] = std::max(a[i * 5 + k], b[j]);
                }
        c.close("add_f32 broadcast [3,1,5]+[1,4,1]", out, want, 1e-7, 0);
        std::vector<float> sc(60);
        std::vector<double> wsc(60);
        emu_launch(add_scaled_f32, dim3(1), dim3(32), (i64)60, a.data(), b.data(), sc.data(),
                   -0.75f, L);
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 4; ++j)
                for (int k = 0; k < 5; ++k)
                    wsc[(i * 4 + j) * 5 + k] = (double)a[i * 5 + k] - 0.75 * (double)b[j];
        c.close("add_scaled_f32 broadcast [3,1,5] - 0.75 [1,4,1]", sc, wsc, 1e-6, 0);
        c.close("maximum_f32 broadcast", mx, wmx, 0, 0);
    }
    {
        std::vector<double> cond = {1, 0, 1}, a = {1, 2, 3, 4, 5, 6}, b = {-1}, out(6);
        // cond [1, 3] broadcast over [2, 3]; b a scalar broadcast everywhere.
        Strided L = make_strided({2, 3}, {0, 1}, {3, 1}, {0, 0});
        emu_launch(where_f64, dim3(1), dim3(32), (i64)6, cond.data(), a.data(), b.data(),
                   out.data(), L);
        c.close("where_f64 broadcast", out, std::vector<double>{1, -1, 3, 4, -1, 6}, 0, 0);
    }
    {
        std::vector<double> x = {1.5, -2.25, 3.0};
        std::vector<float> y(3);
        emu_launch(cast_f64_f32, dim3(1), dim3(32), (i64)3, x.data(), y.data(),
                   make_strided({3}, {1}, {}, {}, 1));
        c.close("cast_f64_f32", y, x, 0, 0);
        std::vector<float> acc = {NAN, NAN, NAN}, xs = {1, 2, 3};
        emu_launch(axpby_f32, dim3(1), dim3(32), (i64)3, 2.0f, xs.data(), 0.0f, acc.data());
        c.close("axpby_f32 with b = 0 ignores NaN y", acc, std::vector<float>{2, 4, 6}, 0, 0);
        std::vector<long long> f(5);
        emu_launch(fill_i64, dim3(1), dim3(32), (i64)5, f.data(), (i64)7);
        c.close("fill_i64", f, std::vector<long long>(5, 7), 0, 0);
    }
    return c.failures;
}
