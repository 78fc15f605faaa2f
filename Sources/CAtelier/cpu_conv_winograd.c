#include "catelier.h"
#include "cpu_activation.h"
#include "cpu_tiles.h"
#include "cpu_transpose.h"

// The three passes of a 4x4 convolution at stride 2 (every layer of a
// DCGAN; the data gradient is also a transposed convolution's forward
// pass) with a quarter fewer multiply-adds: Winograd's F(2x2, 2x2) on the
// kernel's four stride phases.
//
// Phases. Write the taps r = 2u + a, s = 2v + b (u, v, a, b in {0, 1}).
// Tap (r, s) of output pixel (p, q) reads x[2(p + u) + a - pad_h][2(q + v)
// + b - pad_w], which is pixel (p + u, q + v) of the phase image
// x_ab[i][j] = x[2i + a - pad_h][2j + b - pad_w] (zero outside x). So the
// convolution is a sum over the four phases of 2x2 convolutions at stride 1
// with the kernels w_ab[u][v] = w[2u + a][2v + b]: one 2x2 convolution over
// 4C input channels.
//
// F(2x2, 2x2). Two outputs of a two-tap correlation, y0 = d0 g0 + d1 g1 and
// y1 = d1 g0 + d2 g1, take three products: m0 = (d0 - d1) g0,
// m1 = d1 (g0 + g1), m2 = (d2 - d1) g1; y0 = m0 + m1, y1 = m1 + m2. Nested
// over rows and columns, a 2x2 block of outputs takes 9 products instead of
// 16, from the 3x3 patch of each phase image under it (transformed: V), the
// 2x2 kernel (transformed: U) and a sum over the 4C channels: nine GEMMs
// M_xi (tiles, K) = V_xi (tiles, 4C) U_xi (4C, K), one per position xi of
// the 3x3 transform, run on the register tiles of cpu_tiles.h (depth read
// contiguously). At dcgan's 7 x 7 outputs the 2x2 blocks cover 8 x 8, so the
// products are 9 x 16 per 16 x 49 of the direct GEMM: 0.73 of its
// multiply-adds. The transforms add and subtract only (exact up to one
// rounding per add), done on vectors of 16 channels: the image is first
// transposed to (h, w, c) per sample, the blocks' outputs gathered as
// (pixel, k) rows and transposed back as the direct forward pass does.
//
// The data gradient is the same per phase of dx: pixel h = 2m + alpha -
// pad_h of dx (alpha its phase) receives dy rows m - 1 and m through taps
// alpha + 2 and alpha, so each phase of dx is a 2x2 correlation of dy (K
// channels) with the kernel w[2(1 - u) + alpha][2(1 - v) + beta]: four
// sets of nine GEMMs of depth K, one per phase, each phase's blocks
// written to its pixels of dx. (The direct data gradient also works by
// phases: cpu_conv_indirect.c.)
//
// The weight gradient of a phase, dW_ab[u][v] = sum over pixels (p, q) of
// dy[p][q] x_ab[p + u][q + v], is F(2x2, 2x2) with the roles turned: over
// each 2x2 block of dy pixels, dy is the kernel (transformed by G) and the
// 3x3 patch of x_ab under it the data (by B^T, as in the forward pass).
// The nine products are summed over blocks and samples by nine GEMMs
// M_xi ((phase, c), k) = V_xi^T Gy_xi, and A^T M A once at the end gives
// the 2x2 taps of each phase.
//
// Memory. The nine GEMMs of a chunk of samples run one after the other,
// each right after its V_xi is computed from the chunk's transposed images,
// so V_xi (64 KB at dcgan's layer) is written to L1/L2 and read back from
// there; computing all nine V_xi first wrote 150 KB per sample that the
// streaming of the transformed weights (1.2 MB) had pushed out of L2 by
// the time the GEMMs read it.

enum { TRANSFORM = 9, PHASES = 4 };

// 2x2 blocks of outputs along one axis: `count` outputs, block b's outputs
// u < 2 (2b + u < count) at position first + step * (2b + u) of the output
// image; element i < 3 of its patch at position origin + block * b +
// element * i of the input image (zero outside it).
typedef struct {
  long count, blocks, first, step, origin, block, element;
} Axis;

// The forward pass, kernel phase a along an axis of `outputs` outputs:
// patch element i of block b reads x at 2(2b + i) + a - pad.
ATELIER_HELPER Axis forward_axis(long outputs, int pad, int a) {
  return (Axis){outputs, (outputs + 1) / 2, 0, 1, a - pad, 4, 2};
}

