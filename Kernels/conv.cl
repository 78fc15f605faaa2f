// Convolutions that read the image where it lies: no
// column buffer is written or read, which im2col + GEMM pays for with
// C*R*S x N*P*Q floats each way. Chosen per layer shape and pass
// (Sources/AtelierDevices/OpenCL/ConvAlgorithm.swift holds the rule and the launch
// sizes; `atelier-bench --tune` measures the algorithms). Two families:
// implicit GEMM for GPUs (work-items along pixels, below) and direct
// convolution with explicit vectors for CPU devices (further down).
//
// The geometry is compiled in (-DCONV_N=... as for layout.cl), plus
// CONV_K and CONV_BLOCK, the output rows each work-item keeps in registers.
// Work-groups lie along dimension 0 only, so every weight (forward, data
// gradient) or output-gradient value (weight gradient) a work-item reads
// is the same for the whole work-group: one load broadcast to all lanes on
// a CPU device, one cached line on a GPU. Rows past the last channel of a
// block reuse that channel's values and are not stored.
#ifdef CONV_K
#define CONV_PQ (CONV_P * CONV_Q)
#define CONV_HW (CONV_H * CONV_W)
#define CONV_RS (CONV_R * CONV_S)
#define CONV_CRS (CONV_C * CONV_RS)

#define CONV_HH ((CONV_H + CONV_SH - 1) / CONV_SH)
#define CONV_WW ((CONV_W + CONV_SW - 1) / CONV_SW)
#ifndef CONV_SPLIT
#define CONV_SPLIT 1
#endif

#ifdef CONV_BLOCK
#define CONV_ZERO_ACC(acc) for (int i_ = 0; i_ < CONV_BLOCK; ++i_) acc[i_] = 0.0f

// y[n, k, p, q]: dimension 0 is one output pixel (n, p, q), dimension 1 a
// block of CONV_BLOCK output channels.
__kernel void conv_implicit_forward(__global const float *restrict x, __global const float *restrict w,
                                    __global float *restrict y) {
  const int j = get_global_id(0);
  const int k0 = get_global_id(1) * CONV_BLOCK;
  if (j >= CONV_N * CONV_PQ) return;
  const int q = j % CONV_Q, p = (j / CONV_Q) % CONV_P, n = j / CONV_PQ;
  const int h0 = p * CONV_SH - CONV_PH, w0 = q * CONV_SW - CONV_PW;
  const __global float *xn = x + n * (CONV_C * CONV_HW);
  float acc[CONV_BLOCK];
  CONV_ZERO_ACC(acc);
  for (int c = 0; c < CONV_C; ++c) {
    for (int r = 0; r < CONV_R; ++r) {
      const int h = h0 + r;
      const bool row_inside = h >= 0 && h < CONV_H;
      for (int s = 0; s < CONV_S; ++s) {
        const int wi = w0 + s;
        const bool inside = row_inside && wi >= 0 && wi < CONV_W;
        // Padding reads a valid address and discards it: no masked load.
        const float v = xn[inside ? (c * CONV_H + h) * CONV_W + wi : 0];
        const float xv = inside ? v : 0.0f;
        const int t = (c * CONV_R + r) * CONV_S + s;
        for (int i = 0; i < CONV_BLOCK; ++i) acc[i] = fma(w[min(k0 + i, CONV_K - 1) * CONV_CRS + t], xv, acc[i]);
      }
    }
  }
  for (int i = 0; i < CONV_BLOCK; ++i)
    if (k0 + i < CONV_K) y[(n * CONV_K + k0 + i) * CONV_PQ + p * CONV_Q + q] = acc[i];
}

