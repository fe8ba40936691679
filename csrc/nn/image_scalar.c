/* The image kernels on the portable path (plain C, vectorised with the baseline instruction set),
   and the choice of table for the running SIMD path. */
#define IMAGE_KERNELS_NAME fnn_image_kernels_scalar
#include "image_rows.h"

const fnn_image_kernels *fnn_image_kernels_active(void) {
#ifdef FASTNN_X86
    switch (fnn_simd_get()) {
    case FNN_SIMD_AVX512: return &fnn_image_kernels_avx512;
    case FNN_SIMD_AVX2: return &fnn_image_kernels_avx2;
    }
#endif
    return &fnn_image_kernels_scalar;
}
