#ifndef ATELIER_CPU_TILES_H
#define ATELIER_CPU_TILES_H

// The register tiles of the CPU path's own GEMMs (cpu_conv_indirect.c,
// cpu_gemm_tiles.c). Their operands come through pointers: rows of the
// left operand one pointer per row (and tap), so images and activations are
// read where they lie, and the right operand as rows of up to 64 floats
// `ldb` apart. Each translation unit gets its own copy.

#include "cpu_activation.h"

typedef float v16 __attribute__((vector_size(64), aligned(4)));

// The register tiles are functions of their own, cloned per instruction
// set: inlined into the loops that call them, the register allocator
// shuffled the tile through the stack on every multiply-add step (85 vs
// 114 GFLOP/s on one core).
#define ATELIER_KERNEL static ATELIER_CLONES
#define UNROLL _Pragma("clang loop unroll(full)")
enum { LANES = 16, PANEL = 64 };

ATELIER_HELPER long padded(long n) { return (n + LANES - 1) / LANES * LANES; }
// Panels are PANEL columns wide except the last, rounded up to whole vectors,
// so the panel at column j0 of a packed matrix with `rows` rows starts at j0 * rows.
ATELIER_HELPER int panel_width(long n, long j0) {
  return n - j0 >= PANEL ? PANEL : (int)padded(n - j0);
}
ATELIER_HELPER long min_long(long a, long b) { return a < b ? a : b; }

