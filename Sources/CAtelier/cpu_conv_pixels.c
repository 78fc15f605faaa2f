#include "catelier.h"
#include "cpu_activation.h"
#include "cpu_transpose.h"

// Convolution with pixel-major columns, for layers with many input channels.
// Columns here are [pixels (n, p, q), taps (r, s, c)]: each tap of a pixel is
// one contiguous run of C floats of the image stored (H, W, C), so building
// them is a few hundred vector copies per sample instead of the per-element
// strided gathers channel-major columns need (at C = 64, 4x4, stride 2: 4x
// less time outside the GEMM). The weights are used as (K, R, S, C). Each
// sample's image and output are transposed (C, HW) <-> (HW, C) on the way in
// and out; those stay in the core's cache.

ATELIER_HELPER long taps(const AtelierConv *g) { return (long)g->r * g->s * g->c; }

// Pixel-major columns of one sample whose image is `xt` (H, W, C).
ATELIER_HELPER void sample_columns(const AtelierConv *g, const float *restrict xt, float *restrict col) {
  const long c = g->c, row_len = taps(g);
  for (int p = 0; p < g->p; ++p)
    for (int q = 0; q < g->q; ++q, col += row_len) {
      float *out = col;
      for (int r = 0; r < g->r; ++r) {
        const int h = p * g->stride_h - g->pad_h + r;
        for (int s = 0; s < g->s; ++s, out += c) {
          const int w = q * g->stride_w - g->pad_w + s;
          if (h < 0 || h >= g->h || w < 0 || w >= g->w) {
            for (long i = 0; i < c; ++i) out[i] = 0.0f;
          } else {
            const float *src = xt + ((long)h * g->w + w) * c;
            for (long i = 0; i < c; ++i) out[i] = src[i];
          }
        }
      }
    }
}

// Adds one sample's pixel-major column gradients into `dxt` (H, W, C).
ATELIER_HELPER void sample_columns_back(const AtelierConv *g, const float *restrict col, float *restrict dxt) {
  const long c = g->c, row_len = taps(g);
  for (long i = 0; i < (long)g->h * g->w * c; ++i) dxt[i] = 0.0f;
  for (int p = 0; p < g->p; ++p)
    for (int q = 0; q < g->q; ++q, col += row_len) {
      const float *in = col;
      for (int r = 0; r < g->r; ++r) {
        const int h = p * g->stride_h - g->pad_h + r;
        for (int s = 0; s < g->s; ++s, in += c) {
          const int w = q * g->stride_w - g->pad_w + s;
          if (h < 0 || h >= g->h || w < 0 || w >= g->w) continue;
          float *dst = dxt + ((long)h * g->w + w) * c;
          for (long i = 0; i < c; ++i) dst[i] += in[i];
        }
      }
    }
}

// Scratch of one worker: the sample image (H, W, C), the chunk's columns
// [chunk*P*Q, R*S*C], the chunk's outputs [chunk*P*Q, K], a weight gradient.
long atelier_conv_pixels_scratch(const AtelierConv *g, int k, int chunk) {
  const long pixels = (long)chunk * g->p * g->q;
  return (long)g->h * g->w * g->c + pixels * (taps(g) + k) + (long)k * taps(g);
}

// (K, C, R, S) -> (K, R, S, C) for the backward pass, or -> (R, S, C, K)
// for the forward pass, whose GEMM is a fifth faster with both operands
// untransposed (OpenBLAS, one thread, 196x128x1024: 100 vs 84 GFLOP/s).
// `tmp` holds K*C*R*S floats for the second step of the latter.
ATELIER_CLONES
void atelier_conv_pixels_weights(const AtelierConv *g, int k, const float *restrict w, float *restrict wp,
                                 float *restrict tmp, int taps_major) {
  const long rs = (long)g->r * g->s, c = g->c;
  float *kmajor = taps_major ? tmp : wp;
  for (long j = 0; j < k; ++j) transpose(w + j * c * rs, kmajor + j * c * rs, c, rs);
  if (taps_major) transpose(kmajor, wp, k, rs * c);
}

