/* The naive convolution loops, one float sum per output element in (tap, channel) order: the
   oracles that conv.c's implicit GEMM and depthwise.c's direct kernel are tested against. */
#include "../fastnn.h"

// x is (n, h, w, c), w is (kh, kw, c / groups, f), y is (n, out_h, out_w, f)
void fnn_conv2d_forward_ref(const fnn_conv_shape *s, const float *x, const float *w, const float *bias, int act,
                            float alpha, float *y) {
    const idx_t cg = s->c / s->groups, fg = s->f / s->groups;
    for (idx_t n = 0; n < s->n; n++)
        for (idx_t oh = 0; oh < s->out_h; oh++)
            for (idx_t ow = 0; ow < s->out_w; ow++)
                for (idx_t fo = 0; fo < s->f; fo++) {
                    idx_t g = fo / fg;
                    float sum = 0.0f;
                    for (idx_t i = 0; i < s->kh; i++)
                        for (idx_t j = 0; j < s->kw; j++) {
                            idx_t ih = oh * s->stride_h + i * s->dil_h - s->pad_top;
                            idx_t iw = ow * s->stride_w + j * s->dil_w - s->pad_left;
                            if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
                            const float *x_px = x + ((n * s->h + ih) * s->w + iw) * s->c + g * cg;
                            for (idx_t c = 0; c < cg; c++) sum += x_px[c] * w[((i * s->kw + j) * cg + c) * s->f + fo];
                        }
                    y[((n * s->out_h + oh) * s->out_w + ow) * s->f + fo] = sum + (bias ? bias[fo] : 0.0f);
                }
    idx_t total = s->n * s->out_h * s->out_w * s->f;
    fnn_activate_span(act, alpha, total, y, y);
}

// dy is (n, out_h, out_w, f), w is (kh, kw, c / groups, f), dx is (n, h, w, c)
void fnn_conv2d_backward_data_ref(const fnn_conv_shape *s, const float *dy, const float *w, const float *bias,
                                  int act, float alpha, float *dx) {
    const idx_t cg = s->c / s->groups, fg = s->f / s->groups;
    for (idx_t n = 0; n < s->n; n++)
        for (idx_t ih = 0; ih < s->h; ih++)
            for (idx_t iw = 0; iw < s->w; iw++)
                for (idx_t c = 0; c < s->c; c++) {
                    idx_t g = c / cg;
                    float sum = 0.0f;
                    for (idx_t i = 0; i < s->kh; i++)
                        for (idx_t j = 0; j < s->kw; j++) {
                            idx_t at_h = ih + s->pad_top - i * s->dil_h, at_w = iw + s->pad_left - j * s->dil_w;
                            if (at_h < 0 || at_w < 0 || at_h % s->stride_h || at_w % s->stride_w) continue;
                            idx_t oh = at_h / s->stride_h, ow = at_w / s->stride_w;
                            if (oh >= s->out_h || ow >= s->out_w) continue;
                            const float *dy_px = dy + ((n * s->out_h + oh) * s->out_w + ow) * s->f + g * fg;
                            const float *w_c = w + ((i * s->kw + j) * cg + c - g * cg) * s->f + g * fg;
                            for (idx_t fo = 0; fo < fg; fo++) sum += dy_px[fo] * w_c[fo];
                        }
                    dx[((n * s->h + ih) * s->w + iw) * s->c + c] = sum + (bias ? bias[c] : 0.0f);
                }
    idx_t total = s->n * s->h * s->w * s->c;
    fnn_activate_span(act, alpha, total, dx, dx);
}

// x is (n, h, w, c), dy is (n, out_h, out_w, f), dw is (kh, kw, c / groups, f), db is (f,)
void fnn_conv2d_backward_filter_ref(const fnn_conv_shape *s, const float *x, const float *dy, float *dw, float *db) {
    const idx_t cg = s->c / s->groups, fg = s->f / s->groups, pixels = s->n * s->out_h * s->out_w;
    for (idx_t fo = 0; fo < s->f && db; fo++) {
        float sum = 0.0f;
        for (idx_t p = 0; p < pixels; p++) sum += dy[p * s->f + fo];
        db[fo] = sum;
    }
    for (idx_t i = 0; i < s->kh && dw; i++)
        for (idx_t j = 0; j < s->kw; j++)
            for (idx_t c = 0; c < cg; c++)
                for (idx_t fo = 0; fo < s->f; fo++) {
                    idx_t g = fo / fg;
                    float sum = 0.0f;
                    for (idx_t n = 0; n < s->n; n++)
                        for (idx_t oh = 0; oh < s->out_h; oh++)
                            for (idx_t ow = 0; ow < s->out_w; ow++) {
                                idx_t ih = oh * s->stride_h + i * s->dil_h - s->pad_top;
                                idx_t iw = ow * s->stride_w + j * s->dil_w - s->pad_left;
                                if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
                                sum += x[((n * s->h + ih) * s->w + iw) * s->c + g * cg + c] *
                                       dy[((n * s->out_h + oh) * s->out_w + ow) * s->f + fo];
                            }
                    dw[((i * s->kw + j) * cg + c) * s->f + fo] = sum;
                }
}
