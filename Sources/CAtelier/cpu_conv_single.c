#include "catelier.h"
#include "cpu_activation.h"

// Convolutions of a one-channel image (the first layer of an image model,
// and the data gradient of a transposed convolution's one-channel output),
// computed directly: the forward pass and the weight gradient (the data
// gradient goes through columns: done directly, its col2im of 16 strided
// planes per sample made it slower, 0.21-0.23 -> 0.25-0.30 ms for dcgan's
// D.conv1 at batch 64). With one input channel a tap is a single float, so
// im2col + GEMM multiplies by a 16-float inner dimension: half its time
// went to building columns and scattering the product. Here a sample's
// output plane (P*Q floats per channel, contiguous in y) is a few vectors
// of pixels: for every tap, the input under it for those pixels is one
// vector, and each output channel adds weight * vector, LANES pixels per
// multiply-add, straight into y.

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));
enum { LANES = 16, CHANNELS = 8 };

ATELIER_HELPER long plane_width(const AtelierConv *g) { return ((long)g->p * g->q + LANES - 1) / LANES * LANES; }

long atelier_conv_single_scratch(const AtelierConv *g) { return (long)g->r * g->s * plane_width(g); }

// The input under tap (r, s) for every output pixel of a sample, zero in
// the padding and past the plane's end: taps[(r * S + s) * width + pixel].
ATELIER_HELPER void sample_taps(const AtelierConv *g, const float *restrict xn, float *restrict taps, long width) {
  const long pq = (long)g->p * g->q;
  for (int r = 0; r < g->r; ++r)
    for (int s = 0; s < g->s; ++s) {
      float *out = taps + (long)(r * g->s + s) * width;
      for (int op = 0; op < g->p; ++op) {
        const int h = op * g->stride_h - g->pad_h + r;
        float *row = out + (long)op * g->q;
        if (h < 0 || h >= g->h) {
          for (int oq = 0; oq < g->q; ++oq) row[oq] = 0.0f;
          continue;
        }
        // Pixels oq in [q0, q1) read inside the row; the others read padding.
        int q0 = 0, q1 = g->q;
        while (q0 < q1 && q0 * g->stride_w - g->pad_w + s < 0) ++q0;
        while (q1 > q0 && (q1 - 1) * g->stride_w - g->pad_w + s >= g->w) --q1;
        const float *xr = xn + (long)h * g->w - g->pad_w + s;
        for (int oq = 0; oq < q0; ++oq) row[oq] = 0.0f;
        for (int oq = q0; oq < q1; ++oq) row[oq] = xr[(long)oq * g->stride_w];
        for (int oq = q1; oq < g->q; ++oq) row[oq] = 0.0f;
      }
      for (long j = pq; j < width; ++j) out[j] = 0.0f;
    }
}

ATELIER_CLONES
void atelier_conv_single_forward(const AtelierConv *g, int k, const float *x, const float *w, float *y, int n_begin,
                                 int n_end, float *scratch, const float *bias, int act, float p,
                                 const float *activated) {
  const long rs = (long)g->r * g->s, pq = (long)g->p * g->q, width = plane_width(g);
  for (int n = n_begin; n < n_end; ++n) {
    float *yn = y + (long)n * k * pq;
    sample_taps(g, x + (long)n * g->h * g->w, scratch, width);
    for (int j0 = 0; j0 < k; j0 += CHANNELS) {
      // Channels past k repeat the last one's weights and are not stored.
      const float *wj[CHANNELS];
      for (int b = 0; b < CHANNELS; ++b) wj[b] = w + (long)(j0 + b < k ? j0 + b : k - 1) * rs;
      for (long i0 = 0; i0 < pq; i0 += LANES) {
        v16 acc[CHANNELS];
        for (int b = 0; b < CHANNELS; ++b) acc[b] = (v16){0};
        for (long t = 0; t < rs; ++t) {
          const v16 tv = *(const v16 *)(scratch + t * width + i0);
          for (int b = 0; b < CHANNELS; ++b) acc[b] += wj[b][t] * tv;
        }
        const long count = pq - i0 < LANES ? pq - i0 : LANES;
        for (int b = 0; b < CHANNELS && j0 + b < k; ++b) {
          float *dst = yn + (long)(j0 + b) * pq + i0;
          if (count == LANES) {
            *(v16 *)dst = acc[b];
          } else {
            float lanes[LANES];
            *(v16 *)lanes = acc[b];
            for (long l = 0; l < count; ++l) dst[l] = lanes[l];
          }
        }
      }
    }
    if (bias || act != ATELIER_ACT_IDENTITY)
      atelier_epilogue(1, k, pq, k * pq, yn, bias, act, p, activated ? activated + (long)n * k * pq : 0);
  }
}

