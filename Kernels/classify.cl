// Softmax cross-entropy of logits z [N, K] against target distributions
// t [N, K] (one-hot labels, or any probabilities): per row
//   loss = logsumexp(z) * sum(t) - sum(t * z)
// and its gradient dz = dy * (softmax(z) * sum(t) - t). One work-item per
// row: the classes of a row are few (ten for Fashion-MNIST) and the rows
// many, so a row's sums stay in registers.

inline float row_logsumexp(__global const float *z, const int k) {
  float top = z[0];
  for (int c = 1; c < k; ++c) top = fmax(top, z[c]);
  float sum = 0.0f;
  for (int c = 0; c < k; ++c) sum += exp(z[c] - top);
  return top + log(sum);
}

__kernel void softmax_xent_forward(const int rows, const int k, __global const float *restrict z,
                                   __global const float *restrict t, __global float *restrict loss) {
  const int n = get_global_id(0);
  if (n >= rows) return;
  __global const float *zr = z + (size_t)n * k, *tr = t + (size_t)n * k;
  const float lse = row_logsumexp(zr, k);
  float mass = 0.0f, dot = 0.0f;
  for (int c = 0; c < k; ++c) {
    mass += tr[c];
    dot += tr[c] * zr[c];
  }
  loss[n] = lse * mass - dot;
}

__kernel void softmax_xent_backward(const int rows, const int k, __global const float *restrict z,
                                    __global const float *restrict t, __global const float *restrict dy,
                                    __global float *restrict dz) {
  const int n = get_global_id(0);
  if (n >= rows) return;
  __global const float *zr = z + (size_t)n * k, *tr = t + (size_t)n * k;
  __global float *out = dz + (size_t)n * k;
  const float lse = row_logsumexp(zr, k);
  float mass = 0.0f;
  for (int c = 0; c < k; ++c) mass += tr[c];
  const float g = dy[n];
  for (int c = 0; c < k; ++c) out[c] = g * (exp(zr[c] - lse) * mass - tr[c]);
}

// The minibatch standard deviation feature (Karras et al. 2018): x [N, F]
// gets a last column holding m, the mean over the features of each
// feature's standard deviation over the batch, so D can see how varied a
// batch is and a generator that draws one garment stands out.
//   s_j = sqrt(var_n(x[n, j]) + eps), m = mean_j s_j
// Three launches: the features' statistics (a work-item per feature), their
// mean (one work-group), and the copy (a work-item per element).

__kernel void minibatch_std_stats(const int rows, const int features, const float eps, __global const float *restrict x,
                                  __global float *restrict mean, __global float *restrict deviation) {
  const int j = get_global_id(0);
  if (j >= features) return;
  float sum = 0.0f;
  for (int n = 0; n < rows; ++n) sum += x[(size_t)n * features + j];
  const float mu = sum / rows;
  float squares = 0.0f;
  for (int n = 0; n < rows; ++n) {
    const float d = x[(size_t)n * features + j] - mu;
    squares += d * d;
  }
  mean[j] = mu;
  deviation[j] = sqrt(squares / rows + eps);
}

// out[0] = the mean of values[0..count), by one work-group of STD_GROUP items.
#ifndef STD_GROUP
#define STD_GROUP 256
#endif
__kernel __attribute__((reqd_work_group_size(STD_GROUP, 1, 1)))
void minibatch_std_mean(const int count, __global const float *restrict values, __global float *restrict out) {
  __local float partial[STD_GROUP];
  const int t = get_local_id(0);
  float sum = 0.0f;
  for (int i = t; i < count; i += STD_GROUP) sum += values[i];
  partial[t] = sum;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int span = STD_GROUP / 2; span > 0; span /= 2) {
    if (t < span) partial[t] += partial[t + span];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0) out[0] = partial[0] / count;
}

// y [N, F + 1]: x, and m in the last column.
__kernel void minibatch_std_forward(const int rows, const int features, __global const float *restrict x,
                                    __global const float *restrict m, __global float *restrict y) {
  const int i = get_global_id(0);
  if (i >= rows * (features + 1)) return;
  const int j = i % (features + 1), n = i / (features + 1);
  y[i] = j < features ? x[(size_t)n * features + j] : m[0];
}

// dx [N, F] = dy's first F columns + g (x - mean_j) / (N F s_j), g the sum
// of dy's last column (in g[0], by minibatch_std_column_sum).
__kernel void minibatch_std_backward(const int rows, const int features, __global const float *restrict x,
                                     __global const float *restrict dy, __global const float *restrict mean,
                                     __global const float *restrict deviation, __global const float *restrict g,
                                     __global float *restrict dx) {
  const int i = get_global_id(0);
  if (i >= rows * features) return;
  const int j = i % features, n = i / features;
  dx[i] = dy[(size_t)n * (features + 1) + j] + g[0] * (x[i] - mean[j]) / ((float)rows * features * deviation[j]);
}

// g[0] = the sum of dy's last column, by one work-group of STD_GROUP items.
__kernel __attribute__((reqd_work_group_size(STD_GROUP, 1, 1)))
void minibatch_std_column_sum(const int rows, const int features, __global const float *restrict dy, __global float *restrict g) {
  __local float partial[STD_GROUP];
  const int t = get_local_id(0);
  float sum = 0.0f;
  for (int n = t; n < rows; n += STD_GROUP) sum += dy[(size_t)n * (features + 1) + features];
  partial[t] = sum;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int span = STD_GROUP / 2; span > 0; span /= 2) {
    if (t < span) partial[t] += partial[t + span];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0) g[0] = partial[0];
}
