// Instance normalisation: statistics per (sample, channel) plane, as
// PyTorch's InstanceNorm2d (biased variance, no running statistics). One
// work-group of NORM_WG items per plane: items stride through the plane and
// the work-group adds their sums in local memory, so a GPU keeps many items
// busy even at batch 1 (a plane per work-item would leave most idle).

#ifndef NORM_WG
#define NORM_WG 64   // a power of two
#endif

// The sum of every item's `value` over the work-group, returned to all.
inline float group_sum(__local float *partial, const float value) {
  const int l = get_local_id(0);
  partial[l] = value;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = NORM_WG / 2; s > 0; s >>= 1) {
    if (l < s) partial[l] += partial[l + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float total = partial[0];
  barrier(CLK_LOCAL_MEM_FENCE);  // all have read it before the next sum writes
  return total;
}

// y = (x - mean) * invstd * gamma + beta over each plane of `inner` values
// (gamma 1 and beta 0 without `affine`); mean and invstd saved per plane.
__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1)))
void instance_norm_forward(const int inner, const int channels, const int affine, const float eps,
                           __global const float *restrict x, __global const float *restrict gamma,
                           __global const float *restrict beta, __global float *restrict y,
                           __global float *restrict mean_out, __global float *restrict invstd_out) {
  __local float partial[NORM_WG];
  const int plane = get_group_id(0), l = get_local_id(0), c = plane % channels;
  __global const float *xp = x + (size_t)plane * inner;
  __global float *yp = y + (size_t)plane * inner;
  float s = 0.0f;
  for (int i = l; i < inner; i += NORM_WG) s += xp[i];
  const float mean = group_sum(partial, s) / inner;
  // Two passes, as BatchNorm: the variance about the mean, not E[x^2] - mean^2.
  float v = 0.0f;
  for (int i = l; i < inner; i += NORM_WG) { const float d = xp[i] - mean; v += d * d; }
  const float invstd = rsqrt(group_sum(partial, v) / inner + eps);
  const float scale = affine ? gamma[c] * invstd : invstd;
  const float shift = (affine ? beta[c] : 0.0f) - mean * scale;
  for (int i = l; i < inner; i += NORM_WG) yp[i] = fma(xp[i], scale, shift);
  if (l == 0) { mean_out[plane] = mean; invstd_out[plane] = invstd; }
}

// dx = g * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) per plane, with
// g = gamma[c] (1 without `affine`); the plane's sums of dy and dy * xhat go
// to sums[2 plane], sums[2 plane + 1] for the parameters' gradients.
__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1)))
void instance_norm_backward(const int inner, const int channels, const int affine,
                            __global const float *restrict x, __global const float *restrict dy,
                            __global const float *restrict gamma, __global const float *restrict mean,
                            __global const float *restrict invstd, __global float *restrict dx,
                            __global float *restrict sums) {
  __local float partial[NORM_WG];
  const int plane = get_group_id(0), l = get_local_id(0), c = plane % channels;
  const size_t base = (size_t)plane * inner;
  const float m = mean[plane], is = invstd[plane];
  float sdy = 0.0f, sdyx = 0.0f;
  for (int i = l; i < inner; i += NORM_WG) {
    const float g = dy[base + i];
    sdy += g;
    sdyx += g * (x[base + i] - m) * is;
  }
  sdy = group_sum(partial, sdy);
  sdyx = group_sum(partial, sdyx);
  const float k = (affine ? gamma[c] : 1.0f) * is, ady = sdy / inner, adyx = sdyx / inner;
  for (int i = l; i < inner; i += NORM_WG) {
    const float xhat = (x[base + i] - m) * is;
    dx[base + i] = k * (dy[base + i] - ady - xhat * adyx);
  }
  if (l == 0) { sums[2 * plane] = sdy; sums[2 * plane + 1] = sdyx; }
}

// dgamma[c] = sum over samples of the planes' sum(dy * xhat), dbeta[c] of
// sum(dy): in sample order, so every run gives the same bits.
__kernel void instance_norm_parameter_gradients(const int samples, const int channels,
                                                __global const float *restrict sums,
                                                __global float *restrict dgamma, __global float *restrict dbeta) {
  const int c = get_global_id(0);
  if (c >= channels) return;
  float g = 0.0f, b = 0.0f;
  for (int n = 0; n < samples; ++n) {
    b += sums[2 * (n * channels + c)];
    g += sums[2 * (n * channels + c) + 1];
  }
  dgamma[c] = g;
  dbeta[c] = b;
}
