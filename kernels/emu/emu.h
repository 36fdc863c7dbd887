// A CPU emulation of the small part of CUDA that maxl's kernels use, so that the kernels can run
// on machines without a GPU: the reference checks of kernels/tests/emu and the loadable kernel
// emulator of kernels/src/emulator.rs (a shared library that runs any kernel by name) both
// compile the `.cu` sources as C++ against this header.
//
// One block runs at a time, in the calling OS thread: each CUDA thread of the block is a
// cooperative fiber with its own stack (allocated once, reused by every block and launch).
// A fiber runs until it reaches a synchronisation point (__syncthreads, a warp shuffle, the
// TF32 mma exchange) and then yields; a round-robin scheduler resumes the fibers whose barrier
// has been released (when every live thread of the block, or of the warp, has arrived).
// Threads that return no longer take part in barriers. The built-ins (threadIdx, ...) are
// plain globals that the scheduler sets when it resumes a fiber, so this is not reentrant:
// one launch at a time per process (the Rust side serialises launches with a mutex).
// __shared__ variables become `static` (shared by the block's fibers, reused by the next
// block, as one block runs at a time). Blocks may be 1-, 2- or 3-D with at most 1024 threads;
// threads are linearised x-fastest and warps are 32 consecutive linear ids.
// Timing and the memory model of a real GPU are out of scope: this checks results only.
//
// Exactly one translation unit of a program (or shared library) defines
// MAXL_EMU_IMPLEMENTATION before including this header: it holds the context switch.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <tuple>
#include <type_traits>
#include <utility>

#if !(defined(__x86_64__) && defined(__ELF__)) && !defined(MAXL_EMU_UCONTEXT)
#define MAXL_EMU_UCONTEXT 1 // portable (slower) fibers: ucontext's makecontext/swapcontext
#endif
#ifdef MAXL_EMU_UCONTEXT
#include <ucontext.h>
#endif

#define MAXL_HOST_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// Set by the scheduler (threadIdx on every fiber switch).
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

// ---- fibers and barriers ---------------------------------------------------------------------

// Results of emu_run (and of maxl_emu_launch in the emulator library).
enum : int {
    MAXL_EMU_OK = 0,
    MAXL_EMU_UNKNOWN_KERNEL = 1,
    MAXL_EMU_BAD_SHAPE = 2,     // block or grid shape out of CUDA's limits
    MAXL_EMU_DEADLOCK = 3,      // live threads wait at barriers that can never complete
    MAXL_EMU_TRAP = 4,          // a thread called __trap()
    MAXL_EMU_NO_MEMORY = 5,     // the fiber stacks could not be allocated
};

#define MAXL_EMU_MAX_THREADS 1024
#define MAXL_EMU_STACK_BYTES (64 * 1024)
#define MAXL_EMU_GUARD_BYTES 4096

// A barrier over the live threads of a block or warp: `expected` counts the threads that have
// not returned, `gen` advances each time all of them have arrived.
struct EmuBarrier {
    unsigned expected = 0, arrived = 0, gen = 0;
};

struct EmuWarp {
    EmuBarrier bar;
    unsigned size = 0; // live-or-not threads of this warp (32 except a partial last warp)
    alignas(16) unsigned char slot[32][64];
};

struct EmuFiber {
    void* sp = nullptr;               // saved stack pointer while suspended
    const unsigned* wait_gen = nullptr; // while waiting: the barrier generation to leave
    unsigned wait_from = 0;             // ... and its value on arrival
    unsigned lin = 0;                   // linear thread id in the block
    dim3 tid;
    bool done = false;
#ifdef MAXL_EMU_UCONTEXT
    ucontext_t ctx;
#endif
};

