#include "catelier.h"
#include "cpu_activation.h"

// The bias and activation after a GEMM or convolution, applied by the
// worker that just wrote the values, while they are still in its cache.
// y[r * row_stride + c * inner + j] = act(y[...] + bias[c]); bias may be NULL.
ATELIER_CLONES
void atelier_epilogue(long rows, long channels, long inner, long row_stride, float *restrict y,
                      const float *restrict bias, int act, float p) {
  ACT_LOOP(act, {
    for (long r = 0; r < rows; ++r)
      for (long c = 0; c < channels; ++c) {
        float *v = y + r * row_stride + c * inner;
        const float b = bias ? bias[c] : 0.0f;
        for (long j = 0; j < inner; ++j) v[j] = act_forward(a_, p, v[j] + b);
      }
  })
}
