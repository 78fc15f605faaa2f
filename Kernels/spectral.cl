// Spectral normalisation: W [O, K] / sigma, sigma by one power iteration
// from the layer's u [O] and v [K] (SpectralNormOp). `vectors` is
// [u' (O), v (K), sigma], as the gradient reads them.

#ifndef SN_GROUP
#define SN_GROUP 256
#endif

// Sums `value` over the work-group; every item gets the total.
inline float sn_group_sum(float value, __local float *partial) {
  const int t = get_local_id(0);
  partial[t] = value;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int span = SN_GROUP / 2; span > 0; span /= 2) {
    if (t < span) partial[t] += partial[t + span];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float total = partial[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return total;
}

// t = W^T u: one item per column, so neighbouring items read neighbouring weights.
__kernel void sn_transposed_product(const int rows, const int columns, __global const float *restrict w,
                                    __global const float *restrict u, __global float *restrict t) {
  const int j = get_global_id(0);
  if (j >= columns) return;
  float sum = 0.0f;
  for (int i = 0; i < rows; i++) sum += w[(size_t)i * columns + j] * u[i];
  t[j] = sum;
}

// vectors[at + k] = x / max(|x|, eps) for k < count, and store[k] too when `update`;
// vectors[sigma_at] = |x| (floored at eps) when sigma_at >= 0. One work-group.
__kernel __attribute__((reqd_work_group_size(SN_GROUP, 1, 1)))
void sn_normalize(const int count, const int at, const int sigma_at, const float eps, const int update,
                  __global const float *restrict x, __global float *restrict vectors, __global float *restrict store) {
  __local float partial[SN_GROUP];
  const int t = get_local_id(0);
  float squares = 0.0f;
  for (int k = t; k < count; k += SN_GROUP) squares += x[k] * x[k];
  const float length = sqrt(sn_group_sum(squares, partial));
  const float scale = 1.0f / fmax(length, eps);
  for (int k = t; k < count; k += SN_GROUP) {
    const float value = x[k] * scale;
    vectors[at + k] = value;
    if (update) store[k] = value;
  }
  if (sigma_at >= 0 && t == 0) vectors[sigma_at] = fmax(length, eps);
}

// s = W v: one work-group per row, its items striding along the row.
__kernel __attribute__((reqd_work_group_size(SN_GROUP, 1, 1)))
void sn_product(const int rows, const int columns, __global const float *restrict w, __global const float *restrict vectors,
                __global float *restrict s) {
  __local float partial[SN_GROUP];
  const int i = get_group_id(0), k = get_local_id(0);
  __global const float *row = w + (size_t)i * columns, *v = vectors + rows;
  float sum = 0.0f;
  for (int j = k; j < columns; j += SN_GROUP) sum += row[j] * v[j];
  sum = sn_group_sum(sum, partial);
  if (k == 0) s[i] = sum;
}

// out = W / sigma.
__kernel void sn_scale(const int count, const int sigma_at, __global const float *restrict w,
                       __global const float *restrict vectors, __global float *restrict out) {
  const int i = get_global_id(0);
  if (i >= count) return;
  out[i] = w[i] / vectors[sigma_at];
}

// partials[group] = this group's share of <dy, W>; the groups stride over all of it.
__kernel __attribute__((reqd_work_group_size(SN_GROUP, 1, 1)))
void sn_dot_partials(const int count, __global const float *restrict dy, __global const float *restrict w,
                     __global float *restrict partials) {
  __local float partial[SN_GROUP];
  float sum = 0.0f;
  for (int i = get_global_id(0); i < count; i += get_global_size(0)) sum += dy[i] * w[i];
  sum = sn_group_sum(sum, partial);
  if (get_local_id(0) == 0) partials[get_group_id(0)] = sum;
}

// out[0] = the sum of values[0..count); one group.
__kernel __attribute__((reqd_work_group_size(SN_GROUP, 1, 1)))
void sn_sum(const int count, __global const float *restrict values, __global float *restrict out) {
  __local float partial[SN_GROUP];
  float sum = 0.0f;
  for (int i = get_local_id(0); i < count; i += SN_GROUP) sum += values[i];
  sum = sn_group_sum(sum, partial);
  if (get_local_id(0) == 0) out[0] = sum;
}

// dW = (dy - <dy, W> / sigma * u' v^T) / sigma.
__kernel void sn_backward(const int rows, const int columns, __global const float *restrict vectors,
                          __global const float *restrict dot, __global const float *restrict dy, __global float *restrict dw) {
  const int k = get_global_id(0);
  if (k >= rows * columns) return;
  const int i = k / columns, j = k % columns;
  const float sigma = vectors[rows + columns];
  dw[k] = (dy[k] - dot[0] / sigma * vectors[i] * vectors[rows + j]) / sigma;
}