ATELIER_HELPER long floor_half(long v) { return v >= 0 ? v / 2 : -((1 - v) / 2); }

// The data gradient's phase alpha along an axis of `size` pixels: pixels h
// = 2m + alpha - pad for m in [m_lo, m_hi], patch element i of block b
// reading dy at m_lo - 1 + 2b + i.
ATELIER_HELPER Axis data_axis(long size, int pad, int alpha) {
  const long m_lo = -floor_half(alpha - pad), m_hi = floor_half(size - 1 + pad - alpha);
  const long count = m_hi >= m_lo ? m_hi - m_lo + 1 : 0;
  return (Axis){count, (count + 1) / 2, 2 * m_lo + alpha - pad, 2, m_lo - 1, 2, 1};
}

// Depth of a forward GEMM: the four phases' channels, each rounded up to whole vectors.
ATELIER_HELPER long phase_channels(const AtelierConv *g) { return padded(g->c); }
ATELIER_HELPER long forward_depth(const AtelierConv *g) { return PHASES * phase_channels(g); }
ATELIER_HELPER long forward_blocks(const AtelierConv *g) { return ((g->p + 1) / 2) * ((g->q + 1) / 2); }
// The most blocks of a data gradient phase (phase 0 and 1 differ by at most one output).
ATELIER_HELPER long data_blocks(const AtelierConv *g) { return ((g->h / 2 + 2) / 2) * ((g->w / 2 + 2) / 2); }

int atelier_conv_winograd_supported(const AtelierConv *g) {
  return g->r == 4 && g->s == 4 && g->stride_h == 2 && g->stride_w == 2;
}

// Samples per chunk: their transposed images, one V_xi and the nine M_xi
// stay within `budget` floats: about half an L2 for the forward pass
// (dcgan's 64 -> 128 layer: 3 samples, 48 blocks), a whole one for the
// data gradient, whose four phases each stream their own transformed
// weights (single-core passes at batch 256, three rounds: forward 25.8-26.2
// ms at half an L2, 26.1-27.0 at one; data gradient 27.2-27.5 and
// 26.6-26.8). Rounded so the blocks fill the 6-row register tiles: a
// chunk whose blocks leave 1 or 2 rows over would run a 4-row tile for them.
ATELIER_HELPER int fit_chunk(long per_sample, long blocks, int chunk, long budget) {
  long fit = budget / per_sample;
  fit = fit < 1 ? 1 : fit < chunk ? fit : chunk;
  for (long n = fit; n > fit / 2 && n > 1; --n) {
    const long tail = n * blocks % 6;
    if (tail == 0 || tail >= 3) return (int)n;
  }
  return (int)fit;
}

// Per sample, in floats, and the chunk for each pass: the transposed input
// image, its outputs as (pixel, channel) rows, one V_xi and nine M_xi.
ATELIER_HELPER long forward_per_sample(const AtelierConv *g, int k) {
  return (long)g->h * g->w * phase_channels(g) + (long)g->p * g->q * padded(k)
         + forward_blocks(g) * (forward_depth(g) + TRANSFORM * padded(k));
}
ATELIER_HELPER long data_per_sample(const AtelierConv *g, int k) {
  return (long)g->p * g->q * padded(k) + (long)g->h * g->w * phase_channels(g)
         + data_blocks(g) * (padded(k) + TRANSFORM * phase_channels(g));
}
// The weight gradient's GEMMs sum over the blocks (no tile rows to fill),
// and each chunk adds into all nine M_xi (1.2 MB at dcgan's layer): larger
// chunks, fewer passes over them.
ATELIER_HELPER long weight_per_sample(const AtelierConv *g, int k) {
  return (long)g->h * g->w * phase_channels(g) + (long)g->p * g->q * padded(k)
         + forward_blocks(g) * (forward_depth(g) + padded(k));
}
ATELIER_HELPER int weight_chunk(const AtelierConv *g, int k, int chunk) {
  enum { BUDGET = 1 << 18 };  // floats (1 MB; 512 KB and 2 MB measured the same)
  const long fit = BUDGET / weight_per_sample(g, k);
  return (int)(fit < 1 ? 1 : fit < chunk ? fit : chunk);
}
ATELIER_HELPER int pass_chunk(const AtelierConv *g, int k, int chunk, int pass) {
  switch (pass) {
  case ATELIER_CONV_FORWARD: return fit_chunk(forward_per_sample(g, k), forward_blocks(g), chunk, 1 << 17);
  case ATELIER_CONV_BACKWARD_DATA: return fit_chunk(data_per_sample(g, k), data_blocks(g), chunk, 1 << 18);
  default: return weight_chunk(g, k, chunk);
  }
}
// Floats of the nine M_xi of the weight gradient.
ATELIER_HELPER long weight_sums(const AtelierConv *g, int k) { return TRANSFORM * forward_depth(g) * padded(k); }

