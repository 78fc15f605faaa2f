// EXP(x): exp for the elementwise templates. On CPU devices the host sets
// ATELIER_POLY_EXP=1: PoCL runs its own exp() without vectorising it, while
// this Cephes-style polynomial (max relative error ~2 ulp over the float
// range; inputs below -87 give ~1e-38 instead of 0) is plain arithmetic on
// whatever vector type it is given. GPUs keep the native exp().
#ifndef ATELIER_POLY_EXP
#define ATELIER_POLY_EXP 0
#endif

#if ATELIER_POLY_EXP
#define ATELIER_DEFINE_EXP(T, AS_T, CONVERT_INT)                                  \
  __attribute__((overloadable)) inline T atelier_exp(T x) {                       \
    x = clamp(x, -87.0f, 88.0f);                                                  \
    const T n = floor(x * 1.44269504088896341f + 0.5f);                           \
    const T r = (x - n * 0.693359375f) + n * 2.12194440e-4f;                      \
    T p = r * 1.9875691500e-4f + 1.3981999507e-3f;                               \
    p = p * r + 8.3334519073e-3f;                                                 \
    p = p * r + 4.1665795894e-2f;                                                 \
    p = p * r + 1.6666665459e-1f;                                                 \
    p = p * r + 5.0000001201e-1f;                                                 \
    p = p * (r * r) + r + 1.0f;                                                   \
    return p * AS_T((CONVERT_INT(n) + 127) << 23);                                \
  }
ATELIER_DEFINE_EXP(float, as_float, (int))
ATELIER_DEFINE_EXP(float2, as_float2, convert_int2)
ATELIER_DEFINE_EXP(float4, as_float4, convert_int4)
ATELIER_DEFINE_EXP(float8, as_float8, convert_int8)
ATELIER_DEFINE_EXP(float16, as_float16, convert_int16)
#define EXP(x) atelier_exp(x)
#else
#define EXP(x) exp(x)
#endif
