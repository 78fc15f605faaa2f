#include "catelier.h"
#include "cpu_activation.h"
#include "cpu_lanes.h"

// Hot elementwise and layout loops of the CPU path.

ATELIER_CLONES
void atelier_adam(long n, const float *restrict g, float *restrict p, float *restrict m, float *restrict v,
                  float lr, float b1, float b2, float eps, float c1, float c2) {
  for (long i = 0; i < n; ++i) {
    const float grad = g[i];
    const float mi = b1 * m[i] + (1.0f - b1) * grad;
    const float vi = b2 * v[i] + (1.0f - b2) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * (mi * c1) / (ATELIER_SQRT(vi * c2) + eps);
  }
}

// out[b][a][i] = in[a][b][i] for a in [a_begin, a_end).
ATELIER_CLONES
void atelier_swap_axes(long a_count, long b_count, long inner, const float *restrict in, float *restrict out,
                       long a_begin, long a_end) {
  for (long a = a_begin; a < a_end; ++a)
    for (long b = 0; b < b_count; ++b) {
      const float *src = in + (a * b_count + b) * inner;
      float *dst = out + (b * a_count + a) * inner;
      for (long i = 0; i < inner; ++i) dst[i] = src[i];
    }
}

// out[c] = scale * sum over (n, j) of term(a, b, u[c], v[c]) for channels
// [c_begin, c_end) of a (N, C, inner) layout. op: 0 a, 1 (a-u)^2,
// 2 b*(a-u)*v, in lanes (cpu_lanes.h).
ATELIER_CLONES
void atelier_channel_reduce(int op, long n, long channels, long inner, float scale, const float *restrict a,
                            const float *restrict b, const float *restrict u, const float *restrict v,
                            float *restrict out, long c_begin, long c_end) {
  if (inner == 1) {
    // [N, C] features: walk rows (contiguous) and keep one sum per channel,
    // instead of a strided walk down each column.
    enum { block = 256 };
    double sums[block];
    for (long c0 = c_begin; c0 < c_end; c0 += block) {
      const long width = c_end - c0 < block ? c_end - c0 : block;
      for (long k = 0; k < width; ++k) sums[k] = 0.0;
      for (long i = 0; i < n; ++i) {
        const float *x = a + i * channels + c0;
        const float *y = b + i * channels + c0;
        switch (op) {
        case 0:
          for (long k = 0; k < width; ++k) sums[k] += x[k];
          break;
        case 1:
          for (long k = 0; k < width; ++k) { const float d = x[k] - u[c0 + k]; sums[k] += d * d; }
          break;
        default:
          for (long k = 0; k < width; ++k) sums[k] += y[k] * (x[k] - u[c0 + k]) * v[c0 + k];
          break;
        }
      }
      for (long k = 0; k < width; ++k) out[c0 + k] = (float)sums[k] * scale;
    }
    return;
  }
  for (long c = c_begin; c < c_end; ++c) {
    const float uc = u ? u[c] : 0.0f, vc = v ? v[c] : 0.0f;
    double lanes[LANE_COUNT] = {0};
    for (long i = 0; i < n; ++i) {
      const float *x = a + (i * channels + c) * inner;
      const float *y = b + (i * channels + c) * inner;
      if (i + RUN_AHEAD < n) {  // runs a sample apart (cpu_activation.h)
        const long ahead = RUN_AHEAD * channels * inner;
        prefetch_run(x + ahead, inner);
        if (op == 2) prefetch_run(y + ahead, inner);
      }
      switch (op) {
      case 0: SUM_RUN(lanes, inner, x[j]); break;
      case 1: SUM_RUN(lanes, inner, (x[j] - uc) * (x[j] - uc)); break;
      default: SUM_RUN(lanes, inner, y[j] * (x[j] - uc) * vc); break;
      }
    }
    const double total = lanes_total(lanes);
    out[c] = (float)total * scale;
  }
}

// Per-channel loops over a (N, C, inner) layout. When inner is 1 ([N, C]
// features) the channel runs along the contiguous axis, so the loop goes
// row by row instead of calling into a run of length one per element.
#define ATELIER_FOR_CHANNELS(BODY)                                              \
  if (inner == 1) {                                                             \
    for (long n = n_begin; n < n_end; ++n)                                      \
      for (long c = 0; c < channels; ++c) { const long i = n * channels + c; BODY } \
  } else {                                                                      \
    for (long n = n_begin; n < n_end; ++n)                                      \
      for (long c = 0; c < channels; ++c) {                                     \
        const long base = (n * channels + c) * inner;                          \
        for (long j = 0; j < inner; ++j) { const long i = base + j; BODY }      \
      }                                                                         \
  }

// y = scale[c] * (x - center[c]) + shift[c]; a NULL scale is 1, a NULL
// center 0. Bias add, BatchNorm apply and BatchNorm inference.
ATELIER_CLONES
void atelier_channel_affine(long channels, long inner, const float *restrict x, const float *restrict center,
                            const float *restrict scale, const float *restrict shift, float *restrict y,
                            long n_begin, long n_end) {
  // The NULL tests stay outside the loops so each loop vectorises.
  if (!center && !scale) {
    ATELIER_FOR_CHANNELS({ y[i] = x[i] + shift[c]; })
  } else if (center && scale) {
    ATELIER_FOR_CHANNELS({ y[i] = scale[c] * (x[i] - center[c]) + shift[c]; })
  } else {
    ATELIER_FOR_CHANNELS({
      const float xc = center ? x[i] - center[c] : x[i];
      y[i] = (scale ? scale[c] * xc : xc) + shift[c];
    })
  }
}

// BatchNorm's input gradient (see PointwiseOp.batchNormGradient).
ATELIER_CLONES
void atelier_batch_norm_grad(long channels, long inner, const float *restrict x, const float *restrict dy,
                             const float *restrict mean, const float *restrict invstd, const float *restrict gamma,
                             const float *restrict dbeta, const float *restrict dgamma, float invm, float *restrict dx,
                             long n_begin, long n_end) {
  ATELIER_FOR_CHANNELS({
    const float xhat = (x[i] - mean[c]) * invstd[c];
    dx[i] = gamma[c] * invstd[c] * (dy[i] - invm * dbeta[c] - xhat * invm * dgamma[c]);
  })
}
