// Block-level GEMM main loops shared by gemm.cu and conv.cu (prepended to both modules).
//
// A block computes a BM x BN tile of C = A(M x K) * B(K x N) over a range of K. Operands come
// through loader functors, so one main loop serves plain/batched/transposed GEMM (strided
// loaders) and the three implicit-GEMM convolutions (gathering loaders, no im2col buffer):
//
//   struct LoaderA { typedef ... Row;                     // per-row state, built once per block
//                    Row row(int m) const;                // m may be >= M (then loads give 0)
//                    T load(const Row&, int k) const; };  // called with 0 <= k < K only
//   struct LoaderB { typedef ... Col; Col col(int n) const; T load(const Col&, int k) const; };
//
// The main loops take two compile-time flags: AK (A is contiguous along k) and BNF (B is
// contiguous along n), which pick the thread-to-element order of the tile loads.
//
// Each thread loads a fixed set of (row, k-offset) slots of every tile, so the row/column state
// (the costly index decomposition of convolution) is computed once per block, not per tile.
// Loads of tile t+1 go to registers while tile t is multiplied from shared memory.
//
// Two main loops:
// - SIMT (f32, f64): BM = BN = 64, BK = 16, 256 threads as 16 x 16, each thread 4 x 4 outputs
//   (rows ty + 16 i, cols tx + 16 j: conflict-free shared reads, coalesced stores).
// - Tensor cores (f32 in, TF32 multiply, f32 accumulate; sm_80+): BM = BN = 64, BK = 16,
//   128 threads = 4 warps as 2 x 2, each warp 32 x 32 = 2 x 4 mma.sync.m16n8k8 tiles.

#define SG_BM 64
#define SG_BN 64
#define SG_BK 16
#define SG_THREADS 256
#define SG_LOADS ((SG_BM * SG_BK) / SG_THREADS) // 4 elements of A and 4 of B per thread
#define SG_APAD 4
#define SG_BPAD 4

#define TC_BM 64
#define TC_BN 64
#define TC_BK 16
#define TC_THREADS 128
#define TC_LOADS ((TC_BM * TC_BK) / TC_THREADS) // 8 elements of A and 8 of B per thread
#define TC_APAD 4                                // As[m][k] row stride 20: conflict-free frags
#define TC_BPAD 8                                // Bs[k][n] row stride 72: conflict-free frags

// Slots of a tile load. Load i of thread `tid` (of T threads) covers element e = tid + i T of
// the BM x BK tile of A and of the BK x BN tile of B, in the order that makes consecutive
// threads read consecutive addresses: along k when A is k-contiguous (AK), along m otherwise;
// along n when B is n-contiguous (BN), along k otherwise. As T is a multiple of BM, BN and BK,
// one of the two coordinates is the same for every i, so the loader state of that coordinate
// is computed once (the compiler folds the identical calls).
template <int BM, int BK, int T, bool AK>
__device__ __forceinline__ void a_slot(int tid, int i, int& mm, int& kk) {
    if (AK) {
        kk = tid % BK;
        mm = tid / BK + i * (T / BK);
    } else {
        mm = tid % BM;
        kk = tid / BM + i * (T / BM);
    }
}
template <int BN, int BK, int T, bool BNF>
__device__ __forceinline__ void b_slot(int tid, int i, int& nn, int& kk) {
    if (BNF) {
        nn = tid % BN;
        kk = tid / BN + i * (T / BN);
    } else {
        kk = tid % BK;
        nn = tid / BK + i * (T / BK);
    }
}

// Shared tiles of the SIMT main loop (declared once per kernel, so that several instantiations
// of the main loop in one kernel share them).
template <typename T> struct SimtSmem {
    T a[SG_BK][SG_BM + SG_APAD];
    T b[SG_BK][SG_BN + SG_BPAD];
};