int atelier_conv_winograd_chunk(const AtelierConv *g, int k, int chunk, int pass) {
  return pass_chunk(g, k, chunk, pass);
}

double atelier_conv_winograd_multiply_adds(const AtelierConv *g, int k, int pass) {
  const double n = g->n, kp = padded(k), cp = phase_channels(g);
  if (pass != ATELIER_CONV_BACKWARD_DATA) return TRANSFORM * n * forward_blocks(g) * forward_depth(g) * kp;
  double blocks = 0;
  for (int phase = 0; phase < PHASES; ++phase)
    blocks += (double)data_axis(g->h, g->pad_h, phase / 2).blocks * data_axis(g->w, g->pad_w, phase % 2).blocks;
  return TRANSFORM * n * blocks * kp * cp;
}

long atelier_conv_winograd_packed_size(const AtelierConv *g, int k, int pass) {
  return pass == ATELIER_CONV_FORWARD ? TRANSFORM * forward_depth(g) * padded(k)
                                      : PHASES * TRANSFORM * padded(k) * phase_channels(g);
}

// Floats of a worker's pointer tables: the GEMMs' rows and outputs, and
// the patch tables (nine pointers per block and phase: the forward pass
// and weight gradient keep the four phases', the data gradient one at a
// time), then the zeros the tables point to for patch elements outside the
// image; a pointer takes two floats.
ATELIER_HELPER long zero_floats(const AtelierConv *g, int k) {
  return padded(k) > phase_channels(g) ? padded(k) : phase_channels(g);
}
// Zeroes the `zero_floats` at `zeros` and returns the scratch after them.
ATELIER_HELPER float *after_zeros(const AtelierConv *g, int k, float *zeros) {
  const long n = zero_floats(g, k);
  for (long i = 0; i < n; ++i) zeros[i] = 0.0f;
  return zeros + n;
}
ATELIER_HELPER long table_floats(const AtelierConv *g, int k, int samples, int pass) {
  const long zeros = zero_floats(g, k);
  switch (pass) {
  case ATELIER_CONV_FORWARD: return 2 * samples * forward_blocks(g) * (2 + PHASES * TRANSFORM) + zeros;
  case ATELIER_CONV_BACKWARD_DATA: return 2 * samples * data_blocks(g) * (2 + TRANSFORM) + zeros;
  default: return 2 * samples * forward_blocks(g) * (1 + PHASES * TRANSFORM) + zeros;
  }
}

// Scratch of one worker, in floats: the tables, then a chunk's samples; for
// the weight gradient then its sums (at atelier_conv_winograd_weight_offset).
long atelier_conv_winograd_scratch(const AtelierConv *g, int k, int chunk, int pass) {
  const int samples = pass_chunk(g, k, chunk, pass);
  const long tables = table_floats(g, k, samples, pass);
  switch (pass) {
  case ATELIER_CONV_FORWARD: return tables + samples * forward_per_sample(g, k);
  case ATELIER_CONV_BACKWARD_DATA: return tables + samples * data_per_sample(g, k);
  default: return tables + samples * weight_per_sample(g, k) + weight_sums(g, k);
  }
}

long atelier_conv_winograd_weight_offset(const AtelierConv *g, int k, int chunk) {
  return atelier_conv_winograd_scratch(g, k, chunk, ATELIER_CONV_BACKWARD_WEIGHTS) - weight_sums(g, k);
}

long atelier_conv_winograd_weight_rows(const AtelierConv *g) { return TRANSFORM * forward_depth(g); }

long atelier_conv_winograd_pack_units(const AtelierConv *g, int k, int pass) {
  return pass == ATELIER_CONV_FORWARD ? phase_channels(g) : padded(k);
}

long atelier_conv_winograd_pack_scratch(const AtelierConv *g, int k, int pass) {
  return pass == ATELIER_CONV_FORWARD ? phase_channels(g) * 16 * padded(k) : 16 * phase_channels(g);
}

