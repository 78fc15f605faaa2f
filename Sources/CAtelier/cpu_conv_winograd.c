#include "catelier.h"
#include "cpu_activation.h"
#include "cpu_tiles.h"
#include "cpu_transpose.h"

// The forward pass of a 4x4 convolution at stride 2 (every layer of a
// DCGAN) with a quarter fewer multiply-adds: Winograd's F(2x2, 2x2) on the
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
// Memory. The nine GEMMs of a chunk of samples run one after the other,
// each right after its V_xi is computed from the chunk's transposed images,
// so V_xi (64 KB at dcgan's layer) is written to L1/L2 and read back from
// there; computing all nine V_xi first wrote 150 KB per sample that the
// streaming of the transformed weights (1.2 MB) had pushed out of L2 by
// the time the GEMMs read it.

enum { TRANSFORM = 9, PHASES = 4 };

ATELIER_HELPER long blocks_h(const AtelierConv *g) { return (g->p + 1) / 2; }
ATELIER_HELPER long blocks_w(const AtelierConv *g) { return (g->q + 1) / 2; }
ATELIER_HELPER long blocks_of(const AtelierConv *g) { return blocks_h(g) * blocks_w(g); }
// Depth of the GEMMs: the four phases' channels, each rounded up to whole vectors.
ATELIER_HELPER long phase_channels(const AtelierConv *g) { return padded(g->c); }
ATELIER_HELPER long depth_of(const AtelierConv *g) { return PHASES * phase_channels(g); }

int atelier_conv_winograd_supported(const AtelierConv *g) {
  return g->r == 4 && g->s == 4 && g->stride_h == 2 && g->stride_w == 2;
}

// Samples per chunk: their transposed images, one V_xi and the nine M_xi
// stay within about half an L2 (dcgan's 64 -> 128 layer: 4 samples, 64
// blocks). Rounded so the blocks fill the 6-row register tiles: a chunk
// whose blocks leave 1 or 2 rows over would run a 4-row tile for them.
ATELIER_HELPER int winograd_chunk(const AtelierConv *g, int k, int chunk) {
  enum { BUDGET = 1 << 17 };  // floats
  const long per = blocks_of(g);
  const long per_sample = (long)g->h * g->w * phase_channels(g) + per * (depth_of(g) + TRANSFORM * padded(k));
  long fit = BUDGET / per_sample;
  fit = fit < 1 ? 1 : fit < chunk ? fit : chunk;
  for (long n = fit; n > fit / 2 && n > 1; --n) {
    const long tail = n * per % 6;
    if (tail == 0 || tail >= 3) return (int)n;
  }
  return (int)fit;
}

long atelier_conv_winograd_packed_size(const AtelierConv *g, int k) { return TRANSFORM * depth_of(g) * padded(k); }

// Scratch of one worker, in floats: the row and output pointer tables, the
// chunk's images as (h, w, c'), one V_xi, the nine M_xi, one sample's
// output as (pixel, k).
long atelier_conv_winograd_scratch(const AtelierConv *g, int k, int chunk) {
  const long samples = winograd_chunk(g, k, chunk), blocks = samples * blocks_of(g);
  const long image = (long)g->h * g->w * phase_channels(g), output = (long)g->p * g->q * padded(k);
  return 2 * 2 * blocks + samples * image + blocks * (depth_of(g) + TRANSFORM * padded(k)) + output;
}

long atelier_conv_winograd_pack_units(const AtelierConv *g) { return phase_channels(g); }

long atelier_conv_winograd_pack_scratch(const AtelierConv *g, int k) { return phase_channels(g) * 16 * padded(k); }

