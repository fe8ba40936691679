/* The image kernels compiled for AVX-512 (F, DQ, VL) + FMA. The target is set here, for this file
   alone, because setup.py gives instruction-set flags only to the GEMM micro-kernel files. */
#ifdef FASTNN_X86
#pragma GCC target("avx512f,avx512dq,avx512vl,avx2,fma")
#define IMAGE_KERNELS_NAME fnn_image_kernels_avx512
#include "image_rows.h"
#endif
