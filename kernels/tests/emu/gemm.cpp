#include "../../emu/emu.h"
#include "../../src/common.cuh"
#include "../../src/gemm_core.cuh"
#include "../../src/gemm.cu"
#include "check.h"

// C(b) = alpha A(b) B(b) + beta C(b) in double, with the kernels' stride conventions.
template <typename T>
static std::vector<double> ref_gemm(int M, int N, int K, int batch, double alpha, const T* A,
                                    i64 a_bs, i64 a_rs, i64 a_cs, const T* B, i64 b_bs, i64 b_rs,
                                    i64 b_cs, double beta, const std::vector<T>& C, i64 c_bs,
                                    i64 c_rs, i64 c_cs) {
    std::vector<double> out(C.begin(), C.end());
    for (int b = 0; b < batch; ++b)
        for (int m = 0; m < M; ++m)
            for (int n = 0; n < N; ++n) {
                double s = 0.0;
                for (int k = 0; k < K; ++k)
                    s += (double)A[b * a_bs + m * a_rs + k * a_cs] *
                         (double)B[b * b_bs + k * b_rs + n * b_cs];
                const i64 o = b * c_bs + m * c_rs + n * c_cs;
                out[o] = alpha * s + (beta == 0.0 ? 0.0 : beta * (double)C[o]);
            }
    return out;
}

int test_gemm() {
    Checker c;
    Rng rng(3);
    {
        // Row-major operands, several tiles in M and N, K not a multiple of 16.
        const int M = 70, N = 45, K = 37;
        auto A = rng.vec<double>(M * K), B = rng.vec<double>(K * N);
        std::vector<double> C(M * N, NAN); // beta = 0: C is not read
        auto want = ref_gemm<double>(M, N, K, 1, 1.0, A.data(), 0, K, 1, B.data(), 0, N, 1, 0.0,
                                     std::vector<double>(M * N, 0.0), 0, N, 1);
        emu_launch(gemm_f64, dim3(ceil_div(N, 64), ceil_div(M, 64), 1), dim3(256), M, N, K, 1.0,
                   (const double*)A.data(), (i64)0, (i64)K, (i64)1, (const double*)B.data(),
                   (i64)0, (i64)N, (i64)1, 0.0, C.data(), (i64)0, (i64)N, (i64)1);
        c.close("gemm_f64 70x45x37 row-major", C, want, 1e-13, 1e-13);
    }
    {
        // Both operands transposed (A stored K x M, B stored N x K), alpha, beta != 0.
        const int M = 33, N = 66, K = 20;
        auto A = rng.vec<double>(K * M), B = rng.vec<double>(N * K);
        auto C = rng.vec<double>(M * N);
        auto want = ref_gemm<double>(M, N, K, 1, 0.5, A.data(), 0, 1, M, B.data(), 0, 1, K, -2.0,
                                     C, 0, N, 1);
        emu_launch(gemm_f64, dim3(ceil_div(N, 64), ceil_div(M, 64), 1), dim3(256), M, N, K, 0.5,
                   (const double*)A.data(), (i64)0, (i64)1, (i64)M, (const double*)B.data(),
                   (i64)0, (i64)1, (i64)K, -2.0, C.data(), (i64)0, (i64)N, (i64)1);
        c.close("gemm_f64 A^T B^T, alpha 0.5, beta -2", C, want, 1e-13, 1e-13);
    }
    {
        // Batched f32: 3 batches of A, one B shared (batch stride 0), C written transposed.
        const int M = 17, N = 70, K = 65, batch = 3;
        auto A = rng.vec<float>(batch * M * K), B = rng.vec<float>(K * N);
        std::vector<float> C(batch * M * N, 0.0f);
        auto want = ref_gemm<float>(M, N, K, batch, 1.0, A.data(), M * K, K, 1, B.data(), 0, N, 1,
                                    0.0, C, M * N, 1, M);
        emu_launch(gemm_f32, dim3(ceil_div(N, 64), ceil_div(M, 64), batch), dim3(256), M, N, K,
                   1.0f, (const float*)A.data(), (i64)(M * K), (i64)K, (i64)1,
                   (const float*)B.data(), (i64)0, (i64)N, (i64)1, 0.0f, C.data(), (i64)(M * N),
                   (i64)1, (i64)M);
        c.close("gemm_f32 batched, shared B, C^T", C, want, 1e-5, 1e-5);
    }
    for (int variant = 0; variant < 2; ++variant) {
        // Tensor cores: TF32 products (10-bit mantissa), f32 accumulation.
        const int M = 130, N = 70, K = 50;
        const bool trans = variant == 1;
        auto A = rng.vec<float>(M * K), B = rng.vec<float>(K * N);
        const i64 a_rs = trans ? 1 : K, a_cs = trans ? M : 1;
        const i64 b_rs = trans ? 1 : N, b_cs = trans ? K : 1;
        std::vector<float> C(M * N, 1.0f);
        auto want = ref_gemm<float>(M, N, K, 1, 1.0, A.data(), 0, a_rs, a_cs, B.data(), 0, b_rs,
                                    b_cs, 1.0, C, 0, N, 1);
        emu_launch(gemm_tf32_f32, dim3(ceil_div(N, 64), ceil_div(M, 64), 1), dim3(128), M, N, K,
                   1.0f, (const float*)A.data(), (i64)0, a_rs, a_cs, (const float*)B.data(),
                   (i64)0, b_rs, b_cs, 1.0f, C.data(), (i64)0, (i64)N, (i64)1);
        c.close(trans ? "gemm_tf32_f32 130x70x50 A^T B^T, beta 1" : "gemm_tf32_f32 130x70x50",
                C, want, 2e-2, 2e-3);
    }
    for (int variant = 0; variant < 4; ++variant) {
        // Large SIMT tiles: every A/B layout, edge tiles in M, N and K, batches, alpha/beta.
        const int M = 200, N = 140, K = 37, batch = variant == 3 ? 2 : 1;
        const bool ta = variant & 1, tb = variant & 2;
        auto A = rng.vec<float>(batch * M * K), B = rng.vec<float>(batch * K * N);
        const i64 a_rs = ta ? 1 : K, a_cs = ta ? M : 1;
        const i64 b_rs = tb ? 1 : N, b_cs = tb ? K : 1;
        std::vector<float> C = rng.vec<float>(batch * M * N);
        const double alpha = variant == 1 ? 0.5 : 1.0, beta = variant == 2 ? -1.0 : 0.0;
        auto want = ref_gemm<float>(M, N, K, batch, alpha, A.data(), M * K, a_rs, a_cs, B.data(),
                                    K * N, b_rs, b_cs, beta, C, M * N, N, 1);
        emu_launch(gemm_big_f32, dim3(ceil_div(N, 128), ceil_div(M, 128), batch), dim3(256), M,
                   N, K, (float)alpha, (const float*)A.data(), (i64)(M * K), a_rs, a_cs,
                   (const float*)B.data(), (i64)(K * N), b_rs, b_cs, (float)beta, C.data(),
                   (i64)(M * N), (i64)N, (i64)1);
        char what[96];
        std::snprintf(what, sizeof what, "gemm_big_f32 200x140x37 A%s B%s batch %d", ta ? "^T" : "",
                      tb ? "^T" : "", batch);
        c.close(what, C, want, 1e-5, 1e-5);
    }
    return c.failures;
}
