#include "catelier.h"
#include <pthread.h>
#include <stdatomic.h>

// The CPU path's worker threads. A step runs dozens of parallel regions of
// 0.1-1 ms each; with GCD's concurrentPerform each one paid 45-75 us before
// the second core joined (two 66 us items took 111 us; measured on the
// development VM, where waking a sleeping core is slow). These threads spin
// for a while after each region, so the next one starts at once, and sleep
// on a condition variable only after SPIN_ROUNDS idle checks (about a
// millisecond), so an idle process does not burn its cores.

enum { MAX_WORKERS = 64, SPIN_ROUNDS = 1 << 15 };

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;  // one region at a time
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int started = 0;  // pool threads running (guarded by run_lock)
// Region number << 8 | its worker count: a thread that sees a new value
// knows from it alone whether it takes part, so one that does not never
// reads the region's fields, which the next region may be rewriting.
static _Atomic unsigned long generation = 0;
static unsigned long regions = 0;  // guarded by run_lock
static _Atomic int finished = 0;
static _Atomic int sleepers = 0;
// The current region, written before `generation` is bumped (release) and
// read after it is seen (acquire).
static atelier_task current_task;
static void *current_context;
static _Thread_local int inside_region = 0;

static inline void relax(void) {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

static void *pool_thread(void *arg) {
  const int index = (int)(long)arg;
  inside_region = 1;
  unsigned long seen = 0;
  int took_part = 1;
  for (;;) {
    unsigned long now;
    // A thread the last region did without (more threads than its workers)
    // goes straight to sleep: only the threads in use spin.
    int rounds = took_part ? 0 : SPIN_ROUNDS;
    while ((now = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
      if (++rounds < SPIN_ROUNDS) {
        relax();
        continue;
      }
      // Announce the sleep, then look once more (both sequentially
      // consistent, as the region's publication below): either the
      // publisher sees a sleeper and wakes it, or this sees the region.
      pthread_mutex_lock(&sleep_lock);
      atomic_fetch_add_explicit(&sleepers, 1, memory_order_seq_cst);
      while (atomic_load_explicit(&generation, memory_order_seq_cst) == seen) pthread_cond_wait(&wake, &sleep_lock);
      atomic_fetch_sub(&sleepers, 1);
      pthread_mutex_unlock(&sleep_lock);
      rounds = 0;
    }
    seen = now;
    took_part = index < (int)(now & 0xFF);
    if (took_part) {
      current_task(current_context, index);
      atomic_fetch_add_explicit(&finished, 1, memory_order_release);
    }
  }
  return 0;
}

void atelier_pool_run(int workers, atelier_task task, void *context) {
  // Nested regions and single workers run here, in order.
  if (workers <= 1 || inside_region) {
    for (int w = 0; w < workers; ++w) task(context, w);
    return;
  }
  pthread_mutex_lock(&run_lock);
  // Workers past the pool's threads run on this thread after its own.
  int usable = workers < MAX_WORKERS ? workers : MAX_WORKERS;
  while (started < usable - 1) {
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    const int ok = pthread_create(&thread, &attributes, pool_thread, (void *)(long)(started + 1)) == 0;
    pthread_attr_destroy(&attributes);
    if (!ok) break;
    ++started;
  }
  if (started < usable - 1) usable = started + 1;  // fewer threads than asked: the rest run here
  current_task = task;
  current_context = context;
  atomic_store_explicit(&finished, 0, memory_order_relaxed);
  ++regions;
  // Sequentially consistent store and load: a release store may pass the
  // load of `sleepers` after it, and a thread just going to sleep would miss
  // the region (see pool_thread).
  atomic_store_explicit(&generation, regions << 8 | (unsigned long)usable, memory_order_seq_cst);
  if (atomic_load_explicit(&sleepers, memory_order_seq_cst) > 0) {
    pthread_mutex_lock(&sleep_lock);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&sleep_lock);
  }
  inside_region = 1;
  task(context, 0);
  for (int w = usable; w < workers; ++w) task(context, w);
  inside_region = 0;
  while (atomic_load_explicit(&finished, memory_order_acquire) < usable - 1) relax();
  pthread_mutex_unlock(&run_lock);
}

long atelier_take_next(long *counter) { return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }
