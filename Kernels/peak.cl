// Probes for the benchmark tool: the device's FMA throughput and memory
// bandwidth, measured on the spot so kernel figures can be read as a share
// of what this device can do.

#ifndef PEAK_ITERATIONS
#define PEAK_ITERATIONS 1024
#endif

// 8 independent float16 FMA chains per work-item: enough to hide FMA latency
// on CPUs (2 FMA ports x 4 cycles) and plenty on GPUs.
// FLOPs per work-item: PEAK_ITERATIONS * 8 chains * 16 lanes * 2.
__kernel void peak_fma(const float seed, __global float *restrict out) {
  const int g = get_global_id(0);
  float16 a0 = (float16)(seed + g), a1 = a0 + 1.0f, a2 = a0 + 2.0f, a3 = a0 + 3.0f;
  float16 a4 = a0 + 4.0f, a5 = a0 + 5.0f, a6 = a0 + 6.0f, a7 = a0 + 7.0f;
  const float16 m = (float16)(0.999f), k = (float16)(0.001f);
  for (int i = 0; i < PEAK_ITERATIONS; ++i) {
    a0 = fma(a0, m, k); a1 = fma(a1, m, k); a2 = fma(a2, m, k); a3 = fma(a3, m, k);
    a4 = fma(a4, m, k); a5 = fma(a5, m, k); a6 = fma(a6, m, k); a7 = fma(a7, m, k);
  }
  const float16 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
  out[g] = s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7 +
           s.s8 + s.s9 + s.sa + s.sb + s.sc + s.sd + s.se + s.sf;
}

// Bandwidth: one float4 read and one written per work-item.
__kernel void peak_copy(__global const float4 *restrict in, __global float4 *restrict out) {
  const int g = get_global_id(0);
  out[g] = in[g];
}
