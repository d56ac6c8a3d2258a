/* mlfcheck int8 kernels: conv2d, depthwise conv2d and dense with TFLite's arithmetic.
   Accumulation in int32 starting from a bias into which the exporter folded the input zero
   point (-zero_point x sum of the weights), so padding reads the zero point and every product
   is a plain int8 x int8; then TFLite's requantization per output channel and the clamp.
   On a core with the Arm DSP extension the dot products run on SMLAD/SMLABB (two or one
   16-bit multiply-accumulates per instruction on operands unpacked by SXTB16); elsewhere the
   same loops are plain C. The exporter lays the weights out for these loops: conv2d and dense
   as pairs of output channels (a zero channel after an odd last one), each pair as groups of
   four depth values, the first channel's four bytes then the second's, the depth rounded up
   to four with zeros; depthwise as [tap][channel]. Written by mlfcheck; the generated kernels
   call these, nothing else does. */
#include <stdint.h>
#include <string.h>
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define MLFCHECK_SIMD 1
#else
#define MLFCHECK_SIMD 0
#endif

/* Geometry of an NHWC convolution, as the generated kernel passes it. */
typedef struct {
  int32_t batches, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
  int32_t out_h, out_w, out_c, depth, in_zp, out_zp, low, high;
} mlfcheck_conv_t;

/* One output channel's rescaling, ready to apply: the multiplier and TFLite's shift split into
   a left shift, a right shift and that right shift's remainder mask. */
typedef struct {
  int32_t m, left, right, mask;
} mlfcheck_scale_t;

/* GCC and Clang: the small helpers always inline, the inner loops never (and, with GCC, at -O2
   whatever the build's level: at -Os it spills a register on every iteration), and the two
   entry points may go unused (a model without dense, say). */
#if defined(__GNUC__)
static inline int32_t mlfcheck_load4(const void* p) __attribute__((always_inline));
static inline int8_t mlfcheck_requant(int32_t acc, int32_t m, int32_t s, int32_t zp,
                                      int32_t low, int32_t high) __attribute__((always_inline));
static inline int8_t mlfcheck_out(int32_t acc, mlfcheck_scale_t k, int32_t zp, int32_t low,
                                  int32_t high) __attribute__((always_inline));
static int32_t mlfcheck_dense(int8_t* x, int8_t* w, int32_t* bias, int32_t* mult,
                              int8_t* shift, int8_t* out, int32_t batches, int32_t depth,
                              int32_t units, int32_t out_zp, int32_t low, int32_t high)
    __attribute__((unused));
static int32_t mlfcheck_conv2d(int8_t* x, int8_t* w, int32_t* bias, int32_t* mult,
                               int8_t* shift, int8_t* out, int8_t* scratch, int32_t depthwise,
                               int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                               int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                               int32_t dil_h, int32_t dil_w, int32_t pad_t, int32_t pad_l,
                               int32_t out_h, int32_t out_w, int32_t out_c, int32_t depth,
                               int32_t in_zp, int32_t out_zp, int32_t low, int32_t high)
    __attribute__((unused));
#if defined(__clang__)
#if MLFCHECK_SIMD
static void mlfcheck_dw_4(const int8_t** tap, int32_t taps, const int8_t* w,
                          int32_t stride, int32_t c, int32_t* acc) __attribute__((noinline));
#endif
static void mlfcheck_dot_2x2(const int8_t* w, const int8_t* col, int32_t groups, int32_t* acc)
    __attribute__((noinline));
static void mlfcheck_dot_2x1(const int8_t* w, const int8_t* x, int32_t depth, int32_t* acc)
    __attribute__((noinline));
#else
#if MLFCHECK_SIMD
static void mlfcheck_dw_4(const int8_t** tap, int32_t taps, const int8_t* w,
                          int32_t stride, int32_t c, int32_t* acc)
    __attribute__((noinline, optimize("O2")));
#endif
static void mlfcheck_dot_2x2(const int8_t* w, const int8_t* col, int32_t groups, int32_t* acc)
    __attribute__((noinline, optimize("O2")));
