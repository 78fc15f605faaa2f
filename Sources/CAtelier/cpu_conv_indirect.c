#include "catelier.h"
#include "cpu_activation.h"
#include "cpu_tiles.h"
#include "cpu_transpose.h"

// Convolution as a GEMM whose image operand is read in place through a
// table of pointers (an "indirection" table: one per output pixel and tap),
// for layers with many input channels. A register tile of output pixels
// broadcasts its multiply-add operands straight from the image, so no
// column matrix is written and no BLAS packs it again. Only the weights are
// packed, once per call, into panels of up to 64 output columns that the
// tile streams through (cpu_tiles.h). On the dcgan's 64 -> 128 layer, one
// core, AVX-512, whole passes: 95-103 GFLOP/s against 83-85 with columns and
// OpenBLAS (docs/benchmarks.md, ATELIER_CPU_THREADS=1 atelier-bench).
//
//  forward         y (n, p, q, k)  = sum over taps and c of x (n, c, h, w) * W
//  data gradient   dx (n, h, w, c) = the same GEMM over dy, one stride phase
//                  of dx at a time: every pixel of a phase receives the same
//                  taps (2x2 of a 4x4 kernel at stride 2), so no multiply-add
//                  is spent on taps that miss and no col2im sums are needed;
//                  for fewer than 64 channels of dx, one GEMM into (pixel,
//                  tap, c) columns and a col2im instead (narrow_data_gradient).
//  weight gradient dW (tap, c, k)  = sum over pixels of x (pixel's tap, c) * dy (pixel, k)
//
// The image operand is read where it lies, (C, H, W) per sample, channel i
// a plane after channel 0: the floats a tile broadcasts for one tap and
// channel are a few pixels of one row, so they share a cache line or two,
// and no transpose is needed on the way in (those transposes were about 4 %
// of a dcgan step's cycles). Taps that fall in the padding point into a
// region of zeros. The outputs, whose rows the tile stores as vectors, are
// transposed (HW, C) -> (C, HW) on the way out, and dy to (pixel, k) for
// the weight gradient, whose tile loads it as vectors.

enum { PIXEL_BLOCK = 256 };

// ---------------------------------------------------------------- layouts

ATELIER_HELPER long taps_of(const AtelierConv *g) { return (long)g->r * g->s; }
ATELIER_HELPER long plane_of(const AtelierConv *g) { return (long)g->h * g->w; }
ATELIER_HELPER long pixels_of(const AtelierConv *g) { return (long)g->p * g->q; }
// Taps of the kernel that reach a data-gradient pixel of stride phase a (of one axis).
ATELIER_HELPER long phase_taps(int a, int kernel, int stride) { return a < kernel ? (kernel - a + stride - 1) / stride : 0; }
ATELIER_HELPER long most_phase_taps(const AtelierConv *g) {
  return phase_taps(0, g->r, g->stride_h) * phase_taps(0, g->s, g->stride_w);
}

// Data gradients with fewer than a panel of input channels (gan's 32 -> 64
// layer) run as one GEMM of the tiles' widest shape instead of per stride
// phase: dcol (dy pixel, tap and channel) = dy (pixel, k) W (k, taps x c),
// then each tap's row of c channels added into its pixel of dx (col2im, a
// few vector adds per pixel and tap). Per phase, a 32-channel panel takes
// 12x2 tiles, which broadcast 12 floats per 24 multiply-adds: gan's data
// gradient ran at 145-155 GFLOP/s against 180-205 for its forward pass.
ATELIER_HELPER int narrow_data_gradient(const AtelierConv *g) { return padded(g->c) < PANEL; }
ATELIER_HELPER long tap_columns(const AtelierConv *g) { return taps_of(g) * g->c; }
// Samples per GEMM of the narrow data gradient: dcol is taps times the
// size of dx, so it gets its own budget (about an L2) instead of the chunk's,
// which would let a large kernel's columns take hundreds of MB.
ATELIER_HELPER int narrow_chunk(const AtelierConv *g, int chunk) {
  enum { BUDGET = 1 << 18 };  // floats
  const long per_sample = pixels_of(g) * padded(tap_columns(g));
  const long fit = BUDGET / (per_sample > 0 ? per_sample : 1);
  return (int)(fit < 1 ? 1 : fit < chunk ? fit : chunk);
}

