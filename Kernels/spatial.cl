// Spatial rearrangements of (N, C, H, W) images and their gradients: padding
// (zeros or reflection, as PyTorch's ZeroPad2d and ReflectionPad2d) and
// upsampling (nearest or bilinear with half-pixel centres, as nn.Upsample
// with align_corners=False). One work-item per output element; gradients
// gather what each input element received, so no two items write the same
// element and no atomics are needed.

// Reflection about the edges (the edge itself not repeated): -1 -> 1, n -> n - 2.
inline int reflect_index(const int t, const int n) {
  return t < 0 ? -t : (t >= n ? 2 * (n - 1) - t : t);
}

// y (planes, H + top + bottom, W + left + right) from x (planes, H, W).
__kernel void pad_forward(const int planes, const int h, const int w, const int top, const int bottom,
                          const int left, const int right, const int reflect,
                          __global const float *restrict x, __global float *restrict y) {
  const int ho = h + top + bottom, wo = w + left + right;
  const int i = get_global_id(0);
  if (i >= planes * ho * wo) return;
  const int oj = i % wo, oi = (i / wo) % ho, plane = i / (wo * ho);
  int si = oi - top, sj = oj - left;
  if (reflect) {
    si = reflect_index(si, h);
    sj = reflect_index(sj, w);
  } else if (si < 0 || si >= h || sj < 0 || sj >= w) {
    y[i] = 0.0f;
    return;
  }
  y[i] = x[((size_t)plane * h + si) * w + sj];
}

// The output positions along one axis that read input position `s`: itself
// shifted by `before`, and with reflection its mirror images at either edge.
inline int pad_sources(const int s, const int n, const int before, const int after, const int reflect, int *out) {
  int count = 0;
  out[count++] = s + before;
  if (reflect) {
    if (s >= 1 && s <= before) out[count++] = before - s;
    if (s <= n - 2 && s > n - 2 - after) out[count++] = before + 2 * (n - 1) - s;
  }
  return count;
}

// dx (planes, H, W): the sum of dy over the outputs each input was copied to.
__kernel void pad_backward(const int planes, const int h, const int w, const int top, const int bottom,
                           const int left, const int right, const int reflect,
                           __global const float *restrict dy, __global float *restrict dx) {
  const int ho = h + top + bottom, wo = w + left + right;
  const int i = get_global_id(0);
  if (i >= planes * h * w) return;
  const int sj = i % w, si = (i / w) % h, plane = i / (w * h);
  int rows[3], cols[3];
  const int nr = pad_sources(si, h, top, bottom, reflect, rows);
  const int nc = pad_sources(sj, w, left, right, reflect, cols);
  float sum = 0.0f;
  for (int a = 0; a < nr; ++a)
    for (int b = 0; b < nc; ++b) sum += dy[((size_t)plane * ho + rows[a]) * wo + cols[b]];
  dx[i] = sum;
}

// Bilinear source of output position o along an axis of n inputs, scale 1/f:
// the lower input, the upper one, and the upper one's weight.
inline void bilinear_source(const int o, const int f, const int n, int *lower, int *upper, float *weight) {
  const float s = fmax(((float)o + 0.5f) / (float)f - 0.5f, 0.0f);
  const int i0 = (int)s;
  *lower = i0;
  *upper = i0 < n - 1 ? i0 + 1 : i0;
  *weight = s - (float)i0;
}

// y (planes, H f, W f) from x (planes, H, W).
__kernel void upsample_forward(const int planes, const int h, const int w, const int f, const int bilinear,
                               __global const float *restrict x, __global float *restrict y) {
  const int ho = h * f, wo = w * f;
  const int i = get_global_id(0);
  if (i >= planes * ho * wo) return;
  const int oj = i % wo, oi = (i / wo) % ho, plane = i / (wo * ho);
  __global const float *xp = x + (size_t)plane * h * w;
  if (!bilinear) {
    y[i] = xp[(oi / f) * w + oj / f];
    return;
  }
  int r0, r1, c0, c1;
  float wr, wc;
  bilinear_source(oi, f, h, &r0, &r1, &wr);
  bilinear_source(oj, f, w, &c0, &c1, &wc);
  y[i] = (1.0f - wr) * ((1.0f - wc) * xp[r0 * w + c0] + wc * xp[r0 * w + c1])
       + wr * ((1.0f - wc) * xp[r1 * w + c0] + wc * xp[r1 * w + c1]);
}

