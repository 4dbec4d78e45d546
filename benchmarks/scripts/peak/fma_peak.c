/*
 * fp32 FMA peak of one core, as a cross-check of FmaPeakBench outside the JVM: twelve independent chains of
 * vfmadd on registers (no memory traffic), 16-lane (zmm) and 8-lane (ymm). Twelve chains cover four-cycle FMA
 * latency on up to three FMA pipes. FLOPs = 2 x lanes x chains x iterations.
 *
 *   gcc -O2 -mavx512f -mfma -o /tmp/fma_peak fma_peak.c && /tmp/fma_peak
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define CHAINS 12

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* The chains are spelled out: an array of accumulators is kept in memory by the compiler at -O2. */
#define STEP(F) a0 = F(a0, x, y); a1 = F(a1, x, y); a2 = F(a2, x, y); a3 = F(a3, x, y); \
    a4 = F(a4, x, y); a5 = F(a5, x, y); a6 = F(a6, x, y); a7 = F(a7, x, y); \
    a8 = F(a8, x, y); a9 = F(a9, x, y); a10 = F(a10, x, y); a11 = F(a11, x, y);
#define SUM(A) A(A(A(A(a0, a1), A(a2, a3)), A(A(a4, a5), A(a6, a7))), A(A(a8, a9), A(a10, a11)))

/* One function per vector width, returning the sum of the chains (so that none of them is dead code). */
#define DEFINE_CHAINS(NAME, T, SET1, FMA, ADD) \
    __attribute__((noinline)) static T NAME(long iterations, float scale) { \
        T x = SET1(scale), y = SET1(1e-7f); \
        T a0 = SET1(0), a1 = SET1(1), a2 = SET1(2), a3 = SET1(3), a4 = SET1(4), a5 = SET1(5); \
        T a6 = SET1(6), a7 = SET1(7), a8 = SET1(8), a9 = SET1(9), a10 = SET1(10), a11 = SET1(11); \
        for (long k = 0; k < iterations; k++) { \
            STEP(FMA) \
        } \
        return SUM(ADD); \
    }

DEFINE_CHAINS(zmm, __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps)
DEFINE_CHAINS(ymm, __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps)

int main(int argc, char **argv) {
    long iterations = 300000000L;
    float scale = argc > 99 ? 1.0f : 0.999999f;   /* not a compile-time constant */
    for (int round = 0; round < 3; round++) {
        float s[16], u[8];
        double t0 = now();
        _mm512_storeu_ps(s, zmm(iterations, scale));
        double t1 = now();
        _mm256_storeu_ps(u, ymm(iterations, scale));
        double t2 = now();
        printf("zmm %.1f GFLOP/s   ymm %.1f GFLOP/s   (checksums %g %g)\n",
               2.0 * 16 * CHAINS * iterations / (t1 - t0) / 1e9, 2.0 * 8 * CHAINS * iterations / (t2 - t1) / 1e9, s[0], u[0]);
    }
    return 0;
}
