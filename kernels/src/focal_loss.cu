// Focal loss from logits with soft targets, fused, one warp per row of contiguous [rows, k]:
//   logp = log_softmax(z), p = exp(logp), loss_r = -sum_c t_c (1 - p_c)^gamma logp_c
// (gamma = 0: cross-entropy with soft targets). The forward writes one loss per row; the mean
// over rows is a sum_last over [1, rows] with scale 1 / rows (deterministic).
// The backward: with q_c = 1 - p_c (computed as -expm1(logp_c), accurate near p = 1) and
//   a_c = t_c (q_c^gamma - gamma q_c^(gamma - 1) p_c logp_c),  A = sum_c a_c,
//   dL_r/dz_j = p_j A - a_j,  dz[r, j] = gout[r * gout_stride] * scale * (p_j A - a_j)
// (gout_stride 0: one upstream scalar, as for the mean; gout null: 1). Where q_c = 0 the
// gamma term is 0 (its limit), so gamma < 1 gives no NaN at p = 1.
//
// Launch: block (256) = 8 rows per block, grid (ceil(rows / 8)).

#define FL_ROWS_PER_BLOCK 8

// Row statistics: shift m (0 if not finite) and lse = log sum exp(z).
template <typename T>
__device__ __forceinline__ T fl_lse(const T* zr, int k) {
    const int lane = threadIdx.x & 31;
    T m = -m_inf<T>();
    for (int j = lane; j < k; j += 32) m = zr[j] > m ? zr[j] : m;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const T v = __shfl_xor_sync(MAXL_FULL_MASK, m, o);
        m = v > m ? v : m;
    }
    if (!m_isfinite(m)) m = T(0);
    typedef typename Acc<T>::type A;
    A s = A(0);
    for (int j = lane; j < k; j += 32) s += (A)m_exp(zr[j] - m);
    s = warp_sum(s);
    return (T)log((double)s) + m;
}

// (1 - p)^gamma and gamma (1 - p)^(gamma - 1) p logp for one class.
template <typename T>
__device__ __forceinline__ void fl_terms(T logp, T gamma, T& w, T& dterm) {
    const T p = m_exp(logp);
    const T q = -m_expm1(logp);
    if (gamma == T(0)) {
        w = T(1);
        dterm = T(0);
    } else if (q <= T(0)) {
        w = T(0);
        dterm = T(0);
    } else {
        w = m_pow(q, gamma);
        dterm = gamma * m_pow(q, gamma - T(1)) * p * logp;
    }
}

template <typename T>
__device__ __forceinline__ void fl_forward(i64 rows, int k, const T* __restrict__ z,
                                           const T* __restrict__ t, T gamma,
                                           T* __restrict__ loss) {
    const i64 r = (i64)blockIdx.x * FL_ROWS_PER_BLOCK + (threadIdx.x >> 5);
    if (r >= rows) return;
    const int lane = threadIdx.x & 31;
    const T* zr = z + r * k;
    const T* tr = t + r * k;
    const T lse = fl_lse(zr, k);
    typedef typename Acc<T>::type A;
    A s = A(0);
    for (int j = lane; j < k; j += 32) {
        const T tj = tr[j];
        if (tj == T(0)) continue; // 0 * (-inf) would be NaN; the term is 0
        const T logp = zr[j] - lse;
        T w, unused;
        fl_terms(logp, gamma, w, unused);
        s += (A)(tj * w * logp);
    }
    s = warp_sum(s);
    if (lane == 0) loss[r] = (T)(-s);
}

template <typename T>
__device__ __forceinline__ void fl_backward(i64 rows, int k, const T* __restrict__ z,
                                            const T* __restrict__ t, T gamma,
                                            const T* __restrict__ gout, i64 gout_stride, T scale,
                                            T* __restrict__ dz) {
    const i64 r = (i64)blockIdx.x * FL_ROWS_PER_BLOCK + (threadIdx.x >> 5);
    if (r >= rows) return;
    const int lane = threadIdx.x & 31;
    const T* zr = z + r * k;
    const T* tr = t + r * k;
    const T lse = fl_lse(zr, k);
    typedef typename Acc<T>::type A;
    A s = A(0);
    for (int j = lane; j < k; j += 32) {
        const T tj = tr[j];
        if (tj == T(0)) continue;
        const T logp = zr[j] - lse;
        T w, dterm;
        fl_terms(logp, gamma, w, dterm);
        s += (A)(tj * (w - dterm));
    }
    const T a_sum = (T)warp_sum(s);
    const T up = (gout ? gout[r * gout_stride] : T(1)) * scale;
    T* dr = dz + r * k;
    for (int j = lane; j < k; j += 32) {
        const T tj = tr[j];
        const T logp = zr[j] - lse;
        const T p = m_exp(logp);
        T aj = T(0);
        if (tj != T(0)) {
            T w, dterm;
            fl_terms(logp, gamma, w, dterm);
            aj = tj * (w - dterm);
        }
        dr[j] = up * (p * a_sum - aj);
    }
}

#define MAXL_FL_KERNELS(T, sfx)                                                               \
    extern "C" __global__ void focal_loss_fwd_##sfx(i64 rows, int k, const T* z, const T* t,  \
                                                    T gamma, T* loss) {                       \
        fl_forward<T>(rows, k, z, t, gamma, loss);                                            \
    }                                                                                         \
    extern "C" __global__ void focal_loss_bwd_##sfx(i64 rows, int k, const T* z, const T* t,  \
                                                    T gamma, const T* gout, i64 gout_stride,  \
                                                    T scale, T* dz) {                         \
        fl_backward<T>(rows, k, z, t, gamma, gout, gout_stride, scale, dz);                   \
    }

MAXL_FL_KERNELS(float, f32)
MAXL_FL_KERNELS(double, f64)