// ---------------------------------------------------------------- weight gradient
//
// The weight gradient keeps the forward pass's vectors along pixels: a GEMM
// with the taps (16 for a 4x4 kernel) on one side, the K output channels on
// the other and the pixels inner, whose operands are the taps the forward
// pass builds and dy as it lies, so no columns are built and nothing is
// transposed (dcgan's D.conv1 at batch 256: 1.3-1.4 ms, against 1.7-2.3
// through im2col + OpenBLAS; it is bound by reading dy, 12.8 MB). Each sample's dy
// is first copied to rows of a whole number of vectors, zero past the
// plane: a plane's last vector would otherwise read the next channel, and
// past the end of the buffer for the last one.

// Samples per chunk: their taps and padded dy stay in L2 (about 270 KB at
// dcgan's 28 x 28 -> 64 x 14 x 14).
enum { GRADIENT_CHUNK = 4 };

ATELIER_HELPER long padded_dy_floats(const AtelierConv *g, int k) { return (long)k * plane_width(g); }

// Per worker: a chunk's taps and padded dy, then the weight gradient's vector sums.
long atelier_conv_single_gradient_scratch(const AtelierConv *g, int k) {
  const long rs = (long)g->r * g->s;
  return GRADIENT_CHUNK * (rs * plane_width(g) + padded_dy_floats(g, k)) + k * rs * LANES;
}

// dy of sample n into rows of `width` floats, zero past the plane.
ATELIER_HELPER void pad_dy(const AtelierConv *g, int k, const float *restrict dyn, float *restrict out) {
  const long pq = (long)g->p * g->q, width = plane_width(g);
  for (long kk = 0; kk < k; ++kk) {
    const float *src = dyn + kk * pq;
    float *dst = out + kk * width;
    for (long j = 0; j < pq; ++j) dst[j] = src[j];
    for (long j = pq; j < width; ++j) dst[j] = 0.0f;
  }
}

#define UNROLL_ALL _Pragma("clang loop unroll(full)")