// SIMT main loop: acc[i][j] = sum over k in [k_begin, k_end) of A(m0 + ty + 16 i, k) *
// B(k, n0 + tx + 16 j). blockDim.x must be SG_THREADS. AK / BNF: see a_slot / b_slot.
template <typename T, bool AK, bool BNF, typename LA, typename LB>
__device__ __forceinline__ void simt_mainloop(SimtSmem<T>& sm, const LA& la, const LB& lb, int m0,
                                              int n0, int k_begin, int k_end, T (&acc)[4][4]) {
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    typename LA::Row rows[SG_LOADS];
    typename LB::Col cols[SG_LOADS];
#pragma unroll
    for (int i = 0; i < SG_LOADS; ++i) {
        int mm, kk, nn;
        a_slot<SG_BM, SG_BK, SG_THREADS, AK>(tid, i, mm, kk);
        rows[i] = la.row(m0 + mm);
        b_slot<SG_BN, SG_BK, SG_THREADS, BNF>(tid, i, nn, kk);
        cols[i] = lb.col(n0 + nn);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = T(0);

    T ra[SG_LOADS], rb[SG_LOADS];
    auto fetch = [&](int kt) {
#pragma unroll
        for (int i = 0; i < SG_LOADS; ++i) {
            int mm, ka, nn, kb;
            a_slot<SG_BM, SG_BK, SG_THREADS, AK>(tid, i, mm, ka);
            b_slot<SG_BN, SG_BK, SG_THREADS, BNF>(tid, i, nn, kb);
            ra[i] = kt + ka < k_end ? la.load(rows[i], kt + ka) : T(0);
            rb[i] = kt + kb < k_end ? lb.load(cols[i], kt + kb) : T(0);
        }
    };
    if (k_begin < k_end) fetch(k_begin);
    for (int kt = k_begin; kt < k_end; kt += SG_BK) {
#pragma unroll
        for (int i = 0; i < SG_LOADS; ++i) {
            int mm, ka, nn, kb;
            a_slot<SG_BM, SG_BK, SG_THREADS, AK>(tid, i, mm, ka);
            b_slot<SG_BN, SG_BK, SG_THREADS, BNF>(tid, i, nn, kb);
            sm.a[ka][mm] = ra[i];
            sm.b[kb][nn] = rb[i];
        }
        __syncthreads();
        if (kt + SG_BK < k_end) fetch(kt + SG_BK);
#pragma unroll
        for (int k = 0; k < SG_BK; ++k) {
            T a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = sm.a[k][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = sm.b[k][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = m_fma(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
}

// Calls epi(m, n, acc) for every output of the SIMT tile inside [0, M) x [0, N).
template <typename T, typename E>
__device__ __forceinline__ void simt_epilogue(const E& epi, int m0, int n0, int M, int N,
                                              const T (&acc)[4][4]) {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int m = m0 + ty + 16 * i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int n = n0 + tx + 16 * j;
            if (n < N) epi(m, n, acc[i][j]);
        }
    }
}

// ---- tensor cores (TF32) -------------------------------------------------------------------

__device__ __forceinline__ u32 to_tf32(float x) {
    u32 r;
#if __CUDA_ARCH__ >= 800
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
#elif defined(MAXL_HOST_EMULATION)
    r = maxl_emu_to_tf32(x); // kernels/emu/emu.h: the CPU emulation
#else
    r = __float_as_uint(x);
#endif
    return r;
}

__device__ __forceinline__ void mma_tf32_16x8x8(float (&d)[4], const u32 (&a)[4],
                                                const u32 (&b)[2]) {
#if __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(MAXL_HOST_EMULATION)
    maxl_emu_mma_tf32(d, a, b); // kernels/emu/emu.h: the CPU emulation
#else
    __trap(); // tensor-core kernels need sm_80+: the host must not launch them below that
#endif
}

// Shared tiles of the tensor-core main loop (TF32 bit patterns).
struct TcSmem {
    u32 a[TC_BM][TC_BK + TC_APAD];
    u32 b[TC_BK][TC_BN + TC_BPAD];
};

// Tensor-core main loop (float operands rounded to TF32, f32 accumulation). blockDim.x must be
// TC_THREADS. acc[mt][nt][q] is the mma C fragment of warp tile (mt, nt): see tc_epilogue.
template <bool AK, bool BNF, typename LA, typename LB>
__device__ __forceinline__ void tc_mainloop(TcSmem& sm, const LA& la, const LB& lb, int m0, int n0,
                                            int k_begin, int k_end, float (&acc)[2][4][4]) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 1, wn = warp & 1, g = lane >> 2, t = lane & 3;
    typename LA::Row rows[TC_LOADS];
    typename LB::Col cols[TC_LOADS];
#pragma unroll
    for (int i = 0; i < TC_LOADS; ++i) {
        int mm, kk, nn;
        a_slot<TC_BM, TC_BK, TC_THREADS, AK>(tid, i, mm, kk);
        rows[i] = la.row(m0 + mm);
        b_slot<TC_BN, TC_BK, TC_THREADS, BNF>(tid, i, nn, kk);
        cols[i] = lb.col(n0 + nn);
    }
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int q = 0; q < 4; ++q) acc[mt][nt][q] = 0.0f;

    float ra[TC_LOADS], rb[TC_LOADS];
    auto fetch = [&](int kt) {
#pragma unroll
        for (int i = 0; i < TC_LOADS; ++i) {
            int mm, ka, nn, kb;
            a_slot<TC_BM, TC_BK, TC_THREADS, AK>(tid, i, mm, ka);
            b_slot<TC_BN, TC_BK, TC_THREADS, BNF>(tid, i, nn, kb);
            ra[i] = kt + ka < k_end ? la.load(rows[i], kt + ka) : 0.0f;
            rb[i] = kt + kb < k_end ? lb.load(cols[i], kt + kb) : 0.0f;
        }
    };
    if (k_begin < k_end) fetch(k_begin);
    for (int kt = k_begin; kt < k_end; kt += TC_BK) {
#pragma unroll
        for (int i = 0; i < TC_LOADS; ++i) {
            int mm, ka, nn, kb;
            a_slot<TC_BM, TC_BK, TC_THREADS, AK>(tid, i, mm, ka);
            b_slot<TC_BN, TC_BK, TC_THREADS, BNF>(tid, i, nn, kb);
            sm.a[mm][ka] = to_tf32(ra[i]);
            sm.b[kb][nn] = to_tf32(rb[i]);
        }
        __syncthreads();
        if (kt + TC_BK < k_end) fetch(kt + TC_BK);
#pragma unroll
        for (int kk = 0; kk < TC_BK; kk += 8) {
            u32 a[2][4], b[4][2];
#pragma unroll
            for (int mt = 0; mt < 2; ++mt) {
                const int r = wm * 32 + mt * 16 + g;
                a[mt][0] = sm.a[r][kk + t];
                a[mt][1] = sm.a[r + 8][kk + t];
                a[mt][2] = sm.a[r][kk + t + 4];
                a[mt][3] = sm.a[r + 8][kk + t + 4];
            }
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) {
                const int c = wn * 32 + nt * 8 + g;
                b[nt][0] = sm.b[kk + t][c];
                b[nt][1] = sm.b[kk + t + 4][c];
            }
#pragma unroll
            for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                for (int nt = 0; nt < 4; ++nt) mma_tf32_16x8x8(acc[mt][nt], a[mt], b[nt]);
        }
        __syncthreads();
    }
}

// Calls epi(m, n, acc) for every output of the tensor-core tile inside [0, M) x [0, N).
// C fragment q of lane (g = lane / 4, t = lane % 4): row g + 8 (q / 2), column 2 t + q % 2.
template <typename E>
__device__ __forceinline__ void tc_epilogue(const E& epi, int m0, int n0, int M, int N,
                                            const float (&acc)[2][4][4]) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int wm = warp >> 1, wn = warp & 1, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int m = m0 + wm * 32 + mt * 16 + g + (q >> 1) * 8;
                const int n = n0 + wn * 32 + nt * 8 + 2 * t + (q & 1);
                if (m < M && n < N) epi(m, n, acc[mt][nt][q]);
            }
}

// out[i] = alpha * sum_z ws[z * mn + i] + beta * out[i] (z in order: deterministic split-K).
// With beta == 0, out is not read.
// Launch: block (256), grid (min(ceil(mn / 256), 262140)) (grid-stride).
template <typename T>
__device__ __forceinline__ void splitk_reduce_impl(i64 mn, int splits, const T* __restrict__ ws,
                                                   T* out, T alpha, T beta) {
    typedef typename Acc<T>::type A;
    const i64 step = maxl_grid_stride();
    for (i64 i = maxl_global_id(); i < mn; i += step) {
        A s = A(0);
        for (int z = 0; z < splits; ++z) s += (A)ws[(i64)z * mn + i];
        const T v = alpha * (T)s;
        out[i] = beta == T(0) ? v : v + beta * out[i];
    }
}
