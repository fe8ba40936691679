/* The int8 convolution's forward: an implicit GEMM over blocks of output pixels. Each block's patches
   (one row of kh * kw * c floats per output pixel, in the kernel's (kh, kw, c) order) are gathered
   into caller scratch and quantized per row, then multiplied by the int8 kernel exactly as the int8
   dense layer does (fnn_qdense_quantized), the block's outputs going straight to y. Scratch is one
   block, never the whole im2col; a pointwise convolution (1 x 1, stride 1, no padding) reads its
   rows from x in place.

   Each patch row is quantized over its own range, so an output pixel depends on its own patch only:
   the result is batch invariant, and (as the dense layer's) bitwise the same on every SIMD path and
   thread count, whatever the block size. */
#include "qgemm_internal.h"

/* Patch floats a block holds (1 MiB): each row is quantized right after it is gathered, so only the
   block's uint8 rows (a quarter of that) need to stay in L2 for the GEMM. One parallel pass gathers
   and quantizes a block, one multiplies it. */
#define QCONV_BLOCK_FLOATS 262144
/* Block rows are a multiple of every micro-kernel's row tile (4 and 6). */
#define QCONV_ROW_MULTIPLE 12

static idx_t patch_size(const fnn_conv_shape *s) { return s->kh * s->kw * s->c; }

static int pointwise(const fnn_conv_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_top == 0 && s->pad_left == 0 &&
           s->out_h == s->h && s->out_w == s->w;
}

idx_t fnn_qconv2d_block_rows(const fnn_conv_shape *s) {
    idx_t rows = s->n * s->out_h * s->out_w;
    idx_t block = FNN_MAX(QCONV_BLOCK_FLOATS / patch_size(s) / QCONV_ROW_MULTIPLE, 1) * QCONV_ROW_MULTIPLE;
    return FNN_MIN(rows, block);
}

typedef struct {
    const fnn_conv_shape *s;
    const float *x;
    idx_t first_pixel;
    float *patches;
    int levels;
    uint8_t *q;
    float *row_scale;
    int32_t *row_zero;
} patch_args;

// rows [lo, hi) of the block: patches (each (kh, kw, c)) from x (n, h, w, c), zeros outside the image,
// then quantized while they are in cache (a pointwise convolution's rows are x's own)
static void quantize_patches(void *ctx, idx_t lo, idx_t hi) {
    const patch_args *p = ctx;
    const fnn_conv_shape *s = p->s;
    const idx_t c = s->c, k = patch_size(s);
    const float *rows = p->x + (p->first_pixel + lo) * k;
    if (!pointwise(s)) {
        for (idx_t r = lo; r < hi; r++) {
            idx_t m = p->first_pixel + r, ow = m % s->out_w, oh = m / s->out_w % s->out_h;
            idx_t n = m / (s->out_w * s->out_h);
            float *row = p->patches + r * k;
            for (idx_t i = 0; i < s->kh; i++) {
                idx_t ih = oh * s->stride_h + i * s->dil_h - s->pad_top;
                for (idx_t j = 0; j < s->kw; j++, row += c) {
                    idx_t iw = ow * s->stride_w + j * s->dil_w - s->pad_left;
                    if (ih >= 0 && ih < s->h && iw >= 0 && iw < s->w)
                        memcpy(row, p->x + ((n * s->h + ih) * s->w + iw) * c, c * sizeof(float));
                    else
                        memset(row, 0, c * sizeof(float));
                }
            }
        }
        rows = p->patches + lo * k;
    }
    fnn_quantize_rows_u8(hi - lo, k, rows, p->levels, p->q + lo * ((k + 3) / 4 * 4), p->row_scale + lo,
                         p->row_zero + lo);
}

// x is (n, h, w, c), packed is the kernel (kh * kw * c, f) int8 packed, col_sums and w_scale are (f,), bias
// is (f,) or NULL, y is (n, out_h, out_w, f); scratch for B = fnn_qconv2d_block_rows(s) rows: patches (B,
// kh * kw * c) floats, q (B, round_up(kh * kw * c, 4)) u8, row_scale (B,), row_zero (B,). groups must be 1.
void fnn_qconv2d_forward(const fnn_conv_shape *s, const float *x, const int8_t *packed, const int32_t *col_sums,
                         const float *w_scale, const float *bias, int act, float alpha, int reduce_range, float *y,
                         float *patches, uint8_t *q, float *row_scale, int32_t *row_zero) {
    const idx_t rows = s->n * s->out_h * s->out_w, k = patch_size(s), block = fnn_qconv2d_block_rows(s);
    for (idx_t m0 = 0; m0 < rows; m0 += block) {
        idx_t count = FNN_MIN(block, rows - m0);
        patch_args args = {s, x, m0, patches, reduce_range ? 127 : 255, q, row_scale, row_zero};
        fnn_parallel_for(count, FNN_ELEMENTWISE_GRAIN / k + 1, quantize_patches, &args);
        fnn_qdense_quantized(count, s->f, k, q, row_scale, row_zero, packed, col_sums, w_scale, bias, act, alpha,
                             reduce_range, y + m0 * s->f);
    }
}