// U = G g G^T, G = (1 0; 1 1; 0 1), for a 2x2 kernel g of 16-float vectors
// (g00, g01, g10, g11 point at them): U_xi stored at dst + xi * stride.
ATELIER_HELPER void transform_kernel(const float *g00, const float *g01, const float *g10, const float *g11,
                                     float *dst, long stride) {
  const v16 a0 = *(const v16 *)g00, a1 = *(const v16 *)g01, b0 = *(const v16 *)g10, b1 = *(const v16 *)g11;
  const v16 rows[3][2] = {{a0, a1}, {a0 + b0, a1 + b1}, {b0, b1}};
  for (int i = 0; i < 3; ++i) {
    *(v16 *)(dst + (i * 3 + 0) * stride) = rows[i][0];
    *(v16 *)(dst + (i * 3 + 1) * stride) = rows[i][0] + rows[i][1];
    *(v16 *)(dst + (i * 3 + 2) * stride) = rows[i][1];
  }
}

// The transformed kernels, into the panels the tiles stream: U_xi (depth,
// n) of a GEMM at xi * depth * padded(n), panel j0 at j0 * depth of it,
// row d of panel_width floats; padding rows and columns zero. The weights
// are first transposed in `tmp` so the transform runs on vectors of 16
// GEMM columns: element by element it scattered a float per cache line (8
// % of a forward pass).
//   forward, units [begin, end) of the input channels c': row d = phase *
//     C' + c of the kernel w[k][c][2u + a][2v + b], columns k;
//   data gradient, units of the output channels k': per phase of dx (alpha,
//     beta) four times nine GEMMs, row k of w[k][c][2(1 - u) + alpha][2(1 -
//     v) + beta], columns c.
ATELIER_CLONES
void atelier_conv_winograd_pack(const AtelierConv *g, int k, const float *restrict w, float *restrict packed,
                                int pass, long begin, long end, float *restrict tmp) {
  const long c = g->c, cp = phase_channels(g), kp = padded(k);
  const v16 zero = {0};
  if (pass == ATELIER_CONV_FORWARD) {
    const long depth = forward_depth(g), real_end = end < c ? end : c, real = real_end > begin ? real_end - begin : 0;
    // tmp row (ci - begin) * 16 + tap: w[kk][ci][tap] for kk < k, zero up to kp.
    if (real > 0) transpose_ld(w + begin * 16, c * 16, tmp, kp, k, real * 16);
    for (long row = 0; row < real * 16; ++row)
      for (long kk = k; kk < kp; ++kk) tmp[row * kp + kk] = 0.0f;
    for (long ci = begin; ci < end; ++ci)
      for (int phase = 0; phase < PHASES; ++phase) {
        const int a = phase / 2, b = phase % 2;
        const float *taps = tmp + (ci - begin) * 16 * kp;
        for (long j0 = 0; j0 < kp; j0 += PANEL) {
          const long width = panel_width(k, j0);
          float *dst = packed + j0 * depth + (phase * cp + ci) * width;
          for (long col = 0; col < width; col += LANES) {
            if (ci < c) {
              const float *at = taps + j0 + col;
              transform_kernel(at + (a * 4 + b) * kp, at + (a * 4 + 2 + b) * kp, at + ((2 + a) * 4 + b) * kp,
                               at + ((2 + a) * 4 + 2 + b) * kp, dst + col, depth * kp);
            } else {
              for (int xi = 0; xi < TRANSFORM; ++xi) *(v16 *)(dst + xi * depth * kp + col) = zero;
            }
          }
        }
      }
    return;
  }
  for (long kk = begin; kk < end; ++kk) {
    // tmp row tap: w[kk][c][tap] for c < C, zero up to C'.
    if (kk < k) transpose_ld(w + kk * c * 16, 16, tmp, cp, c, 16);
    for (long t = 0; t < 16; ++t)
      for (long ci = kk < k ? c : 0; ci < cp; ++ci) tmp[t * cp + ci] = 0.0f;
    for (int phase = 0; phase < PHASES; ++phase) {
      const int alpha = phase / 2, beta = phase % 2;
      float *base = packed + (long)phase * TRANSFORM * kp * cp;
      for (long j0 = 0; j0 < cp; j0 += PANEL) {
        const long width = panel_width(c, j0);
        float *dst = base + j0 * kp + kk * width;
        for (long col = 0; col < width; col += LANES) {
          // g[u][v] = w[2(1 - u) + alpha][2(1 - v) + beta]
          const float *at = tmp + j0 + col;
          transform_kernel(at + ((2 + alpha) * 4 + 2 + beta) * cp, at + ((2 + alpha) * 4 + beta) * cp,
                           at + (alpha * 4 + 2 + beta) * cp, at + (alpha * 4 + beta) * cp, dst + col, kp * cp);
        }
      }
    }
  }
}

