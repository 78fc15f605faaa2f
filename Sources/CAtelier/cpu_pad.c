#include "catelier.h"
#include "cpu_activation.h"

// A border column's term of one dy row (`line` at the image's first
// column): its own value, then its reflections, in PadOp.sources' order.
ATELIER_HELPER float column_term(const float *line, long sj, long w, int left, int right) {
  float term = line[sj];
  if (sj >= 1 && sj <= left) term += line[-sj];
  if (sj <= w - 2 && sj > w - 2 - right) term += line[2 * (w - 1) - sj];
  return term;
}

// Padding's gradient, planes [p_begin, p_end) of dx (h, w) from dy (h +
// top + bottom, w + left + right): each input the sum of the outputs it
// was copied to, added in PadOp.sources' order (its own position, then the
// reflections) as the Swift loop did: row terms first, then their sum. A
// row's own term is one contiguous run.
ATELIER_CLONES
void atelier_pad_backward(const float *restrict dy, float *restrict dx, long h, long w, int top, int bottom, int left,
                          int right, int reflect, long p_begin, long p_end) {
  const long ho = h + top + bottom, wo = w + left + right;
  for (long plane = p_begin; plane < p_end; ++plane) {
    const float *gp = dy + plane * ho * wo;
    float *out = dx + plane * h * w;
    for (long si = 0; si < h; ++si) {
      long rows[3], count = 0;
      rows[count++] = si + top;
      if (reflect && si >= 1 && si <= top) rows[count++] = top - si;
      if (reflect && si <= h - 2 && si > h - 2 - bottom) rows[count++] = top + 2 * (h - 1) - si;
      float *o = out + si * w;
      const float *line = gp + rows[0] * wo + left;
      for (long sj = 0; sj < w; ++sj) o[sj] = line[sj];
      if (reflect) {
        for (long sj = 1; sj <= left && sj < w; ++sj) o[sj] = column_term(line, sj, w, left, right);
        for (long sj = w - 1 - right > 0 ? w - 1 - right : 0; sj <= w - 2; ++sj)
          if (sj < 1 || sj > left) o[sj] = column_term(line, sj, w, left, right);
      }
      // The reflected rows (the border's few): every column's term added in order.
      for (long t = 1; t < count; ++t) {
        const float *extra = gp + rows[t] * wo + left;
        for (long sj = 0; sj < w; ++sj) o[sj] += column_term(extra, sj, w, left, right);
      }
    }
  }
}