// dx[n, c, h, w] = sum over k and the taps (r, s) that put input pixel
// (h, w) under output pixel (p, q). With stride SH, only taps with
// r = (h + PH) mod SH, + SH, ... do: the pixels of one stride phase
// (h mod SH, w mod SW) all meet the same taps. So dimension 2 is the
// phase, dimension 0 one pixel of that phase (n, h / SH, w / SW) and
// dimension 1 a block of input channels; the weights read are then the
// same across a work-group, and no multiply-add is wasted on taps that
// miss (3 in 4 of them at stride 2, had every tap been visited).
__kernel void conv_implicit_backward_data(__global const float *restrict dy, __global const float *restrict w,
                                          __global float *restrict dx) {
  const int j = get_global_id(0);
  const int c0 = get_global_id(1) * CONV_BLOCK;
  const int phase = get_global_id(2);
  if (j >= CONV_N * CONV_HH * CONV_WW) return;
  const int a = phase / CONV_SW, b = phase % CONV_SW;
  const int wq = j % CONV_WW, hq = (j / CONV_WW) % CONV_HH, n = j / (CONV_HH * CONV_WW);
  const int h = hq * CONV_SH + a, wi = wq * CONV_SW + b;
  if (h >= CONV_H || wi >= CONV_W) return;
  const int r0 = (a + CONV_PH) % CONV_SH, s0 = (b + CONV_PW) % CONV_SW;
  float acc[CONV_BLOCK];
  CONV_ZERO_ACC(acc);
  for (int r = r0; r < CONV_R; r += CONV_SH) {
    // h + PH - r is a multiple of SH (negative ones too: C division is exact there).
    const int p = (h + CONV_PH - r) / CONV_SH;
    const bool row_inside = p >= 0 && p < CONV_P;
    for (int s = s0; s < CONV_S; s += CONV_SW) {
      const int q = (wi + CONV_PW - s) / CONV_SW;
      const bool inside = row_inside && q >= 0 && q < CONV_Q;
      const int base = inside ? n * CONV_K * CONV_PQ + p * CONV_Q + q : 0;
      const int tap = r * CONV_S + s;
      for (int k = 0; k < CONV_K; ++k) {
        const float v = dy[base + k * CONV_PQ];
        const float dv = inside ? v : 0.0f;
        for (int i = 0; i < CONV_BLOCK; ++i)
          acc[i] = fma(w[(k * CONV_C + min(c0 + i, CONV_C - 1)) * CONV_RS + tap], dv, acc[i]);
      }
    }
  }
  for (int i = 0; i < CONV_BLOCK; ++i)
    if (c0 + i < CONV_C) dx[(n * CONV_C + c0 + i) * CONV_HW + h * CONV_W + wi] = acc[i];
}

// dw[k, t] for tap t = (c, r, s): dimension 0 is the tap, dimension 1 a
// block of output channels, dimension 2 one of CONV_SPLIT slices of the
// batch (more work-items where K * C*R*S alone cannot fill a GPU). With
// one slice the sum goes straight to dw (added to it when `accumulate`);
// with more, each slice writes its partial sum to `out` and
// conv_sum_slices adds them in slice order, so the result does not depend
// on scheduling.
__kernel void conv_implicit_backward_weights(__global const float *restrict x, __global const float *restrict dy,
                                             __global float *restrict out, const int accumulate) {
  const int t = get_global_id(0);
  const int k0 = get_global_id(1) * CONV_BLOCK;
  const int slice = get_global_id(2);
  if (t >= CONV_CRS) return;
  const int s = t % CONV_S, r = (t / CONV_S) % CONV_R, c = t / CONV_RS;
  const int n_begin = slice * CONV_N / CONV_SPLIT, n_end = (slice + 1) * CONV_N / CONV_SPLIT;
  float acc[CONV_BLOCK];
  CONV_ZERO_ACC(acc);
  for (int n = n_begin; n < n_end; ++n) {
    const __global float *xc = x + (n * CONV_C + c) * CONV_HW;
    const __global float *dyn = dy + n * CONV_K * CONV_PQ;
    for (int p = 0; p < CONV_P; ++p) {
      const int h = p * CONV_SH - CONV_PH + r;
      const bool row_inside = h >= 0 && h < CONV_H;
      for (int q = 0; q < CONV_Q; ++q) {
        const int wi = q * CONV_SW - CONV_PW + s;
        const bool inside = row_inside && wi >= 0 && wi < CONV_W;
        const float v = xc[inside ? h * CONV_W + wi : 0];
        const float xv = inside ? v : 0.0f;
        const int pixel = p * CONV_Q + q;
        for (int i = 0; i < CONV_BLOCK; ++i) acc[i] = fma(dyn[min(k0 + i, CONV_K - 1) * CONV_PQ + pixel], xv, acc[i]);
      }
    }
  }
  for (int i = 0; i < CONV_BLOCK; ++i) {
    if (k0 + i >= CONV_K) break;
    const int idx = (k0 + i) * CONV_CRS + t;
    if (CONV_SPLIT > 1) {
      out[slice * CONV_K * CONV_CRS + idx] = acc[i];
    } else {
      out[idx] = accumulate ? out[idx] + acc[i] : acc[i];
    }
  }
}

