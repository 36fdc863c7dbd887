// A CPU emulation of the small part of CUDA that maxl's kernels use, so that the kernels'
// logic (indexing, tiling, reductions, fragment layouts) can be tested against reference
// implementations on machines without a GPU. One block runs at a time; its threads are real
// threads (std::thread), __syncthreads is a block barrier, warp shuffles and the TF32 mma are
// exchanges through per-warp slots with a warp barrier. __shared__ variables become `static`
// (shared by the block's threads and reused by the next block, as one block runs at a time).
// Timing and memory-model details of a real GPU are out of scope: this checks results only.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#define MAXL_HOST_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static
#define __launch_bounds__(...)

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

struct EmuWarp {
    std::unique_ptr<std::barrier<>> bar;
    unsigned char slot[32][64];
};

struct EmuBlock {
    std::unique_ptr<std::barrier<>> bar;
    std::vector<EmuWarp> warps;
};

inline thread_local EmuBlock* emu_block = nullptr;

inline void __syncthreads() { emu_block->bar->arrive_and_wait(); }
inline void __trap() { std::abort(); }

inline EmuWarp& emu_warp() { return emu_block->warps[threadIdx.x / 32]; }

template <typename T> inline T __shfl_xor_sync(unsigned, T v, int o) {
    static_assert(sizeof(T) <= 64, "slot size");
    EmuWarp& w = emu_warp();
    const int lane = threadIdx.x & 31;
    std::memcpy(w.slot[lane], &v, sizeof(T));
    w.bar->arrive_and_wait();
    T r;
    std::memcpy(&r, w.slot[lane ^ o], sizeof(T));
    w.bar->arrive_and_wait();
    return r;
}

inline float __int_as_float(int x) { float f; std::memcpy(&f, &x, 4); return f; }
inline unsigned __float_as_uint(float x) { unsigned u; std::memcpy(&u, &x, 4); return u; }
inline float __uint_as_float(unsigned x) { float f; std::memcpy(&f, &x, 4); return f; }
inline double __longlong_as_double(long long x) { double d; std::memcpy(&d, &x, 8); return d; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
using std::exp; using std::log; using std::sqrt; using std::fma; using std::pow; using std::tanh;
using std::expm1; using std::fabs;

// cvt.rna.tf32.f32: round to 10 explicit mantissa bits, ties away from zero.
inline unsigned maxl_emu_to_tf32(float x) {
    unsigned u = __float_as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return u; // inf, nan
    return (u + 0x1000u) & 0xffffe000u;
}

// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 with the PTX ISA's fragment layouts
// (g = lane / 4, t = lane % 4): a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4);
// b0 (k = t, n = g), b1 (k = t + 4, n = g); c/d q: (g + 8 (q / 2), 2 t + q % 2).
inline void maxl_emu_mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    EmuWarp& w = emu_warp();
    const int lane = threadIdx.x & 31;
    unsigned* mine = reinterpret_cast<unsigned*>(w.slot[lane]);
    for (int i = 0; i < 4; ++i) mine[i] = a[i];
    mine[4] = b[0];
    mine[5] = b[1];
    w.bar->arrive_and_wait();
    float A[16][8], B[8][8];
    for (int l = 0; l < 32; ++l) {
        const unsigned* s = reinterpret_cast<const unsigned*>(w.slot[l]);
        const int g = l >> 2, t = l & 3;
        A[g][t] = __uint_as_float(s[0]);
        A[g + 8][t] = __uint_as_float(s[1]);
        A[g][t + 4] = __uint_as_float(s[2]);
        A[g + 8][t + 4] = __uint_as_float(s[3]);
        B[t][g] = __uint_as_float(s[4]);
        B[t + 4][g] = __uint_as_float(s[5]);
    }
    w.bar->arrive_and_wait();
    const int g = lane >> 2, t = lane & 3;
    for (int q = 0; q < 4; ++q) {
        const int r = g + 8 * (q >> 1), c = 2 * t + (q & 1);
        float s = d[q];
        for (int k = 0; k < 8; ++k) s += A[r][k] * B[k][c];
        d[q] = s;
    }
}

// Runs kernel `k` over `grid` blocks of `block` threads (1-D blocks, a multiple of 32).
template <typename F, typename... A> void emu_launch(F k, dim3 grid, dim3 block, A... args) {
    if (block.x % 32 != 0 || block.y != 1 || block.z != 1) {
        std::fprintf(stderr, "emu_launch: blocks must be 1-D multiples of 32\n");
        std::abort();
    }
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                EmuBlock blk;
                blk.bar = std::make_unique<std::barrier<>>(block.x);
                blk.warps.resize(block.x / 32);
                for (auto& w : blk.warps) w.bar = std::make_unique<std::barrier<>>(32);
                std::vector<std::thread> threads;
                threads.reserve(block.x);
                for (unsigned tx = 0; tx < block.x; ++tx)
                    threads.emplace_back([&, tx]() {
                        threadIdx = dim3(tx);
                        blockIdx = dim3(bx, by, bz);
                        blockDim = block;
                        gridDim = grid;
                        emu_block = &blk;
                        k(args...);
                        // A thread that is done no longer takes part in barriers.
                        blk.warps[tx / 32].bar->arrive_and_drop();
                        blk.bar->arrive_and_drop();
                    });
                for (auto& t : threads) t.join();
            }
}
