#include "catelier.h"

// What the CPU path's C loops need to know about the CPU.

int atelier_cpu_has_avx512(void) {
#if defined(ATELIER_NO_AVX512)
  return 0;  // built to behave as on an AVX2 CPU (see ATELIER_CLONES)
#elif defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
#else
  return 0;
#endif
}

// -1: follow the CPU; 0 or 1: set by atelier_set_wide_tiles. Read on every
// panel, written only by tests and benchmarks between calls.
static int wide_tiles = -1;

int atelier_wide_tiles(void) {
  int wide = __atomic_load_n(&wide_tiles, __ATOMIC_RELAXED);
  if (wide < 0) {
    wide = atelier_cpu_has_avx512();
    int unset = -1;
    __atomic_compare_exchange_n(&wide_tiles, &unset, wide, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  }
  return wide;
}

void atelier_set_wide_tiles(int wide) { __atomic_store_n(&wide_tiles, wide < 0 ? atelier_cpu_has_avx512() : wide != 0, __ATOMIC_RELAXED); }
