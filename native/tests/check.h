// Minimal test harness for the C++ tests: CHECK* record a failure and go on; main() returns the count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

static int g_failures = 0;

#define CHECK(cond) do { if (!(cond)) { ++g_failures; \
    std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)

#define CHECK_EQ(a, b) do { const auto & va_ = (a); const auto & vb_ = (b); if (!(va_ == vb_)) { ++g_failures; \
    std::fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s\n", __FILE__, __LINE__, #a, #b); } } while (0)

#define CHECK_NEAR(a, b, tol) do { const double va_ = (a), vb_ = (b); if (!(std::fabs(va_ - vb_) <= (tol))) { \
    ++g_failures; std::fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s=%g %s=%g tol=%g\n", __FILE__, __LINE__, \
    #a, va_, #b, vb_, double(tol)); } } while (0)

// max |a - b|; infinite when the sizes differ or nothing was computed, NaN when either side has a NaN (which no
// tolerance accepts).
inline double max_abs_diff(const std::vector<float> & a, const std::vector<float> & b) {
    if (a.size() != b.size() || a.empty()) return INFINITY;
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double x = std::fabs(double(a[i]) - double(b[i]));
        if (!(x <= d)) d = x;
    }
    return d;
}

inline double range_of(const std::vector<float> & a) {
    if (a.empty()) return 0;
    const auto [lo, hi] = std::minmax_element(a.begin(), a.end());
    return double(*hi) - double(*lo);
}

#define TEST_MAIN_RESULT() (std::printf("%s\n", g_failures == 0 ? "OK" : "FAILED"), g_failures == 0 ? 0 : 1)