// The patches under the blocks of `samples` images xt (ih x iw pixels of
// cp floats each, transposed): for each block, the 3x3 elements' rows of
// xt, or `zeros` outside the image. Built once per chunk (and phase) for
// the nine transforms that read them, which then load without a test.
ATELIER_HELPER void patch_table(const float *xt, long ih, long iw, long cp, int samples, Axis ah, Axis aw,
                                const float *zeros, const float **table) {
  for (int n = 0; n < samples; ++n)
    for (long bi = 0; bi < ah.blocks; ++bi)
      for (long bj = 0; bj < aw.blocks; ++bj)
        for (int i = 0; i < 3; ++i) {
          const long h = ah.origin + ah.block * bi + ah.element * i;
          for (int j = 0; j < 3; ++j) {
            const long wc = aw.origin + aw.block * bj + aw.element * j;
            *table++ = h >= 0 && h < ih && wc >= 0 && wc < iw ? xt + ((n * ih + h) * iw + wc) * cp : zeros;
          }
        }
}

// V_xi, xi = (ti, tj), for `count` blocks whose patches `table` gives (nine
// rows of cp floats each): position (ti, tj) of B^T d B, B^T = (1 -1 0;
// 0 1 0; 0 -1 1), d the 3x3 patch (along each axis, position 0 is d0 -
// d1, 1 is d1, 2 is d2 - d1), 16 channels at a time, into row `block` of v
// (`depth` floats) at `offset`. Inlined with constant (ti, tj)
// (transform_input), so only the 1, 2 or 4 patch elements it needs are
// loaded: a generic one loaded all nine for each of the nine.
ATELIER_HELPER void transform_input_at(const float *const *table, long count, long cp, long depth, long offset,
                                       const int ti, const int tj, float *restrict v) {
  float *row = v + offset;
  for (long block = 0; block < count; ++block, row += depth, table += TRANSFORM)
    for (long c0 = 0; c0 < cp; c0 += LANES) {
#define PATCH(i, j) (*(const v16 *)(table[(i) * 3 + (j)] + c0))
#define ROW(i, j) (ti == 1 ? PATCH(1, j) : PATCH(ti, j) - PATCH(1, j))
      *(v16 *)(row + c0) = tj == 1 ? ROW(ti, 1) : ROW(ti, tj) - ROW(ti, 1);
#undef ROW
#undef PATCH
    }
}

// CALL(ti, tj) for transform position xi, with (ti, tj) constants, so the
// inlined callee is specialised per position.
#define AT_POSITION(xi, CALL)                                                                      \
  switch (xi) {                                                                                    \
  case 0: CALL(0, 0); break;                                                                       \
  case 1: CALL(0, 1); break;                                                                       \
  case 2: CALL(0, 2); break;                                                                       \
  case 3: CALL(1, 0); break;                                                                       \
  case 4: CALL(1, 1); break;                                                                       \
  case 5: CALL(1, 2); break;                                                                       \
  case 6: CALL(2, 0); break;                                                                       \
  case 7: CALL(2, 1); break;                                                                       \
  default: CALL(2, 2); break;                                                                      \
  }

ATELIER_HELPER void transform_input(const float *const *table, long count, long cp, long depth, long offset, int xi,
                                    float *restrict v) {
#define AT(ti, tj) transform_input_at(table, count, cp, depth, offset, ti, tj, v)
  AT_POSITION(xi, AT)
#undef AT
}

