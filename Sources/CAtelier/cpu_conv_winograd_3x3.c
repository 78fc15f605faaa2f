#include "catelier.h"
#include "cpu_tiles.h"
#include "cpu_transpose.h"

// 3x3 convolutions at stride 1 (CycleGAN's residual blocks) by Winograd's
// F(4x4, 3x3): a 4x4 block of outputs from the 6x6 patch under it takes 36
// products per channel pair instead of 144.
//
// With Lavin's matrices B^T (6x6), G (6x3) and A^T (4x6), the forward pass is
//   Y = A^T [ sum over c of (G g G^T) . (B^T d B) ] A
// for each output block: the patch d of each channel is transformed (V),
// the 3x3 kernel g of each (k, c) (U), and for each of the 36 positions of
// the transform one GEMM M (blocks x K) = V (blocks x C) U (C x K) sums over the
// channels; A^T M A then gives the block's 16 outputs.
//
// The data gradient reads the identity a third way: the patch's gradient
// is B [ sum over k of (G g G^T) . (A dy A^T) ] B^T, so dy's blocks
// transformed by A (D, as for the weight gradient) and the same kernel
// transform, its axes swapped, give one GEMM per position M (blocks x C) =
// D U^T, and each block's 6x6 patch B M B^T is added into dx (patches
// overlap by two rows and columns). Its blocks are the forward pass's,
// so it costs what the forward pass does.
//
// The weight gradient reads the same identity the other way: over a block,
// sum_p dy_p d_{p+j} is G^T [ (A dy A^T) . (B^T d B) ] G, so with dy's
// blocks transformed by A (6x4) into D, one GEMM per position
// M (K x C) = D^T V sums over every block and sample, and G^T M G gives
// each (k, c)'s nine taps.
//
// Every transform works on vectors of 16 channels: images are first
// transposed to (h, w, c), padded with zeros around and to whole vectors
// of channels, so a block's 36 patch elements are 36 vector loads; the
// transformed images and products are [position][block][channel], the
// kernels [position][input][output]. The GEMMs run in the caller, a
// position at a time.

enum { BLOCK = 4, ALPHA = 6, POSITIONS = 36 };

// Floats between the transform positions' matrices: their size plus one
// vector. Matrices whose size is a multiple of 4 KB (64 blocks of 256
// channels) would put the 36 rows a transform writes at once in the same
// cache sets.
ATELIER_HELPER long skewed(long floats) { return floats + LANES; }
long atelier_wino3_position(long floats) { return skewed(floats); }

long atelier_wino3_blocks(int size) { return (size + BLOCK - 1) / BLOCK; }

int atelier_wino3_supported(const AtelierConv *g) {
  return g->r == 3 && g->s == 3 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h >= 0 && g->pad_h <= 2
         && g->pad_w >= 0 && g->pad_w <= 2 && g->p > 0 && g->q > 0;
}