// The register tiles, functions of their own (see cpu_tiles.h): VT vectors
// of VL floats; AVX-512 takes 24 vectors of sums, AVX2 12 (16 registers of
// 8 floats).
//
// Weight gradient: sums[i][j] += the sum over `samples` samples and
// `floats` pixels of dy row i times taps row j, as vectors (summed across
// lanes once per call: per chunk, the 16 dependent adds of each sum cost
// more than the chunk's multiply-adds); rows mk <= KB and mt <= TB (the
// others repeat row 0 and are not stored), sums[i * ld + j] of VL floats.
#define SINGLE_WEIGHT_TILE(NAME, VT, VL, KB, TB)                                                   \
  static ATELIER_CLONES void NAME(int mk, int mt, int samples, long floats, const float *dy, long dy_row,  \
                                  long dy_sample, const float *taps, long tap_row, long tap_sample,      \
                                  float *restrict sums, long ld) {                                 \
    VT acc[KB][TB];                                                                                \
    UNROLL_ALL for (int i = 0; i < KB; ++i)                                                        \
      UNROLL_ALL for (int j = 0; j < TB; ++j) acc[i][j] = (VT){0};                                 \
    for (int n = 0; n < samples; ++n) {                                                            \
      const float *d[KB], *t[TB];                                                                  \
      UNROLL_ALL for (int i = 0; i < KB; ++i) d[i] = dy + n * dy_sample + (i < mk ? i : 0) * dy_row; \
      UNROLL_ALL for (int j = 0; j < TB; ++j) t[j] = taps + n * tap_sample + (j < mt ? j : 0) * tap_row; \
      _Pragma("clang loop unroll(disable)")                                                        \
      for (long v = 0; v < floats; v += VL) {                                                      \
        VT dv[KB];                                                                                 \
        UNROLL_ALL for (int i = 0; i < KB; ++i) dv[i] = *(const VT *)(d[i] + v);                   \
        UNROLL_ALL for (int j = 0; j < TB; ++j) {                                                  \
          const VT tv = *(const VT *)(t[j] + v);                                                   \
          UNROLL_ALL for (int i = 0; i < KB; ++i) acc[i][j] += dv[i] * tv;                         \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
    UNROLL_ALL for (int i = 0; i < KB; ++i)                                                        \
      if (i < mk)                                                                                  \
        UNROLL_ALL for (int j = 0; j < TB; ++j)                                                    \
          if (j < mt) {                                                                            \
            VT *out = (VT *)(sums + (i * ld + j) * VL);                                            \
            *out += acc[i][j];                                                                     \
          }                                                                                        \
  }

SINGLE_WEIGHT_TILE(weight_wide, v16, 16, 6, 4)
SINGLE_WEIGHT_TILE(weight_narrow, v8, 8, 3, 4)

// dw (K, 1, R, S) = beta * dw + the weight gradient of samples [n_begin,
// n_end): vector sums per weight over the whole range, then one sum across
// lanes each.
ATELIER_CLONES
void atelier_conv_single_backward_weights(const AtelierConv *g, int k, const float *x, const float *dy, float *dw,
                                          float beta, int n_begin, int n_end, float *scratch) {
  const long rs = (long)g->r * g->s, pq = (long)g->p * g->q, width = plane_width(g);
  const long tap_sample = rs * width, dy_sample = padded_dy_floats(g, k);
  float *taps = scratch, *dyp = taps + GRADIENT_CHUNK * tap_sample, *sums = dyp + GRADIENT_CHUNK * dy_sample;
  const int wide = atelier_wide_tiles(), kb = wide ? 6 : 3, tb = 4, vl = wide ? 16 : 8;
  for (long i = 0; i < k * rs * vl; ++i) sums[i] = 0.0f;
  for (int n0 = n_begin; n0 < n_end; n0 += GRADIENT_CHUNK) {
    const int samples = n_end - n0 < GRADIENT_CHUNK ? n_end - n0 : GRADIENT_CHUNK;
    for (int n = 0; n < samples; ++n) {
      sample_taps(g, x + (long)(n0 + n) * g->h * g->w, taps + n * tap_sample, width);
      pad_dy(g, k, dy + (long)(n0 + n) * k * pq, dyp + n * dy_sample);
    }
    for (long k0 = 0; k0 < k; k0 += kb)
      for (long t0 = 0; t0 < rs; t0 += tb) {
        const int mk = (int)(k - k0 < kb ? k - k0 : kb), mt = (int)(rs - t0 < tb ? rs - t0 : tb);
        float *at = sums + (k0 * rs + t0) * vl;
        if (wide)
          weight_wide(mk, mt, samples, width, dyp + k0 * width, width, dy_sample, taps + t0 * width, width, tap_sample,
                      at, rs);
        else
          weight_narrow(mk, mt, samples, width, dyp + k0 * width, width, dy_sample, taps + t0 * width, width,
                        tap_sample, at, rs);
      }
  }
  for (long i = 0; i < k * rs; ++i) {
    float sum = 0.0f;
    for (int l = 0; l < vl; ++l) sum += sums[i * vl + l];
    dw[i] = beta == 0.0f ? sum : beta * dw[i] + sum;
  }
}