// U_xi for the input channels [begin, end) of phase_channels: U = G w_ab G^T
// with G = (1 0; 1 1; 0 1), into the panels the tiles stream (panel j0 of
// xi at xi * depth * KP + j0 * depth, row d = phase * C' + c of panel_width
// floats; padding rows and columns zero). The channels' weights are first
// transposed to rows (c, tap) of K floats in `tmp`, so the transform runs
// on vectors of 16 output channels: element by element it scattered a
// float per cache line (8 % of the pass).
ATELIER_CLONES
void atelier_conv_winograd_pack(const AtelierConv *g, int k, const float *restrict w, float *restrict packed,
                                long begin, long end, float *restrict tmp) {
  const long c = g->c, cp = phase_channels(g), depth = depth_of(g), kp = padded(k);
  const long real_end = end < c ? end : c, real = real_end > begin ? real_end - begin : 0;
  // tmp row (ci - begin) * 16 + tap: w[kk][ci][tap] for kk < k, zero up to kp.
  if (real > 0) transpose_ld(w + begin * 16, c * 16, tmp, kp, k, real * 16);
  for (long row = 0; row < real * 16; ++row)
    for (long kk = k; kk < kp; ++kk) tmp[row * kp + kk] = 0.0f;
  const v16 zero = {0};
  for (long ci = begin; ci < end; ++ci)
    for (int phase = 0; phase < PHASES; ++phase) {
      const int a = phase / 2, b = phase % 2;
      const long d = phase * cp + ci;
      const float *taps = tmp + (ci - begin) * 16 * kp;
      for (long j0 = 0; j0 < kp; j0 += PANEL) {
        const long width = panel_width(k, j0);
        float *dst = packed + j0 * depth + d * width;
        for (long col = 0; col < width; col += LANES) {
          v16 u[TRANSFORM];
          if (ci < c) {
            const long kk = j0 + col;
            const v16 g00 = *(const v16 *)(taps + (a * 4 + b) * kp + kk);
            const v16 g01 = *(const v16 *)(taps + (a * 4 + 2 + b) * kp + kk);
            const v16 g10 = *(const v16 *)(taps + ((2 + a) * 4 + b) * kp + kk);
            const v16 g11 = *(const v16 *)(taps + ((2 + a) * 4 + 2 + b) * kp + kk);
            const v16 rows[3][2] = {{g00, g01}, {g00 + g10, g01 + g11}, {g10, g11}};
            for (int i = 0; i < 3; ++i) {
              u[i * 3 + 0] = rows[i][0];
              u[i * 3 + 1] = rows[i][0] + rows[i][1];
              u[i * 3 + 2] = rows[i][1];
            }
          } else {
            for (int xi = 0; xi < TRANSFORM; ++xi) u[xi] = zero;
          }
          for (int xi = 0; xi < TRANSFORM; ++xi) *(v16 *)(dst + xi * depth * kp + col) = u[xi];
        }
      }
    }
}

// V_xi, xi = (ti, tj), for the blocks of `samples` transposed images xt
// (h, w, c' each): position (ti, tj) of B^T d B, B^T = (1 -1 0; 0 1 0;
// 0 -1 1), d each phase's 3x3 patch under a block (along each axis,
// position 0 is d0 - d1, 1 is d1, 2 is d2 - d1), 16 channels at a time,
// into row `block` of v (`depth` floats). Inlined with constant (ti, tj)
// (transform_input), so only the 1, 2 or 4 patch elements it needs are
// loaded: a generic one loaded all nine for each of the nine.
ATELIER_HELPER void transform_input_at(const AtelierConv *g, const float *restrict xt, int samples, const int ti,
                                       const int tj, float *restrict v) {
  const long cp = phase_channels(g), depth = depth_of(g), bw = blocks_w(g), image = (long)g->h * g->w * cp;
  const v16 zero = {0};
  float *row = v;
  for (int n = 0; n < samples; ++n)
    for (long bi = 0; bi < blocks_h(g); ++bi)
      for (long bj = 0; bj < bw; ++bj, row += depth)
        for (int phase = 0; phase < PHASES; ++phase) {
          const int a = phase / 2, b = phase % 2;
          // Patch element (i, j): phase pixel (2bi + i, 2bj + j), image pixel (2(2bi + i) + a - pad, ...).
          const float *at[3][3];
          for (int i = 0; i < 3; ++i) {
            const long h = 2 * (2 * bi + i) + a - g->pad_h;
            for (int j = 0; j < 3; ++j) {
              const long wc = 2 * (2 * bj + j) + b - g->pad_w;
              at[i][j] = h >= 0 && h < g->h && wc >= 0 && wc < g->w ? xt + n * image + (h * g->w + wc) * cp : 0;
            }
          }
          for (long c0 = 0; c0 < cp; c0 += LANES) {
#define PATCH(i, j) (at[i][j] ? *(const v16 *)(at[i][j] + c0) : zero)
#define ROW(i, j) (ti == 1 ? PATCH(1, j) : PATCH(ti, j) - PATCH(1, j))
            *(v16 *)(row + phase * cp + c0) = tj == 1 ? ROW(ti, 1) : ROW(ti, tj) - ROW(ti, 1);
#undef ROW
#undef PATCH
          }
        }
}