// B^T d over six values.
ATELIER_HELPER void bt6(const v16 d[6], v16 o[6]) {
  o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
  o[1] = -4.0f * (d[1] + d[2]) + d[3] + d[4];
  o[2] = 4.0f * (d[1] - d[2]) - d[3] + d[4];
  o[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4];
  o[4] = 2.0f * (d[1] - d[3]) - d[2] + d[4];
  o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

// G g over three values.
ATELIER_HELPER void g3(const v16 g[3], v16 o[6]) {
  const v16 even = g[0] + g[2];
  o[0] = 0.25f * g[0];
  o[1] = (-1.0f / 6) * (even + g[1]);
  o[2] = (-1.0f / 6) * (even - g[1]);
  o[3] = (1.0f / 24) * g[0] + (1.0f / 12) * g[1] + (1.0f / 6) * g[2];
  o[4] = (1.0f / 24) * g[0] - (1.0f / 12) * g[1] + (1.0f / 6) * g[2];
  o[5] = g[2];
}

// A^T m over six values.
ATELIER_HELPER void at4(const v16 m[6], v16 o[4]) {
  const v16 s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
  o[0] = m[0] + s12 + s34;
  o[1] = d12 + 2.0f * d34;
  o[2] = s12 + 4.0f * s34;
  o[3] = d12 + 8.0f * d34 + m[5];
}

// B m over six values (B^T's columns).
ATELIER_HELPER void b6(const v16 m[6], v16 o[6]) {
  o[0] = 4.0f * m[0];
  o[1] = 4.0f * (m[2] - m[1]) + 2.0f * (m[4] - m[3]) + 4.0f * m[5];
  o[2] = -5.0f * m[0] - 4.0f * (m[1] + m[2]) - m[3] - m[4];
  o[3] = m[1] - m[2] + 2.0f * (m[3] - m[4]) - 5.0f * m[5];
  o[4] = m[0] + m[1] + m[2] + m[3] + m[4];
  o[5] = m[5];
}

// A dy over four values.
ATELIER_HELPER void a6(const v16 y[4], v16 o[6]) {
  const v16 s02 = y[0] + y[2], s13 = y[1] + y[3], e = y[0] + 4.0f * y[2], f = 2.0f * y[1] + 8.0f * y[3];
  o[0] = y[0];
  o[1] = s02 + s13;
  o[2] = s02 - s13;
  o[3] = e + f;
  o[4] = e - f;
  o[5] = y[3];
}

// G^T m over six values.
ATELIER_HELPER void gt3(const v16 m[6], v16 o[3]) {
  const v16 s12 = m[1] + m[2], s34 = m[3] + m[4];
  o[0] = 0.25f * m[0] - (1.0f / 6) * s12 + (1.0f / 24) * s34;
  o[1] = (1.0f / 6) * (m[2] - m[1]) + (1.0f / 12) * (m[3] - m[4]);
  o[2] = (1.0f / 6) * (s34 - s12) + m[5];
}

// Rows [r_begin, r_end) of `samples` images (channels, h, w) at `src`,
// transposed to (rows, cols, cp) at `dst` with the image at (pad_h, pad_w)
// and zeros elsewhere (row r is row r % rows of sample r / rows).
void atelier_wino3_pack(const float *src, int channels, int h, int w, int pad_h, int pad_w, int rows, int cols,
                        int cp, float *dst, long r_begin, long r_end) {
  const long pixel = cp, plane = (long)h * w;
  for (long r = r_begin; r < r_end; ++r) {
    const long n = r / rows, y = r % rows - pad_h;
    float *row = dst + r * cols * pixel;
    if (y < 0 || y >= h) {
      for (long i = 0; i < cols * pixel; ++i) row[i] = 0.0f;
      continue;
    }
    for (long i = 0; i < pad_w * pixel; ++i) row[i] = 0.0f;
    for (long i = (long)(pad_w + w) * pixel; i < cols * pixel; ++i) row[i] = 0.0f;
    transpose_ld(src + n * channels * plane + y * w, plane, row + pad_w * pixel, pixel, channels, w);
    if (channels < cp)
      for (long x = pad_w; x < pad_w + w; ++x)
        for (long c = channels; c < cp; ++c) row[x * pixel + c] = 0.0f;
  }
}

// Units [u_begin, u_end) of (block, vector of 16 channels): the packed
// image's 6x6 patch under each block (rows, cols, cp per sample) to
// v[position][block][cp], `blocks` blocks in all.
static ATELIER_CLONES void input_units(const float *xt, int rows, int cols, int bh, int bw, int cp, float *v,
                                       long blocks, long u_begin, long u_end) {
  const long vectors = cp / LANES, per_sample = (long)bh * bw, position = skewed(blocks * cp);
  for (long u = u_begin; u < u_end; ++u) {
    const long t = u / vectors, c0 = u % vectors * LANES;
    const long n = t / per_sample, bi = t % per_sample / bw, bj = t % per_sample % bw;
    const float *patch = xt + ((n * rows + BLOCK * bi) * cols + BLOCK * bj) * cp + c0;
    v16 d[ALPHA][ALPHA], rows6[ALPHA][ALPHA];
    for (int i = 0; i < ALPHA; ++i)
      for (int j = 0; j < ALPHA; ++j) d[i][j] = *(const v16 *)(patch + ((long)i * cols + j) * cp);
    for (int j = 0; j < ALPHA; ++j) {  // B^T down each column
      v16 in[ALPHA], out[ALPHA];
      for (int i = 0; i < ALPHA; ++i) in[i] = d[i][j];
      bt6(in, out);
      for (int a = 0; a < ALPHA; ++a) rows6[a][j] = out[a];
    }
    float *dst = v + t * cp + c0;
    for (int a = 0; a < ALPHA; ++a) {  // then B along each row
      v16 out[ALPHA];
      bt6(rows6[a], out);
      for (int b = 0; b < ALPHA; ++b) *(v16 *)(dst + (a * ALPHA + b) * position) = out[b];
    }
  }
}

void atelier_wino3_input(const float *xt, int rows, int cols, int bh, int bw, int cp, float *v, long blocks,
                         long u_begin, long u_end) {
  input_units(xt, rows, cols, bh, bw, cp, v, blocks, u_begin, u_end);
}

// The same for dy's 4x4 blocks (packed without padding, rows = 4 bh) by A:
// d[position][block][kp].
static ATELIER_CLONES void gradient_units(const float *dyt, int bh, int bw, int kp, float *d, long blocks,
                                          long u_begin, long u_end) {
  const long vectors = kp / LANES, per_sample = (long)bh * bw, position = skewed(blocks * kp), cols = (long)BLOCK * bw;
  for (long u = u_begin; u < u_end; ++u) {
    const long t = u / vectors, k0 = u % vectors * LANES;
    const long n = t / per_sample, bi = t % per_sample / bw, bj = t % per_sample % bw;
    const float *block = dyt + ((n * BLOCK * bh + BLOCK * bi) * cols + BLOCK * bj) * kp + k0;
    v16 rows6[ALPHA][BLOCK];
    for (int j = 0; j < BLOCK; ++j) {  // A down each column
      v16 in[BLOCK], out[ALPHA];
      for (int i = 0; i < BLOCK; ++i) in[i] = *(const v16 *)(block + ((long)i * cols + j) * kp);
      a6(in, out);
      for (int a = 0; a < ALPHA; ++a) rows6[a][j] = out[a];
    }
    float *dst = d + t * kp + k0;
    for (int a = 0; a < ALPHA; ++a) {  // then along each row
      v16 out[ALPHA];
      a6(rows6[a], out);
      for (int b = 0; b < ALPHA; ++b) *(v16 *)(dst + (a * ALPHA + b) * position) = out[b];
    }
  }
}

void atelier_wino3_gradient(const float *dyt, int bh, int bw, int kp, float *d, long blocks, long u_begin,
                            long u_end) {
  gradient_units(dyt, bh, bw, kp, d, blocks, u_begin, u_end);
}

// Output channels [16 v_begin, 16 v_end) of `samples` samples: each
// block's 4x4 outputs from mm[position][block][ldm] (A^T M A) into y (N, k,
// p, q), then the epilogue on those channels' planes.
static ATELIER_CLONES void output_vectors(const float *mm, long ldm, int k, int p, int q, int samples, float *y,
                                          long v_begin, long v_end, const float *bias, int act, float param,
                                          const float *activated) {
  const long bh = atelier_wino3_blocks(p), bw = atelier_wino3_blocks(q), per_sample = bh * bw;
  const long blocks = samples * per_sample, position = skewed(blocks * ldm), pq = (long)p * q;
  for (long vec = v_begin; vec < v_end; ++vec) {
    const long k0 = vec * LANES, valid = min_long(LANES, k - k0);
    for (long t = 0; t < blocks; ++t) {
      const long n = t / per_sample, bi = t % per_sample / bw, bj = t % per_sample % bw;
      const float *src = mm + t * ldm + k0;
      v16 cols4[ALPHA][BLOCK];
      for (int a = 0; a < ALPHA; ++a) {  // A along each row
        v16 in[ALPHA], out[BLOCK];
        for (int b = 0; b < ALPHA; ++b) in[b] = *(const v16 *)(src + (a * ALPHA + b) * position);
        at4(in, out);
        for (int j = 0; j < BLOCK; ++j) cols4[a][j] = out[j];
      }
      float out[BLOCK][BLOCK][LANES];
      for (int j = 0; j < BLOCK; ++j) {  // then A^T down each column
        v16 in[ALPHA], res[BLOCK];
        for (int a = 0; a < ALPHA; ++a) in[a] = cols4[a][j];
        at4(in, res);
        for (int i = 0; i < BLOCK; ++i) *(v16 *)out[i][j] = res[i];
      }
      const long rows = min_long(BLOCK, p - BLOCK * bi), width = min_long(BLOCK, q - BLOCK * bj);
      for (long l = 0; l < valid; ++l) {
        float *plane = y + (n * k + k0 + l) * pq + (BLOCK * bi) * q + BLOCK * bj;
        for (long i = 0; i < rows; ++i)
          for (long j = 0; j < width; ++j) plane[i * q + j] = out[i][j][l];
      }
    }
    for (long n = 0; n < samples; ++n)
      for (long l = 0; l < valid; ++l) {
        const long offset = (n * k + k0 + l) * pq;
        atelier_epilogue(1, 1, pq, pq, y + offset, bias ? bias + k0 + l : 0, act, param,
                         activated ? activated + offset : 0);
      }
  }
}

void atelier_wino3_output(const float *mm, long ldm, int k, int p, int q, int samples, float *y, long v_begin,
                          long v_end, const float *bias, int act, float param, const float *activated) {
  output_vectors(mm, ldm, k, p, q, samples, y, v_begin, v_end, bias, act, param, activated);
}

// Output columns [o_begin, o_end) (at most `ld`) of the transformed kernel
// U = G w G^T of w (k, c, 3, 3) as the GEMMs' right operand, `ld` floats
// per row: u[position][c][k - o_begin] for the forward pass, or
// `transposed` u[position][k][c - o_begin] for the data gradient; zero past
// o_end. The block's taps are first transposed into `tmp` (9 ld floats per
// row) as [row][tap][output], so each tap of 16 outputs is one vector load:
// gathered 16 at a time and read back at once, they stalled on every load.
static ATELIER_CLONES void kernel_block(const float *w, int k, int c, int transposed, float *u, long ld,
                                        long o_begin, long o_end, float *tmp) {
  const long rows = transposed ? k : c, width = o_end - o_begin, position = skewed(rows * ld);
  if (width < ld)
    for (long i = 0; i < rows * 9 * ld; ++i) tmp[i] = 0.0f;
  if (transposed) {
    for (long row = 0; row < k; ++row) transpose_ld(w + (row * c + o_begin) * 9, 9, tmp + row * 9 * ld, ld, width, 9);
  } else {
    transpose_ld(w + o_begin * c * 9, (long)c * 9, tmp, ld, width, (long)c * 9);
  }
  const long vectors = (width + LANES - 1) / LANES * LANES;
  for (long row = 0; row < rows; ++row)
    for (long o0 = 0; o0 < vectors; o0 += LANES) {
      const float *taps = tmp + row * 9 * ld + o0;
      v16 cols6[ALPHA][3];
      for (int s = 0; s < 3; ++s) {  // G down each column of the kernel
        v16 in[3], out[ALPHA];
        for (int r = 0; r < 3; ++r) in[r] = *(const v16 *)(taps + (r * 3 + s) * ld);
        g3(in, out);
        for (int a = 0; a < ALPHA; ++a) cols6[a][s] = out[a];
      }
      float *dst = u + row * ld + o0;
      for (int a = 0; a < ALPHA; ++a) {  // then G^T along each row
        v16 out[ALPHA];
        g3(cols6[a], out);
        for (int b = 0; b < ALPHA; ++b) *(v16 *)(dst + (a * ALPHA + b) * position) = out[b];
      }
    }
}

void atelier_wino3_kernel(const float *w, int k, int c, int transposed, float *u, long ld, long o_begin, long o_end,
                          float *tmp) {
  kernel_block(w, k, c, transposed, u, ld, o_begin, o_end, tmp);
}

// dw (k, c, 3, 3) = beta dw + G^T M_kc G for rows [k_begin, k_end) of
// mm[position][k][cp]; dw is not read when beta is 0.
static ATELIER_CLONES void finish_rows(const float *mm, int k, int c, int cp, float *dw, float beta, long k_begin,
                                       long k_end) {
  const long position = skewed((long)k * cp);
  for (long kk = k_begin; kk < k_end; ++kk)
    for (long c0 = 0; c0 < c; c0 += LANES) {
      const long valid = min_long(LANES, c - c0);
      const float *src = mm + kk * cp + c0;
      v16 rows3[3][ALPHA];
      for (int b = 0; b < ALPHA; ++b) {  // G^T down each column
        v16 in[ALPHA], out[3];
        for (int a = 0; a < ALPHA; ++a) in[a] = *(const v16 *)(src + (a * ALPHA + b) * position);
        gt3(in, out);
        for (int r = 0; r < 3; ++r) rows3[r][b] = out[r];
      }
      float taps[9][LANES];
      for (int r = 0; r < 3; ++r) {  // then G along each row
        v16 out[3];
        gt3(rows3[r], out);
        for (int s = 0; s < 3; ++s) *(v16 *)taps[r * 3 + s] = out[s];
      }
      float *run = dw + (kk * c + c0) * 9;
      for (long l = 0; l < valid; ++l)
        for (int tap = 0; tap < 9; ++tap)
          run[l * 9 + tap] = beta == 0.0f ? taps[tap][l] : beta * run[l * 9 + tap] + taps[tap][l];
    }
}

void atelier_wino3_finish_weights(const float *mm, int k, int c, int cp, float *dw, float beta, long k_begin,
                                  long k_end) {
  finish_rows(mm, k, c, cp, dw, beta, k_begin, k_end);
}

// The data gradient's channels [16 v_begin, 16 v_end): each block's 6x6
// patch B M B^T from mm[position][block][ldm] added into dxt (per vector of
// channels: samples, rows, cols, 16 floats; the padded frame of the forward
// pass's input), then the frame's image part transposed into dx (samples,
// c, h, w) and the epilogue applied to its planes. Blocks overlap by two
// rows and columns: each core owns whole vectors of channels.
static ATELIER_CLONES void scatter_vectors(const AtelierConv *g, const float *mm, long ldm, int samples, float *dxt,
                                           float *dx, long v_begin, long v_end, const float *bias, int act,
                                           float param, const float *activated) {
  const long bh = atelier_wino3_blocks(g->p), bw = atelier_wino3_blocks(g->q), per_sample = bh * bw;
  const long rows = BLOCK * bh + 2, cols = BLOCK * bw + 2, frame = samples * rows * cols * LANES;
  const long blocks = samples * per_sample, position = skewed(blocks * ldm), hw = (long)g->h * g->w;
  for (long vec = v_begin; vec < v_end; ++vec) {
    const long c0 = vec * LANES, valid = min_long(LANES, g->c - c0);
    float *patch = dxt + vec * frame;
    for (long i = 0; i < frame; ++i) patch[i] = 0.0f;
    for (long t = 0; t < blocks; ++t) {
      const long n = t / per_sample, bi = t % per_sample / bw, bj = t % per_sample % bw;
      const float *src = mm + t * ldm + c0;
      v16 rows6[ALPHA][ALPHA];
      for (int a = 0; a < ALPHA; ++a) {  // B along each row
        v16 in[ALPHA], out[ALPHA];
        for (int b = 0; b < ALPHA; ++b) in[b] = *(const v16 *)(src + (a * ALPHA + b) * position);
        b6(in, out);
        for (int j = 0; j < ALPHA; ++j) rows6[a][j] = out[j];
      }
      float *corner = patch + ((n * rows + BLOCK * bi) * cols + BLOCK * bj) * LANES;
      for (int j = 0; j < ALPHA; ++j) {  // then down each column, added in place
        v16 in[ALPHA], out[ALPHA];
        for (int a = 0; a < ALPHA; ++a) in[a] = rows6[a][j];
        b6(in, out);
        for (int i = 0; i < ALPHA; ++i) *(v16 *)(corner + ((long)i * cols + j) * LANES) += out[i];
      }
    }
    for (long n = 0; n < samples; ++n) {
      for (long y = 0; y < g->h; ++y)
        transpose_ld(patch + ((n * rows + y + g->pad_h) * cols + g->pad_w) * LANES, LANES,
                     dx + (n * g->c + c0) * hw + y * g->w, hw, g->w, valid);
      for (long l = 0; l < valid; ++l) {
        const long offset = (n * g->c + c0 + l) * hw;
        atelier_epilogue(1, 1, hw, hw, dx + offset, bias ? bias + c0 + l : 0, act, param,
                         activated ? activated + offset : 0);
      }
    }
  }
}

void atelier_wino3_scatter(const AtelierConv *g, const float *mm, long ldm, int samples, float *dxt, float *dx,
                           long v_begin, long v_end, const float *bias, int act, float param,
                           const float *activated) {
  scatter_vectors(g, mm, ldm, samples, dxt, dx, v_begin, v_end, bias, act, param, activated);
}
