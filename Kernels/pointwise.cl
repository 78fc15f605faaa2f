// One skeleton for every elementwise op (activations and their gradients,
// bias add, BatchNorm apply/backward, loss gradients, Adam, ...). The host
// defines, per op, as single-line macros:
//   PW_PARAMS  the buffer and scalar parameters, each preceded by a comma
//   PW_LOAD    reads this element's values (per-element buffers at [i],
//              per-channel buffers at [c])
//   PW_BODY    the op's statements, on float values
//   PW_STORE   writes outputs and in-out values back at [i]
// The element at i lies in channel c of a (outer, channels, inner) layout.
__kernel void pointwise(const int n, const int inner, const int channels PW_PARAMS) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const int c = (i / inner) % channels;
  PW_LOAD
  PW_BODY
  PW_STORE
}
