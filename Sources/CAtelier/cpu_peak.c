#include "catelier.h"

// The FMA throughput probe of the benchmark tool. Swift compiles for the
// baseline x86-64 (no FMA), so the probe lives here with per-ISA variants
// chosen at run time: it must measure what the core can do, not what the
// baseline target allows.

#define CHAINS(T, FMA, SET1, ADD, STORE, LANES)                                  \
  T m = SET1(0.999f), k = SET1(0.001f);                                          \
  T a0 = SET1(seed), a1 = SET1(seed + 1), a2 = SET1(seed + 2), a3 = SET1(seed + 3); \
  T a4 = SET1(seed + 4), a5 = SET1(seed + 5), a6 = SET1(seed + 6), a7 = SET1(seed + 7); \
  for (long i = 0; i < iterations; ++i) {                                        \
    a0 = FMA(a0, m, k); a1 = FMA(a1, m, k); a2 = FMA(a2, m, k); a3 = FMA(a3, m, k); \
    a4 = FMA(a4, m, k); a5 = FMA(a5, m, k); a6 = FMA(a6, m, k); a7 = FMA(a7, m, k); \
  }                                                                              \
  T s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));       \
  float out[LANES];                                                              \
  STORE(out, s);                                                                 \
  float total = 0;                                                               \
  for (int l = 0; l < LANES; ++l) total += out[l];                              \
  return total;

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static float chains_avx512(long iterations, float seed) {
  CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_add_ps, _mm512_storeu_ps, 16)
}

__attribute__((target("avx2,fma"))) static float chains_avx2(long iterations, float seed) {
  CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_add_ps, _mm256_storeu_ps, 8)
}

static __m128 mul_add_sse(__m128 a, __m128 b, __m128 c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }

static float chains_sse(long iterations, float seed) {
  CHAINS(__m128, mul_add_sse, _mm_set1_ps, _mm_add_ps, _mm_storeu_ps, 4)
}

float atelier_fma_chains(long iterations, float seed, int *lanes) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) { *lanes = 16; return chains_avx512(iterations, seed); }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) { *lanes = 8; return chains_avx2(iterations, seed); }
  *lanes = 4;
  return chains_sse(iterations, seed);
}
#else
typedef float v4 __attribute__((vector_size(16)));
static v4 set1(float x) { v4 v = {x, x, x, x}; return v; }
static v4 fma4(v4 a, v4 b, v4 c) { return a * b + c; }
static v4 add4(v4 a, v4 b) { return a + b; }
static void store4(float *out, v4 v) { for (int l = 0; l < 4; ++l) out[l] = v[l]; }

float atelier_fma_chains(long iterations, float seed, int *lanes) {
  *lanes = 4;
  CHAINS(v4, fma4, set1, add4, store4, 4)
}
#endif
