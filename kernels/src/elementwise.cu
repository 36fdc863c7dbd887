// Elementwise kernels: unary maps (with up to two scalar parameters), binary maps with NumPy
// broadcasting, the ternary select `where`, strided copies and casts, and fill. Inputs may be
// strided or broadcast (a `Strided` description of up to 6 dims); outputs are contiguous in the
// logical order. Semantics follow engine/src/ops/elementwise.rs (comparisons give 0/1 masks,
// `maximum` keeps `a` on ties and when `b` is not larger, as the CPU backend does). NaN
// propagates through relu, clamp, maximum and minimum, as in PyTorch: relu(NaN) = NaN.
//
// Launch (all kernels here): block (256), grid (min(ceil(n / 256), 262140)); grid-stride loops,
// so any grid size is correct.

// ---- unary ---------------------------------------------------------------------------------

#define MAXL_UNARY_OPS(X)                                                                     \
    X(neg, -x)                                                                                \
    X(exp, m_exp(x))                                                                          \
    X(log, m_log(x))                                                                          \
    X(sqrt, m_sqrt(x))                                                                        \
    X(abs, m_abs(x))                                                                          \
    X(relu, x <= T(0) ? T(0) : x)                                                              \
    X(sigmoid, x >= T(0) ? T(1) / (T(1) + m_exp(-x)) : m_exp(x) / (T(1) + m_exp(x)))          \
    X(tanh, m_tanh(x))                                                                        \
    X(sign, x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)))                                      \
    X(copy, x)                                                                                \
    X(pow, m_pow(x, p0))                                                                      \
    X(add_scalar, x + p0)                                                                     \
    X(mul_scalar, x * p0)                                                                     \
    X(rsub_scalar, p0 - x)                                                                    \
    X(clamp, x < p0 ? p0 : (x > p1 ? p1 : x))                                                 \
    X(in_range, (x >= p0 && x <= p1) ? T(1) : T(0))

#define MAXL_DEFINE_UNARY_FUNCTOR(name, expr)                                                 \
    struct Unary_##name {                                                                     \
        template <typename T> __device__ __forceinline__ T operator()(T x, T p0, T p1) const { \
            (void)p0;                                                                         \
            (void)p1;                                                                         \
            return expr;                                                                      \
        }                                                                                     \
    };
MAXL_UNARY_OPS(MAXL_DEFINE_UNARY_FUNCTOR)

// y[i] = f(x[offset(i)], p0, p1) for i in 0..n; operand 0 of `L` describes x.
template <typename T, typename F>
__device__ __forceinline__ void unary_impl(i64 n, const T* __restrict__ x, T* __restrict__ y,
                                           T p0, T p1, const Strided& L) {
    F f;
    const i64 step = maxl_grid_stride();
    if (L.contiguous) {
        for (i64 i = maxl_global_id(); i < n; i += step) y[i] = f(x[i], p0, p1);
    } else {
        for (i64 i = maxl_global_id(); i < n; i += step) y[i] = f(x[maxl_offset1(L, i)], p0, p1);
    }
}

// Kernels `<op>_f32/_f64(i64 n, const T* x, T* y, T p0, T p1, Strided L)`; p0/p1 are ignored
// by the ops that take no parameter.
#define MAXL_UNARY_KERNELS(name, expr)                                                        \
    extern "C" __global__ void name##_f32(i64 n, const float* x, float* y, float p0, float p1, \
                                          Strided L) {                                        \
        unary_impl<float, Unary_##name>(n, x, y, p0, p1, L);                                  \
    }                                                                                         \
    extern "C" __global__ void name##_f64(i64 n, const double* x, double* y, double p0,       \
                                          double p1, Strided L) {                             \
        unary_impl<double, Unary_##name>(n, x, y, p0, p1, L);                                 \
    }
MAXL_UNARY_OPS(MAXL_UNARY_KERNELS)

// ---- binary --------------------------------------------------------------------------------

