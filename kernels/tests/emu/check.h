// Helpers of the emulation tests: a seeded RNG, comparisons that count failures, Strided.
#pragma once
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

struct Rng {
    unsigned long long s;
    explicit Rng(unsigned long long seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    unsigned long long next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    double uniform(double lo = -1.0, double hi = 1.0) {
        return lo + (hi - lo) * (double)(next() >> 11) / 9007199254740992.0;
    }
    template <typename T> std::vector<T> vec(size_t n, double lo = -1.0, double hi = 1.0) {
        std::vector<T> v(n);
        for (auto& x : v) x = (T)uniform(lo, hi);
        return v;
    }
};

struct Checker {
    int failures = 0;
    // Compares got[i] with want[i]: |got - want| <= atol + rtol |want| (NaN equals NaN).
    template <typename G, typename W>
    void close(const std::string& what, const std::vector<G>& got, const std::vector<W>& want,
               double atol, double rtol) {
        double worst = 0.0;
        size_t bad = 0, first = (size_t)-1;
        if (got.size() != want.size()) {
            std::printf("FAIL %-44s size %zu != %zu\n", what.c_str(), got.size(), want.size());
            ++failures;
            return;
        }
        for (size_t i = 0; i < got.size(); ++i) {
            const double g = (double)got[i], w = (double)want[i];
            if (std::isnan(g) && std::isnan(w)) continue;
            const double err = std::fabs(g - w);
            if (!(err <= atol + rtol * std::fabs(w))) {
                if (bad++ == 0) first = i;
            }
            if (err > worst || std::isnan(err)) worst = err;
        }
        if (bad) {
            std::printf("FAIL %-44s %zu of %zu differ; first at %zu: got %.9g want %.9g\n",
                        what.c_str(), bad, got.size(), first, (double)got[first],
                        (double)want[first]);
            ++failures;
        } else {
            std::printf("ok   %-44s n=%-6zu max abs err %.3g\n", what.c_str(), got.size(), worst);
        }
    }
    void truth(const std::string& what, bool ok) {
        std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
        if (!ok) ++failures;
    }
};

inline Strided make_strided(std::vector<i64> dims, std::vector<i64> s0, std::vector<i64> s1 = {},
                            std::vector<i64> s2 = {}, int contiguous = 0) {
    Strided L;
    std::memset(&L, 0, sizeof L);
    L.rank = (int)dims.size();
    L.contiguous = contiguous;
    for (size_t d = 0; d < dims.size(); ++d) {
        L.dims[d] = dims[d];
        L.s0[d] = d < s0.size() ? s0[d] : 0;
        L.s1[d] = d < s1.size() ? s1[d] : 0;
        L.s2[d] = d < s2.size() ? s2[d] : 0;
    }
    return L;
}

inline unsigned ceil_div(long long a, long long b) { return (unsigned)((a + b - 1) / b); }
