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
