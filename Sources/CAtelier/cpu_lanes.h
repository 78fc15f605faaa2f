#ifndef ATELIER_CPU_LANES_H
#define ATELIER_CPU_LANES_H

// Sums down a channel of an (N, C, inner) layout: N runs of `inner` floats.
// A strict left-to-right float sum cannot be vectorised (the compiler may
// not reorder it), so a run is summed in 16 independent float lanes, which
// are added into 16 double lanes; the lanes are summed into one total once
// per channel. Summed across lanes per run, the 16 dependent adds cost more
// than a 7 x 7 run's own vector work (D's BatchNorm, runs of 49 floats, took
// twice as long per float as G's 14 x 14 one; its forward pass at batch 64
// 0.124-0.128 -> 0.061-0.062 ms). A run's tail (inner % 16 floats) is summed as scalars into
// a 17th lane: added into the vector lanes under a mask, it made the
// compiler keep them on the stack, and each run waited on a masked store.

#include "cpu_activation.h"

enum { SUM_LANES = 16, LANE_COUNT = SUM_LANES + 1 };  // 16 vector lanes and the tails'

ATELIER_HELPER void add_lanes(double *restrict lanes, const float *restrict acc) {
  for (int l = 0; l < SUM_LANES; ++l) lanes[l] += acc[l];
}

ATELIER_HELPER double lanes_total(const double *lanes) {
  double total = 0.0;
  for (int l = 0; l < LANE_COUNT; ++l) total += lanes[l];
  return total;
}

ATELIER_HELPER void clear_lanes(double *lanes) {
  for (int l = 0; l < LANE_COUNT; ++l) lanes[l] = 0.0;
}

// lanes (LANE_COUNT of them) += the run's terms, TERM(j) of element j < n (an expression).
#define SUM_RUN(lanes, n, TERM)                                                                   \
  do {                                                                                             \
    float acc_[SUM_LANES] = {0}, tail_ = 0.0f;                                                     \
    long j0_ = 0;                                                                                  \
    for (; j0_ + SUM_LANES <= (n); j0_ += SUM_LANES)                                               \
      for (int l_ = 0; l_ < SUM_LANES; ++l_) {                                                     \
        const long j = j0_ + l_;                                                                   \
        acc_[l_] += (TERM);                                                                        \
      }                                                                                            \
    for (long j = j0_; j < (n); ++j) tail_ += (TERM);                                              \
    add_lanes((lanes), acc_);                                                                      \
    (lanes)[SUM_LANES] += tail_;                                                                   \
  } while (0)

#endif
