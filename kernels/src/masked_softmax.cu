// Row-wise softmax family on contiguous [rows, k] buffers, one warp per row (lane j visits
// columns j, j + 32, ...; the warp reduces with a fixed butterfly: deterministic):
// - masked_softmax_fwd: p = softmax(z + table[labels[r]]) with a [P, k] table of log-masks (0 on
//   the primary label's auxiliary block, ln(1e-8) or -inf elsewhere: MAXL's Mask SoftMax); with
//   table == null it is the plain softmax. A label outside [0, P) yields a NaN row.
// - masked_softmax_bwd: dz = p (g - sum(g p)), the backward of both (the mask is a constant).
// - log_softmax_fwd / log_softmax_bwd (dz = g - exp(y) sum(g)), logsumexp_fwd.
// As the CPU backend, a row whose maximum is not finite uses 0 as its shift.
//
// Launch: block (256) = 8 rows per block, grid (ceil(rows / 8)).

#define SM_ROWS_PER_BLOCK 8

__device__ __forceinline__ i64 sm_row() {
    return (i64)blockIdx.x * SM_ROWS_PER_BLOCK + (threadIdx.x >> 5);
}

// Row max (the shift; 0 when not finite) and sum of exp(v_j - shift), v_j = z_j + mask_j.
template <typename T>
__device__ __forceinline__ void sm_stats(const T* zr, const T* mr, int k, T& shift,
                                         typename Acc<T>::type& sum) {
    const int lane = threadIdx.x & 31;
    T m = -m_inf<T>();
    for (int j = lane; j < k; j += 32) {
        const T v = zr[j] + (mr ? mr[j] : T(0));
        m = v > m ? v : m;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const T v = __shfl_xor_sync(MAXL_FULL_MASK, m, o);
        m = v > m ? v : m;
    }
    if (!m_isfinite(m)) m = T(0);
    typedef typename Acc<T>::type A;
    A s = A(0);
    for (int j = lane; j < k; j += 32) s += (A)m_exp(zr[j] + (mr ? mr[j] : T(0)) - m);
    shift = m;
    sum = warp_sum(s);
}

// mode 0: softmax, 1: log_softmax, 2: logsumexp (out has one value per row).
template <typename T>
__device__ __forceinline__ void sm_forward(i64 rows, int k, const T* __restrict__ z,
                                           const i64* __restrict__ labels,
                                           const T* __restrict__ table, i64 P,
                                           T* __restrict__ out, int mode) {
    const i64 r = sm_row();
    if (r >= rows) return;
    const int lane = threadIdx.x & 31;
    const T* zr = z + r * k;
    const T* mr = nullptr;
    if (table) {
        const i64 y = labels[r];
        if (y < 0 || y >= P) {
            if (mode == 2) {
                if (lane == 0) out[r] = m_nan<T>();
            } else {
                for (int j = lane; j < k; j += 32) out[r * k + j] = m_nan<T>();
            }
            return;
        }
        mr = table + y * k;
    }
    typedef typename Acc<T>::type A;
    T shift;
    A sum;
    sm_stats(zr, mr, k, shift, sum);
    const T lse = (T)log((double)sum) + shift;
    if (mode == 2) {
        if (lane == 0) out[r] = lse;
        return;
    }
    T* orow = out + r * k;
    if (mode == 1) {
        for (int j = lane; j < k; j += 32) orow[j] = zr[j] + (mr ? mr[j] : T(0)) - lse;
    } else {
        const T s = (T)sum;
        for (int j = lane; j < k; j += 32) orow[j] = m_exp(zr[j] + (mr ? mr[j] : T(0)) - shift) / s;
    }
}

// mode 0: softmax backward dz = y (g - sum(g y)); mode 1: log_softmax backward
// dz = g - exp(y) sum(g).
template <typename T>
__device__ __forceinline__ void sm_backward(i64 rows, int k, const T* __restrict__ y,
                                            const T* __restrict__ g, T* __restrict__ dz,
                                            int mode) {
    const i64 r = sm_row();
    if (r >= rows) return;
    const int lane = threadIdx.x & 31;
    const T* yr = y + r * k;
    const T* gr = g + r * k;
    typedef typename Acc<T>::type A;
    A s = A(0);
    for (int j = lane; j < k; j += 32) s += mode == 0 ? (A)gr[j] * (A)yr[j] : (A)gr[j];
    const T t = (T)warp_sum(s);
    T* dr = dz + r * k;
    if (mode == 0) {
        for (int j = lane; j < k; j += 32) dr[j] = yr[j] * (gr[j] - t);
    } else {
        for (int j = lane; j < k; j += 32) dr[j] = gr[j] - m_exp(yr[j]) * t;
    }
}

#define MAXL_SM_KERNELS(T, sfx)                                                               \
    extern "C" __global__ void masked_softmax_fwd_##sfx(i64 rows, int k, const T* z,          \
                                                        const i64* labels, const T* table,    \
                                                        i64 P, T* p) {                        \
        sm_forward<T>(rows, k, z, labels, table, P, p, 0);                                    \
    }                                                                                         \
    extern "C" __global__ void masked_softmax_bwd_##sfx(i64 rows, int k, const T* p,          \
                                                        const T* g, T* dz) {                  \
        sm_backward<T>(rows, k, p, g, dz, 0);                                                 \
    }                                                                                         \
    extern "C" __global__ void log_softmax_fwd_##sfx(i64 rows, int k, const T* z, T* y) {     \
        sm_forward<T>(rows, k, z, nullptr, (const T*)nullptr, 0, y, 1);                       \
    }                                                                                         \
    extern "C" __global__ void log_softmax_bwd_##sfx(i64 rows, int k, const T* y, const T* g, \
                                                     T* dz) {                                 \
        sm_backward<T>(rows, k, y, g, dz, 1);                                                 \
    }                                                                                         \
    extern "C" __global__ void logsumexp_fwd_##sfx(i64 rows, int k, const T* z, T* out) {     \
        sm_forward<T>(rows, k, z, nullptr, (const T*)nullptr, 0, out, 2);                     \
    }

MAXL_SM_KERNELS(float, f32)
MAXL_SM_KERNELS(double, f64)
