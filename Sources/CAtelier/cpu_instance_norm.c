#include "catelier.h"
#include "cpu_activation.h"
#include "cpu_lanes.h"

// InstanceNorm's CPU loops (InstanceNormOp, InstanceNormBackwardOp): each
// (sample, channel) plane on its own, planes [p_begin, p_end). A plane's
// sums run in 16 float lanes over pieces of at most PIECE values, added
// into double lanes after each piece, so no float partial sum takes more
// than 16 terms' worth of rounding per lane (Swift's element-by-element
// double sums ran at 8-10 GB/s).

enum { PIECE = 256 };

ATELIER_CLONES
void atelier_instance_norm_forward(long inner, long channels, int affine, float epsilon, const float *restrict x,
                                   const float *restrict gamma, const float *restrict beta, float *restrict y,
                                   float *restrict mean_out, float *restrict invstd_out, long p_begin, long p_end) {
  double lanes[LANE_COUNT];
  for (long plane = p_begin; plane < p_end; ++plane) {
    const float *xp = x + plane * inner;
    clear_lanes(lanes);
    for (long j0 = 0; j0 < inner; j0 += PIECE) {
      const float *xs = xp + j0;
      const long n = inner - j0 < PIECE ? inner - j0 : PIECE;
      SUM_RUN(lanes, n, xs[j]);
    }
    const float mean = (float)(lanes_total(lanes) / (double)inner);
    clear_lanes(lanes);
    for (long j0 = 0; j0 < inner; j0 += PIECE) {
      const float *xs = xp + j0;
      const long n = inner - j0 < PIECE ? inner - j0 : PIECE;
      SUM_RUN(lanes, n, (xs[j] - mean) * (xs[j] - mean));
    }
    const float invstd = 1.0f / __builtin_sqrtf((float)(lanes_total(lanes) / (double)inner) + epsilon);
    const long c = plane % channels;
    const float scale = affine ? gamma[c] * invstd : invstd, shift = (affine ? beta[c] : 0.0f) - mean * scale;
    float *yp = y + plane * inner;
    for (long j = 0; j < inner; ++j) yp[j] = xp[j] * scale + shift;
    mean_out[plane] = mean;
    invstd_out[plane] = invstd;
  }
}

ATELIER_CLONES
void atelier_instance_norm_backward(long inner, long channels, int affine, const float *restrict x,
                                    const float *restrict dy, const float *restrict gamma, const float *restrict mean,
                                    const float *restrict invstd, float *restrict dx, float *restrict sums,
                                    long p_begin, long p_end) {
  double by_dy[LANE_COUNT], by_xhat[LANE_COUNT];
  for (long plane = p_begin; plane < p_end; ++plane) {
    const float *xp = x + plane * inner, *gp = dy + plane * inner;
    const float m = mean[plane], inv = invstd[plane];
    clear_lanes(by_dy);
    clear_lanes(by_xhat);
    for (long j0 = 0; j0 < inner; j0 += PIECE) {
      const float *xs = xp + j0, *gs = gp + j0;
      const long n = inner - j0 < PIECE ? inner - j0 : PIECE;
      SUM_RUN(by_dy, n, gs[j]);
      SUM_RUN(by_xhat, n, gs[j] * ((xs[j] - m) * inv));
    }
    const double sdy = lanes_total(by_dy), sdyx = lanes_total(by_xhat);
    const float k = (affine ? gamma[plane % channels] : 1.0f) * inv;
    const float ady = (float)(sdy / (double)inner), adyx = (float)(sdyx / (double)inner);
    float *out = dx + plane * inner;
    for (long j = 0; j < inner; ++j) out[j] = k * (gp[j] - ady - (xp[j] - m) * inv * adyx);
    sums[2 * plane] = (float)sdy;
    sums[2 * plane + 1] = (float)sdyx;
  }
}
