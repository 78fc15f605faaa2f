#include "catelier.h"
#include "cpu_activation.h"
#include "cpu_lanes.h"

// BatchNorm in training mode, fused with the activation that follows it,
// channel by channel: a channel's values (N x inner floats, 50 KB for a
// DCGAN layer at batch 64) stay in the core's cache across the statistics,
// the normalisation and the activation, so memory is read once and written
// once instead of four reads and two writes for the separate ops. Same
// formulas as PointwiseOp's bn_stats, bn_apply and bn_grad and Activation.
//
// Channels [c_begin, c_end) of a (N, C, inner) layout. When inner is 1
// ([N, C] features) blocks of channels are walked row by row instead.

enum { BLOCK = 256 };

// What the activation's gradient reads for element j: its output z, or,
// for a ReLU-type activation whose shift (beta) is given, the value before
// it recomputed from x: only its sign matters, and with the forward pass's
// expression it has z's sign, so z need not be read (a quarter of the
// memory traffic of the backward pass).
#define ACT_INPUT(FROM_X, j) ((FROM_X) ? scale * (x[j] - mu) + shift : z[j])
// The loops in two copies, fx_ a constant in each, so the copy from x reads no z.
#define FROM_X_LOOP(FROM_X, ...)                                                                  \
  if (FROM_X) {                                                                                    \
    const int fx_ = 1;                                                                             \
    __VA_ARGS__                                                                                    \
  } else {                                                                                         \
    const int fx_ = 0;                                                                             \
    __VA_ARGS__                                                                                    \
  }

// Sum of dy and of dy * xhat over a run, dy through the activation.
ATELIER_HELPER void gradient_sums_run(int act, float p, int from_x, float scale, float shift, const float *restrict x,
                                     const float *restrict z, const float *restrict dz, float mu, float is, long n,
                                     double *restrict sb, double *restrict sg) {
  float ab[SUM_LANES] = {0}, ag[SUM_LANES] = {0}, tb = 0.0f, tg = 0.0f;
  long j = 0;
  for (; j + SUM_LANES <= n; j += SUM_LANES)
    for (int l = 0; l < SUM_LANES; ++l) {
      const float dy = act_backward(act, p, ACT_INPUT(from_x, j + l), dz[j + l]);
      ab[l] += dy;
      ag[l] += dy * (x[j + l] - mu) * is;
    }
  for (; j < n; ++j) {
    const float dy = act_backward(act, p, ACT_INPUT(from_x, j), dz[j]);
    tb += dy;
    tg += dy * (x[j] - mu) * is;
  }
  add_lanes(sb, ab);
  add_lanes(sg, ag);
  sb[SUM_LANES] += tb;
  sg[SUM_LANES] += tg;
}

ATELIER_HELPER void statistics(float sum, float squares, float inv_m, float unbias, float momentum, float eps, long c,
                              float *mean, float *invstd, float *rmean, float *rvar) {
  const float var = squares * inv_m;
  mean[c] = sum;
  invstd[c] = 1.0f / __builtin_sqrtf(var + eps);
  rmean[c] = (1.0f - momentum) * rmean[c] + momentum * sum;
  rvar[c] = (1.0f - momentum) * rvar[c] + momentum * var * unbias;
}

ATELIER_CLONES
void atelier_batch_norm_train(long n, long channels, long inner, const float *restrict x, const float *restrict gamma,
                              const float *restrict beta, float *restrict rmean, float *restrict rvar, float momentum,
                              float eps, int act, float p, float *restrict z, float *restrict mean,
                              float *restrict invstd, long c_begin, long c_end) {
  const long m = n * inner;
  const float inv_m = 1.0f / (float)m, unbias = (float)m / (float)(m - 1);
  if (inner == 1) {
    double s[BLOCK], q[BLOCK];
    float mu[BLOCK], scale[BLOCK], shift[BLOCK];
    for (long c0 = c_begin; c0 < c_end; c0 += BLOCK) {
      const long w = c_end - c0 < BLOCK ? c_end - c0 : BLOCK;
      for (long k = 0; k < w; ++k) s[k] = q[k] = 0.0;
      for (long i = 0; i < n; ++i)
        for (long k = 0; k < w; ++k) s[k] += x[i * channels + c0 + k];
      for (long k = 0; k < w; ++k) mu[k] = (float)s[k] * inv_m;
      for (long i = 0; i < n; ++i)
        for (long k = 0; k < w; ++k) { const float d = x[i * channels + c0 + k] - mu[k]; q[k] += d * d; }
      for (long k = 0; k < w; ++k) {
        statistics(mu[k], (float)q[k], inv_m, unbias, momentum, eps, c0 + k, mean, invstd, rmean, rvar);
        scale[k] = gamma[c0 + k] * invstd[c0 + k];
        shift[k] = beta[c0 + k];
      }
      ACT_LOOP(act, {
        for (long i = 0; i < n; ++i)
          for (long k = 0; k < w; ++k) {
            const long j = i * channels + c0 + k;
            z[j] = act_forward(a_, p, scale[k] * (x[j] - mu[k]) + shift[k]);
          }
      })
    }
    return;
  }
  for (long c = c_begin; c < c_end; ++c) {
    double lanes[LANE_COUNT] = {0};
    for (long i = 0; i < n; ++i) {
      if (i + RUN_AHEAD < n) prefetch_run(x + ((i + RUN_AHEAD) * channels + c) * inner, inner);
      const float *run = x + (i * channels + c) * inner;
      SUM_RUN(lanes, inner, run[j]);
    }
    const float mu = (float)lanes_total(lanes) * inv_m;
    clear_lanes(lanes);
    for (long i = 0; i < n; ++i) {
      const float *run = x + (i * channels + c) * inner;
      SUM_RUN(lanes, inner, (run[j] - mu) * (run[j] - mu));
    }
    statistics(mu, (float)lanes_total(lanes), inv_m, unbias, momentum, eps, c, mean, invstd, rmean, rvar);
    const float scale = gamma[c] * invstd[c], shift = beta[c];
    ACT_LOOP(act, {
      for (long i = 0; i < n; ++i) {
        const float *xs = x + (i * channels + c) * inner;
        float *zs = z + (i * channels + c) * inner;
        for (long j = 0; j < inner; ++j) zs[j] = act_forward(a_, p, scale * (xs[j] - mu) + shift);
      }
    })
  }
}

