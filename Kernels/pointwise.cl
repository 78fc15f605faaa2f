// One skeleton for every elementwise op (activations and their gradients,
// bias add, BatchNorm apply/backward, loss gradients, Adam, ...). The host
// defines, per op, as single-line macros:
//   PW_PARAMS    the buffer and scalar parameters, each preceded by a comma
//   PW_LOAD_S    reads element i's values (per-channel buffers at [c])
//   PW_LOAD_V    the same for PW_VW elements from i, as vectors
//                (per-channel values stay scalars and broadcast)
//   PW_BODY      the op's statements, in terms of the value type T
//   PW_STORE_S / PW_STORE_V   write outputs and in-out values back
//   PW_VW        elements per work-item (1, 2, 4, 8 or 16)
//   PW_CHANNELS  1 when the op has per-channel operands
// Work-items take PW_VW consecutive elements as one vector: CPU devices then
// run math builtins (exp, ...) on vectors, which PoCL does not do for
// scalar code. A ragged end falls back to scalars.

#define PW_CAT_(a, b) a##b
#define PW_CAT(a, b) PW_CAT_(a, b)
#if PW_VW > 1
#define PW_VT PW_CAT(float, PW_VW)
#define PW_VLOAD(p, i) PW_CAT(vload, PW_VW)(0, (p) + (i))
#define PW_VSTORE(v, p, i) PW_CAT(vstore, PW_VW)((v), 0, (p) + (i))
#endif

#define PW_SCALAR_RANGE(first, last)                                   \
  for (int e = (first); e < (last); ++e) {                             \
    const int i = e;                                                   \
    PW_LOAD_S                                                          \
    PW_BODY                                                            \
    PW_STORE_S                                                         \
  }

// Without per-channel operands the NDRange is (n / PW_VW) over contiguous
// elements. With them it runs over a (outer, channels, inner) layout as
// (inner / PW_VW, channels, outer), or (channels, outer) when inner is 1, so
// the channel comes from the work-item id instead of an integer division per
// element (which does not vectorise on CPUs).
__kernel void pointwise(const int n, const int inner, const int channels PW_PARAMS) {
#if PW_CHANNELS
  int j, c, o;
  if (inner == 1) {
    j = 0; c = get_global_id(0); o = get_global_id(1);
  } else {
    j = get_global_id(0) * PW_VW; c = get_global_id(1); o = get_global_id(2);
  }
  if (j >= inner || c >= channels) return;
  const int i = (o * channels + c) * inner + j;
  const int count = min(inner - j, PW_VW);
#else
  const int i = get_global_id(0) * PW_VW;
  if (i >= n) return;
  const int count = min(n - i, PW_VW);
#endif
#if PW_VW > 1
  if (count == PW_VW) {
#define T PW_VT
    PW_LOAD_V
    PW_BODY
    PW_STORE_V
#undef T
    return;
  }
#endif
#define T float
  PW_SCALAR_RANGE(i, i + count)
#undef T
}