struct EmuState {
    unsigned char* stacks = nullptr; // MAXL_EMU_MAX_THREADS stacks, each below a guard page
    EmuFiber fibers[MAXL_EMU_MAX_THREADS];
    EmuWarp warps[MAXL_EMU_MAX_THREADS / 32];
    EmuBarrier block_bar;
    EmuFiber* cur = nullptr;
    void* sched_sp = nullptr;
#ifdef MAXL_EMU_UCONTEXT
    ucontext_t sched_ctx;
#endif
    unsigned nthreads = 0;
    bool trapped = false;
    void (*body)(void*) = nullptr; // what every thread runs (the kernel with its arguments)
    void* body_ctx = nullptr;
};

inline EmuState emu_state;

#ifndef MAXL_EMU_UCONTEXT
// Saves the callee-saved registers on the current stack, stores the stack pointer in *save and
// continues on stack `to` (defined below, once). The floating-point control state (MXCSR, x87
// control word) is not switched: all fibers run in one OS thread and no kernel changes it.
extern "C" __attribute__((visibility("hidden"))) void maxl_emu_switch(void** save, void* to);
#endif

// Suspends the current fiber and returns to the scheduler.
inline void emu_to_scheduler() {
    EmuFiber* f = emu_state.cur;
#ifdef MAXL_EMU_UCONTEXT
    swapcontext(&f->ctx, &emu_state.sched_ctx);
#else
    maxl_emu_switch(&f->sp, emu_state.sched_sp);
#endif
}

inline void emu_arrive_and_wait(EmuBarrier& b) {
    const unsigned gen = b.gen;
    if (++b.arrived == b.expected) {
        b.arrived = 0;
        ++b.gen;
        return;
    }
    EmuFiber* f = emu_state.cur;
    f->wait_gen = &b.gen;
    f->wait_from = gen;
    emu_to_scheduler(); // resumed once b.gen != gen
}

// A returning thread leaves the barrier (and may complete the current phase).
inline void emu_arrive_and_drop(EmuBarrier& b) {
    --b.expected;
    if (b.arrived != 0 && b.arrived == b.expected) {
        b.arrived = 0;
        ++b.gen;
    }
}

inline void emu_fiber_entry() {
    EmuFiber* f = emu_state.cur;
    emu_state.body(emu_state.body_ctx);
    f->done = true;
    emu_arrive_and_drop(emu_state.warps[f->lin / 32].bar);
    emu_arrive_and_drop(emu_state.block_bar);
    emu_to_scheduler(); // never resumed
    std::abort();
}

inline bool emu_alloc_stacks() {
    if (emu_state.stacks) return true;
    const size_t each = MAXL_EMU_STACK_BYTES + MAXL_EMU_GUARD_BYTES;
    void* p = mmap(nullptr, each * MAXL_EMU_MAX_THREADS, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    unsigned char* base = static_cast<unsigned char*>(p);
    // A guard page below each stack turns an overflow into a fault, not silent corruption.
    for (unsigned i = 0; i < MAXL_EMU_MAX_THREADS; ++i)
        mprotect(base + i * each, MAXL_EMU_GUARD_BYTES, PROT_NONE);
    emu_state.stacks = base;
    return true;
}

inline void emu_init_fiber(EmuFiber& f, unsigned i) {
    unsigned char* lo = emu_state.stacks +
                        (size_t)i * (MAXL_EMU_STACK_BYTES + MAXL_EMU_GUARD_BYTES) +
                        MAXL_EMU_GUARD_BYTES;
#ifdef MAXL_EMU_UCONTEXT
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = lo;
    f.ctx.uc_stack.ss_size = MAXL_EMU_STACK_BYTES;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, emu_fiber_entry, 0);
#else
    // The frame maxl_emu_switch pops: r15 r14 r13 r12 rbx rbp, the return address
    // (emu_fiber_entry), then a null "return address" of emu_fiber_entry itself, so that it
    // starts with the stack alignment of a called function. The tops of the stacks are
    // staggered by 64 bytes so that they do not all map to the same cache sets.
    uint64_t* sp = reinterpret_cast<uint64_t*>(lo + MAXL_EMU_STACK_BYTES - (i % 64) * 64);
    *--sp = 0;
    *--sp = reinterpret_cast<uint64_t>(&emu_fiber_entry);
    for (int r = 0; r < 6; ++r) *--sp = 0;
    f.sp = sp;
#endif
}

