#include "catelier.h"
#include "cpu_activation.h"

// Convolutions of a one-channel image (the first layer of an image model,
// and the data gradient of a transposed convolution's one-channel output),
// computed directly. With one input channel a tap is a single float, so
// im2col + GEMM multiplies by a 16-float inner dimension: half its time
// went to building columns and scattering the product. Here a sample's
// output plane (P*Q floats per channel, contiguous in y) is a few vectors
// of pixels: for every tap, the input under it for those pixels is one
// vector, and each output channel adds weight * vector, LANES pixels per
// multiply-add, straight into y.

typedef float v16 __attribute__((vector_size(64), aligned(4)));
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