// The weight with which output position o along an axis reads input s.
inline float bilinear_weight(const int o, const int s, const int f, const int n) {
  int lower, upper;
  float weight;
  bilinear_source(o, f, n, &lower, &upper, &weight);
  return (lower == s ? 1.0f - weight : 0.0f) + (upper == s ? weight : 0.0f);
}

// dx (planes, H, W): each input's share of dy. Nearest: its f x f block.
// Bilinear: the outputs within two inputs' reach of it.
__kernel void upsample_backward(const int planes, const int h, const int w, const int f, const int bilinear,
                                __global const float *restrict dy, __global float *restrict dx) {
  const int ho = h * f, wo = w * f;
  const int i = get_global_id(0);
  if (i >= planes * h * w) return;
  const int sj = i % w, si = (i / w) % h, plane = i / (w * h);
  __global const float *gp = dy + (size_t)plane * ho * wo;
  float sum = 0.0f;
  if (!bilinear) {
    for (int a = 0; a < f; ++a)
      for (int b = 0; b < f; ++b) sum += gp[(si * f + a) * wo + sj * f + b];
    dx[i] = sum;
    return;
  }
  const int r_first = max(0, (si - 1) * f), r_last = min(ho - 1, (si + 2) * f);
  const int c_first = max(0, (sj - 1) * f), c_last = min(wo - 1, (sj + 2) * f);
  for (int oi = r_first; oi <= r_last; ++oi) {
    const float wr = bilinear_weight(oi, si, f, h);
    if (wr == 0.0f) continue;
    float row = 0.0f;
    for (int oj = c_first; oj <= c_last; ++oj) row += bilinear_weight(oj, sj, f, w) * gp[oi * wo + oj];
    sum += wr * row;
  }
  dx[i] = sum;
}

// Max pooling over size x size windows with stride size (PyTorch's
// MaxPool2d(size)): y (planes, H / size, W / size), rows and columns past
// the last whole window left out. Ties go to the first maximum in row-major
// order, as PyTorch's, so the gradient below sends dy to exactly one input.
__kernel void maxpool_forward(const int planes, const int h, const int w, const int size,
                              __global const float *restrict x, __global float *restrict y) {
  const int ho = h / size, wo = w / size;
  const int i = get_global_id(0);
  if (i >= planes * ho * wo) return;
  const int oj = i % wo, oi = (i / wo) % ho, plane = i / (wo * ho);
  __global const float *window = x + ((size_t)plane * h + oi * size) * w + oj * size;
  float best = window[0];
  for (int a = 0; a < size; ++a)
    for (int b = 0; b < size; ++b) best = fmax(best, window[a * w + b]);
  y[i] = best;
}

// dx (planes, H, W): dy of the window where this input is the first maximum,
// else 0 (inputs outside every window too).
__kernel void maxpool_backward(const int planes, const int h, const int w, const int size,
                               __global const float *restrict x, __global const float *restrict dy,
                               __global float *restrict dx) {
  const int ho = h / size, wo = w / size;
  const int i = get_global_id(0);
  if (i >= planes * h * w) return;
  const int sj = i % w, si = (i / w) % h, plane = i / (w * h);
  const int oi = si / size, oj = sj / size;
  if (oi >= ho || oj >= wo) {
    dx[i] = 0.0f;
    return;
  }
  __global const float *window = x + ((size_t)plane * h + oi * size) * w + oj * size;
  int first = 0;
  float best = window[0];
  for (int a = 0; a < size; ++a)
    for (int b = 0; b < size; ++b)
      if (window[a * w + b] > best) {
        best = window[a * w + b];
        first = a * size + b;
      }
  const int mine = (si - oi * size) * size + (sj - oj * size);
  dx[i] = mine == first ? dy[((size_t)plane * ho + oi) * wo + oj] : 0.0f;
}