#endif

// dw[i] = (accumulate ? dw[i] : 0) + the slices' partial sums, in order.
__kernel void conv_sum_slices(__global const float *restrict partial, __global float *restrict dw,
                              const int accumulate) {
  const int i = get_global_id(0);
  if (i >= CONV_K * CONV_CRS) return;
  float sum = accumulate ? dw[i] : 0.0f;
  for (int slice = 0; slice < CONV_SPLIT; ++slice) sum += partial[slice * CONV_K * CONV_CRS + i];
  dw[i] = sum;
}

// ---------------------------------------------------------------------
// Direct convolution for CPU devices. PoCL vectorises across work-items
// only in simple kernels; these use explicit vectors of CONV_VW channels
// instead, and CONV_PIX pixels (taps for the weight gradient) per
// work-item, each a vector of accumulators in registers: per step one
// vector load of weights (or output gradients) and CONV_PIX scalar image
// loads feed CONV_PIX vector multiply-adds. The vector operand is first
// laid out with its channels contiguous and padded to a whole vector
// (CONV_KP output, CONV_CP input channels), by the layout kernels below.
#ifdef CONV_VW
#define CONV_CAT_(a, b) a##b
#define CONV_CAT(a, b) CONV_CAT_(a, b)
#define CONV_VT CONV_CAT(float, CONV_VW)
#define CONV_VLOAD(p) CONV_CAT(vload, CONV_VW)(0, (p))
#define CONV_VSTORE(v, p) CONV_CAT(vstore, CONV_VW)((v), 0, (p))
#define CONV_KP ((CONV_K + CONV_VW - 1) / CONV_VW * CONV_VW)
#define CONV_CP ((CONV_C + CONV_VW - 1) / CONV_VW * CONV_VW)

// wt[t, k] = w[k, t] (taps major, output channels padded with zeros).
__kernel void conv_weights_by_tap(__global const float *restrict w, __global float *restrict wt) {
  const int k = get_global_id(0), t = get_global_id(1);
  if (k >= CONV_KP || t >= CONV_CRS) return;
  wt[t * CONV_KP + k] = k < CONV_K ? w[k * CONV_CRS + t] : 0.0f;
}

// wd[tap, k, c] = w[k, c, tap] (input channels padded with zeros).
__kernel void conv_weights_by_input(__global const float *restrict w, __global float *restrict wd) {
  const int c = get_global_id(0), k = get_global_id(1), tap = get_global_id(2);
  if (c >= CONV_CP || k >= CONV_K) return;
  wd[(tap * CONV_K + k) * CONV_CP + c] = c < CONV_C ? w[(k * CONV_C + c) * CONV_RS + tap] : 0.0f;
}

// dyt[n, pixel, k] = dy[n, k, pixel] (output channels padded with zeros).
__kernel void conv_gradient_by_pixel(__global const float *restrict dy, __global float *restrict dyt) {
  const int k = get_global_id(0), j = get_global_id(1);
  if (k >= CONV_KP || j >= CONV_N * CONV_PQ) return;
  const int n = j / CONV_PQ, pixel = j % CONV_PQ;
  dyt[j * CONV_KP + k] = k < CONV_K ? dy[(n * CONV_K + k) * CONV_PQ + pixel] : 0.0f;
}