// Scratch of one worker, in floats: the pointer tables first (8-byte aligned).
long atelier_conv_indirect_scratch(const AtelierConv *g, int k, int chunk, int pass) {
  const long plane = chunk * plane_of(g), pixels = chunk * pixels_of(g), c = g->c;
  switch (pass) {
  case ATELIER_CONV_FORWARD:  // rows, outs, yt
    return 2 * (pixels * taps_of(g) + pixels) + pixels * k;
  case ATELIER_CONV_BACKWARD_DATA:  // rows, outs, dxt; or rows, outs, dcol, dxt
    if (narrow_data_gradient(g)) {
      const long sub = narrow_chunk(g, chunk);
      return sub * (2 * 2 * pixels_of(g) + pixels_of(g) * padded(tap_columns(g)) + plane_of(g) * c);
    }
    return 2 * (plane * most_phase_taps(g) + plane) + plane * c;
  default:  // rows, dyt, dw
    return 2 * pixels * taps_of(g) + pixels * padded(k) + taps_of(g) * c * padded(k);
  }
}

long atelier_conv_indirect_zeros(const AtelierConv *g, int k) {
  const long image = (long)g->c * plane_of(g), gradient = (long)k * pixels_of(g);
  return image > gradient ? image : gradient;
}

long atelier_conv_indirect_weight_offset(const AtelierConv *g, int k, int chunk) {
  return atelier_conv_indirect_scratch(g, k, chunk, ATELIER_CONV_BACKWARD_WEIGHTS) - taps_of(g) * g->c * padded(k);
}

long atelier_conv_indirect_packed_size(const AtelierConv *g, int k) {
  const long forward = g->c * padded(k), data = k * padded(g->c);
  const long most = taps_of(g) * (forward > data ? forward : data), columns = k * padded(tap_columns(g));
  return most > columns ? most : columns;
}

// Copies `len` floats and zero-fills the row up to `width`.
ATELIER_HELPER void panel_row(float *restrict row, const float *restrict src, long len, int width) {
  for (long j = 0; j < len; ++j) row[j] = src[j];
  for (long j = len; j < width; ++j) row[j] = 0.0f;
}

long atelier_conv_indirect_pack_units(const AtelierConv *g, int k, int pass) {
  return pass == ATELIER_CONV_FORWARD ? g->c : k;
}

long atelier_conv_indirect_pack_scratch(const AtelierConv *g) { return taps_of(g) * g->c; }

// Packs the weights w (K, C, R, S) into the panels of `pass`, the part of
// them that comes from units [begin, end) (atelier_conv_indirect_pack_units:
// input channels for the forward pass, output channels for the data
// gradient), so the cores share the packing: done on the calling thread
// while the others waited, it took 1 % of a dcgan step at batch 64.
// Straight from w by 8x8 transposes in registers; gathering element by
// element touched a line per float.
//   forward: panels over k of rows (tap, c): the rows of channel c are
//     w[j0 .., c, all taps] transposed.
//   data gradient: per stride phase, panels over c of rows (phase tap, kk);
//     or, for a narrow one, panels over (tap, c) of rows kk: both come from
//     output channel kk's (C, taps) block transposed into tmp (taps, C).
// `tmp` holds atelier_conv_indirect_pack_scratch floats.
ATELIER_CLONES
void atelier_conv_indirect_pack(const AtelierConv *g, int k, const float *restrict w, float *restrict packed,
                                int pass, long begin, long end, float *restrict tmp) {
  const long rs = taps_of(g), c = g->c, crs = c * rs;
  if (pass == ATELIER_CONV_FORWARD) {
    const long rows = rs * c;
    for (long ci = begin; ci < end; ++ci)
      for (long j0 = 0; j0 < k; j0 += PANEL) {
        const int width = panel_width(k, j0);
        const long valid = min_long(width, k - j0);
        float *panel = packed + j0 * rows + ci * width;  // row (t, ci) at t * c * width
        transpose_ld(w + j0 * crs + ci * rs, crs, panel, c * width, valid, rs);
        for (long t = 0; t < rs; ++t)
          for (long jj = valid; jj < width; ++jj) panel[t * c * width + jj] = 0.0f;
      }
    return;
  }
  for (long kk = begin; kk < end; ++kk) {
    transpose(w + kk * crs, tmp, c, rs);  // tmp (tap, c)
    if (narrow_data_gradient(g)) {  // panels over (tap, c) of rows k
      const long cols = tap_columns(g);
      for (long j0 = 0; j0 < cols; j0 += PANEL) {
        const int width = panel_width(cols, j0);
        panel_row(packed + j0 * k + kk * width, tmp + j0, min_long(width, cols - j0), width);
      }
      continue;
    }
    float *phase = packed;
    for (int a = 0; a < g->stride_h; ++a)
      for (int b = 0; b < g->stride_w; ++b) {
        const long ntaps = phase_taps(a, g->r, g->stride_h) * phase_taps(b, g->s, g->stride_w), rows = ntaps * k;
        for (long j0 = 0; j0 < c; j0 += PANEL) {
          const int width = panel_width(c, j0);
          long tap = 0;
          for (int r = a; r < g->r; r += g->stride_h)
            for (int s = b; s < g->s; s += g->stride_w, ++tap)
              panel_row(phase + j0 * rows + (tap * k + kk) * width, tmp + ((long)r * g->s + s) * c + j0,
                        min_long(width, c - j0), width);
        }
        phase += rows * padded(c);
      }
  }
}

