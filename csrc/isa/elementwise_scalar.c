/* The elementwise kernel families built with portable flags (SSE2 on x86-64) (setup.py ISA_FLAGS). */
#define FNN_ISA scalar
#include "elementwise_build.h"
