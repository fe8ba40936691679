/* Shared definitions for every fastnn kernel: index type, restrict, alignment, OpenMP shim. */
#ifndef FASTNN_COMMON_H
#define FASTNN_COMMON_H

#include <stddef.h>

typedef ptrdiff_t idx_t;

#define FNN_RESTRICT __restrict__
#define FNN_ALIGN 64
#define FNN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FNN_MAX(a, b) ((a) > (b) ? (a) : (b))

#ifdef _OPENMP
#include <omp.h>
static inline int fnn_thread_id(void) { return omp_get_thread_num(); }
#else
static inline int fnn_thread_id(void) { return 0; }
#endif

#endif