// rows[pixel * taps + tap] for the forward pass and the weight gradient:
// where channel 0 of x (n, c, h, w) lies under each tap of each output
// pixel of `samples` samples from x; channel i is plane_of(g) * i further.
ATELIER_HELPER void forward_rows(const AtelierConv *g, const float *x, const float *zeros, int samples,
                                 const float **rows) {
  const long c = g->c;
  for (int n = 0; n < samples; ++n)
    for (int p = 0; p < g->p; ++p)
      for (int q = 0; q < g->q; ++q)
        for (int r = 0; r < g->r; ++r) {
          const int h = p * g->stride_h - g->pad_h + r;
          for (int s = 0; s < g->s; ++s) {
            const int w = q * g->stride_w - g->pad_w + s;
            *rows++ = h < 0 || h >= g->h || w < 0 || w >= g->w ? zeros : x + (n * c * g->h + h) * g->w + w;
          }
        }
}

// ---------------------------------------------------------------- passes

ATELIER_CLONES
void atelier_conv_indirect_forward(const AtelierConv *g, int k, const float *x, const float *packed, float *y,
                                   int n_begin, int n_end, int chunk, float *scratch, const float *zeros,
                                   const float *bias, int act, float p, const float *activated) {
  const long plane = plane_of(g), pq = pixels_of(g), rs = taps_of(g), c = g->c;
  const float **rows = (const float **)scratch;
  float **outs = (float **)(rows + chunk * pq * rs);
  float *yt = (float *)(outs + chunk * pq);
  for (long i = 0; i < chunk * pq; ++i) outs[i] = yt + i * k;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    forward_rows(g, x + (long)n0 * c * plane, zeros, n1 - n0, rows);
    for (long j0 = 0; j0 < k; j0 += PANEL)
      gather_rows((n1 - n0) * pq, (int)rs, c, plane, rows, packed + j0 * rs * c, panel_width(k, j0), outs, j0,
                  panel_width(k, j0), (int)min_long(PANEL, k - j0));
    // The epilogue runs on each sample right after its transpose, while it is in L1.
    for (int n = n0; n < n1; ++n) {
      transpose(yt + (n - n0) * pq * k, y + (long)n * k * pq, pq, k);
      if (bias || act != ATELIER_ACT_IDENTITY)
        atelier_epilogue(1, k, pq, k * pq, y + (long)n * k * pq, bias, act, p, activated ? activated + (long)n * k * pq : 0);
    }
  }
}

// Samples [n0, n1) of a data gradient from dxt (their (h, w, c) rows) into
// dx (n, c, h, w), each followed by the epilogue while it is in L1.
ATELIER_HELPER void samples_to_dx(const AtelierConv *g, const float *dxt, float *dx, int n0, int n1, const float *bias,
                                  int act, float p, const float *activated) {
  const long plane = plane_of(g), c = g->c;
  for (int n = n0; n < n1; ++n) {
    transpose(dxt + (n - n0) * plane * c, dx + (long)n * c * plane, plane, c);
    if (bias || act != ATELIER_ACT_IDENTITY)
      atelier_epilogue(1, (int)c, plane, c * plane, dx + (long)n * c * plane, bias, act, p,
                       activated ? activated + (long)n * c * plane : 0);
  }
}

