#include "catelier.h"
#include "cpu_tiles.h"
#include "cpu_transpose.h"

// Dense-layer GEMMs on the register tiles of the indirect convolution
// (cpu_tiles.h), where OpenBLAS packs both operands on every call (a quarter
// of its time at batch 64: 82-85 against 98-100 GFLOP/s on one core for
// gan's layers, in a standalone probe). C = A B (a data gradient, dx = dy W)
// and C = A^T B (a weight gradient, dW = dy^T x) read both operands in
// place; C = A B^T (the forward product, y = x W^T) packs only the
// activations, below. The caller gives each core its own block of C, which
// is overwritten (CPUGemm).

enum { ROWS = 256 };

// C rows [m0, m1), columns [n0, n1) = A (m x k, lda) B (k x n, ldb); n0 and n1 multiples of 16,
// then the epilogue (atelier_epilogue; `activated` laid out like C), a panel
// at a time while it is still in cache: after the whole block it read C back
// from memory (gan's data gradients through a ReLU, batch 256: 180 against
// 212-224 GFLOP/s for the products alone).
ATELIER_CLONES
void atelier_gemm_tiles_nn(long m0, long m1, long n0, long n1, long k, const float *a, long lda, const float *b,
                           long ldb, float *c, long ldc, const float *bias, int act, float p,
                           const float *activated) {
  const float *rows[ROWS];
  float *outs[ROWS];
  const int epilogue = bias || act != ATELIER_ACT_IDENTITY;
  for (long r0 = m0; r0 < m1; r0 += ROWS) {
    const long count = min_long(ROWS, m1 - r0);
    for (long i = 0; i < count; ++i) {
      rows[i] = a + (r0 + i) * lda;
      outs[i] = c + (r0 + i) * ldc;
    }
    for (long j0 = n0; j0 < n1; j0 += PANEL) {
      const int width = panel_width(n1, j0);
      gather_rows(count, 1, k, 1, rows, b + j0, ldb, outs, j0, width, width);
      if (epilogue)
        atelier_epilogue(count, width, 1, ldc, c + r0 * ldc + j0, bias ? bias + j0 : 0, act, p,
                         activated ? activated + r0 * ldc + j0 : 0);
    }
  }
}

// C rows [m0, m1), columns [n0, n1) = A^T B, A (k x m, lda), B (k x n, ldb); n0 and n1 multiples of 16.
// C is written a block of whole rows at a time (all panels of 24 rows, which
// the 6-, 8- and 12-row tiles divide), not panel by panel down all rows with
// a stride of a row between tiles.
ATELIER_CLONES
void atelier_gemm_tiles_tn(long m0, long m1, long n0, long n1, long k, const float *a, long lda, const float *b,
                           long ldb, float *c, long ldc) {
  enum { ROW_BLOCK = 24 };
  const float *rows[ROWS];
  for (long p0 = 0; p0 < k; p0 += ROWS) {
    const long count = min_long(ROWS, k - p0);
    for (long p = 0; p < count; ++p) rows[p] = a + (p0 + p) * lda;
    const int first = p0 == 0;
    for (long b0 = m0; b0 < m1; b0 += ROW_BLOCK) {
      const long b1 = min_long(m1, b0 + ROW_BLOCK);
      for (long j0 = n0; j0 < n1; j0 += PANEL)
        weight_rows(b0, b1, count, 1, 0, 1, rows, b + p0 * ldb + j0, ldb, c + j0, ldc, panel_width(n1, j0), first);
    }
  }
}

// The forward product of a dense layer, C (m x n) = A (m x k) B^T with the
// weights B (n x k), computed as C^T = B A^T: the weights are the tiles'
// left operand, read in place a row per output, and only the activations A
// are packed, into panels of up to 64 rows of A as columns (m a multiple of
// 16). Packing B instead would copy the whole weight matrix on every call
// (gan's 2304 -> 1024 layer: 9 MB for a product of 64 x 1024).

// Panels [p_begin, p_end) of A^T: panel p is [k][w] for rows [64 p, 64 p + w) of A.
ATELIER_CLONES
void atelier_gemm_tiles_pack_columns(long m, long k, const float *a, float *packed, long p_begin, long p_end) {
  for (long p = p_begin; p < p_end; ++p) {
    const long s0 = p * PANEL, w = min_long(PANEL, m - s0);
    transpose(a + s0 * k, packed + s0 * k, w, k);
  }
}

// C columns [n0, n1) = act(A B^T + bias) from the packed panels of A^T;
// `tmp` holds ROW_BLOCK x m floats of C^T, where the bias and activation are
// applied before they are transposed into C.
ATELIER_CLONES
void atelier_gemm_tiles_nt(long n0, long n1, long m, long k, const float *b, long ldb, const float *packed, float *c,
                           long ldc, float *tmp, const float *bias, int act, float p) {
  enum { ROW_BLOCK = 96 };  // whole 6-, 8- and 12-row tiles
  const float *rows[ROW_BLOCK];
  float *outs[ROW_BLOCK];
  for (long r0 = n0; r0 < n1; r0 += ROW_BLOCK) {
    const long count = min_long(ROW_BLOCK, n1 - r0);
    for (long i = 0; i < count; ++i) {
      rows[i] = b + (r0 + i) * ldb;
      outs[i] = tmp + i * m;
    }
    for (long s0 = 0; s0 < m; s0 += PANEL) {
      const int width = (int)min_long(PANEL, m - s0);
      gather_rows(count, 1, k, 1, rows, packed + s0 * k, width, outs, s0, width, width);
    }
    if (bias || act != ATELIER_ACT_IDENTITY) atelier_epilogue(1, count, m, 0, tmp, bias ? bias + r0 : 0, act, p, 0);
    // tmp (count x m) -> C[:, r0 .. r0 + count), by 8x8 blocks.
    const long count8 = count & ~7L, m8 = m & ~7L;
    for (long i0 = 0; i0 < count8; i0 += 8)
      for (long j0 = 0; j0 < m8; j0 += 8) transpose8x8(tmp + i0 * m + j0, m, c + j0 * ldc + r0 + i0, ldc);
    for (long i = 0; i < count; ++i)
      for (long j = i < count8 ? m8 : 0; j < m; ++j) c[j * ldc + r0 + i] = tmp[i * m + j];
  }
}
