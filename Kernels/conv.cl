// Convolutions that read the image where it lies (implicit GEMM): no
// column buffer is written or read, which im2col + GEMM pays for with
// C*R*S x N*P*Q floats each way. Chosen per layer shape and pass
// (Sources/Atelier/Ops/ConvAlgorithm.swift holds the rule and the launch
// sizes; `atelier-bench --tune` measures both algorithms).
//
// The geometry is compiled in (-DCONV_N=... as for layout.cl), plus
// CONV_K and CONV_BLOCK, the output rows each work-item keeps in registers.
// Work-groups lie along dimension 0 only, so every weight (forward, data
// gradient) or output-gradient value (weight gradient) a work-item reads
// is the same for the whole work-group: one load broadcast to all lanes on
// a CPU device, one cached line on a GPU. Rows past the last channel of a
// block reuse that channel's values and are not stored.
#ifdef CONV_BLOCK
#define CONV_PQ (CONV_P * CONV_Q)
#define CONV_HW (CONV_H * CONV_W)
#define CONV_RS (CONV_R * CONV_S)
#define CONV_CRS (CONV_C * CONV_RS)

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
#define CONV_HH ((CONV_H + CONV_SH - 1) / CONV_SH)
#define CONV_WW ((CONV_W + CONV_SW - 1) / CONV_SW)

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
#ifndef CONV_SPLIT
#define CONV_SPLIT 1
#endif

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

// dw[i] = (accumulate ? dw[i] : 0) + the slices' partial sums, in order.
__kernel void conv_sum_slices(__global const float *restrict partial, __global float *restrict dw,
                              const int accumulate) {
  const int i = get_global_id(0);
  if (i >= CONV_K * CONV_CRS) return;
  float sum = accumulate ? dw[i] : 0.0f;
  for (int slice = 0; slice < CONV_SPLIT; ++slice) sum += partial[slice * CONV_K * CONV_CRS + i];
  dw[i] = sum;
}
#endif