// The narrow data gradient (see narrow_data_gradient): dcol by the tiles, then col2im.
ATELIER_HELPER void backward_data_columns(const AtelierConv *g, int k, const float *dy, const float *packed, float *dx,
                                          int n_begin, int n_end, int chunk, float *scratch, const float *bias, int act,
                                          float p, const float *activated) {
  const long plane = plane_of(g), pq = pixels_of(g), c = g->c, cols = tap_columns(g), ldcol = padded(cols);
  chunk = narrow_chunk(g, chunk);
  const float **rows = (const float **)scratch;
  float **outs = (float **)(rows + chunk * pq);
  float *dcol = (float *)(outs + chunk * pq), *dxt = dcol + chunk * pq * ldcol;
  for (long i = 0; i < chunk * pq; ++i) outs[i] = dcol + i * ldcol;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    const long pixels = (n1 - n0) * pq;
    // dy pixel i of sample n: channel kk at dy[(n * k + kk) * pq + i]
    for (int n = 0; n < n1 - n0; ++n)
      for (long i = 0; i < pq; ++i) rows[n * pq + i] = dy + ((long)(n0 + n) * k) * pq + i;
    for (long j0 = 0; j0 < cols; j0 += PANEL)
      gather_rows(pixels, 1, k, pq, rows, packed + j0 * k, panel_width(cols, j0), outs, j0, panel_width(cols, j0),
                  (int)min_long(PANEL, cols - j0));
    // col2im into dxt (n, h, w, c): every tap of every output pixel adds its c channels.
    for (long i = 0; i < (n1 - n0) * plane * c; ++i) dxt[i] = 0.0f;
    for (int n = 0; n < n1 - n0; ++n)
      for (int op = 0; op < g->p; ++op)
        for (int oq = 0; oq < g->q; ++oq) {
          const float *col = dcol + ((long)n * pq + (long)op * g->q + oq) * ldcol;
          for (int r = 0; r < g->r; ++r) {
            const int h = op * g->stride_h - g->pad_h + r;
            if (h < 0 || h >= g->h) continue;
            for (int s = 0; s < g->s; ++s) {
              const int w = oq * g->stride_w - g->pad_w + s;
              if (w < 0 || w >= g->w) continue;
              float *dst = dxt + (((long)n * g->h + h) * g->w + w) * c;
              const float *src = col + ((long)r * g->s + s) * c;
              for (long cc = 0; cc < c; ++cc) dst[cc] += src[cc];
            }
          }
        }
    samples_to_dx(g, dxt, dx, n0, n1, bias, act, p, activated);
  }
}

ATELIER_CLONES
void atelier_conv_indirect_backward_data(const AtelierConv *g, int k, const float *dy, const float *packed,
                                         float *dx, int n_begin, int n_end, int chunk, float *scratch,
                                         const float *zeros, const float *bias, int act, float p,
                                         const float *activated) {
  if (narrow_data_gradient(g)) {
    backward_data_columns(g, k, dy, packed, dx, n_begin, n_end, chunk, scratch, bias, act, p, activated);
    return;
  }
  const long plane = plane_of(g), pq = pixels_of(g), c = g->c;
  const float **rows = (const float **)scratch;
  float **outs = (float **)(rows + chunk * plane * most_phase_taps(g));
  float *dxt = (float *)(outs + chunk * plane);
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    const float *dyn = dy + (long)n0 * k * pq;
    const float *phase = packed;
    for (int a = 0; a < g->stride_h; ++a)
      for (int b = 0; b < g->stride_w; ++b) {
        const long ntaps = phase_taps(a, g->r, g->stride_h) * phase_taps(b, g->s, g->stride_w);
        // The pixels (h, w) of this phase: (h + pad) % stride == a, the same for w. Pixel h0 + i *
        // stride_h of the phase meets tap a + j * stride_h at output row (h + pad - r) / stride_h,
        // which is base_h + i - j: counted, not divided (the two divisions per pixel and tap took a
        // sixth of this function's own samples in `perf` of gan's D.conv2 data gradient).
        const int h0 = ((a - g->pad_h) % g->stride_h + g->stride_h) % g->stride_h;
        const int w0 = ((b - g->pad_w) % g->stride_w + g->stride_w) % g->stride_w;
        const int base_h = (h0 + g->pad_h - a) / g->stride_h, base_w = (w0 + g->pad_w - b) / g->stride_w;
        const int taps_h = (int)phase_taps(a, g->r, g->stride_h), taps_w = (int)phase_taps(b, g->s, g->stride_w);
        const float **row = rows;
        long count = 0;
        for (int n = 0; n < n1 - n0; ++n) {
          const float *dyn_n = dyn + n * (long)k * pq;
          for (int h = h0, i = 0; h < g->h; h += g->stride_h, ++i)
            for (int w = w0, l = 0; w < g->w; w += g->stride_w, ++l) {
              outs[count++] = dxt + ((n * (long)g->h + h) * g->w + w) * c;
              for (int j = 0; j < taps_h; ++j) {
                const int op = base_h + i - j;
                for (int m = 0; m < taps_w; ++m) {
                  const int oq = base_w + l - m;
                  *row++ = op >= 0 && op < g->p && oq >= 0 && oq < g->q ? dyn_n + (long)op * g->q + oq : zeros;
                }
              }
            }
        }
        for (long j0 = 0; j0 < c; j0 += PANEL)
          gather_rows(count, (int)ntaps, k, pq, rows, phase + j0 * ntaps * k, panel_width(c, j0), outs, j0,
                      panel_width(c, j0), (int)min_long(PANEL, c - j0));
        phase += ntaps * k * padded(c);
      }
    samples_to_dx(g, dxt, dx, n0, n1, bias, act, p, activated);
  }
}

