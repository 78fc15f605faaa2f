// Data movement for convolutions and GEMM operands. Columns are laid out
// as [C*R*S rows, N*P*Q columns], so a whole batch is one GEMM.

#ifndef SWAP_TILE
#define SWAP_TILE 16
#endif

// The convolution's geometry is compiled in (-DCONV_N=... and so on, one
// binary per layer shape): index arithmetic then divides by constants,
// which compilers turn into multiplications that vectorise.
#ifdef CONV_N
#define CONV_NPQ (CONV_N * CONV_P * CONV_Q)

// One work-item per column element.
__kernel void im2col(__global const float *restrict x, __global float *restrict col) {
  const int idx = get_global_id(0);
  if (idx >= CONV_C * CONV_R * CONV_S * CONV_NPQ) return;
  int t = idx;
  const int q = t % CONV_Q; t /= CONV_Q;
  const int p = t % CONV_P; t /= CONV_P;
  const int n = t % CONV_N; t /= CONV_N;
  const int s = t % CONV_S; t /= CONV_S;
  const int r = t % CONV_R;
  const int c = t / CONV_R;
  const int h = p * CONV_SH - CONV_PH + r;
  const int w = q * CONV_SW - CONV_PW + s;
  col[idx] = (h >= 0 && h < CONV_H && w >= 0 && w < CONV_W)
                 ? x[((n * CONV_C + c) * CONV_H + h) * CONV_W + w] : 0.0f;
}

// One work-item per image element; it gathers every column entry that came
// from it, so no atomics are needed and the sum order is fixed.
__kernel void col2im(__global const float *restrict col, __global float *restrict x) {
  const int idx = get_global_id(0);
  if (idx >= CONV_N * CONV_C * CONV_H * CONV_W) return;
  const int w = idx % CONV_W;
  const int h = (idx / CONV_W) % CONV_H;
  const int c = (idx / (CONV_W * CONV_H)) % CONV_C;
  const int n = idx / (CONV_W * CONV_H * CONV_C);
  float sum = 0.0f;
  for (int r = 0; r < CONV_R; ++r) {
    const int hp = h + CONV_PH - r;
    if (hp < 0 || hp % CONV_SH != 0) continue;
    const int p = hp / CONV_SH;
    if (p >= CONV_P) continue;
    for (int s = 0; s < CONV_S; ++s) {
      const int wq = w + CONV_PW - s;
      if (wq < 0 || wq % CONV_SW != 0) continue;
      const int q = wq / CONV_SW;
      if (q >= CONV_Q) continue;
      sum += col[((c * CONV_R + r) * CONV_S + s) * CONV_NPQ + (n * CONV_P + p) * CONV_Q + q];
    }
  }
  x[idx] = sum;
}
#endif

// out[b][a][i] = in[a][b][i]: swaps the two leading axes of (A, B, I).
// The NDRange is (I, B, A), or (B, A) when I is 1, so indices come from the
// work-item ids without integer division (which CPUs do not vectorise).
__kernel void swap_axes(const int A, const int B, const int I,
                        __global const float *restrict in, __global float *restrict out) {
  int i, b, a;
  if (I == 1) {
    i = 0; b = get_global_id(0); a = get_global_id(1);
  } else {
    i = get_global_id(0); b = get_global_id(1); a = get_global_id(2);
  }
  if (i >= I || b >= B) return;
  out[(b * A + a) * I + i] = in[(a * B + b) * I + i];
}

// A plain transpose, out[b][a] = in[a][b], for CPU devices: each work-item
// moves one SWAP_TILE x SWAP_TILE tile, reading rows and writing rows of a
// block that stays in L1 (one element per work-item writes a cache line per
// element there).
__kernel void transpose_tiles(const int A, const int B,
                              __global const float *restrict in, __global float *restrict out) {
  const int b0 = get_global_id(0) * SWAP_TILE;
  const int a0 = get_global_id(1) * SWAP_TILE;
  if (a0 >= A || b0 >= B) return;
  const int a1 = min(a0 + SWAP_TILE, A), b1 = min(b0 + SWAP_TILE, B);
  for (int a = a0; a < a1; ++a)
    for (int b = b0; b < b1; ++b) out[b * A + a] = in[a * B + b];
}

// Run b of `length` floats from in[inOffset + b*inStride] to
// out[outOffset + b*outStride]; NDRange (length, blocks).
__kernel void copy_blocks(const int length, const int inStride, const int inOffset,
                          const int outStride, const int outOffset,
                          __global const float *restrict in, __global float *restrict out) {
  const int j = get_global_id(0), b = get_global_id(1);
  if (j >= length) return;
  out[outOffset + b * outStride + j] = in[inOffset + b * inStride + j];
}
