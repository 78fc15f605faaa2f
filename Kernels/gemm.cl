// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, float32.
// op(A) is A[M,K] or, with GEMM_TRANS_A, the transpose of A[K,M]; likewise B.
// beta == 0 never reads C, so C may hold anything (pooled buffers do).
//
// Two variants, chosen per device by the host (GEMM_TILED):
//  - gemm_blocked: register blocking with vector types and no local memory,
//    for CPU devices (PoCL emulates local memory; barriers cost more than
//    they save). Each work-item computes GEMM_RB rows x GEMM_VW columns.
//    Requires GEMM_TRANS_B == 0.
//  - gemm_blocked_nt: the CPU kernel for A[M,K] times B[N,K]^T, where both
//    operands run along k: each work-item computes GEMM_NT_RB x GEMM_NT_CB
//    dot products with float8 accumulators. Spares the transpose of B.
//  - gemm_tiled: local-memory tiles for GPUs. A work-group of
//    (GEMM_TSN/GEMM_WPTN) x (GEMM_TSM/GEMM_WPTM) items computes a
//    GEMM_TSM x GEMM_TSN tile of C, each item GEMM_WPTM x GEMM_WPTN values.

#ifndef GEMM_TRANS_A
#define GEMM_TRANS_A 0
#endif
#ifndef GEMM_TRANS_B
#define GEMM_TRANS_B 0
#endif
#ifndef GEMM_RB
#define GEMM_RB 8
#endif
#ifndef GEMM_VW
#define GEMM_VW 16
#endif
#ifndef GEMM_NT_RB
#define GEMM_NT_RB 4
#endif
#ifndef GEMM_NT_CB
#define GEMM_NT_CB 4
#endif
#ifndef GEMM_TSM
#define GEMM_TSM 64
#endif
#ifndef GEMM_TSN
#define GEMM_TSN 64
#endif
#ifndef GEMM_TSK
#define GEMM_TSK 16
#endif
#ifndef GEMM_WPTM
#define GEMM_WPTM 4
#endif
#ifndef GEMM_WPTN
#define GEMM_WPTN 4
#endif

#define GEMM_CAT_(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
#define floatV GEMM_CAT(float, GEMM_VW)
#define vloadV GEMM_CAT(vload, GEMM_VW)
#define vstoreV GEMM_CAT(vstore, GEMM_VW)

#if GEMM_TRANS_A
#define A_AT(i, k) A[(k) * M + (i)]
#else
#define A_AT(i, k) A[(i) * K + (k)]
#endif
#if GEMM_TRANS_B
#define B_AT(k, j) B[(j) * K + (k)]
#else
#define B_AT(k, j) B[(k) * N + (j)]
#endif

__kernel void gemm_blocked(const int M, const int N, const int K,
                           const float alpha, const float beta,
                           __global const float *restrict A,
                           __global const float *restrict B,
                           __global float *restrict C) {
  const int col0 = get_global_id(0) * GEMM_VW;
  const int row0 = get_global_id(1) * GEMM_RB;
  if (col0 >= N || row0 >= M) return;

  if (col0 + GEMM_VW <= N && row0 + GEMM_RB <= M) {
    floatV acc[GEMM_RB];
#pragma unroll
    for (int r = 0; r < GEMM_RB; ++r) acc[r] = (floatV)(0.0f);
    for (int k = 0; k < K; ++k) {
      const floatV b = vloadV(0, B + k * N + col0);
#pragma unroll
      for (int r = 0; r < GEMM_RB; ++r) acc[r] = fma((floatV)(A_AT(row0 + r, k)), b, acc[r]);
    }
#pragma unroll
    for (int r = 0; r < GEMM_RB; ++r) {
      __global float *c = C + (row0 + r) * N + col0;
      floatV out = alpha * acc[r];
      if (beta != 0.0f) out += beta * vloadV(0, c);
      vstoreV(out, 0, c);
    }
  } else {
    // Edge block: plain scalar code, bounds-checked.
    const int rows = min(GEMM_RB, M - row0);
    const int cols = min(GEMM_VW, N - col0);
    for (int r = 0; r < rows; ++r) {
      for (int j = 0; j < cols; ++j) {
        float acc = 0.0f;
        for (int k = 0; k < K; ++k) acc = fma(A_AT(row0 + r, k), B[k * N + col0 + j], acc);
        __global float *c = C + (row0 + r) * N + col0 + j;
        *c = alpha * acc + (beta != 0.0f ? beta * *c : 0.0f);
      }
    }
  }
}

inline float gemm_sum8(const float8 v) {
  const float4 h = v.lo + v.hi;
  return (h.x + h.y) + (h.z + h.w);
}

