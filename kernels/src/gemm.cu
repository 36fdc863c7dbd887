// Dense matrix multiply C = alpha * A B + beta * C, batched and with arbitrary element strides
// (so transposed operands, broadcast batches (batch stride 0) and strided outputs need no copy).
// For batch b: A(m, k) = A[b * a_bs + m * a_rs + k * a_cs] (M x K), B(k, n) likewise (K x N),
// C(m, n) = C[b * c_bs + m * c_rs + n * c_cs]. With beta == 0, C is not read.
//
// gemm_f32 / gemm_f64: SIMT, shared-memory tiles 64 x 64 x 16, 4 x 4 register blocking.
//   Launch: block (256), grid (ceil(N / 64), ceil(M / 64), batch).
// gemm_big_f32: SIMT for large f32 products (M, N >= 128): tiles 128 x 128 x 8, 8 x 8 outputs
//   per thread read from shared memory as float4 pairs (rows 4 ty.. and 64 + 4 ty.., columns
//   4 tx.. and 64 + 4 tx..: conflict-free); 128 registers, no spills (ptxas, sm_90), so two
//   blocks share an SM and one's loads hide behind the other's FMAs.
//   Launch: block (256), grid (ceil(N / 128), ceil(M / 128), batch).
// gemm_tf32_f32: tensor cores (mma.sync m16n8k8, TF32 inputs, f32 accumulation), sm_80+ only;
//   ~10-bit mantissa products: for training (as PyTorch's allow_tf32), not for gradcheck.
//   Pays from about M, N >= 64 and K >= 32.
//   Launch: block (128), grid (ceil(N / 64), ceil(M / 64), batch).

template <typename T> struct StridedA {
    struct Row {
        const T* p;
    };
    const T* base;
    i64 rs, cs;
    int M;
    __device__ __forceinline__ Row row(int m) const {
        Row r;
        r.p = m < M ? base + (i64)m * rs : nullptr;
        return r;
    }
    __device__ __forceinline__ T load(const Row& r, int k) const {
        return r.p ? r.p[(i64)k * cs] : T(0);
    }
};

template <typename T> struct StridedB {
    struct Col {
        const T* p;
    };
    const T* base;
    i64 rs, cs;
    int N;
    __device__ __forceinline__ Col col(int n) const {
        Col c;
        c.p = n < N ? base + (i64)n * cs : nullptr;
        return c;
    }
    __device__ __forceinline__ T load(const Col& c, int k) const {
        return c.p ? c.p[(i64)k * rs] : T(0);
    }
};

template <typename T> struct StridedC {
    T* base;
    i64 rs, cs;
    T alpha, beta;
    __device__ __forceinline__ void operator()(int m, int n, T acc) const {
        T* p = base + (i64)m * rs + (i64)n * cs;
        const T v = alpha * acc;
        *p = beta == T(0) ? v : v + beta * *p;
    }
};

// The operands of batch blockIdx.z.
template <typename T> struct GemmArgs {
    StridedA<T> a;
    StridedB<T> b;
    StridedC<T> c;
    __device__ __forceinline__ GemmArgs(int M, int N, const T* A, i64 a_bs, i64 a_rs, i64 a_cs,
                                        const T* B, i64 b_bs, i64 b_rs, i64 b_cs, T* C,
                                        i64 c_bs, i64 c_rs, i64 c_cs, T alpha, T beta) {
        const i64 z = blockIdx.z;
        a.base = A + z * a_bs;
        a.rs = a_rs;
        a.cs = a_cs;
        a.M = M;
        b.base = B + z * b_bs;
        b.rs = b_rs;
        b.cs = b_cs;
        b.N = N;
        c.base = C + z * c_bs;
        c.rs = c_rs;
        c.cs = c_cs;
        c.alpha = alpha;
        c.beta = beta;
    }
};

#define GEMM_PARAMS(T)                                                                        \
    int M, int N, int K, T alpha, const T *A, i64 a_bs, i64 a_rs, i64 a_cs, const T *B,       \
        i64 b_bs, i64 b_rs, i64 b_cs, T beta, T *C, i64 c_bs, i64 c_rs, i64 c_cs
#define GEMM_ARGS M, N, A, a_bs, a_rs, a_cs, B, b_bs, b_rs, b_cs, C, c_bs, c_rs, c_cs, alpha, beta

template <typename T, bool AK, bool BNF>
__device__ __forceinline__ void gemm_simt_run(SimtSmem<T>& sm, const GemmArgs<T>& g, int M, int N,
                                              int K) {
    const int m0 = blockIdx.y * SG_BM, n0 = blockIdx.x * SG_BN;
    T acc[4][4];
    simt_mainloop<T, AK, BNF>(sm, g.a, g.b, m0, n0, 0, K, acc);
    simt_epilogue<T>(g.c, m0, n0, M, N, acc);
}

// The load order follows the operands' strides: k-contiguous A (row-major, a_cs == 1) and
// n-contiguous B (b_cs == 1) are read along those axes, transposed ones along the other.
template <typename T> __device__ __forceinline__ void gemm_simt(GEMM_PARAMS(T)) {
    __shared__ SimtSmem<T> sm;
    const GemmArgs<T> g(GEMM_ARGS);
    if (a_cs == 1) {
        if (b_cs == 1) gemm_simt_run<T, true, true>(sm, g, M, N, K);
        else gemm_simt_run<T, true, false>(sm, g, M, N, K);
    } else {
        if (b_cs == 1) gemm_simt_run<T, false, true>(sm, g, M, N, K);
        else gemm_simt_run<T, false, false>(sm, g, M, N, K);
    }
}