#define MAXL_BINARY_OPS(X)                                                                    \
    X(add, a + b)                                                                             \
    X(sub, a - b)                                                                             \
    X(mul, a * b)                                                                             \
    X(div, a / b)                                                                             \
    X(maximum, (a >= b || a != a) ? a : b)                                                                \
    X(minimum, (a <= b || a != a) ? a : b)                                                                \
    X(relu_grad, a <= T(0) ? T(0) : b)                                                        \
    X(gt, a > b ? T(1) : T(0))                                                                \
    X(ge, a >= b ? T(1) : T(0))                                                               \
    X(lt, a < b ? T(1) : T(0))                                                                \
    X(le, a <= b ? T(1) : T(0))                                                               \
    X(eq, a == b ? T(1) : T(0))

#define MAXL_DEFINE_BINARY_FUNCTOR(name, expr)                                                \
    struct Binary_##name {                                                                    \
        template <typename T> __device__ __forceinline__ T operator()(T a, T b) const {       \
            return expr;                                                                      \
        }                                                                                     \
    };
MAXL_BINARY_OPS(MAXL_DEFINE_BINARY_FUNCTOR)

// out[i] = f(a[off0(i)], b[off1(i)]); operands 0 and 1 of `L` describe a and b broadcast to
// the output shape (stride 0 on broadcast axes).
template <typename T, typename F>
__device__ __forceinline__ void binary_impl(i64 n, const T* __restrict__ a,
                                            const T* __restrict__ b, T* __restrict__ out,
                                            const Strided& L) {
    F f;
    const i64 step = maxl_grid_stride();
    if (L.contiguous) {
        for (i64 i = maxl_global_id(); i < n; i += step) out[i] = f(a[i], b[i]);
    } else {
        for (i64 i = maxl_global_id(); i < n; i += step) {
            i64 oa, ob, unused;
            maxl_offsets3(L, i, oa, ob, unused);
            out[i] = f(a[oa], b[ob]);
        }
    }
}

// Kernels `<op>_f32/_f64(i64 n, const T* a, const T* b, T* out, Strided L)`.
#define MAXL_BINARY_KERNELS(name, expr)                                                       \
    extern "C" __global__ void name##_f32(i64 n, const float* a, const float* b, float* out,  \
                                          Strided L) {                                        \
        binary_impl<float, Binary_##name>(n, a, b, out, L);                                   \
    }                                                                                         \
    extern "C" __global__ void name##_f64(i64 n, const double* a, const double* b,            \
                                          double* out, Strided L) {                           \
        binary_impl<double, Binary_##name>(n, a, b, out, L);                                  \
    }
MAXL_BINARY_OPS(MAXL_BINARY_KERNELS)

// out[i] = a[off0(i)] + alpha * b[off1(i)] (`Tensor::add_scaled`: optimizer and fast-weight
// updates in one pass); operands 0 and 1 of `L` as for the binary maps.
template <typename T>
__device__ __forceinline__ void add_scaled_impl(i64 n, const T* __restrict__ a,
                                                const T* __restrict__ b, T* __restrict__ out,
                                                T alpha, const Strided& L) {
    const i64 step = maxl_grid_stride();
    if (L.contiguous) {
        for (i64 i = maxl_global_id(); i < n; i += step) out[i] = a[i] + alpha * b[i];
    } else {
        for (i64 i = maxl_global_id(); i < n; i += step) {
            i64 oa, ob, unused;
            maxl_offsets3(L, i, oa, ob, unused);
            out[i] = a[oa] + alpha * b[ob];
        }
    }
}

// Kernels `add_scaled_f32/_f64(i64 n, const T* a, const T* b, T* out, T alpha, Strided L)`.
extern "C" __global__ void add_scaled_f32(i64 n, const float* a, const float* b, float* out,
                                          float alpha, Strided L) {
    add_scaled_impl<float>(n, a, b, out, alpha, L);
}
extern "C" __global__ void add_scaled_f64(i64 n, const double* a, const double* b, double* out,
                                          double alpha, Strided L) {
    add_scaled_impl<double>(n, a, b, out, alpha, L);
}

// ---- ternary select ------------------------------------------------------------------------