// Writes lanes of `v` below `count` to out[0], out[stride], ...
#define CONV_STORE_LANES(v, out, stride, count)               \
  {                                                           \
    float lanes_[CONV_VW];                                    \
    CONV_VSTORE((v), lanes_);                                 \
    for (int l_ = 0; l_ < CONV_VW && l_ < (count); ++l_)      \
      (out)[l_ * (stride)] = lanes_[l_];                      \
  }

// y: dimension 0 is CONV_PIX consecutive output pixels (n, p, q),
// dimension 1 CONV_VW output channels.
__kernel void conv_direct_forward(__global const float *restrict x, __global const float *restrict wt,
                                  __global float *restrict y) {
  const int j0 = get_global_id(0) * CONV_PIX, k0 = get_global_id(1) * CONV_VW;
  if (j0 >= CONV_N * CONV_PQ) return;
  int origin[CONV_PIX], h0[CONV_PIX], w0[CONV_PIX];
  CONV_VT acc[CONV_PIX];
  for (int i = 0; i < CONV_PIX; ++i) {
    const int j = min(j0 + i, CONV_N * CONV_PQ - 1);
    const int q = j % CONV_Q, p = (j / CONV_Q) % CONV_P, n = j / CONV_PQ;
    h0[i] = p * CONV_SH - CONV_PH;
    w0[i] = q * CONV_SW - CONV_PW;
    origin[i] = n * CONV_C * CONV_HW + h0[i] * CONV_W + w0[i];
    acc[i] = 0.0f;
  }
  for (int c = 0; c < CONV_C; ++c)
    for (int r = 0; r < CONV_R; ++r)
      for (int s = 0; s < CONV_S; ++s) {
        const CONV_VT wv = CONV_VLOAD(wt + ((c * CONV_R + r) * CONV_S + s) * CONV_KP + k0);
        const int shift = c * CONV_HW + r * CONV_W + s;
        for (int i = 0; i < CONV_PIX; ++i) {
          const int h = h0[i] + r, wi = w0[i] + s;
          const bool inside = h >= 0 && h < CONV_H && wi >= 0 && wi < CONV_W;
          const float v = x[inside ? origin[i] + shift : 0];
          acc[i] = fma((CONV_VT)(inside ? v : 0.0f), wv, acc[i]);
        }
      }
  for (int i = 0; i < CONV_PIX && j0 + i < CONV_N * CONV_PQ; ++i) {
    const int j = j0 + i, n = j / CONV_PQ, pixel = j % CONV_PQ;
    CONV_STORE_LANES(acc[i], y + (n * CONV_K + k0) * CONV_PQ + pixel, CONV_PQ, CONV_K - k0);
  }
}

// dx: dimension 0 is CONV_PIX consecutive pixels of one stride phase (as
// conv_implicit_backward_data), dimension 1 CONV_VW input channels,
// dimension 2 the phase.
__kernel void conv_direct_backward_data(__global const float *restrict dy, __global const float *restrict wd,
                                        __global float *restrict dx) {
  const int j0 = get_global_id(0) * CONV_PIX, c0 = get_global_id(1) * CONV_VW, phase = get_global_id(2);
  if (j0 >= CONV_N * CONV_HH * CONV_WW) return;
  const int a = phase / CONV_SW, b = phase % CONV_SW;
  int n[CONV_PIX], h[CONV_PIX], wi[CONV_PIX];
  bool valid[CONV_PIX];
  CONV_VT acc[CONV_PIX];
  for (int i = 0; i < CONV_PIX; ++i) {
    const int j = j0 + i;
    n[i] = j / (CONV_HH * CONV_WW);
    h[i] = (j / CONV_WW) % CONV_HH * CONV_SH + a;
    wi[i] = j % CONV_WW * CONV_SW + b;
    valid[i] = j < CONV_N * CONV_HH * CONV_WW && h[i] < CONV_H && wi[i] < CONV_W;
    acc[i] = 0.0f;
  }
  const int r0 = (a + CONV_PH) % CONV_SH, s0 = (b + CONV_PW) % CONV_SW;
  for (int r = r0; r < CONV_R; r += CONV_SH)
    for (int s = s0; s < CONV_S; s += CONV_SW) {
      int base[CONV_PIX];
      bool inside[CONV_PIX];
      for (int i = 0; i < CONV_PIX; ++i) {
        const int p = (h[i] + CONV_PH - r) / CONV_SH, q = (wi[i] + CONV_PW - s) / CONV_SW;
        inside[i] = valid[i] && p >= 0 && p < CONV_P && q >= 0 && q < CONV_Q;
        base[i] = inside[i] ? n[i] * CONV_K * CONV_PQ + p * CONV_Q + q : 0;
      }
      const __global float *wtap = wd + (r * CONV_S + s) * CONV_K * CONV_CP + c0;
      for (int k = 0; k < CONV_K; ++k) {
        const CONV_VT wv = CONV_VLOAD(wtap + k * CONV_CP);
        for (int i = 0; i < CONV_PIX; ++i) {
          const float v = dy[base[i] + k * CONV_PQ];
          acc[i] = fma((CONV_VT)(inside[i] ? v : 0.0f), wv, acc[i]);
        }
      }
    }
  for (int i = 0; i < CONV_PIX; ++i)
    if (valid[i]) CONV_STORE_LANES(acc[i], dx + (n[i] * CONV_C + c0) * CONV_HW + h[i] * CONV_W + wi[i], CONV_HW, CONV_C - c0);
}

