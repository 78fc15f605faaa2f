#ifndef ATELIER_CPU_ACTIVATION_H
#define ATELIER_CPU_ACTIVATION_H

// Shared by the C loops of the CPU path (not part of the Swift interface):
// the per-instruction-set clone attribute and the activations, with the
// same formulas as Activation.swift.

#include "catelier.h"

// Swift compiles for the baseline x86-64 (no AVX, no FMA); these loops are
// compiled once per instruction set and the loader picks the clone this CPU
// supports, so they vectorise with AVX-512 or AVX2 where the machine has it.
// A square root that vectorises: __builtin_sqrtf keeps C's errno
// semantics (a scalar sqrt and a branch per element), the elementwise
// builtin has none.
#if defined(__has_builtin) && __has_builtin(__builtin_elementwise_sqrt)
#define ATELIER_SQRT(x) __builtin_elementwise_sqrt(x)
#else
#define ATELIER_SQRT(x) __builtin_sqrtf(x)
#endif

#if defined(__x86_64__) && defined(__clang__) && defined(ATELIER_NO_AVX512)
// Built to measure the AVX2 code on an AVX-512 machine (swift build -Xcc -DATELIER_NO_AVX512).
#define ATELIER_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#elif defined(__x86_64__) && defined(__clang__)
#define ATELIER_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define ATELIER_CLONES
#endif

// Helpers of the cloned loops. A static function the compiler chooses not
// to inline is compiled once, for the baseline: inside an AVX-512 clone its
// loops would run 4 floats wide. Forcing it inline compiles it into each
// clone (perf showed sample_columns and gradient_sums_run as SSE code, 5 %
// of a dcgan step).
#define ATELIER_HELPER static inline __attribute__((always_inline))

// A channel of an (N, C, inner) layout is N runs of inner floats (784 B
// for a 7x7 map) a whole sample apart: too short and too far apart for the
// hardware prefetchers, so loops down a channel wait on memory run by run.
// They ask for the run RUN_AHEAD samples on while they work on this one.
enum { RUN_AHEAD = 4 };

ATELIER_HELPER void prefetch_run(const float *run, long inner) {
  for (long j = 0; j < inner; j += 16) __builtin_prefetch(run + j);
}

// e^x for x <= 0, the only range the activations ask for, in arithmetic the
// loops vectorise: expf is a library call per element (no vector math
// library is linked), which made a sigmoid or tanh epilogue cost as much as
// the GEMM before it (gan's 1024 -> 784 layer at batch 256: 3.1 ms with the
// sigmoid against 2.1 without). x = n ln2 + r with |r| <= ln2 / 2, e^r by
// its degree-6 Taylor polynomial (sigmoid and tanh within 1e-6 of double
// precision, CPUPathTests.activationAccuracy),
// 2^n built in the exponent bits. Below -87 the result stays at e^-87
// (1.6e-38) where expf would go subnormal: the activations add it to 1.
static inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float n = __builtin_rintf(x * 1.44269504f);
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;  // ln2 in two parts: n * hi is exact
  float e = 1.0f / 720;
  e = e * r + 1.0f / 120;
  e = e * r + 1.0f / 24;
  e = e * r + 1.0f / 6;
  e = e * r + 0.5f;
  e = e * r + 1.0f;
  e = e * r + 1.0f;
  union { int i; float f; } scale = {.i = ((int)n + 127) << 23};
  return e * scale.f;
}

static inline float act_forward(int act, float p, float y) {
  switch (act) {
  case ATELIER_ACT_RELU: return y > 0.0f ? y : 0.0f;
  case ATELIER_ACT_LEAKY_RELU: return y > 0.0f ? y : p * y;
  case ATELIER_ACT_SIGMOID: {
    const float e = exp_nonpositive(-__builtin_fabsf(y));
    return (y >= 0.0f ? 1.0f : e) / (1.0f + e);
  }
  case ATELIER_ACT_TANH: {
    const float e = exp_nonpositive(-2.0f * __builtin_fabsf(y));
    return __builtin_copysignf((1.0f - e) / (1.0f + e), y);
  }
  default: return y;
  }
}

// The gradient through the activation's output z.
static inline float act_backward(int act, float p, float z, float dz) {
  switch (act) {
  case ATELIER_ACT_RELU: return z > 0.0f ? dz : 0.0f;
  case ATELIER_ACT_LEAKY_RELU: return z > 0.0f ? dz : p * dz;
  case ATELIER_ACT_SIGMOID: return dz * z * (1.0f - z);
  case ATELIER_ACT_TANH: return dz * (1.0f - z * z);
  default: return dz;
  }
}

// Runs the statements with `a_` a constant activation code, so each loop is
// compiled once per activation, with no switch per element.
#define ACT_LOOP(ACT, ...)                                                             \
  switch (ACT) {                                                                       \
  case ATELIER_ACT_RELU: { const int a_ = ATELIER_ACT_RELU; __VA_ARGS__ } break;       \
  case ATELIER_ACT_LEAKY_RELU: { const int a_ = ATELIER_ACT_LEAKY_RELU; __VA_ARGS__ } break; \
  case ATELIER_ACT_SIGMOID: { const int a_ = ATELIER_ACT_SIGMOID; __VA_ARGS__ } break; \
  case ATELIER_ACT_TANH: { const int a_ = ATELIER_ACT_TANH; __VA_ARGS__ } break;       \
  default: { const int a_ = ATELIER_ACT_IDENTITY; __VA_ARGS__ } break;                 \
  }

#endif