ATELIER_CLONES
void atelier_conv_pixels_forward(const AtelierConv *g, int k, const float *x, const float *wt, float *y, int n_begin,
                                 int n_end, int chunk, float *scratch, const float *bias, int act, float p,
                          const float *activated) {
  const long plane = (long)g->h * g->w, pq = (long)g->p * g->q, row_len = taps(g);
  float *xt = scratch, *col = xt + plane * g->c, *yt = col + chunk * pq * row_len;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    for (int n = n0; n < n1; ++n) {
      transpose(x + (long)n * g->c * plane, xt, g->c, plane);
      sample_columns(g, xt, col + (n - n0) * pq * row_len);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)((n1 - n0) * pq), k, (int)row_len, 1.0f, col,
                (int)row_len, wt, k, 0.0f, yt, k);
    for (int n = n0; n < n1; ++n) transpose(yt + (n - n0) * pq * k, y + (long)n * k * pq, pq, k);
    if (bias || act != ATELIER_ACT_IDENTITY)
      atelier_epilogue(n1 - n0, k, pq, k * pq, y + (long)n0 * k * pq, bias, act, p,
                       activated ? activated + (long)n0 * k * pq : 0);
  }
}

ATELIER_CLONES
void atelier_conv_pixels_backward_data(const AtelierConv *g, int k, const float *dy, const float *wp, float *dx,
                                       int n_begin, int n_end, int chunk, float *scratch, const float *bias, int act,
                                       float p, const float *activated) {
  const long plane = (long)g->h * g->w, pq = (long)g->p * g->q, row_len = taps(g);
  float *dxt = scratch, *col = dxt + plane * g->c, *dyt = col + chunk * pq * row_len;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    for (int n = n0; n < n1; ++n) transpose(dy + (long)n * k * pq, dyt + (n - n0) * pq * k, k, pq);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)((n1 - n0) * pq), (int)row_len, k, 1.0f, dyt, k, wp,
                (int)row_len, 0.0f, col, (int)row_len);
    for (int n = n0; n < n1; ++n) {
      sample_columns_back(g, col + (n - n0) * pq * row_len, dxt);
      transpose(dxt, dx + (long)n * g->c * plane, plane, g->c);
    }
    if (bias || act != ATELIER_ACT_IDENTITY)
      atelier_epilogue(n1 - n0, g->c, plane, g->c * plane, dx + (long)n0 * g->c * plane, bias, act, p,
                       activated ? activated + (long)n0 * g->c * plane : 0);
  }
}

// The weight gradient of samples [n_begin, n_end), as (K, R, S, C), into
// the end of `scratch` (overwritten).
ATELIER_CLONES
void atelier_conv_pixels_backward_weights(const AtelierConv *g, int k, const float *x, const float *dy, int n_begin,
                                          int n_end, int chunk, float *scratch) {
  const long plane = (long)g->h * g->w, pq = (long)g->p * g->q, row_len = taps(g);
  float *xt = scratch, *col = xt + plane * g->c, *dyc = col + chunk * pq * row_len, *dwp = dyc + chunk * pq * k;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    const long pixels = (n1 - n0) * pq;
    for (int n = n0; n < n1; ++n) {
      transpose(x + (long)n * g->c * plane, xt, g->c, plane);
      sample_columns(g, xt, col + (n - n0) * pq * row_len);
      // dy of the chunk as [K, pixels]: row j gathers channel j of each sample.
      for (long j = 0; j < k; ++j) {
        const float *src = dy + ((long)n * k + j) * pq;
        float *dst = dyc + j * pixels + (n - n0) * pq;
        for (long i = 0; i < pq; ++i) dst[i] = src[i];
      }
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, (int)row_len, (int)pixels, 1.0f, dyc, (int)pixels, col,
                (int)row_len, n0 == n_begin ? 0.0f : 1.0f, dwp, (int)row_len);
  }
}

long atelier_conv_pixels_weight_offset(const AtelierConv *g, int k, int chunk) {
  return atelier_conv_pixels_scratch(g, k, chunk) - (long)k * taps(g);
}

// dw (K, C, R, S) = beta * dw + dwp (K, R, S, C), output channels [k_begin, k_end).
ATELIER_CLONES
void atelier_conv_pixels_finish_weights(const AtelierConv *g, const float *restrict dwp, float *restrict dw,
                                        float beta, int k_begin, int k_end) {
  const long rs = (long)g->r * g->s, c = g->c;
  for (long j = k_begin; j < k_end; ++j)
    for (long ci = 0; ci < c; ++ci)
      for (long t = 0; t < rs; ++t) {
        const long i = (j * c + ci) * rs + t;
        const float grad = dwp[(j * rs + t) * c + ci];
        dw[i] = beta == 0.0f ? grad : beta * dw[i] + grad;
      }
}