// The weight gradient of samples [n_begin, n_end) as (R, S, C, padded K)
// into the end of `scratch` (overwritten).
ATELIER_CLONES
void atelier_conv_indirect_backward_weights(const AtelierConv *g, int k, const float *x, const float *dy,
                                            int n_begin, int n_end, int chunk, float *scratch, const float *zeros) {
  const long plane = plane_of(g), pq = pixels_of(g), rs = taps_of(g), c = g->c, kp = padded(k);
  const float **rows = (const float **)scratch;
  float *dyt = (float *)(rows + chunk * pq * rs), *dw = dyt + chunk * pq * kp;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    const long pixels = (n1 - n0) * pq;
    for (int n = n0; n < n1; ++n) {
      float *dst = dyt + (n - n0) * pq * kp;
      transpose(dy + (long)n * k * pq, dst, k, pq);
      if (kp != k) {  // (pq, k) -> (pq, kp), zero-padded rows, from the back
        for (long i = pq - 1; i >= 0; --i) {
          for (long j = kp - 1; j >= k; --j) dst[i * kp + j] = 0.0f;
          for (long j = k - 1; j >= 0; --j) dst[i * kp + j] = dst[i * k + j];
        }
      }
    }
    forward_rows(g, x + (long)n0 * c * plane, zeros, n1 - n0, rows);
    // Blocks of pixels whose dy and images stay in L2 next to the gradient
    // (at dcgan's 64 -> 128 layer, 1225 pixels at a time: 74 GFLOP/s on
    // one core; 196-784: 100).
    for (long px0 = 0; px0 < pixels; px0 += PIXEL_BLOCK) {
      const long count = min_long(PIXEL_BLOCK, pixels - px0);
      const int first = n0 == n_begin && px0 == 0;
      const float *const *block_rows = rows + px0 * rs;
      for (long t = 0; t < rs; ++t)
        for (long j0 = 0; j0 < k; j0 += PANEL)
          weight_rows(0, c, count, (int)rs, (int)t, plane, block_rows, dyt + px0 * kp + j0, kp, dw + t * c * kp + j0, kp,
                      panel_width(k, j0), first);
    }
  }
}

// dw (K, C, R, S) = beta * dw + dwp (R, S, C, padded K), input channels
// [c_begin, c_end). For one channel this is a (taps, K) -> (K, taps)
// transpose, done by 8x8 blocks in registers: element by element it wrote
// a line per float (2.6 % of a dcgan step at batch 64).
ATELIER_CLONES
void atelier_conv_indirect_finish_weights(const AtelierConv *g, int k, const float *restrict dwp, float *restrict dw,
                                          float beta, long c_begin, long c_end) {
  const long rs = taps_of(g), c = g->c, kp = padded(k), ldi = c * kp, ldo = c * rs;
  float tile[8 * 8];
  for (long ci = c_begin; ci < c_end; ++ci) {
    const float *in = dwp + ci * kp;  // row t: in[t * ldi + kk]
    float *out = dw + ci * rs;        // row kk: out[kk * ldo + t]
    for (long t0 = 0; t0 < rs; t0 += 8)
      for (long k0 = 0; k0 < k; k0 += 8) {
        const long tn = min_long(8, rs - t0), kn = min_long(8, k - k0);
        if (tn == 8 && kn == 8) {
          transpose8x8(in + t0 * ldi + k0, ldi, tile, 8);
        } else {
          for (long i = 0; i < kn; ++i)
            for (long j = 0; j < tn; ++j) tile[i * 8 + j] = in[(t0 + j) * ldi + k0 + i];
        }
        for (long i = 0; i < kn; ++i) {
          float *dst = out + (k0 + i) * ldo + t0;
          for (long j = 0; j < tn; ++j) dst[j] = beta == 0.0f ? tile[i * 8 + j] : beta * dst[j] + tile[i * 8 + j];
        }
      }
  }
}
