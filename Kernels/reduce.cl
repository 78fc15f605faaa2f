// Reductions whose per-element term is an expression the host defines:
//   REDUCE_MAP   in terms of a and b, the i-th values of x0 and x1
//   CHANNEL_MAP  in terms of a, b (element values of x0, x1) and
//                u, v (this channel's values of c0, c1)
// A unary op passes its input as both x0 and x1.

#ifndef REDUCE_MAP
#define REDUCE_MAP (a)
#endif
#ifndef CHANNEL_MAP
#define CHANNEL_MAP (a)
#endif
#ifndef CR_WG
#define CR_WG 1
#endif

// Sums of 8-wide terms: the map runs on vectors (every builtin it uses is
// overloaded for them) and 8 independent lanes hide the add latency.
inline float sum8(const float8 v) {
  const float4 h = v.lo + v.hi;
  return (h.x + h.y) + (h.z + h.w);
}

// Stage 1: work-item g sums the contiguous chunk [g*chunk, (g+1)*chunk),
// chunk a multiple of 8. Contiguous chunks, not a grid stride: PoCL runs a
// work-item's loop serially, and a stride would thrash the cache.
// With GRAD_MAP defined (a loss with its gradient), the same pass also
// writes grad[i] = GRAD_MAP, an expression in a, b and the scale s.
__kernel void reduce_partial(const int n, const int chunk, const float s,
                             __global const float *restrict x0,
                             __global const float *restrict x1,
                             __global float *restrict partial
#ifdef GRAD_MAP
                             , __global float *restrict grad
#endif
                             ) {
  const int g = get_global_id(0);
  const int begin = g * chunk;
  const int end = min(n, begin + chunk);
  float8 acc = (float8)(0.0f);
  int i = begin;
  for (; i + 8 <= end; i += 8) {
    const float8 a = vload8(0, x0 + i), b = vload8(0, x1 + i);
    acc += REDUCE_MAP;
#ifdef GRAD_MAP
    vstore8(GRAD_MAP, 0, grad + i);
#endif
  }
  float sum = sum8(acc);
  for (; i < end; ++i) {
    const float a = x0[i], b = x1[i];
    sum += REDUCE_MAP;
#ifdef GRAD_MAP
    grad[i] = GRAD_MAP;
#endif
  }
  partial[g] = sum;
}

// Stage 2: one work-item adds the partial sums in order, so the result is
// the same on every run.
__kernel void reduce_final(const int count, const float scale,
                           __global const float *restrict partial,
                           __global float *restrict out) {
  if (get_global_id(0) != 0) return;
  float s = 0.0f;
  for (int i = 0; i < count; ++i) s += partial[i];
  out[0] = s * scale;
}

// out[c] = scale * sum over (n, j) of CHANNEL_MAP, for x laid out as
// (N, C, inner). One work-group of CR_WG items per channel.
__kernel __attribute__((reqd_work_group_size(CR_WG, 1, 1)))
void reduce_channels(const int N, const int C, const int inner, const float scale,
                     __global const float *restrict x0,
                     __global const float *restrict x1,
                     __global const float *restrict c0,
                     __global const float *restrict c1,
                     __global float *restrict out) {
  const int c = get_group_id(0);
  const float u = c0[c], v = c1[c];
  float s = 0.0f;
#if CR_WG == 1
  float8 acc = (float8)(0.0f);
  for (int n = 0; n < N; ++n) {
    const int base = (n * C + c) * inner;
    int j = 0;
    for (; j + 8 <= inner; j += 8) {
      const float8 a = vload8(0, x0 + base + j), b = vload8(0, x1 + base + j);
      acc += CHANNEL_MAP;
    }
    for (; j < inner; ++j) {
      const float a = x0[base + j], b = x1[base + j];
      s += CHANNEL_MAP;
    }
  }
  out[c] = (s + sum8(acc)) * scale;
#else
  const int l = get_local_id(0);
  const int per = N * inner;
  for (int m = l; m < per; m += CR_WG) {
    const int n = m / inner, j = m - n * inner;
    const int idx = (n * C + c) * inner + j;
    const float a = x0[idx], b = x1[idx];
    s += CHANNEL_MAP;
  }
  __local float part[CR_WG];
  part[l] = s;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int step = CR_WG / 2; step > 0; step >>= 1) {
    if (l < step) part[l] += part[l + step];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (l == 0) out[c] = part[0] * scale;
#endif
}