ATELIER_HELPER void transform_input(const AtelierConv *g, const float *restrict xt, int samples, int xi,
                                    float *restrict v) {
  switch (xi) {
  case 0: transform_input_at(g, xt, samples, 0, 0, v); break;
  case 1: transform_input_at(g, xt, samples, 0, 1, v); break;
  case 2: transform_input_at(g, xt, samples, 0, 2, v); break;
  case 3: transform_input_at(g, xt, samples, 1, 0, v); break;
  case 4: transform_input_at(g, xt, samples, 1, 1, v); break;
  case 5: transform_input_at(g, xt, samples, 1, 2, v); break;
  case 6: transform_input_at(g, xt, samples, 2, 0, v); break;
  case 7: transform_input_at(g, xt, samples, 2, 1, v); break;
  default: transform_input_at(g, xt, samples, 2, 2, v); break;
  }
}

// One sample's outputs from its blocks' M_xi rows (`stride` floats apart,
// rows kp floats): A^T M A with A^T = (1 1 0; 0 1 1), into yt (pixel, kp).
ATELIER_HELPER void transform_output(const AtelierConv *g, const float *restrict m, long stride, long kp,
                                     float *restrict yt) {
  const long bw = blocks_w(g);
  for (long bi = 0; bi < blocks_h(g); ++bi)
    for (long bj = 0; bj < bw; ++bj) {
      const float *src = m + (bi * bw + bj) * kp;
      const long p0 = 2 * bi, q0 = 2 * bj;
      const int rows = p0 + 1 < g->p ? 2 : 1, cols = q0 + 1 < g->q ? 2 : 1;
      for (long k0 = 0; k0 < kp; k0 += LANES) {
        v16 s[2][3];
        for (int j = 0; j < 3; ++j) {
          const v16 m0 = *(const v16 *)(src + (0 * 3 + j) * stride + k0);
          const v16 m1 = *(const v16 *)(src + (1 * 3 + j) * stride + k0);
          const v16 m2 = *(const v16 *)(src + (2 * 3 + j) * stride + k0);
          s[0][j] = m0 + m1;
          s[1][j] = m1 + m2;
        }
        for (int u = 0; u < rows; ++u)
          for (int t = 0; t < cols; ++t)
            *(v16 *)(yt + ((p0 + u) * g->q + q0 + t) * kp + k0) = s[u][t] + s[u][t + 1];
      }
    }
}

ATELIER_CLONES
void atelier_conv_winograd_forward(const AtelierConv *g, int k, const float *x, const float *packed, float *y,
                                   int n_begin, int n_end, int chunk, float *scratch, const float *bias, int act,
                                   float p, const float *activated) {
  chunk = winograd_chunk(g, k, chunk);
  const long plane = (long)g->h * g->w, pq = (long)g->p * g->q, c = g->c, cp = phase_channels(g);
  const long depth = depth_of(g), kp = padded(k), per = blocks_of(g), blocks = chunk * per;
  const float **rows = (const float **)scratch;
  float **outs = (float **)(rows + blocks);
  float *xt = (float *)(outs + blocks), *v = xt + chunk * plane * cp, *m = v + blocks * depth;
  float *yt = m + TRANSFORM * blocks * kp;
  for (int n0 = n_begin; n0 < n_end; n0 += chunk) {
    const int n1 = n0 + chunk < n_end ? n0 + chunk : n_end;
    const long count = (n1 - n0) * per;
    for (int n = n0; n < n1; ++n) {
      float *xn = xt + (n - n0) * plane * cp;
      transpose_ld(x + (long)n * c * plane, plane, xn, cp, c, plane);
      for (long i = 0; i < plane; ++i)
        for (long ci = c; ci < cp; ++ci) xn[i * cp + ci] = 0.0f;
    }
    for (long i = 0; i < count; ++i) rows[i] = v + i * depth;
    for (int xi = 0; xi < TRANSFORM; ++xi) {
      transform_input(g, xt, n1 - n0, xi, v);
      for (long i = 0; i < count; ++i) outs[i] = m + (xi * blocks + i) * kp;
      for (long j0 = 0; j0 < k; j0 += PANEL)
        gather_rows(count, 1, depth, 1, rows, packed + xi * depth * kp + j0 * depth, panel_width(k, j0), outs, j0,
                    panel_width(k, j0), panel_width(k, j0));
    }
    for (int n = n0; n < n1; ++n) {
      transform_output(g, m + (n - n0) * per * kp, blocks * kp, kp, yt);
      float *yn = y + (long)n * k * pq;
      transpose_ld(yt, kp, yn, pq, pq, k);
      if (bias || act != ATELIER_ACT_IDENTITY)
        atelier_epilogue(1, k, pq, k * pq, yn, bias, act, p, activated ? activated + (long)n * k * pq : 0);
    }
  }
}