// One sample's outputs from its blocks' M_xi rows (`stride` floats apart,
// rows np floats): A^T M A with A^T = (1 1 0; 0 1 1), into out (pixels of
// an image ow wide, np floats each).
ATELIER_HELPER void transform_output(const float *restrict m, long stride, long np, Axis ah, Axis aw, long ow,
                                     float *restrict out) {
  for (long bi = 0; bi < ah.blocks; ++bi)
    for (long bj = 0; bj < aw.blocks; ++bj) {
      const float *src = m + (bi * aw.blocks + bj) * np;
      const int rows = 2 * bi + 1 < ah.count ? 2 : 1, cols = 2 * bj + 1 < aw.count ? 2 : 1;
      for (long k0 = 0; k0 < np; k0 += LANES) {
        v16 s[2][3];
        for (int j = 0; j < 3; ++j) {
          const v16 m0 = *(const v16 *)(src + (0 * 3 + j) * stride + k0);
          const v16 m1 = *(const v16 *)(src + (1 * 3 + j) * stride + k0);
          const v16 m2 = *(const v16 *)(src + (2 * 3 + j) * stride + k0);
          s[0][j] = m0 + m1;
          s[1][j] = m1 + m2;
        }
        for (int u = 0; u < rows; ++u)
          for (int t = 0; t < cols; ++t) {
            const long h = ah.first + ah.step * (2 * bi + u), w = aw.first + aw.step * (2 * bj + t);
            *(v16 *)(out + (h * ow + w) * np + k0) = s[u][t] + s[u][t + 1];
          }
      }
    }
}

// Samples [n0, n1) of an (N, C, plane) tensor into rows (plane, cp), zero past c.
ATELIER_HELPER void to_rows(const float *src, long c, long plane, long cp, int n0, int n1, float *restrict rows) {
  for (int n = n0; n < n1; ++n) {
    float *dst = rows + (n - n0) * plane * cp;
    transpose_ld(src + (long)n * c * plane, plane, dst, cp, c, plane);
    for (long i = 0; i < plane; ++i)
      for (long ci = c; ci < cp; ++ci) dst[i * cp + ci] = 0.0f;
  }
}

// Samples [n0, n1) of rows (plane, cp) back into (N, C, plane), each followed by the epilogue.
ATELIER_HELPER void from_rows(const float *restrict rows, long c, long plane, long cp, int n0, int n1, float *dst,
                              const float *bias, int act, float p, const float *activated) {
  for (int n = n0; n < n1; ++n) {
    float *out = dst + (long)n * c * plane;
    transpose_ld(rows + (n - n0) * plane * cp, cp, out, plane, plane, c);
    if (bias || act != ATELIER_ACT_IDENTITY)
      atelier_epilogue(1, c, plane, c * plane, out, bias, act, p, activated ? activated + (long)n * c * plane : 0);
  }
}

// The nine GEMMs of one set: for each xi, V_xi (count rows of `depth`) from
// `fill`, then M_xi = V_xi U_xi (rows np floats, `np` columns of which `n`
// are real).
#define NINE_GEMMS(count, depth, n, np, u, fill)                                                   \
  for (long i = 0; i < (count); ++i) rows[i] = v + i * (depth);                                    \
  for (int xi = 0; xi < TRANSFORM; ++xi) {                                                         \
    fill;                                                                                          \
    for (long i = 0; i < (count); ++i) outs[i] = m + (xi * (count) + i) * (np);                    \
    for (long j0 = 0; j0 < (n); j0 += PANEL)                                                       \
      gather_rows((count), 1, (depth), 1, rows, (u) + xi * (depth) * (np) + j0 * (depth), panel_width(n, j0), outs, \
                  j0, panel_width(n, j0), panel_width(n, j0));                                     \
  }

ATELIER_CLONES
void atelier_conv_winograd_forward(const AtelierConv *g, int k, const float *x, const float *packed, float *y,
                                   int n_begin, int n_end, int chunk, float *scratch, const float *bias, int act,
                                   float p, const float *activated) {
  chunk = pass_chunk(g, k, chunk, ATELIER_CONV_FORWARD);
  const long plane = (long)g->h * g->w, pq = (long)g->p * g->q, cp = phase_channels(g), kp = padded(k);
  const long depth = forward_depth(g), per = forward_blocks(g), blocks = chunk * per;
  const float **rows = (const float **)scratch;
  float **outs = (float **)(rows + blocks);
  const float **tables = (const float **)(outs + blocks);
  float *zeros = (float *)(tables + PHASES * TRANSFORM * blocks), *xt = after_zeros(g, k, zeros);
  float *yt = xt + chunk * plane * cp, *v = yt + chunk * pq * kp, *m = v + blocks * depth;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    const long count = (n1 - n0) * per;
    to_rows(x, g->c, plane, cp, n0, n1, xt);
    for (int phase = 0; phase < PHASES; ++phase)
      patch_table(xt, g->h, g->w, cp, n1 - n0, forward_axis(g->p, g->pad_h, phase / 2),
                  forward_axis(g->q, g->pad_w, phase % 2), zeros, tables + phase * TRANSFORM * count);
    NINE_GEMMS(count, depth, k, kp, packed, {
      for (int phase = 0; phase < PHASES; ++phase)
        transform_input(tables + phase * TRANSFORM * count, count, cp, depth, phase * cp, xi, v);
    })
    for (int n = 0; n < n1 - n0; ++n)
      transform_output(m + n * per * kp, count * kp, kp, forward_axis(g->p, g->pad_h, 0), forward_axis(g->q, g->pad_w, 0),
                       g->q, yt + n * pq * kp);
    from_rows(yt, k, pq, kp, n0, n1, y, bias, act, p, activated);
  }
}