// C = alpha * A * B^T + beta * C with A [M,K] and B [N,K], both row-major.
__kernel void gemm_blocked_nt(const int M, const int N, const int K,
                              const float alpha, const float beta,
                              __global const float *restrict A,
                              __global const float *restrict B,
                              __global float *restrict C) {
  const int col0 = get_global_id(0) * GEMM_NT_CB;
  const int row0 = get_global_id(1) * GEMM_NT_RB;
  if (col0 >= N || row0 >= M) return;
  const int rows = min(GEMM_NT_RB, M - row0);
  const int cols = min(GEMM_NT_CB, N - col0);
  float sums[GEMM_NT_RB][GEMM_NT_CB];

  if (rows == GEMM_NT_RB && cols == GEMM_NT_CB) {
    float8 acc[GEMM_NT_RB][GEMM_NT_CB];
#pragma unroll
    for (int r = 0; r < GEMM_NT_RB; ++r)
#pragma unroll
      for (int c = 0; c < GEMM_NT_CB; ++c) acc[r][c] = (float8)(0.0f);
    int k = 0;
    for (; k + 8 <= K; k += 8) {
      float8 a[GEMM_NT_RB], b[GEMM_NT_CB];
#pragma unroll
      for (int r = 0; r < GEMM_NT_RB; ++r) a[r] = vload8(0, A + (row0 + r) * K + k);
#pragma unroll
      for (int c = 0; c < GEMM_NT_CB; ++c) b[c] = vload8(0, B + (col0 + c) * K + k);
#pragma unroll
      for (int r = 0; r < GEMM_NT_RB; ++r)
#pragma unroll
        for (int c = 0; c < GEMM_NT_CB; ++c) acc[r][c] = fma(a[r], b[c], acc[r][c]);
    }
#pragma unroll
    for (int r = 0; r < GEMM_NT_RB; ++r)
#pragma unroll
      for (int c = 0; c < GEMM_NT_CB; ++c) {
        float s = gemm_sum8(acc[r][c]);
        for (int kk = k; kk < K; ++kk) s = fma(A[(row0 + r) * K + kk], B[(col0 + c) * K + kk], s);
        sums[r][c] = s;
      }
  } else {
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        float s = 0.0f;
        for (int k = 0; k < K; ++k) s = fma(A[(row0 + r) * K + k], B[(col0 + c) * K + k], s);
        sums[r][c] = s;
      }
  }
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      __global float *out = C + (row0 + r) * N + col0 + c;
      *out = alpha * sums[r][c] + (beta != 0.0f ? beta * *out : 0.0f);
    }
}

#define GEMM_LX (GEMM_TSN / GEMM_WPTN)
#define GEMM_LY (GEMM_TSM / GEMM_WPTM)

__kernel __attribute__((reqd_work_group_size(GEMM_LX, GEMM_LY, 1)))
void gemm_tiled(const int M, const int N, const int K,
                const float alpha, const float beta,
                __global const float *restrict A,
                __global const float *restrict B,
                __global float *restrict C) {
  const int tx = get_local_id(0);
  const int ty = get_local_id(1);
  const int tid = ty * GEMM_LX + tx;
  const int colBase = get_group_id(0) * GEMM_TSN;
  const int rowBase = get_group_id(1) * GEMM_TSM;

  __local float As[GEMM_TSK][GEMM_TSM];
  __local float Bs[GEMM_TSK][GEMM_TSN];

  float acc[GEMM_WPTM][GEMM_WPTN];
#pragma unroll
  for (int wm = 0; wm < GEMM_WPTM; ++wm)
#pragma unroll
    for (int wn = 0; wn < GEMM_WPTN; ++wn) acc[wm][wn] = 0.0f;

  for (int k0 = 0; k0 < K; k0 += GEMM_TSK) {
    // Loads walk memory contiguously across neighbouring work-items. The
    // remainders are written as differences: a / and % pair makes LLVM
    // insert a `freeze`, which Oclgrind's uninitialised-value check cannot run.
    for (int l = tid; l < GEMM_TSK * GEMM_TSM; l += GEMM_LX * GEMM_LY) {
#if GEMM_TRANS_A
      const int kk = l / GEMM_TSM, mm = l - kk * GEMM_TSM;
#else
      const int mm = l / GEMM_TSK, kk = l - mm * GEMM_TSK;
#endif
      const int row = rowBase + mm, k = k0 + kk;
      As[kk][mm] = (row < M && k < K) ? A_AT(row, k) : 0.0f;
    }
    for (int l = tid; l < GEMM_TSK * GEMM_TSN; l += GEMM_LX * GEMM_LY) {
#if GEMM_TRANS_B
      const int nn = l / GEMM_TSK, kk = l - nn * GEMM_TSK;
#else
      const int kk = l / GEMM_TSN, nn = l - kk * GEMM_TSN;
#endif
      const int col = colBase + nn, k = k0 + kk;
      Bs[kk][nn] = (col < N && k < K) ? B_AT(k, col) : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
    for (int kk = 0; kk < GEMM_TSK; ++kk) {
      float a[GEMM_WPTM], b[GEMM_WPTN];
#pragma unroll
      for (int wm = 0; wm < GEMM_WPTM; ++wm) a[wm] = As[kk][ty + wm * GEMM_LY];
#pragma unroll
      for (int wn = 0; wn < GEMM_WPTN; ++wn) b[wn] = Bs[kk][tx + wn * GEMM_LX];
#pragma unroll
      for (int wm = 0; wm < GEMM_WPTM; ++wm)
#pragma unroll
        for (int wn = 0; wn < GEMM_WPTN; ++wn) acc[wm][wn] = fma(a[wm], b[wn], acc[wm][wn]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }

#pragma unroll
  for (int wm = 0; wm < GEMM_WPTM; ++wm) {
    const int row = rowBase + ty + wm * GEMM_LY;
    if (row >= M) continue;
#pragma unroll
    for (int wn = 0; wn < GEMM_WPTN; ++wn) {
      const int col = colBase + tx + wn * GEMM_LX;
      if (col >= N) continue;
      __global float *c = C + row * N + col;
      *c = alpha * acc[wm][wn] + (beta != 0.0f ? beta * *c : 0.0f);
    }
  }
}
