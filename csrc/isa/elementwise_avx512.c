/* The elementwise kernel families built with the AVX-512 F/DQ/VL flags (setup.py ISA_FLAGS). */
#define FNN_ISA avx512
#include "elementwise_build.h"