// dx, dgamma, dbeta from x, the output gradient dz and (for an activation
// other than identity) the activation's output z; for ReLU-type ones, when
// beta is given, x and beta instead of z (ACT_INPUT).
ATELIER_CLONES
void atelier_batch_norm_backward(long n, long channels, long inner, const float *restrict x, const float *restrict z,
                                 const float *restrict dz, const float *restrict gamma, const float *restrict beta,
                                 const float *restrict mean, const float *restrict invstd, int act, float p,
                                 float *restrict dx, float *restrict dgamma, float *restrict dbeta, long c_begin,
                                 long c_end) {
  const float invm = 1.0f / (float)(n * inner);
  // The identity ignores z; any readable pointer keeps the loops branch-free.
  if (!z) z = dz;
  const int from_x = beta && (act == ATELIER_ACT_RELU || act == ATELIER_ACT_LEAKY_RELU);
  if (inner == 1) {
    double sb[BLOCK], sg[BLOCK];
    for (long c0 = c_begin; c0 < c_end; c0 += BLOCK) {
      const long w = c_end - c0 < BLOCK ? c_end - c0 : BLOCK;
      for (long k = 0; k < w; ++k) sb[k] = sg[k] = 0.0;
      ACT_LOOP(act, FROM_X_LOOP(from_x, {
        for (long i = 0; i < n; ++i)
          for (long k = 0; k < w; ++k) {
            const long j = i * channels + c0 + k, c = c0 + k;
            const float scale = gamma[c] * invstd[c], mu = mean[c], shift = fx_ ? beta[c] : 0.0f;
            const float dy = act_backward(a_, p, ACT_INPUT(fx_, j), dz[j]);
            sb[k] += dy;
            sg[k] += dy * (x[j] - mean[c]) * invstd[c];
          }
      }))
      for (long k = 0; k < w; ++k) {
        dbeta[c0 + k] = (float)sb[k];
        dgamma[c0 + k] = (float)sg[k];
      }
      ACT_LOOP(act, FROM_X_LOOP(from_x, {
        for (long i = 0; i < n; ++i)
          for (long k = 0; k < w; ++k) {
            const long j = i * channels + c0 + k, c = c0 + k;
            const float scale = gamma[c] * invstd[c], mu = mean[c], shift = fx_ ? beta[c] : 0.0f;
            const float dy = act_backward(a_, p, ACT_INPUT(fx_, j), dz[j]);
            const float xhat = (x[j] - mean[c]) * invstd[c];
            dx[j] = gamma[c] * invstd[c] * (dy - invm * dbeta[c] - xhat * invm * dgamma[c]);
          }
      }))
    }
    return;
  }
  for (long c = c_begin; c < c_end; ++c) {
    const float mu = mean[c], is = invstd[c], scale = gamma[c] * is, shift = from_x ? beta[c] : 0.0f;
    double lb[LANE_COUNT] = {0}, lg[LANE_COUNT] = {0};
    ACT_LOOP(act, FROM_X_LOOP(from_x, {
      for (long i = 0; i < n; ++i) {
        const long base = (i * channels + c) * inner;
        if (i + RUN_AHEAD < n) {
          const long ahead = base + RUN_AHEAD * channels * inner;
          prefetch_run(x + ahead, inner);
          if (!fx_) prefetch_run(z + ahead, inner);
          prefetch_run(dz + ahead, inner);
        }
        gradient_sums_run(a_, p, fx_, scale, shift, x + base, z + base, dz + base, mu, is, inner, lb, lg);
      }
    }))
    const float db = (float)lanes_total(lb), dg = (float)lanes_total(lg), k = scale;
    dbeta[c] = db;
    dgamma[c] = dg;
    ACT_LOOP(act, FROM_X_LOOP(from_x, {
      for (long i = 0; i < n; ++i) {
        const long base = (i * channels + c) * inner;
        for (long j = 0; j < inner; ++j) {
          const float dy = act_backward(a_, p, ACT_INPUT(fx_, base + j), dz[base + j]);
          const float xhat = (x[base + j] - mu) * is;
          dx[base + j] = k * (dy - invm * db - xhat * invm * dg);
        }
      }
    }))
  }
}
