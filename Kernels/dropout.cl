// Dropout with a mask that is a pure function of (seed, salt, element): no
// mask is stored, the gradient recomputes it, a resumed run draws the same
// masks, and the CPU path (Sources/AtelierGraph/Ops/Definitions/Dropout.swift) computes the same
// bits. The seed changes every step; the salt tells the layers apart.

inline uint dropout_mix(uint h) {
  h ^= h >> 16; h *= 0x7feb352du;
  h ^= h >> 15; h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

// Whether element i is kept: a uniform 24-bit draw at least the probability.
inline int dropout_keep(const uint seed, const uint salt, const uint i, const float probability) {
  const uint h = dropout_mix(dropout_mix(seed ^ dropout_mix(salt)) + i);
  return (float)(h >> 8) * (1.0f / 16777216.0f) >= probability;
}

// y = x * keep / (1 - probability); the seed as two 16-bit halves in floats.
__kernel void dropout(const int n, const int salt, const float probability, __global const float *restrict seed,
                      __global const float *restrict x, __global float *restrict y) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const uint s = (uint)seed[0] | ((uint)seed[1] << 16);
  y[i] = dropout_keep(s, (uint)salt, (uint)i, probability) ? x[i] / (1.0f - probability) : 0.0f;
}
