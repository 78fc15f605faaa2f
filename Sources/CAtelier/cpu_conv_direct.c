#include "catelier.h"
#include "cpu_tiles.h"

// Convolutions at stride 1 with at most a few channels on one side
// (CycleGAN's first and last 7x7 layers: 3 -> 64 and 64 -> 3), computed
// directly: as GEMMs their products are 3 deep or 3 wide, and building
// columns for them (C R S x P Q floats, 49 per pixel and channel) costs
// more than the multiply-adds.
//
// The forward pass runs along output rows: for a block of up to 6 kernels,
// 16-pixel vectors of the row sum w[k][c][r][s] x[c][p + r][q + s] over
// (c, r, s), each loaded input vector feeding every kernel of the block.
// The input is read already padded (the caller pads it when the layer has
// padding of its own). The data gradient is the same pass over dy padded
// by R - 1 - pad with the kernel turned half a turn (the caller arranges
// both).
//
// The weight gradient dw[k][c][r][s] = sum over n, p, q of dy[k][p][q]
// x[c][p + r][q + s] runs one (kernels block, c, r) unit at a time: along
// each row, a vector of dy for each of up to 3 kernels meets the S shifted
// input vectors, KB x S sums in registers, added across lanes at the end.

enum { STRIP = 4, MAX_KERNELS = 6, MAX_WIDTH = 7 };

// One output row's columns [0, 16 NV) for KB kernels: y[kb * yk + j] =
// sum over c < channels, r < R, s < S of w[kb * wk + (c R + r) S + s]
// x[c * plane + r * wp + s + j].
#define FORWARD_STRIP(KB, NV)                                                                               \
  ATELIER_KERNEL void forward_##KB##x##NV(int channels, int r_count, int s_count, const float *x, long plane,  \
                                          long wp, const float *w, long wk, float *y, long yk) {              \
    v16 acc[KB][NV];                                                                                        \
    UNROLL for (int kb = 0; kb < KB; ++kb) UNROLL for (int v = 0; v < NV; ++v) acc[kb][v] = (v16){0};      \
    for (int c = 0; c < channels; ++c)                                                                      \
      for (int r = 0; r < r_count; ++r) {                                                                   \
        const float *xr = x + c * plane + r * wp, *wr = w + (c * r_count + r) * s_count;                     \
        for (int s = 0; s < s_count; ++s) {                                                                 \
          v16 xv[NV];                                                                                       \
          UNROLL for (int v = 0; v < NV; ++v) xv[v] = *(const v16 *)(xr + s + v * LANES);                   \
          UNROLL for (int kb = 0; kb < KB; ++kb) {                                                          \
            const float wv = wr[kb * wk + s];                                                               \
            UNROLL for (int v = 0; v < NV; ++v) acc[kb][v] += wv * xv[v];                                   \
          }                                                                                                 \
        }                                                                                                   \
      }                                                                                                     \
    UNROLL for (int kb = 0; kb < KB; ++kb)                                                                  \
      UNROLL for (int v = 0; v < NV; ++v) *(v16 *)(y + kb * yk + v * LANES) = acc[kb][v];                   \
  }

#define FORWARD_STRIPS(KB) FORWARD_STRIP(KB, 4) FORWARD_STRIP(KB, 1)  // 4: STRIP
FORWARD_STRIPS(1)
FORWARD_STRIPS(2)
FORWARD_STRIPS(3)
FORWARD_STRIPS(4)
FORWARD_STRIPS(5)
FORWARD_STRIPS(6)

typedef void (*ForwardStrip)(int, int, int, const float *, long, long, const float *, long, float *, long);
static const ForwardStrip forward_wide[MAX_KERNELS + 1] = {0, forward_1x4, forward_2x4, forward_3x4,
                                                           forward_4x4, forward_5x4, forward_6x4};
static const ForwardStrip forward_one[MAX_KERNELS + 1] = {0, forward_1x1, forward_2x1, forward_3x1,
                                                          forward_4x1, forward_5x1, forward_6x1};

ATELIER_HELPER int kernel_blocks(int k, int most) { return (k + most - 1) / most; }

long atelier_conv_direct_rows(const AtelierConv *g, int k) {
  return (long)g->n * kernel_blocks(k, MAX_KERNELS) * g->p;
}