static void mlfcheck_dot_2x1(const int8_t* w, const int8_t* x, int32_t depth, int32_t* acc)
    __attribute__((noinline, optimize("O2")));
#endif
#endif

static inline int32_t mlfcheck_load4(const void* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Channel rescaling (m, s) as TFLite's MultiplyByQuantizedMultiplier applies it: acc x
   2^max(s,0), the rounded doubling high half of the product with m, divided by 2^max(-s,0)
   rounding half away from zero. */
static inline mlfcheck_scale_t mlfcheck_scale(int32_t m, int32_t s) {
  mlfcheck_scale_t k;
  k.m = m;
  k.left = s > 0 ? s : 0;
  k.right = s > 0 ? 0 : -s;
  k.mask = (int32_t)((UINT32_C(1) << k.right) - 1u);
  return k;
}

/* acc rescaled by k, plus the zero point, clamped to [low, high]. */
static inline int8_t mlfcheck_out(int32_t acc, mlfcheck_scale_t k, int32_t zp, int32_t low,
                                  int32_t high) {
  int32_t v = (int32_t)((uint32_t)acc << k.left);
  int32_t hi = (int32_t)(((int64_t)v * k.m + ((int64_t)1 << 30)) >> 31);
  int32_t out = (hi >> k.right) + ((hi & k.mask) > ((k.mask >> 1) + (hi < 0))) + zp;
  return (int8_t)(out < low ? low : out > high ? high : out);
}

/* acc rescaled by (m, s), plus the zero point, clamped to [low, high]. */
static inline int8_t mlfcheck_requant(int32_t acc, int32_t m, int32_t s, int32_t zp,
                                      int32_t low, int32_t high) {
  return mlfcheck_out(acc, mlfcheck_scale(m, s), zp, low, high);
}

#if MLFCHECK_SIMD
static inline int32_t mlfcheck_odd(int32_t v) { /* bytes 1 and 3 as two int16 */
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}
#endif

/* Two channels (w: their interleaved groups) against two patches (col: per group of four
   values, patch 0's four bytes then patch 1's) over `groups` groups: acc = {w0.p0, w0.p1,
   w1.p0, w1.p1} added to. */
static void mlfcheck_dot_2x2(const int8_t* w, const int8_t* col, int32_t groups, int32_t* acc) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
#if MLFCHECK_SIMD
  /* col is a workspace block (aligned); the weights may be anywhere (the application passes
     them with --no-link-params), so they are read as bytes: LDR, never LDRD. */
  const int32_t* cp = (const int32_t*)(const void*)col;
  do {
    int32_t xv = cp[0], yv = cp[1];
    int32_t x02 = __sxtb16(xv), x13 = mlfcheck_odd(xv);
    int32_t y02 = __sxtb16(yv), y13 = mlfcheck_odd(yv);
    int32_t va = mlfcheck_load4(w), vb = mlfcheck_load4(w + 4);
    int32_t t = __sxtb16(va);
    a00 = __smlad(t, x02, a00);
    a01 = __smlad(t, y02, a01);
    va = mlfcheck_odd(va);
    a00 = __smlad(va, x13, a00);
    a01 = __smlad(va, y13, a01);
    t = __sxtb16(vb);
    a10 = __smlad(t, x02, a10);
    a11 = __smlad(t, y02, a11);
    vb = mlfcheck_odd(vb);
    a10 = __smlad(vb, x13, a10);
    a11 = __smlad(vb, y13, a11);
    w += 8;
    cp += 2;
  } while (--groups);
#else
  for (int32_t i = 0; i < 8 * groups; i += 8) {
    for (int32_t j = 0; j < 4; j++) {
      a00 += w[i + j] * col[i + j];
      a01 += w[i + j] * col[i + 4 + j];
      a10 += w[i + 4 + j] * col[i + j];
      a11 += w[i + 4 + j] * col[i + 4 + j];
    }
  }
#endif
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}

/* `n` bytes (a multiple of four) from `v` into patch slot `slot` of col from group `group`
   on (see mlfcheck_dot_2x2); `v` NULL: the zero point `pad` (four bytes of it). */
