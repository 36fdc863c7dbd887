#include "../../emu/emu.h"
#include "../../src/common.cuh"
#include "../../src/reduce.cu"
#include "check.h"

int test_reduce() {
    Checker c;
    Rng rng(2);
    {
        const int rows = 3;
        const i64 n = 1000;
        auto x = rng.vec<float>(rows * n);
        std::vector<float> out(rows);
        std::vector<double> want(rows, 0.0);
        for (int r = 0; r < rows; ++r)
            for (i64 j = 0; j < n; ++j) want[r] += x[r * n + j];
        emu_launch(sum_last_f32, dim3(rows), dim3(256), n, x.data(), out.data(), 1.0f);
        c.close("sum_last_f32 [3, 1000]", out, want, 1e-5, 1e-6);
        // Two stages: chunks of 300, then the partials.
        const i64 chunk = 300;
        const unsigned chunks = ceil_div(n, chunk);
        std::vector<float> part(rows * chunks), out2(rows);
        emu_launch(sum_partial_f32, dim3(chunks, rows), dim3(256), n, chunk, x.data(), part.data());
        emu_launch(sum_last_f32, dim3(rows), dim3(256), (i64)chunks, part.data(), out2.data(), 1.0f);
        c.close("sum_partial_f32 + sum_last_f32", out2, want, 1e-5, 1e-6);
        std::vector<float> again(rows);
        emu_launch(sum_last_f32, dim3(rows), dim3(256), n, x.data(), again.data(), 1.0f);
        c.truth("sum_last_f32 gives identical bits twice",
                std::memcmp(again.data(), out.data(), rows * sizeof(float)) == 0);
    }
    {
        const i64 pre = 2, d = 7, post = 5;
        auto x = rng.vec<double>(pre * d * post);
        std::vector<double> out(pre * post), want(pre * post, 0.0);
        for (i64 p = 0; p < pre; ++p)
            for (i64 i = 0; i < d; ++i)
                for (i64 q = 0; q < post; ++q) want[p * post + q] += x[(p * d + i) * post + q] * 0.5;
        emu_launch(sum_mid_f64, dim3(1), dim3(256), pre, d, post, x.data(), out.data(), 0.5);
        c.close("sum_mid_f64 [2,7,5] scale 0.5", out, want, 1e-15, 1e-14);
    }
    {
        const i64 n = 300;
        std::vector<float> x(3 * n);
        for (auto& v : x) v = (float)rng.uniform(-1, 1);
        x[17] = 5.0f;  // row 0: max at 17, repeated at 250 (first wins)
        x[250] = 5.0f;
        x[n + 40] = NAN; // row 1: first NaN wins
        x[n + 299] = NAN;
        x[n + 3] = 9.0f;
        x[2 * n + 299] = -7.0f; // row 2: min at the end
        std::vector<float> mx(3), mn(3);
        std::vector<long long> imx(3), imn(3);
        emu_launch(max_last_f32, dim3(3), dim3(256), n, x.data(), mx.data(), imx.data());
        emu_launch(min_last_f32, dim3(3), dim3(256), n, x.data(), mn.data(), imn.data());
        c.truth("max_last_f32 first of tied maxima", mx[0] == 5.0f && imx[0] == 17);
        c.truth("max_last_f32 NaN wins, first NaN", std::isnan(mx[1]) && imx[1] == 40);
        c.truth("min_last_f32 at the end", mn[2] == -7.0f && imn[2] == 299);
        float m0 = x[0];
        long long i0 = 0;
        for (i64 j = 1; j < n; ++j)
            if (x[j] < m0) { m0 = x[j]; i0 = j; }
        c.truth("min_last_f32 row 0", mn[0] == m0 && imn[0] == i0);
    }
    return c.failures;
}
