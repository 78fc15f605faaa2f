#ifndef ATELIER_CPU_TRANSPOSE_H
#define ATELIER_CPU_TRANSPOSE_H

// (rows, cols) -> (cols, rows) transposes of the convolutions that work on
// images stored (H, W, C): cpu_conv_pixels.c and cpu_conv_indirect.c.

#include "cpu_activation.h"

typedef float v8 __attribute__((vector_size(32), aligned(4)));

// One 8x8 tile: out[j * ldo + i] = in[i * ldi + j], in registers (three
// rounds of shuffles, as the 8x8 transposes in BLAS libraries do).
ATELIER_HELPER void transpose8x8(const float *restrict in, long ldi, float *restrict out, long ldo) {
  v8 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = *(const v8 *)(in + i * ldi);
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4)
    for (int k = 0; k < 2; ++k) {
      r[i + k] = __builtin_shufflevector(t[i + k], t[i + k + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      r[i + k + 2] = __builtin_shufflevector(t[i + k], t[i + k + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int k = 0; k < 4; ++k) {
    t[k] = __builtin_shufflevector(r[k], r[k + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    t[k + 4] = __builtin_shufflevector(r[k], r[k + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
  // t[k] now holds column k' of the tile for k' = (k & 3) * 2 + ... : the
  // three rounds above leave columns in the order 0, 2, 1, 3, 4, 6, 5, 7.
  static const int order[8] = {0, 2, 1, 3, 4, 6, 5, 7};
  for (int k = 0; k < 8; ++k) *(v8 *)(out + order[k] * ldo) = t[k];
}

// out[j * ldo + i] = in[i * ldi + j] for i < rows, j < cols: whole 8x8
// tiles in registers, the edges element by element.
ATELIER_HELPER void transpose_ld(const float *restrict in, long ldi, float *restrict out, long ldo, long rows,
                                 long cols) {
  const long rows8 = rows & ~7L, cols8 = cols & ~7L;
  for (long i0 = 0; i0 < rows8; i0 += 8) {
    for (long j0 = 0; j0 < cols8; j0 += 8) transpose8x8(in + i0 * ldi + j0, ldi, out + j0 * ldo + i0, ldo);
    for (long j = cols8; j < cols; ++j)
      for (int i = 0; i < 8; ++i) out[j * ldo + i0 + i] = in[(i0 + i) * ldi + j];
  }
  for (long i = rows8; i < rows; ++i)
    for (long j = 0; j < cols; ++j) out[j * ldo + i] = in[i * ldi + j];
}

// A whole (rows, cols) matrix to (cols, rows).
ATELIER_HELPER void transpose(const float *restrict in, float *restrict out, long rows, long cols) {
  transpose_ld(in, cols, out, rows, rows, cols);
}

#endif