static void mlfcheck_put(int8_t* col, int32_t group, int32_t slot, const int8_t* v, int32_t n,
                         int32_t pad) {
  int8_t* at = col + 8 * group + 4 * slot;
  for (int32_t i = 0; i < n; i += 4, at += 8) {
    int32_t word = v ? mlfcheck_load4(v + i) : pad;
    memcpy(at, &word, 4);
  }
}

/* Output position `pos`'s patch into slot `slot` of col: the taps in (ky, kx, channel) order,
   the zero point where a tap falls in the padding, zeros after the last tap. Straight from
   the input when the channels come in fours, else through `stage` (depth bytes). */
static void mlfcheck_patch(const mlfcheck_conv_t* g, const int8_t* x, int8_t* stage, int8_t* col,
                           int32_t b, int32_t pos, int32_t slot) {
  int32_t oy = pos / g->out_w, ox = pos % g->out_w;
  int32_t iy0 = oy * g->stride_h - g->pad_t, ix0 = ox * g->stride_w - g->pad_l;
  int32_t pad = (int32_t)((uint32_t)(uint8_t)g->in_zp * 0x01010101u);
  int32_t direct = g->in_c % 4 == 0, group = 0;
  int8_t* s = stage;
  for (int32_t ky = 0; ky < g->k_h; ky++) {
    int32_t iy = iy0 + ky * g->dil_h;
    const int8_t* row = x + ((int64_t)b * g->in_h + iy) * g->in_w * g->in_c;
    for (int32_t kx = 0; kx < g->k_w; kx++) {
      int32_t ix = ix0 + kx * g->dil_w;
      const int8_t* tap =
          iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w ? row + ix * g->in_c : 0;
      if (direct) {
        mlfcheck_put(col, group, slot, tap, g->in_c, pad);
        group += g->in_c / 4;
      } else if (tap && g->dil_w == 1) {  /* the rest of the row's taps inside: one copy */
        int32_t run = g->k_w - kx < g->in_w - ix ? g->k_w - kx : g->in_w - ix;
        memcpy(s, tap, (size_t)(run * g->in_c));
        s += run * g->in_c;
        kx += run - 1;
      } else {
        if (tap) {
          memcpy(s, tap, (size_t)g->in_c);
        } else {
          memset(s, g->in_zp, (size_t)g->in_c);
        }
        s += g->in_c;
      }
    }
  }
  if (!direct) {
    memset(s, 0, (size_t)(stage + g->depth - s));
    mlfcheck_put(col, 0, slot, stage, g->depth, pad);
  }
}

/* conv2d: two output positions at a time (their patches in `scratch`, 2 x depth bytes, then
   depth bytes of staging when the input channels are not a multiple of four), two output
   channels at a time against them. */
static void mlfcheck_conv_s8(const int8_t* x, const int8_t* w, const int32_t* bias,
                             const int32_t* mult, const int8_t* shift, int8_t* out,
                             int8_t* scratch, const mlfcheck_conv_t* g) {
  int32_t positions = g->out_h * g->out_w, groups = g->depth / 4;
  int8_t* stage = scratch + 2 * g->depth;
  for (int32_t b = 0; b < g->batches; b++) {
    for (int32_t p = 0; p < positions; p += 2) {
      int32_t two = p + 1 < positions;
      mlfcheck_patch(g, x, stage, scratch, b, p, 0);
      mlfcheck_patch(g, x, stage, scratch, b, two ? p + 1 : p, 1);
      int8_t* o0 = out + ((int64_t)b * positions + p) * g->out_c;
      int8_t* o1 = o0 + g->out_c;
      for (int32_t c = 0; c < g->out_c; c += 2) {
        int32_t c1 = c + 1 < g->out_c ? c + 1 : c;
        int32_t acc[4] = {bias[c], bias[c], bias[c1], bias[c1]};
        mlfcheck_dot_2x2(w + (int64_t)c * g->depth, scratch, groups, acc);
        mlfcheck_scale_t k0 = mlfcheck_scale(mult[c], shift[c]);
        o0[c] = mlfcheck_out(acc[0], k0, g->out_zp, g->low, g->high);
        if (two) o1[c] = mlfcheck_out(acc[1], k0, g->out_zp, g->low, g->high);
        if (c1 != c) {
          mlfcheck_scale_t k1 = mlfcheck_scale(mult[c1], shift[c1]);
          o0[c1] = mlfcheck_out(acc[2], k1, g->out_zp, g->low, g->high);
          if (two) o1[c1] = mlfcheck_out(acc[3], k1, g->out_zp, g->low, g->high);
        }
      }
    }
  }
}

