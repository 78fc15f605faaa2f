#include "catelier.h"
#include "cpu_activation.h"

// Convolution on the CPU path, a few samples at a time. The whole-batch
// column matrix of a DCGAN layer is 13 MB at batch 64: written by im2col,
// read back by the GEMM, it runs from memory and the GEMM waits. Here each
// worker thread takes its own samples in chunks whose columns fit the core's
// L2 cache, and calls a one-thread GEMM on them, so the columns never leave
// the cache and the two cores never wait for each other.
//
// Column layout as in ConvGeometry: rows (c, r, s), columns (n, p, q), here
// over the chunk's samples only.

// Output columns q whose input column q*stride - pad + s lies in the image.
ATELIER_HELPER void valid_columns(const AtelierConv *g, int s, int *q0, int *q1) {
  int lo = (g->pad_w - s + g->stride_w - 1) / g->stride_w;
  if (g->pad_w - s <= 0) lo = 0;
  int hi = (g->w - 1 + g->pad_w - s) / g->stride_w + 1;
  if (hi > g->q) hi = g->q;
  if (g->w - 1 + g->pad_w - s < 0) hi = 0;
  *q0 = lo;
  *q1 = hi < lo ? lo : hi;
}

// One column row (c, r, s) for samples [n0, n1) into `out` (length (n1-n0)*P*Q).
ATELIER_HELPER void im2col_row(const AtelierConv *g, const float *restrict x, float *restrict out, long row, int n0,
                              int n1) {
  const int s = (int)(row % g->s), r = (int)((row / g->s) % g->r), c = (int)(row / ((long)g->r * g->s));
  int q0, q1;
  valid_columns(g, s, &q0, &q1);
  for (int n = n0; n < n1; ++n) {
    for (int p = 0; p < g->p; ++p, out += g->q) {
      const int h = p * g->stride_h - g->pad_h + r;
      if (h < 0 || h >= g->h || q0 >= q1) {
        for (int q = 0; q < g->q; ++q) out[q] = 0.0f;
        continue;
      }
      const float *line = x + (((long)n * g->c + c) * g->h + h) * g->w - g->pad_w + s;
      for (int q = 0; q < q0; ++q) out[q] = 0.0f;
      if (g->stride_w == 1) {
        for (int q = q0; q < q1; ++q) out[q] = line[q];
      } else if (g->stride_w == 2) {
        for (int q = q0; q < q1; ++q) out[q] = line[2 * q];
      } else {
        for (int q = q0; q < q1; ++q) out[q] = line[q * g->stride_w];
      }
      for (int q = q1; q < g->q; ++q) out[q] = 0.0f;
    }
  }
}

ATELIER_CLONES
void atelier_im2col(const AtelierConv *g, const float *restrict x, float *restrict col, long row_begin, long row_end) {
  const long npq = (long)g->n * g->p * g->q;
  for (long row = row_begin; row < row_end; ++row) im2col_row(g, x, col + row * npq, row, 0, g->n);
}

// Adds column row (c, r, s) of samples [n0, n1) back into the image.
ATELIER_HELPER void col2im_row(const AtelierConv *g, const float *restrict vals, float *restrict x, long row, int n0,
                              int n1) {
  const int s = (int)(row % g->s), r = (int)((row / g->s) % g->r), c = (int)(row / ((long)g->r * g->s));
  int q0, q1;
  valid_columns(g, s, &q0, &q1);
  if (q0 >= q1) return;
  const long plane = (long)g->h * g->w;
  for (int n = n0; n < n1; ++n) {
    float *img = x + ((long)n * g->c + c) * plane;
    for (int p = 0; p < g->p; ++p, vals += g->q) {
      const int h = p * g->stride_h - g->pad_h + r;
      if (h < 0 || h >= g->h) continue;
      float *line = img + (long)h * g->w - g->pad_w + s;
      for (int q = q0; q < q1; ++q) line[q * g->stride_w] += vals[q];
    }
  }
}

ATELIER_HELPER void zero_channels(const AtelierConv *g, float *restrict x, long c_begin, long c_end, int n0, int n1) {
  const long plane = (long)g->h * g->w;
  for (int n = n0; n < n1; ++n) {
    float *img = x + ((long)n * g->c + c_begin) * plane;
    for (long i = 0; i < (c_end - c_begin) * plane; ++i) img[i] = 0.0f;
  }
}

// Channels [c_begin, c_end) of the image: zeroed, then every column entry
// that came from them added back in (r, s, n, p, q) order.
ATELIER_CLONES
void atelier_col2im(const AtelierConv *g, const float *restrict col, float *restrict x, long c_begin, long c_end) {
  const long npq = (long)g->n * g->p * g->q;
  const long rs = (long)g->r * g->s;
  zero_channels(g, x, c_begin, c_end, 0, g->n);
  for (long row = c_begin * rs; row < c_end * rs; ++row) col2im_row(g, col + row * npq, x, row, 0, g->n);
}