// out[i] = cond[off0(i)] != 0 ? a[off1(i)] : b[off2(i)] (cond is a 0/1 mask of the same dtype).
template <typename T>
__device__ __forceinline__ void where_impl(i64 n, const T* __restrict__ cond,
                                           const T* __restrict__ a, const T* __restrict__ b,
                                           T* __restrict__ out, const Strided& L) {
    const i64 step = maxl_grid_stride();
    if (L.contiguous) {
        for (i64 i = maxl_global_id(); i < n; i += step) out[i] = cond[i] != T(0) ? a[i] : b[i];
    } else {
        for (i64 i = maxl_global_id(); i < n; i += step) {
            i64 oc, oa, ob;
            maxl_offsets3(L, i, oc, oa, ob);
            out[i] = cond[oc] != T(0) ? a[oa] : b[ob];
        }
    }
}

extern "C" __global__ void where_f32(i64 n, const float* cond, const float* a, const float* b,
                                     float* out, Strided L) {
    where_impl<float>(n, cond, a, b, out, L);
}
extern "C" __global__ void where_f64(i64 n, const double* cond, const double* a,
                                     const double* b, double* out, Strided L) {
    where_impl<double>(n, cond, a, b, out, L);
}

// ---- casts, fill ---------------------------------------------------------------------------

// y[i] = (To) x[off0(i)]: dtype conversion and gather to contiguous in one pass.
template <typename From, typename To>
__device__ __forceinline__ void cast_impl(i64 n, const From* __restrict__ x, To* __restrict__ y,
                                          const Strided& L) {
    const i64 step = maxl_grid_stride();
    for (i64 i = maxl_global_id(); i < n; i += step)
        y[i] = (To)x[L.contiguous ? i : maxl_offset1(L, i)];
}

extern "C" __global__ void cast_f32_f64(i64 n, const float* x, double* y, Strided L) {
    cast_impl<float, double>(n, x, y, L);
}
extern "C" __global__ void cast_f64_f32(i64 n, const double* x, float* y, Strided L) {
    cast_impl<double, float>(n, x, y, L);
}
extern "C" __global__ void cast_i64_f32(i64 n, const i64* x, float* y, Strided L) {
    cast_impl<i64, float>(n, x, y, L);
}
extern "C" __global__ void cast_i64_f64(i64 n, const i64* x, double* y, Strided L) {
    cast_impl<i64, double>(n, x, y, L);
}
// Strided copy of 64-bit integers (index tensors) to contiguous.
extern "C" __global__ void copy_i64(i64 n, const i64* x, i64* y, Strided L) {
    cast_impl<i64, i64>(n, x, y, L);
}

// y[i] = value.
template <typename T> __device__ __forceinline__ void fill_impl(i64 n, T* y, T value) {
    const i64 step = maxl_grid_stride();
    for (i64 i = maxl_global_id(); i < n; i += step) y[i] = value;
}
extern "C" __global__ void fill_f32(i64 n, float* y, float value) { fill_impl(n, y, value); }
extern "C" __global__ void fill_f64(i64 n, double* y, double value) { fill_impl(n, y, value); }
extern "C" __global__ void fill_i64(i64 n, i64* y, i64 value) { fill_impl(n, y, value); }

// y[i] = a * x[i] + b * y[i] (contiguous): gradient accumulation and SGD-style updates.
// With b == 0, y is not read (it may hold garbage or NaN).
template <typename T>
__device__ __forceinline__ void axpby_impl(i64 n, T a, const T* __restrict__ x, T b, T* y) {
    const i64 step = maxl_grid_stride();
    if (b == T(0)) {
        for (i64 i = maxl_global_id(); i < n; i += step) y[i] = a * x[i];
    } else {
        for (i64 i = maxl_global_id(); i < n; i += step) y[i] = a * x[i] + b * y[i];
    }
}
extern "C" __global__ void axpby_f32(i64 n, float a, const float* x, float b, float* y) {
    axpby_impl(n, a, x, b, y);
}
extern "C" __global__ void axpby_f64(i64 n, double a, const double* x, double b, double* y) {
    axpby_impl(n, a, x, b, y);
}