template <bool AK, bool BNF>
__device__ __forceinline__ void gemm_tc_run(TcSmem& sm, const GemmArgs<float>& g, int M, int N,
                                            int K) {
    const int m0 = blockIdx.y * TC_BM, n0 = blockIdx.x * TC_BN;
    float acc[2][4][4];
    tc_mainloop<AK, BNF>(sm, g.a, g.b, m0, n0, 0, K, acc);
    tc_epilogue(g.c, m0, n0, M, N, acc);
}

extern "C" __global__ void __launch_bounds__(SG_THREADS) gemm_f32(GEMM_PARAMS(float)) {
    gemm_simt<float>(M, N, K, alpha, A, a_bs, a_rs, a_cs, B, b_bs, b_rs, b_cs, beta, C, c_bs,
                     c_rs, c_cs);
}

extern "C" __global__ void __launch_bounds__(SG_THREADS) gemm_f64(GEMM_PARAMS(double)) {
    gemm_simt<double>(M, N, K, alpha, A, a_bs, a_rs, a_cs, B, b_bs, b_rs, b_cs, beta, C, c_bs,
                      c_rs, c_cs);
}

extern "C" __global__ void __launch_bounds__(TC_THREADS) gemm_tf32_f32(GEMM_PARAMS(float)) {
    __shared__ TcSmem sm;
    const GemmArgs<float> g(GEMM_ARGS);
    if (a_cs == 1) {
        if (b_cs == 1) gemm_tc_run<true, true>(sm, g, M, N, K);
        else gemm_tc_run<true, false>(sm, g, M, N, K);
    } else {
        if (b_cs == 1) gemm_tc_run<false, true>(sm, g, M, N, K);
        else gemm_tc_run<false, false>(sm, g, M, N, K);
    }
}

// ---- large SIMT tiles (f32) ----------------------------------------------------------------

#define BG_BM 128
#define BG_BN 128
#define BG_BK 8
#define BG_THREADS 256
#define BG_LOADS ((BG_BM * BG_BK) / BG_THREADS) // 4 elements of A and 4 of B per thread
#define BG_PAD 4                                 // row stride 132: conflict-free stores

struct __align__(16) BigSmem {
    float a[BG_BK][BG_BM + BG_PAD]; // A tile transposed: a[k][m]
    float b[BG_BK][BG_BN + BG_PAD];
};

// Four consecutive floats of shared memory (16-byte aligned by construction).
struct __align__(16) MaxlF4 {
    float x, y, z, w;
};

template <bool AK, bool BNF>
__device__ __forceinline__ void gemm_big_run(BigSmem& sm, const GemmArgs<float>& g, int M, int N,
                                             int K) {
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int m0 = blockIdx.y * BG_BM, n0 = blockIdx.x * BG_BN;
    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

    float ra[BG_LOADS], rb[BG_LOADS];
    auto fetch = [&](int kt) {
#pragma unroll
        for (int i = 0; i < BG_LOADS; ++i) {
            int mm, ka, nn, kb;
            a_slot<BG_BM, BG_BK, BG_THREADS, AK>(tid, i, mm, ka);
            b_slot<BG_BN, BG_BK, BG_THREADS, BNF>(tid, i, nn, kb);
            // Row/column pointers are recomputed per tile (cheap next to 512 FMAs) rather than
            // kept, which saves the registers that let two blocks share an SM without spills.
            ra[i] = kt + ka < K ? g.a.load(g.a.row(m0 + mm), kt + ka) : 0.0f;
            rb[i] = kt + kb < K ? g.b.load(g.b.col(n0 + nn), kt + kb) : 0.0f;
        }
    };
    for (int kt = 0; kt < K; kt += BG_BK) {
        // Loads not held across the tile's FMAs: fewer live registers, two blocks per SM
        // (the other block's FMAs hide these loads).
        fetch(kt);
#pragma unroll
        for (int i = 0; i < BG_LOADS; ++i) {
            int mm, ka, nn, kb;
            a_slot<BG_BM, BG_BK, BG_THREADS, AK>(tid, i, mm, ka);
            b_slot<BG_BN, BG_BK, BG_THREADS, BNF>(tid, i, nn, kb);
            sm.a[ka][mm] = ra[i];
            sm.b[kb][nn] = rb[i];
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BG_BK; ++k) {
            const MaxlF4 a0 = *reinterpret_cast<const MaxlF4*>(&sm.a[k][4 * ty]);
            const MaxlF4 a1 = *reinterpret_cast<const MaxlF4*>(&sm.a[k][64 + 4 * ty]);
            const MaxlF4 b0 = *reinterpret_cast<const MaxlF4*>(&sm.b[k][4 * tx]);
            const MaxlF4 b1 = *reinterpret_cast<const MaxlF4*>(&sm.b[k][64 + 4 * tx]);
            const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] = m_fma(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    // Thread rows 4 ty + (0..3) and 64 + 4 ty + (0..3); columns likewise with tx.
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int m = m0 + (i < 4 ? 4 * ty + i : 64 + 4 * ty + (i - 4));
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            const int n = n0 + (j < 4 ? 4 * tx + j : 64 + 4 * tx + (j - 4));
            if (n < N) g.c(m, n, acc[i][j]);
        }
    }
}

extern "C" __global__ void __launch_bounds__(BG_THREADS, 2) gemm_big_f32(GEMM_PARAMS(float)) {
    __shared__ BigSmem sm;
    const GemmArgs<float> g(GEMM_ARGS);
    if (a_cs == 1) {
        if (b_cs == 1) gemm_big_run<true, true>(sm, g, M, N, K);
        else gemm_big_run<true, false>(sm, g, M, N, K);
    } else {
        if (b_cs == 1) gemm_big_run<false, true>(sm, g, M, N, K);
        else gemm_big_run<false, false>(sm, g, M, N, K);
    }
}
