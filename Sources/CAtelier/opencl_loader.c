#include "catelier.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define ATELIER_CL_POINTER(ret, name, params, args) static ret (*p_##name) params;
ATELIER_CL_FUNCTIONS(ATELIER_CL_POINTER)
#undef ATELIER_CL_POINTER

// The Swift side calls these only after atelier_cl_load() returned 1.
#define ATELIER_CL_FORWARD(ret, name, params, args) \
  ret acl##name params { return p_##name args; }
ATELIER_CL_FUNCTIONS(ATELIER_CL_FORWARD)
#undef ATELIER_CL_FORWARD

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int load_state = 0; /* 0 = not tried, 1 = loaded, -1 = failed */
static char load_message[512];

static int load_from(const char *path) {
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    snprintf(load_message, sizeof load_message, "%s", dlerror());
    return 0;
  }
#define ATELIER_CL_RESOLVE(ret, name, params, args) \
  *(void **)(&p_##name) = dlsym(handle, "cl" #name); \
  if (!p_##name) { \
    snprintf(load_message, sizeof load_message, "%s lacks cl%s", path, #name); \
    dlclose(handle); \
    return 0; \
  }
  ATELIER_CL_FUNCTIONS(ATELIER_CL_RESOLVE)
#undef ATELIER_CL_RESOLVE
  return 1;
}

int atelier_cl_load(const char *path, char *message, size_t message_size) {
  pthread_mutex_lock(&load_lock);
  if (load_state == 0) {
    int ok;
    if (path && path[0]) {
      ok = load_from(path);
    } else {
      ok = load_from("libOpenCL.so.1") || load_from("libOpenCL.so");
    }
    load_state = ok ? 1 : -1;
  }
  int result = load_state == 1;
  if (!result && message && message_size > 0) {
    snprintf(message, message_size, "%s", load_message);
  }
  pthread_mutex_unlock(&load_lock);
  return result;
}

int atelier_cl_loaded(void) { return load_state == 1; }