#if MLFCHECK_SIMD
/* Four channels from c of a depthwise tap sum: acc[j] += tap[t][c + j] * w[t * stride + j]
   over the taps (SMLABB/SMLATT on the SXTB16-unpacked even and odd bytes). */
static void mlfcheck_dw_4(const int8_t** tap, int32_t taps, const int8_t* w,
                          int32_t stride, int32_t c, int32_t* acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  do {
    int32_t xv = mlfcheck_load4(*tap++ + c), wv = mlfcheck_load4(w);
    int32_t x02 = __sxtb16(xv), w02 = __sxtb16(wv);
    a0 = __smlabb(x02, w02, a0);
    a2 = __smlatt(x02, w02, a2);
    xv = mlfcheck_odd(xv);
    wv = mlfcheck_odd(wv);
    a1 = __smlabb(xv, wv, a1);
    a3 = __smlatt(xv, wv, a3);
    w += stride;
  } while (--taps);
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}
#endif

/* depthwise conv2d (output channel c reads input channel c / multiplier): per output position,
   a pointer per tap (`scratch`: 8 bytes a tap, then in_c bytes of the zero point that padded
   taps point at), then four channels at a time. */
static void mlfcheck_dwconv_s8(const int8_t* x, const int8_t* w, const int32_t* bias,
                               const int32_t* mult, const int8_t* shift, int8_t* out,
                               int8_t* scratch, const mlfcheck_conv_t* g) {
  int32_t taps = g->k_h * g->k_w, multiplier = g->out_c / g->in_c;
  const int8_t** tap = (const int8_t**)(void*)scratch;  /* aligned: the workspace's blocks are */
  int8_t* pad = scratch + 8 * taps;
  memset(pad, g->in_zp, (size_t)g->in_c);
  for (int32_t b = 0; b < g->batches; b++) {
    for (int32_t oy = 0; oy < g->out_h; oy++) {
      for (int32_t ox = 0; ox < g->out_w; ox++) {
        for (int32_t t = 0; t < taps; t++) {
          int32_t iy = oy * g->stride_h - g->pad_t + (t / g->k_w) * g->dil_h;
          int32_t ix = ox * g->stride_w - g->pad_l + (t % g->k_w) * g->dil_w;
          tap[t] = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w
                       ? x + (((int64_t)b * g->in_h + iy) * g->in_w + ix) * g->in_c : pad;
        }
        int8_t* o = out + (((int64_t)b * g->out_h + oy) * g->out_w + ox) * g->out_c;
        int32_t c = 0;
#if MLFCHECK_SIMD
        for (; multiplier == 1 && c + 3 < g->out_c; c += 4) {
          int32_t acc[4] = {bias[c], bias[c + 1], bias[c + 2], bias[c + 3]};
          mlfcheck_dw_4(tap, taps, w + c, g->out_c, c, acc);
          o[c] = mlfcheck_requant(acc[0], mult[c], shift[c], g->out_zp, g->low, g->high);
          o[c + 1] = mlfcheck_requant(acc[1], mult[c + 1], shift[c + 1], g->out_zp, g->low,
                                      g->high);
          o[c + 2] = mlfcheck_requant(acc[2], mult[c + 2], shift[c + 2], g->out_zp, g->low,
                                      g->high);
          o[c + 3] = mlfcheck_requant(acc[3], mult[c + 3], shift[c + 3], g->out_zp, g->low,
                                      g->high);
        }
#endif
        for (; c < g->out_c; c++) {
          int32_t acc = bias[c];
          int32_t source = c / multiplier;
          for (int32_t t = 0; t < taps; t++) acc += tap[t][source] * w[t * g->out_c + c];
          o[c] = mlfcheck_requant(acc, mult[c], shift[c], g->out_zp, g->low, g->high);
        }
      }
    }
  }
}