// Runs the current block (emu_state's fibers 0..nthreads) to completion.
inline int emu_run_block() {
    EmuState& s = emu_state;
    const unsigned n = s.nthreads;
    for (unsigned i = 0; i < n; ++i) {
        EmuFiber& f = s.fibers[i];
        f.done = false;
        f.wait_gen = nullptr;
        emu_init_fiber(f, i);
    }
    s.block_bar = EmuBarrier{n, 0, 0};
    for (unsigned w = 0; w * 32 < n; ++w) {
        const unsigned size = n - w * 32 < 32 ? n - w * 32 : 32;
        s.warps[w].size = size;
        s.warps[w].bar = EmuBarrier{size, 0, 0};
    }
    unsigned live = n;
    while (live) {
        bool progressed = false;
        for (unsigned i = 0; i < n; ++i) {
            EmuFiber& f = s.fibers[i];
            if (f.done || (f.wait_gen && *f.wait_gen == f.wait_from)) continue;
            f.wait_gen = nullptr;
            s.cur = &f;
            threadIdx = f.tid;
#ifdef MAXL_EMU_UCONTEXT
            swapcontext(&s.sched_ctx, &f.ctx);
#else
            maxl_emu_switch(&s.sched_sp, f.sp);
#endif
            if (s.trapped) return MAXL_EMU_TRAP;
            if (f.done) --live;
            progressed = true;
        }
        if (!progressed) return MAXL_EMU_DEADLOCK;
    }
    return MAXL_EMU_OK;
}

// Runs body(ctx) as every thread of `grid` blocks of `block` threads, one block after the other.
inline int emu_run(dim3 grid, dim3 block, void (*body)(void*), void* ctx) {
    if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 ||
        block.z > 64 || (unsigned long long)block.x * block.y * block.z > MAXL_EMU_MAX_THREADS ||
        grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 ||
        grid.z > 65535)
        return MAXL_EMU_BAD_SHAPE;
    if (!emu_alloc_stacks()) return MAXL_EMU_NO_MEMORY;
    EmuState& s = emu_state;
    s.nthreads = block.x * block.y * block.z;
    for (unsigned i = 0; i < s.nthreads; ++i) {
        EmuFiber& f = s.fibers[i];
        f.lin = i;
        f.tid = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
    }
    s.body = body;
    s.body_ctx = ctx;
    s.trapped = false;
    blockDim = block;
    gridDim = grid;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                blockIdx = dim3(bx, by, bz);
                const int r = emu_run_block();
                if (r != MAXL_EMU_OK) {
                    s.cur = nullptr;
                    return r;
                }
            }
    s.cur = nullptr;
    return MAXL_EMU_OK;
}

// ---- CUDA built-ins ----------------------------------------------------------------------------

inline void __syncthreads() { emu_arrive_and_wait(emu_state.block_bar); }

// Abandons the launch (the scheduler reports MAXL_EMU_TRAP).
inline void __trap() {
    emu_state.trapped = true;
    emu_to_scheduler();
    std::abort();
}

inline EmuWarp& emu_warp() { return emu_state.warps[emu_state.cur->lin / 32]; }
inline int emu_lane() { return (int)(emu_state.cur->lin & 31); }