// (N, K, PQ) samples [n0, n1) <-> (K, (n1-n0)*PQ): the GEMM's side of a chunk.
ATELIER_HELPER void gather_chunk(const float *restrict y, float *restrict chunk, long k, long pq, int n0, int n1) {
  const long cols = (long)(n1 - n0) * pq;
  for (int n = n0; n < n1; ++n)
    for (long j = 0; j < k; ++j) {
      const float *src = y + ((long)n * k + j) * pq;
      float *dst = chunk + j * cols + (long)(n - n0) * pq;
      for (long i = 0; i < pq; ++i) dst[i] = src[i];
    }
}

ATELIER_HELPER void scatter_chunk(const float *restrict chunk, float *restrict y, long k, long pq, int n0, int n1) {
  const long cols = (long)(n1 - n0) * pq;
  for (int n = n0; n < n1; ++n)
    for (long j = 0; j < k; ++j) {
      const float *src = chunk + j * cols + (long)(n - n0) * pq;
      float *dst = y + ((long)n * k + j) * pq;
      for (long i = 0; i < pq; ++i) dst[i] = src[i];
    }
}

long atelier_conv_scratch(const AtelierConv *g, int k, int chunk) {
  const long crs = (long)g->c * g->r * g->s;
  return (crs + k) * chunk * g->p * g->q + (long)k * crs;
}

ATELIER_CLONES
void atelier_conv_forward(const AtelierConv *g, int k, const float *x, const float *w, float *y, int n_begin,
                          int n_end, int chunk, float *scratch, const float *bias, int act, float p,
                          const float *activated) {
  const long crs = (long)g->c * g->r * g->s, pq = (long)g->p * g->q;
  float *col = scratch, *product = scratch + crs * chunk * pq;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    const long cols = (n1 - n0) * pq;
    for (long row = 0; row < crs; ++row) im2col_row(g, x, col + row * cols, row, n0, n1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, (int)cols, (int)crs, 1.0f, w, (int)crs, col,
                (int)cols, 0.0f, product, (int)cols);
    scatter_chunk(product, y, k, pq, n0, n1);
    if (bias || act != ATELIER_ACT_IDENTITY)
      atelier_epilogue(n1 - n0, k, pq, k * pq, y + (long)n0 * k * pq, bias, act, p,
                       activated ? activated + (long)n0 * k * pq : 0);
  }
}

ATELIER_CLONES
void atelier_conv_backward_data(const AtelierConv *g, int k, const float *dy, const float *w, float *dx, int n_begin,
                                int n_end, int chunk, float *scratch, const float *bias, int act, float p,
                          const float *activated) {
  const long crs = (long)g->c * g->r * g->s, pq = (long)g->p * g->q;
  float *col = scratch, *dy_chunk = scratch + crs * chunk * pq;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    const long cols = (n1 - n0) * pq;
    gather_chunk(dy, dy_chunk, k, pq, n0, n1);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)crs, (int)cols, k, 1.0f, w, (int)crs, dy_chunk,
                (int)cols, 0.0f, col, (int)cols);
    zero_channels(g, dx, 0, g->c, n0, n1);
    for (long row = 0; row < crs; ++row) col2im_row(g, col + row * cols, dx, row, n0, n1);
    const long plane = (long)g->h * g->w;
    if (bias || act != ATELIER_ACT_IDENTITY)
      atelier_epilogue(n1 - n0, g->c, plane, g->c * plane, dx + (long)n0 * g->c * plane, bias, act, p,
                       activated ? activated + (long)n0 * g->c * plane : 0);
  }
}

// dw (K, CRS) = beta * dw + the gradient from samples [n_begin, n_end).
ATELIER_CLONES
void atelier_conv_backward_weights(const AtelierConv *g, int k, const float *x, const float *dy, float *dw, float beta,
                                   int n_begin, int n_end, int chunk, float *scratch) {
  const long crs = (long)g->c * g->r * g->s, pq = (long)g->p * g->q;
  float *col = scratch, *dy_chunk = scratch + crs * chunk * pq;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    const long cols = (n1 - n0) * pq;
    for (long row = 0; row < crs; ++row) im2col_row(g, x, col + row * cols, row, n0, n1);
    gather_chunk(dy, dy_chunk, k, pq, n0, n1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, (int)crs, (int)cols, 1.0f, dy_chunk, (int)cols, col,
                (int)cols, n0 == n_begin ? beta : 1.0f, dw, (int)crs);
  }
}

ATELIER_CLONES
void atelier_add(long n, const float *restrict a, float *restrict b) {
  for (long i = 0; i < n; ++i) b[i] += a[i];
}