/* Two channels (w: their interleaved groups) against one int8 vector x of `depth` values
   (its last group read only as far as it goes): acc = {w0.x, w1.x} added to. */
static void mlfcheck_dot_2x1(const int8_t* w, const int8_t* x, int32_t depth,
                                   int32_t* acc) {
  int32_t a0 = acc[0], a1 = acc[1];
  int32_t full = depth / 4, rest = depth % 4;
  for (int32_t gi = 0; gi <= full; gi++, w += 8, x += 4) {
    int32_t xv = 0;
    if (gi < full) {
      xv = mlfcheck_load4(x);
    } else if (rest) {
      memcpy(&xv, x, (size_t)rest);
    } else {
      break;
    }
#if MLFCHECK_SIMD
    int32_t va = mlfcheck_load4(w), vb = mlfcheck_load4(w + 4);
    int32_t x02 = __sxtb16(xv), x13 = mlfcheck_odd(xv);
    a0 = __smlad(mlfcheck_odd(va), x13, __smlad(__sxtb16(va), x02, a0));
    a1 = __smlad(mlfcheck_odd(vb), x13, __smlad(__sxtb16(vb), x02, a1));
#else
    int8_t xs[4];
    memcpy(xs, &xv, 4);
    for (int32_t j = 0; j < 4; j++) {
      a0 += w[j] * xs[j];
      a1 += w[4 + j] * xs[j];
    }
#endif
  }
  acc[0] = a0;
  acc[1] = a1;
}

/* dense: (batches, depth) . weights + bias, two units at a time. */
static int32_t mlfcheck_dense(int8_t* x, int8_t* w, int32_t* bias, int32_t* mult,
                                       int8_t* shift, int8_t* out, int32_t batches,
                                       int32_t depth, int32_t units, int32_t out_zp,
                                       int32_t low, int32_t high) {
  int32_t stride = (depth + 3) / 4 * 4;
  for (int32_t b = 0; b < batches; b++) {
    const int8_t* xb = x + (int64_t)b * depth;
    int8_t* ob = out + (int64_t)b * units;
    for (int32_t u = 0; u < units; u += 2) {
      int32_t u1 = u + 1 < units ? u + 1 : u;
      int32_t acc[2] = {bias[u], bias[u1]};
      mlfcheck_dot_2x1(w + (int64_t)u * stride, xb, depth, acc);
      ob[u] = mlfcheck_requant(acc[0], mult[u], shift[u], out_zp, low, high);
      if (u1 != u) ob[u1] = mlfcheck_requant(acc[1], mult[u1], shift[u1], out_zp, low, high);
    }
  }
  return 0;
}

/* The entry point the generated conv2d kernels call: the geometry as scalars. (The kernels'
   C declares both entry points after this, as TVM declares every function it calls; this
   static definition coming first keeps them internal to the file.) */
static int32_t mlfcheck_conv2d(int8_t* x, int8_t* w, int32_t* bias, int32_t* mult,
                                     int8_t* shift, int8_t* out,
                                     int8_t* scratch, int32_t depthwise, int32_t batches,
                                     int32_t in_h, int32_t in_w, int32_t in_c, int32_t k_h,
                                     int32_t k_w, int32_t stride_h, int32_t stride_w,
                                     int32_t dil_h, int32_t dil_w, int32_t pad_t, int32_t pad_l,
                                     int32_t out_h, int32_t out_w, int32_t out_c, int32_t depth,
                                     int32_t in_zp, int32_t out_zp, int32_t low,
                                     int32_t high) {
  mlfcheck_conv_t g = {batches, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                       pad_t, pad_l, out_h, out_w, out_c, depth, in_zp, out_zp, low, high};
  if (depthwise) {
    mlfcheck_dwconv_s8(x, w, bias, mult, shift, out, scratch, &g);
  } else {
    mlfcheck_conv_s8(x, w, bias, mult, shift, out, scratch, &g);
  }
  return 0;
}
