/*
 * Preloaded into workerd on hosts with fewer than 4 CPUs (see guard.mjs for why): V8 sizes its
 * background worker pool from sysconf(_SC_NPROCESSORS_ONLN) - 1, and with a pool of one worker the
 * local workerd can livelock. Reporting ADAPTAGENT_WORKERD_CPUS (default 4) gives V8 a pool of three.
 * Nothing else in workerd asks sysconf for the CPU count.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

long sysconf(int name) {
  static long (*real)(int) = 0;
  if (!real) real = (long (*)(int))dlsym(RTLD_NEXT, "sysconf");
  if (name == _SC_NPROCESSORS_ONLN || name == _SC_NPROCESSORS_CONF) {
    const char *wanted = getenv("ADAPTAGENT_WORKERD_CPUS");
    long n = wanted ? atol(wanted) : 4;
    long actual = real(name);
    return n > actual ? n : actual;
  }
  return real(name);
}