// Units [u_begin, u_end) of (sample, block of kernels, output row) of
// y (N, k, P, Q) from the padded input xp (N, C, P + R - 1, Q + S - 1) and
// w (k, C, R, S), then the epilogue on each row.
ATELIER_CLONES
void atelier_conv_direct_forward(const AtelierConv *g, int k, const float *xp, const float *w, float *y,
                                 long u_begin, long u_end, const float *bias, int act, float param,
                                 const float *activated) {
  const long hp = g->p + g->r - 1, wp = g->q + g->s - 1, plane = hp * wp, pq = (long)g->p * g->q;
  const long wk = (long)g->c * g->r * g->s;
  const int blocks = kernel_blocks(k, MAX_KERNELS);
  for (long u = u_begin; u < u_end; ++u) {
    const long n = u / ((long)blocks * g->p), b = u / g->p % blocks, p = u % g->p;
    const int k0 = (int)b * MAX_KERNELS, kb = k - k0 < MAX_KERNELS ? k - k0 : MAX_KERNELS;
    const float *x = xp + n * g->c * plane + p * wp, *wb = w + k0 * wk;
    float *row = y + (n * k + k0) * pq + p * g->q;
    long q = 0;
    for (; q + STRIP * LANES <= g->q; q += STRIP * LANES)
      forward_wide[kb](g->c, g->r, g->s, x + q, plane, wp, wb, wk, row + q, pq);
    for (; q + LANES <= g->q; q += LANES) forward_one[kb](g->c, g->r, g->s, x + q, plane, wp, wb, wk, row + q, pq);
    // A row's last columns: one more vector ending at the row's end, over
    // columns already written (the same sums again), where the row is that wide.
    if (q < g->q && g->q >= LANES) {
      forward_one[kb](g->c, g->r, g->s, x + g->q - LANES, plane, wp, wb, wk, row + g->q - LANES, pq);
      q = g->q;
    }
    for (; q < g->q; ++q)
      for (int i = 0; i < kb; ++i) {
        float sum = 0.0f;
        for (int c = 0; c < g->c; ++c)
          for (int r = 0; r < g->r; ++r)
            for (int s = 0; s < g->s; ++s)
              sum += wb[i * wk + (c * g->r + r) * g->s + s] * x[c * plane + r * wp + q + s];
        row[i * pq + q] = sum;
      }
    for (int i = 0; i < kb; ++i) {
      const long offset = (n * k + k0 + i) * pq + p * g->q;
      atelier_epilogue(1, 1, g->q, g->q, y + offset, bias ? bias + k0 + i : 0, act, param,
                       activated ? activated + offset : 0);
    }
  }
}

// Sums for KB kernels and S shifts over `rows` rows: out[kb][s] = sum over
// rows i, columns j < cols of dy[kb * dyk + i * q + j] x[i * wp + j + s].
#define WEIGHT_UNIT(KB, S)                                                                                  \
  ATELIER_KERNEL void weights_##KB##x##S(long rows, long cols, const float *dy, long q, long dyk,           \
                                         const float *x, long wp, float *out) {                             \
    v16 acc[KB][S];                                                                                         \
    float tail[KB][S];                                                                                      \
    UNROLL for (int kb = 0; kb < KB; ++kb) UNROLL for (int s = 0; s < S; ++s) {                             \
      acc[kb][s] = (v16){0};                                                                                \
      tail[kb][s] = 0.0f;                                                                                   \
    }                                                                                                       \
    const long vectors = cols / LANES * LANES;                                                              \
    for (long i = 0; i < rows; ++i) {                                                                       \
      const float *d = dy + i * q, *xr = x + i * wp;                                                        \
      for (long j = 0; j < vectors; j += LANES) {                                                           \
        v16 dv[KB];                                                                                         \
        UNROLL for (int kb = 0; kb < KB; ++kb) dv[kb] = *(const v16 *)(d + kb * dyk + j);                   \
        UNROLL for (int s = 0; s < S; ++s) {                                                                \
          const v16 xv = *(const v16 *)(xr + j + s);                                                        \
          UNROLL for (int kb = 0; kb < KB; ++kb) acc[kb][s] += dv[kb] * xv;                                 \
        }                                                                                                   \
      }                                                                                                     \
      for (long j = vectors; j < cols; ++j)                                                                 \
        UNROLL for (int kb = 0; kb < KB; ++kb) UNROLL for (int s = 0; s < S; ++s)                           \
          tail[kb][s] += d[kb * dyk + j] * xr[j + s];                                                       \
    }                                                                                                       \
    UNROLL for (int kb = 0; kb < KB; ++kb) UNROLL for (int s = 0; s < S; ++s) {                             \
      float total = 0.0f;                                                                                   \
      UNROLL for (int l = 0; l < LANES; ++l) total += acc[kb][s][l];                                        \
      out[kb * S + s] += total + tail[kb][s];                                                               \
    }                                                                                                       \
  }