ATELIER_CLONES
void atelier_conv_winograd_backward_data(const AtelierConv *g, int k, const float *dy, const float *packed, float *dx,
                                         int n_begin, int n_end, int chunk, float *scratch, const float *bias, int act,
                                         float p, const float *activated) {
  chunk = pass_chunk(g, k, chunk, ATELIER_CONV_BACKWARD_DATA);
  const long plane = (long)g->h * g->w, pq = (long)g->p * g->q, c = g->c, cp = phase_channels(g), kp = padded(k);
  const long blocks = chunk * data_blocks(g);
  const float **rows = (const float **)scratch;
  float **outs = (float **)(rows + blocks);
  const float **table = (const float **)(outs + blocks);
  float *zeros = (float *)(table + TRANSFORM * blocks), *dyt = after_zeros(g, k, zeros);
  float *dxt = dyt + chunk * pq * kp, *v = dxt + chunk * plane * cp, *m = v + blocks * kp;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    to_rows(dy, k, pq, kp, n0, n1, dyt);
    for (int phase = 0; phase < PHASES; ++phase) {
      const Axis ah = data_axis(g->h, g->pad_h, phase / 2), aw = data_axis(g->w, g->pad_w, phase % 2);
      const long per = ah.blocks * aw.blocks, count = (n1 - n0) * per;
      if (per == 0) continue;
      patch_table(dyt, g->p, g->q, kp, n1 - n0, ah, aw, zeros, table);
      NINE_GEMMS(count, kp, c, cp, packed + (long)phase * TRANSFORM * kp * cp,
                 transform_input(table, count, kp, kp, 0, xi, v))
      for (int n = 0; n < n1 - n0; ++n)
        transform_output(m + n * per * cp, count * cp, cp, ah, aw, g->w, dxt + n * plane * cp);
    }
    from_rows(dxt, c, plane, cp, n0, n1, dx, bias, act, p, activated);
  }
}

// Gy_xi for the 2x2 blocks of dy of `samples` samples (dyt: pq rows of kp
// floats each): position (ti, tj) of G g G^T, g the block's 2x2 pixels
// (zero past the edge), G = (1 0; 1 1; 0 1): along each axis, position 0
// is g0, 1 is g0 + g1, 2 is g1. Inlined with constant (ti, tj).
ATELIER_HELPER void transform_gradient_at(const AtelierConv *g, const float *restrict dyt, long kp, int samples,
                                          const int ti, const int tj, float *restrict gt) {
  const v16 zero = {0};
  const long bh = (g->p + 1) / 2, bw = (g->q + 1) / 2;
  float *row = gt;
  for (int n = 0; n < samples; ++n)
    for (long bi = 0; bi < bh; ++bi)
      for (long bj = 0; bj < bw; ++bj, row += kp) {
        const float *at[2][2];
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) {
            const long p = 2 * bi + i, q = 2 * bj + j;
            at[i][j] = p < g->p && q < g->q ? dyt + ((n * (long)g->p + p) * g->q + q) * kp : 0;
          }
        for (long k0 = 0; k0 < kp; k0 += LANES) {
#define PIXEL(i, j) (at[i][j] ? *(const v16 *)(at[i][j] + k0) : zero)
#define ROW(i, j) (ti == 1 ? PIXEL(0, j) + PIXEL(1, j) : PIXEL(ti / 2, j))
          *(v16 *)(row + k0) = tj == 1 ? ROW(ti, 0) + ROW(ti, 1) : ROW(ti, tj / 2);
#undef ROW
#undef PIXEL
        }
      }
}

ATELIER_HELPER void transform_gradient(const AtelierConv *g, const float *restrict dyt, long kp, int samples, int xi,
                                       float *restrict gt) {
#define AT(ti, tj) transform_gradient_at(g, dyt, kp, samples, ti, tj, gt)
  AT_POSITION(xi, AT)
#undef AT
}

