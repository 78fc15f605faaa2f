// Data movement for convolutions. Columns are laid out as
// [C*R*S rows, N*P*Q columns], so a whole batch is one GEMM.

// One work-item per column element.
__kernel void im2col(const int N, const int C, const int H, const int W,
                     const int R, const int S, const int strideH, const int strideW,
                     const int padH, const int padW, const int P, const int Q,
                     __global const float *restrict x, __global float *restrict col) {
  const int idx = get_global_id(0);
  if (idx >= C * R * S * N * P * Q) return;
  int t = idx;
  const int q = t % Q; t /= Q;
  const int p = t % P; t /= P;
  const int n = t % N; t /= N;
  const int s = t % S; t /= S;
  const int r = t % R;
  const int c = t / R;
  const int h = p * strideH - padH + r;
  const int w = q * strideW - padW + s;
  col[idx] = (h >= 0 && h < H && w >= 0 && w < W) ? x[((n * C + c) * H + h) * W + w] : 0.0f;
}

// One work-item per image element; it gathers every column entry that came
// from it, so no atomics are needed and the sum order is fixed.
__kernel void col2im(const int N, const int C, const int H, const int W,
                     const int R, const int S, const int strideH, const int strideW,
                     const int padH, const int padW, const int P, const int Q,
                     __global const float *restrict col, __global float *restrict x) {
  const int idx = get_global_id(0);
  if (idx >= N * C * H * W) return;
  const int w = idx % W;
  const int h = (idx / W) % H;
  const int c = (idx / (W * H)) % C;
  const int n = idx / (W * H * C);
  const int NPQ = N * P * Q;
  float sum = 0.0f;
  for (int r = 0; r < R; ++r) {
    const int hp = h + padH - r;
    if (hp < 0 || hp % strideH != 0) continue;
    const int p = hp / strideH;
    if (p >= P) continue;
    for (int s = 0; s < S; ++s) {
      const int wq = w + padW - s;
      if (wq < 0 || wq % strideW != 0) continue;
      const int q = wq / strideW;
      if (q >= Q) continue;
      sum += col[((c * R + r) * S + s) * NPQ + (n * P + p) * Q + q];
    }
  }
  x[idx] = sum;
}

// out[b][a][i] = in[a][b][i]: swaps the two leading axes of (A, B, I).
__kernel void swap_axes(const int A, const int B, const int I,
                        __global const float *restrict in, __global float *restrict out) {
  const int idx = get_global_id(0);
  if (idx >= A * B * I) return;
  const int i = idx % I;
  const int b = (idx / I) % B;
  const int a = idx / (I * B);
  out[(b * A + a) * I + i] = in[idx];
}