template <typename T> inline T __shfl_xor_sync(unsigned, T v, int o) {
    static_assert(sizeof(T) <= 64, "slot size");
    EmuWarp& w = emu_warp();
    const int lane = emu_lane();
    std::memcpy(w.slot[lane], &v, sizeof(T));
    emu_arrive_and_wait(w.bar);
    // A source lane beyond a partial warp does not exist: keep the own value.
    const int src = (unsigned)(lane ^ o) < w.size ? lane ^ o : lane;
    T r;
    std::memcpy(&r, w.slot[src], sizeof(T));
    emu_arrive_and_wait(w.bar);
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
    const int lane = emu_lane();
    unsigned* mine = reinterpret_cast<unsigned*>(w.slot[lane]);
    for (int i = 0; i < 4; ++i) mine[i] = a[i];
    mine[4] = b[0];
    mine[5] = b[1];
    emu_arrive_and_wait(w.bar);
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
    emu_arrive_and_wait(w.bar);
    const int g = lane >> 2, t = lane & 3;
    for (int q = 0; q < 4; ++q) {
        const int r = g + 8 * (q >> 1), c = 2 * t + (q & 1);
        float s = d[q];
        for (int k = 0; k < 8; ++k) s += A[r][k] * B[k][c];
        d[q] = s;
    }
}

// ---- launching -------------------------------------------------------------------------------

// Runs kernel `k` over `grid` blocks of `block` threads with arguments `args` (each thread gets
// its own copy, as kernel parameters are per thread); aborts on an error (the tests' harness).
template <typename F, typename... A> void emu_launch(F k, dim3 grid, dim3 block, A... args) {
    auto call = [&]() { k(args...); };
    using Call = decltype(call);
    const int r = emu_run(grid, block, [](void* c) { (*static_cast<Call*>(c))(); }, &call);
    if (r != MAXL_EMU_OK) {
        std::fprintf(stderr, "emu_launch failed with code %d\n", r);
        std::abort();
    }
}

// The emulator library's entry of one kernel: its name, a launcher taking cuLaunchKernel's
// `void** params` (params[i] points at the i-th argument's value), and the argument sizes.
struct MaxlEmuKernel {
    const char* name;
    int (*launch)(const unsigned* grid3, const unsigned* block3, void** params);
    unsigned nparams;
    const unsigned* param_sizes;
};

template <typename F> struct EmuSignature;
template <typename... A> struct EmuSignature<void (*)(A...)> {
    static constexpr unsigned count = sizeof...(A);
    static constexpr unsigned sizes[sizeof...(A) + 1] = {(unsigned)sizeof(std::decay_t<A>)..., 0};

    template <void (*K)(A...), std::size_t... I>
    static int launch(const unsigned* g, const unsigned* b, void** params,
                      std::index_sequence<I...>) {
        // Copied once at launch, as the driver does; every thread gets its own copy.
        const std::tuple<std::decay_t<A>...> args{*static_cast<std::decay_t<A>*>(params[I])...};
        auto call = [&]() { std::apply(K, args); };
        using Call = decltype(call);
        return emu_run(dim3(g[0], g[1], g[2]), dim3(b[0], b[1], b[2]),
                       [](void* c) { (*static_cast<Call*>(c))(); }, &call);
    }
};

template <auto K> int maxl_emu_launcher(const unsigned* g, const unsigned* b, void** params) {
    using S = EmuSignature<decltype(K)>;
    return S::template launch<K>(g, b, params, std::make_index_sequence<S::count>{});
}

#define MAXL_EMU_KERNEL(k)                                                                    \
    MaxlEmuKernel {                                                                           \
        #k, &maxl_emu_launcher<&k>, EmuSignature<decltype(&k)>::count,                        \
            EmuSignature<decltype(&k)>::sizes                                                 \
    }

// ---- the context switch (one definition per program) -----------------------------------------

#if defined(MAXL_EMU_IMPLEMENTATION) && !defined(MAXL_EMU_UCONTEXT)
asm(R"(
    .text
    .globl maxl_emu_switch
    .hidden maxl_emu_switch
    .type maxl_emu_switch, @function
    .p2align 4
maxl_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size maxl_emu_switch, .-maxl_emu_switch
)");
#endif
