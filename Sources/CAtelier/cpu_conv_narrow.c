#include "catelier.h"
#include "cpu_activation.h"

// Convolutions whose whole batch has only a few output pixels: the
// innermost levels of a U-Net at batch 1 (512 x 512 x 4 x 4 weights, 16 MB,
// against 1 to 16 output pixels). Their time is reading or writing the
// weights, so each pass touches every weight exactly once, in the layout
// it is stored in (no packing, no permuting), while the columns (pixels x
// taps, at most 16 rows) stay in cache. The three loops below are the
// passes' GEMMs with one small side; the caller splits the weights' rows
// or columns over the cores.

// c[i][j] = sum_l a[i][l] * b[j][l] for rows i in [m0, m1), j < n.
ATELIER_CLONES
void atelier_narrow_dot(long m0, long m1, long n, long len, const float *restrict a, const float *restrict b,
                        float *restrict c) {
  for (long i = m0; i < m1; ++i) {
    const float *row = a + i * len;
    for (long j = 0; j < n; ++j) {
      const float *col = b + j * len;
      float acc[16] = {0};
      long l = 0;
      for (; l + 16 <= len; l += 16)
        for (int v = 0; v < 16; ++v) acc[v] += row[l + v] * col[l + v];
      float sum = 0;
      for (; l < len; ++l) sum += row[l] * col[l];
      for (int v = 0; v < 16; ++v) sum += acc[v];
      c[i * n + j] = sum;
    }
  }
}

// out[j][l] = sum_i coef[i][j] * a[i][l] for columns l in [l0, l1), j < n,
// i < m: each row of `a` is read once, as one contiguous segment.
ATELIER_CLONES
void atelier_narrow_combine_columns(long l0, long l1, long m, long n, long len, const float *restrict a,
                                    const float *restrict coef, float *restrict out) {
  for (long j = 0; j < n; ++j)
    for (long l = l0; l < l1; ++l) out[j * len + l] = 0.0f;
  for (long i = 0; i < m; ++i) {
    const float *row = a + i * len;
    for (long j = 0; j < n; ++j) {
      const float f = coef[i * n + j];
      if (f == 0.0f) continue;
      float *o = out + j * len;
      for (long l = l0; l < l1; ++l) o[l] += f * row[l];
    }
  }
}

// out[i][l] = beta * out[i][l] + sum_j coef[i][j] * b[j][l] for rows i in
// [m0, m1): each row of `out` is written once.
ATELIER_CLONES
void atelier_narrow_combine_rows(long m0, long m1, long n, long len, const float *restrict coef,
                                 const float *restrict b, float beta, float *restrict out) {
  for (long i = m0; i < m1; ++i) {
    float *o = out + i * len;
    if (beta == 0.0f) {
      for (long l = 0; l < len; ++l) o[l] = 0.0f;
    } else if (beta != 1.0f) {
      for (long l = 0; l < len; ++l) o[l] *= beta;
    }
    for (long j = 0; j < n; ++j) {
      const float f = coef[i * n + j];
      const float *row = b + j * len;
      for (long l = 0; l < len; ++l) o[l] += f * row[l];
    }
  }
}