#define WEIGHT_UNITS(S) WEIGHT_UNIT(1, S) WEIGHT_UNIT(2, S) WEIGHT_UNIT(3, S)
WEIGHT_UNITS(1)
WEIGHT_UNITS(2)
WEIGHT_UNITS(3)
WEIGHT_UNITS(4)
WEIGHT_UNITS(5)
WEIGHT_UNITS(6)
WEIGHT_UNITS(7)

enum { WEIGHT_KERNELS = 3 };
typedef void (*WeightUnit)(long, long, const float *, long, long, const float *, long, float *);
static const WeightUnit weight_units[MAX_WIDTH + 1][WEIGHT_KERNELS + 1] = {
    {0, 0, 0, 0},
    {0, weights_1x1, weights_2x1, weights_3x1},
    {0, weights_1x2, weights_2x2, weights_3x2},
    {0, weights_1x3, weights_2x3, weights_3x3},
    {0, weights_1x4, weights_2x4, weights_3x4},
    {0, weights_1x5, weights_2x5, weights_3x5},
    {0, weights_1x6, weights_2x6, weights_3x6},
    {0, weights_1x7, weights_2x7, weights_3x7},
};

int atelier_conv_direct_supported(const AtelierConv *g) {
  return g->stride_h == 1 && g->stride_w == 1 && g->s <= MAX_WIDTH && g->p > 0 && g->q > 0;
}

long atelier_conv_direct_weight_units(const AtelierConv *g, int k) {
  return (long)kernel_blocks(k, WEIGHT_KERNELS) * g->c * g->r;
}

// Units [u_begin, u_end) of (block of kernels, c, r): dw[k][c][r][:] = beta
// dw + the sums over the batch of dy (N, k, P, Q) and the padded input xp;
// dw is not read when beta is 0.
void atelier_conv_direct_weights(const AtelierConv *g, int k, const float *xp, const float *dy, float *dw,
                                 float beta, long u_begin, long u_end) {
  const long hp = g->p + g->r - 1, wp = g->q + g->s - 1, plane = hp * wp, pq = (long)g->p * g->q;
  for (long u = u_begin; u < u_end; ++u) {
    const long b = u / ((long)g->c * g->r), c = u / g->r % g->c, r = u % g->r;
    const int k0 = (int)b * WEIGHT_KERNELS, kb = k - k0 < WEIGHT_KERNELS ? k - k0 : WEIGHT_KERNELS;
    float sums[WEIGHT_KERNELS * MAX_WIDTH] = {0};
    for (long n = 0; n < g->n; ++n)
      weight_units[g->s][kb](g->p, g->q, dy + (n * k + k0) * pq, g->q, pq, xp + (n * g->c + c) * plane + r * wp, wp,
                             sums);
    for (int i = 0; i < kb; ++i) {
      float *taps = dw + (((long)(k0 + i) * g->c + c) * g->r + r) * g->s;
      for (int s = 0; s < g->s; ++s) taps[s] = beta == 0.0f ? sums[i * g->s + s] : beta * taps[s] + sums[i * g->s + s];
    }
  }
}

// Rows [r_begin, r_end) of images (channels, h, w) padded by (pad_h, pad_w)
// with zeros, row r being row r % (h + 2 pad_h) of image r / (h + 2 pad_h).
void atelier_conv_direct_pad(const float *x, int h, int w, int pad_h, int pad_w, float *xp, long r_begin,
                             long r_end) {
  const long hp = h + 2L * pad_h, wp = w + 2L * pad_w;
  for (long row = r_begin; row < r_end; ++row) {
    const long image = row / hp, y = row % hp - pad_h;
    float *out = xp + row * wp;
    if (y < 0 || y >= h) {
      for (long j = 0; j < wp; ++j) out[j] = 0.0f;
      continue;
    }
    const float *in = x + (image * h + y) * w;
    for (long j = 0; j < pad_w; ++j) out[j] = 0.0f;
    for (long j = 0; j < w; ++j) out[pad_w + j] = in[j];
    for (long j = pad_w + w; j < wp; ++j) out[j] = 0.0f;
  }
}

// w (k, c, R, S) -> (c, k, R, S) turned half a turn: the data gradient's kernel.
void atelier_conv_direct_flip(const AtelierConv *g, int k, const float *w, float *flipped) {
  const long taps = (long)g->r * g->s;
  for (long kk = 0; kk < k; ++kk)
    for (long c = 0; c < g->c; ++c)
      for (long t = 0; t < taps; ++t) flipped[(c * k + kk) * taps + taps - 1 - t] = w[(kk * g->c + c) * taps + t];
}
