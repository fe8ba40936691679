/* The image kernels compiled for AVX2 + FMA. The target is set here, for this file alone, because
   setup.py gives instruction-set flags only to the GEMM micro-kernel files. */
#ifdef FASTNN_X86
#pragma GCC target("avx2,fma")
#define IMAGE_KERNELS_NAME fnn_image_kernels_avx2
#include "image_rows.h"
#endif
