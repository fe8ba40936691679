/* The elementwise kernel families built with -mavx2 -mfma (setup.py ISA_FLAGS). */
#define FNN_ISA avx2
#include "elementwise_build.h"