// dw: dimension 0 is CONV_PIX consecutive taps (c, r, s), dimension 1
// CONV_VW output channels, dimension 2 a batch slice (as
// conv_implicit_backward_weights, whose conv_sum_slices adds the slices).
__kernel void conv_direct_backward_weights(__global const float *restrict x, __global const float *restrict dyt,
                                           __global float *restrict out, const int accumulate) {
  const int t0 = get_global_id(0) * CONV_PIX, k0 = get_global_id(1) * CONV_VW, slice = get_global_id(2);
  if (t0 >= CONV_CRS) return;
  int plane[CONV_PIX], r[CONV_PIX], s[CONV_PIX];
  CONV_VT acc[CONV_PIX];
  for (int i = 0; i < CONV_PIX; ++i) {
    const int t = min(t0 + i, CONV_CRS - 1);
    s[i] = t % CONV_S;
    r[i] = (t / CONV_S) % CONV_R;
    plane[i] = t / CONV_RS * CONV_HW;
    acc[i] = 0.0f;
  }
  const int n_begin = slice * CONV_N / CONV_SPLIT, n_end = (slice + 1) * CONV_N / CONV_SPLIT;
  for (int n = n_begin; n < n_end; ++n) {
    const __global float *xn = x + n * CONV_C * CONV_HW;
    for (int p = 0; p < CONV_P; ++p)
      for (int q = 0; q < CONV_Q; ++q) {
        const CONV_VT dv = CONV_VLOAD(dyt + ((n * CONV_P + p) * CONV_Q + q) * CONV_KP + k0);
        for (int i = 0; i < CONV_PIX; ++i) {
          const int h = p * CONV_SH - CONV_PH + r[i], wi = q * CONV_SW - CONV_PW + s[i];
          const bool inside = h >= 0 && h < CONV_H && wi >= 0 && wi < CONV_W;
          const float v = xn[inside ? plane[i] + h * CONV_W + wi : 0];
          acc[i] = fma((CONV_VT)(inside ? v : 0.0f), dv, acc[i]);
        }
      }
  }
  for (int i = 0; i < CONV_PIX && t0 + i < CONV_CRS; ++i) {
    float lanes[CONV_VW];
    CONV_VSTORE(acc[i], lanes);
    for (int l = 0; l < CONV_VW && k0 + l < CONV_K; ++l) {
      const int idx = (k0 + l) * CONV_CRS + t0 + i;
      if (CONV_SPLIT > 1) {
        out[slice * CONV_K * CONV_CRS + idx] = lanes[l];
      } else {
        out[idx] = accumulate ? out[idx] + lanes[l] : lanes[l];
      }
    }
  }
}
#endif
#endif
