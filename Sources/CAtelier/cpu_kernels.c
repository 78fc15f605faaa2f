#include "catelier.h"

// Hot loops of the CPU path. Swift compiles for the baseline x86-64 (no
// AVX, no FMA); these are compiled once per instruction set and the loader
// picks the clone this CPU supports (target_clones), so they vectorise with
// AVX-512 or AVX2 where the machine has it.
#if defined(__x86_64__) && defined(__clang__)
#define ATELIER_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ATELIER_CLONES
#endif

ATELIER_CLONES
void atelier_adam(long n, const float *restrict g, float *restrict p, float *restrict m, float *restrict v,
                  float lr, float b1, float b2, float eps, float c1, float c2) {
  for (long i = 0; i < n; ++i) {
    const float grad = g[i];
    const float mi = b1 * m[i] + (1.0f - b1) * grad;
    const float vi = b2 * v[i] + (1.0f - b2) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * (mi * c1) / (__builtin_sqrtf(vi * c2) + eps);
  }
}

// Rows [row_begin, row_end) of the column matrix [C*R*S, N*P*Q].
ATELIER_CLONES
void atelier_im2col(const AtelierConv *g, const float *restrict x, float *restrict col, long row_begin, long row_end) {
  const long npq = (long)g->n * g->p * g->q;
  for (long row = row_begin; row < row_end; ++row) {
    const int s = (int)(row % g->s), r = (int)((row / g->s) % g->r), c = (int)(row / ((long)g->r * g->s));
    // Output columns whose input column w = q*stride - pad + s lies inside the image.
    int q0 = (g->pad_w - s + g->stride_w - 1) / g->stride_w;
    if (q0 < 0) q0 = 0;
    int q1 = (g->w - 1 + g->pad_w - s) / g->stride_w + 1;
    if (q1 > g->q) q1 = g->q;
    if (g->w - 1 + g->pad_w - s < 0) q1 = 0;
    for (int n = 0; n < g->n; ++n) {
      for (int p = 0; p < g->p; ++p) {
        float *out = col + row * npq + ((long)n * g->p + p) * g->q;
        const int h = p * g->stride_h - g->pad_h + r;
        if (h < 0 || h >= g->h || q0 >= q1) {
          for (int q = 0; q < g->q; ++q) out[q] = 0.0f;
          continue;
        }
        const float *line = x + (((long)n * g->c + c) * g->h + h) * g->w - g->pad_w + s;
        for (int q = 0; q < q0; ++q) out[q] = 0.0f;
        if (g->stride_w == 1) {
          for (int q = q0; q < q1; ++q) out[q] = line[q];
        } else {
          for (int q = q0; q < q1; ++q) out[q] = line[q * g->stride_w];
        }
        for (int q = q1; q < g->q; ++q) out[q] = 0.0f;
      }
    }
  }
}

// Channels [c_begin, c_end) of the image: zeroed, then every column entry
// that came from them added back in (r, s, n, p, q) order.
ATELIER_CLONES
void atelier_col2im(const AtelierConv *g, const float *restrict col, float *restrict x, long c_begin, long c_end) {
  const long npq = (long)g->n * g->p * g->q;
  const long plane = (long)g->h * g->w;
  for (long c = c_begin; c < c_end; ++c) {
    for (int n = 0; n < g->n; ++n) {
      float *img = x + ((long)n * g->c + c) * plane;
      for (long i = 0; i < plane; ++i) img[i] = 0.0f;
    }
    for (int r = 0; r < g->r; ++r) {
      for (int s = 0; s < g->s; ++s) {
        const float *rowp = col + ((c * g->r + r) * (long)g->s + s) * npq;
        int q0 = (g->pad_w - s + g->stride_w - 1) / g->stride_w;
        if (q0 < 0) q0 = 0;
        int q1 = (g->w - 1 + g->pad_w - s) / g->stride_w + 1;
        if (q1 > g->q) q1 = g->q;
        if (g->w - 1 + g->pad_w - s < 0 || q0 >= q1) continue;
        for (int n = 0; n < g->n; ++n) {
          float *img = x + ((long)n * g->c + c) * plane;
          for (int p = 0; p < g->p; ++p) {
            const int h = p * g->stride_h - g->pad_h + r;
            if (h < 0 || h >= g->h) continue;
            float *line = img + (long)h * g->w - g->pad_w + s;
            const float *vals = rowp + ((long)n * g->p + p) * g->q;
            for (int q = q0; q < q1; ++q) line[q * g->stride_w] += vals[q];
          }
        }
      }
    }
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
// 2 b*(a-u)*v. Float sums within each contiguous run (vectorised), double
// across runs.
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
    double total = 0.0;
    for (long i = 0; i < n; ++i) {
      const float *x = a + (i * channels + c) * inner;
      const float *y = b + (i * channels + c) * inner;
      float run = 0.0f;
      switch (op) {
      case 0:
        for (long j = 0; j < inner; ++j) run += x[j];
        break;
      case 1:
        for (long j = 0; j < inner; ++j) { const float d = x[j] - uc; run += d * d; }
        break;
      default:
        for (long j = 0; j < inner; ++j) run += y[j] * (x[j] - uc) * vc;
        break;
      }
      total += run;
    }
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