// The nine sums M_xi ((phase, c'), k') of samples [n_begin, n_end), into
// the end of `scratch` (overwritten; atelier_conv_winograd_weight_offset).
ATELIER_CLONES
void atelier_conv_winograd_backward_weights(const AtelierConv *g, int k, const float *x, const float *dy, int n_begin,
                                            int n_end, int chunk, float *scratch) {
  chunk = pass_chunk(g, k, chunk, ATELIER_CONV_BACKWARD_WEIGHTS);
  const long plane = (long)g->h * g->w, pq = (long)g->p * g->q, cp = phase_channels(g), kp = padded(k);
  const long depth = forward_depth(g), per = forward_blocks(g), blocks = chunk * per;
  const float **rows = (const float **)scratch;
  const float **tables = rows + blocks;
  float *zeros = (float *)(tables + PHASES * TRANSFORM * blocks), *xt = after_zeros(g, k, zeros);
  float *dyt = xt + chunk * plane * cp, *v = dyt + chunk * pq * kp, *gt = v + blocks * depth, *m = gt + blocks * kp;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    const long count = (n1 - n0) * per;
    to_rows(x, g->c, plane, cp, n0, n1, xt);
    to_rows(dy, k, pq, kp, n0, n1, dyt);
    for (long i = 0; i < count; ++i) rows[i] = v + i * depth;
    for (int phase = 0; phase < PHASES; ++phase)
      patch_table(xt, g->h, g->w, cp, n1 - n0, forward_axis(g->p, g->pad_h, phase / 2),
                  forward_axis(g->q, g->pad_w, phase % 2), zeros, tables + phase * TRANSFORM * count);
    for (int xi = 0; xi < TRANSFORM; ++xi) {
      for (int phase = 0; phase < PHASES; ++phase)
        transform_input(tables + phase * TRANSFORM * count, count, cp, depth, phase * cp, xi, v);
      transform_gradient(g, dyt, kp, n1 - n0, xi, gt);
      for (long j0 = 0; j0 < k; j0 += PANEL)
        weight_rows(0, depth, count, 1, 0, 1, rows, gt + j0, kp, m + xi * depth * kp + j0, kp, panel_width(k, j0),
                    n0 == n_begin);
    }
  }
}

// dw (K, C, 4, 4) = beta * dw + A^T M A of the sums m, input channels
// [c_begin, c_end): phase (a, b)'s 2x2 block of each (k, c) from its nine
// M_xi, A^T = (1 1 0; 0 1 1), into taps (2u + a, 2v + b).
ATELIER_CLONES
void atelier_conv_winograd_finish_weights(const AtelierConv *g, int k, const float *restrict m, float *restrict dw,
                                          float beta, long c_begin, long c_end) {
  const long cp = phase_channels(g), kp = padded(k), depth = forward_depth(g), c = g->c;
  float taps[2][2][LANES];
  for (long ci = c_begin; ci < c_end; ++ci)
    for (int phase = 0; phase < PHASES; ++phase) {
      const int a = phase / 2, b = phase % 2;
      const float *src = m + (phase * cp + ci) * kp;
      for (long k0 = 0; k0 < k; k0 += LANES) {
        v16 s[2][3];
        for (int j = 0; j < 3; ++j) {
          const v16 m0 = *(const v16 *)(src + (0 * 3 + j) * depth * kp + k0);
          const v16 m1 = *(const v16 *)(src + (1 * 3 + j) * depth * kp + k0);
          const v16 m2 = *(const v16 *)(src + (2 * 3 + j) * depth * kp + k0);
          s[0][j] = m0 + m1;
          s[1][j] = m1 + m2;
        }
        for (int u = 0; u < 2; ++u)
          for (int t = 0; t < 2; ++t) *(v16 *)taps[u][t] = s[u][t] + s[u][t + 1];
        const long kn = k - k0 < LANES ? k - k0 : LANES;
        for (long l = 0; l < kn; ++l) {
          float *out = dw + ((k0 + l) * c + ci) * 16;
          for (int u = 0; u < 2; ++u)
            for (int t = 0; t < 2; ++t) {
              float *dst = out + (2 * u + a) * 4 + 2 * t + b;
              *dst = beta == 0.0f ? taps[u][t][l] : beta * *dst + taps[u][t][l];
            }
        }
      }
    }
}
