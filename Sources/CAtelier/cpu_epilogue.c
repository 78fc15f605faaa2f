#include "catelier.h"
#include "cpu_activation.h"

// The epilogue after a GEMM or convolution, applied by the worker that just
// wrote the values, while they are still in its cache. Over the region
// y[r * row_stride + c * inner + j]:
//   forward:  y = act(y + bias[c])                  (activated NULL; bias may be NULL)
//   backward: y = act'(activated) * y, the gradient through an activation
//             whose output `activated` is laid out like y.
ATELIER_CLONES
void atelier_epilogue(long rows, long channels, long inner, long row_stride, float *restrict y,
                      const float *restrict bias, int act, float p, const float *restrict activated) {
  if (inner == 1) {  // a dense layer's rows: vectorise along the channels, not along runs of 1
    ACT_LOOP(act, {
      for (long r = 0; r < rows; ++r) {
        float *v = y + r * row_stride;
        if (activated) {
          const float *z = activated + r * row_stride;
          for (long c = 0; c < channels; ++c) v[c] = act_backward(a_, p, z[c], v[c]);
        } else if (bias) {
          for (long c = 0; c < channels; ++c) v[c] = act_forward(a_, p, v[c] + bias[c]);
        } else {
          for (long c = 0; c < channels; ++c) v[c] = act_forward(a_, p, v[c]);
        }
      }
    })
    return;
  }
  if (activated) {
    ACT_LOOP(act, {
      for (long r = 0; r < rows; ++r)
        for (long c = 0; c < channels; ++c) {
          const long base = r * row_stride + c * inner;
          for (long j = 0; j < inner; ++j) y[base + j] = act_backward(a_, p, activated[base + j], y[base + j]);
        }
    })
    return;
  }
  ACT_LOOP(act, {
    for (long r = 0; r < rows; ++r)
      for (long c = 0; c < channels; ++c) {
        float *v = y + r * row_stride + c * inner;
        const float b = bias ? bias[c] : 0.0f;
        for (long j = 0; j < inner; ++j) v[j] = act_forward(a_, p, v[j] + b);
      }
  })
}