// out[i][col + 0..valid) = sum over t < ntaps, d < depth of
// rows[i * ntaps + t][d * astride] * panel[(t * depth + d) * ldb + 0..valid),
// for m <= MR rows: MR x NV vectors of sums stay in registers. Rows past m
// repeat row 0 and are not stored. Every loop over the tile has a constant
// trip count, so the compiler can keep the tile in registers (a loop to m
// or a pointer to a row of it puts the tile on the stack: 2x slower).
#define GATHER_TILE(MR, NV)                                                                        \
  ATELIER_KERNEL void gather_##MR##x##NV(int m, int ntaps, long depth, long astride,                \
                                         const float *const *rows, const float *restrict panel,     \
                                         long ldb, float *const *out, long col, int valid) {        \
    v16 acc[MR][NV];                                                                               \
    UNROLL for (int i = 0; i < MR; ++i)                                                                   \
      UNROLL for (int j = 0; j < NV; ++j) acc[i][j] = (v16){0};                                           \
    for (int t = 0; t < ntaps; ++t) {                                                              \
      const float *a[MR];                                                                          \
      UNROLL for (int i = 0; i < MR; ++i) a[i] = rows[(i < m ? i : 0) * ntaps + t];                       \
      const float *b = panel + (long)t * depth * ldb;                                              \
      _Pragma("clang loop unroll(disable)")                                                        \
      for (long d = 0; d < depth; ++d, b += ldb) {                                                 \
        v16 bv[NV];                                                                                \
        UNROLL for (int j = 0; j < NV; ++j) bv[j] = *(const v16 *)(b + j * LANES);                        \
        UNROLL for (int i = 0; i < MR; ++i) {                                                             \
          const float av = a[i][d * astride];                                                      \
          UNROLL for (int j = 0; j < NV; ++j) acc[i][j] += av * bv[j];                                    \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
    if (m == MR && valid == NV * LANES) {                                                          \
      UNROLL for (int i = 0; i < MR; ++i)                                                                 \
        UNROLL for (int j = 0; j < NV; ++j) *(v16 *)(out[i] + col + j * LANES) = acc[i][j];               \
      return;                                                                                      \
    }                                                                                              \
    float tile[MR][NV * LANES];                                                                    \
    UNROLL for (int i = 0; i < MR; ++i)                                                                   \
      UNROLL for (int j = 0; j < NV; ++j) *(v16 *)(tile[i] + j * LANES) = acc[i][j];                      \
    for (int i = 0; i < m; ++i)                                                                    \
      for (int j = 0; j < valid; ++j) out[i][col + j] = tile[i][j];                                \
  }
// 24 vectors of sums for the wide panels, as many as registers allow for the narrow ones.
GATHER_TILE(6, 4)
GATHER_TILE(8, 3)
GATHER_TILE(12, 2)
GATHER_TILE(12, 1)
// For AVX2 (16 registers of 8 floats): 6 rows x 16 columns, 12 registers of sums.
GATHER_TILE(6, 1)
// The last rows of a 6x4 walk when at most 4 are left (a batch of 64: 10
// tiles of 6 and one of 4, whose 6x4 tile would compute 2 rows for nothing).
GATHER_TILE(4, 4)

// All `count` rows against one panel of `width` columns (`valid` of them stored).
// The tiles above need 16-float vectors in one register (AVX-512). On AVX2
// a vector is two registers and a 6x4 tile would live on the stack, so
// unless atelier_wide_tiles() says so, every panel runs as 16-column strips
// of 6x1 tiles (tests choose either shape on any CPU; both give the same
// sums in the same order).
ATELIER_HELPER void gather_rows(long count, int ntaps, long depth, long astride, const float *const *rows,
                                const float *panel, long ldb, float *const *out, long col, int width, int valid) {
#define GATHER_ALL(MR, NV)                                                                         \
  for (long i0 = 0; i0 < count; i0 += MR)                                                          \
    gather_##MR##x##NV((int)min_long(MR, count - i0), ntaps, depth, astride, rows + i0 * ntaps, panel, ldb, out + i0, \
                       col, valid);
  if (!atelier_wide_tiles()) {
    for (int j = 0; j < valid; j += LANES, panel += LANES, col += LANES) {
      const int rest = valid - j < LANES ? valid - j : LANES;
      for (long i0 = 0; i0 < count; i0 += 6)
        gather_6x1((int)min_long(6, count - i0), ntaps, depth, astride, rows + i0 * ntaps, panel, ldb, out + i0, col,
                   rest);
    }
    return;
  }
  switch (width / LANES) {
  case 4: {
    const long tail = count % 6, split = tail > 0 && tail <= 4 ? count - tail : count;
    for (long i0 = 0; i0 < split; i0 += 6)
      gather_6x4((int)min_long(6, split - i0), ntaps, depth, astride, rows + i0 * ntaps, panel, ldb, out + i0, col, valid);
    if (split < count)
      gather_4x4((int)(count - split), ntaps, depth, astride, rows + split * ntaps, panel, ldb, out + split, col, valid);
    break;
  }
  case 3: GATHER_ALL(8, 3) break;
  case 2: GATHER_ALL(12, 2) break;
  default: GATHER_ALL(12, 1) break;
  }
#undef GATHER_ALL
}

// dw[i][0..NV*LANES) (+)= sum over pixels of rows[pixel * ntaps + t][c0 + i] * dy[pixel][0..NV*LANES),
// for mc <= MR channels.
#define WEIGHT_TILE(MR, NV)                                                                        \
  ATELIER_KERNEL void weight_##MR##x##NV(int mc, long pixels, int ntaps, int t, long c0, long astride, \
                                         const float *const *rows, const float *restrict dy,         \
                                         long ldy, float *restrict dw, long ldw, int first) {        \
    v16 acc[MR][NV];                                                                               \
    UNROLL for (int i = 0; i < MR; ++i)                                                                   \
      UNROLL for (int j = 0; j < NV; ++j) acc[i][j] = (v16){0};                                           \
    _Pragma("clang loop unroll(disable)")                                                          \
    for (long px = 0; px < pixels; ++px, dy += ldy) {                                              \
      const float *a = rows[px * ntaps + t] + c0 * astride;                                        \
      v16 bv[NV];                                                                                  \
      UNROLL for (int j = 0; j < NV; ++j) bv[j] = *(const v16 *)(dy + j * LANES);                         \
      UNROLL for (int i = 0; i < MR; ++i) {                                                               \
        const float av = a[(i < mc ? i : 0) * astride];                                            \
        UNROLL for (int j = 0; j < NV; ++j) acc[i][j] += av * bv[j];                                      \
      }                                                                                            \
    }                                                                                              \
    UNROLL for (int i = 0; i < MR; ++i)                                                                   \
      if (i < mc)                                                                                  \
        UNROLL for (int j = 0; j < NV; ++j) {                                                             \
          v16 *dst = (v16 *)(dw + i * ldw + j * LANES);                                            \
          *dst = first ? acc[i][j] : *dst + acc[i][j];                                             \
        }                                                                                          \
  }
WEIGHT_TILE(6, 4)
WEIGHT_TILE(8, 3)
WEIGHT_TILE(12, 2)
WEIGHT_TILE(12, 1)
WEIGHT_TILE(6, 1)
// The last rows of a 6x4 walk when at most 4 are left (64 input channels:
// 10 tiles of 6 and one of 4, whose 6x4 tile would compute 2 rows for nothing).
WEIGHT_TILE(4, 4)

// Rows [r_begin, r_end) of dw (ldw apart, from dw's row 0) against one panel
// of `width` columns of dy.
ATELIER_HELPER void weight_rows(long r_begin, long r_end, long pixels, int ntaps, int t, long astride,
                                const float *const *rows, const float *dy, long ldy, float *dw, long ldw, int width,
                                int first) {
#define WEIGHT_ALL(MR, NV)                                                                         \
  for (long r0 = r_begin; r0 < r_end; r0 += MR)                                                    \
    weight_##MR##x##NV((int)min_long(MR, r_end - r0), pixels, ntaps, t, r0, astride, rows, dy, ldy, dw + r0 * ldw, \
                       ldw, first);
  if (!atelier_wide_tiles()) {  // AVX2: 16-column strips (see gather_rows)
    for (int j = 0; j < width; j += LANES, dy += LANES, dw += LANES) WEIGHT_ALL(6, 1)
    return;
  }
  switch (width / LANES) {
  case 4: {
    const long tail = (r_end - r_begin) % 6;
    const long split = tail > 0 && tail <= 4 ? r_end - tail : r_end;
    for (long r0 = r_begin; r0 < split; r0 += 6)
      weight_6x4((int)min_long(6, split - r0), pixels, ntaps, t, r0, astride, rows, dy, ldy, dw + r0 * ldw, ldw, first);
    if (split < r_end)
      weight_4x4((int)(r_end - split), pixels, ntaps, t, split, astride, rows, dy, ldy, dw + split * ldw, ldw, first);
    break;
  }
  case 3: WEIGHT_ALL(8, 3) break;
  case 2: WEIGHT_ALL(12, 2) break;
  default: WEIGHT_ALL(12, 1) break;
  }
#undef WEIGHT_ALL
}

#endif
