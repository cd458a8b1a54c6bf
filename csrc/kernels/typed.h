/* Elementwise ops on every numeric element type, with numpy broadcasting:
 * arithmetic on integers and float64 (float32 arithmetic is elementwise.c),
 * comparisons and logic with a bool result, and Where. Python
 * (runtime/ops/typed.py) validates types and shapes and collapses the broadcast
 * into a radrt_bcast_t (elementwise.h: only shape and strides are read here);
 * C trusts it. bool is one byte, 0 or 1.
 *
 * Integer semantics where the ONNX spec leaves them open (runtime/ops/typed.py
 * documents them for users): Add, Sub, Mul and Pow wrap modulo 2^bits; Div
 * truncates toward zero, x / 0 is 0 and INT_MIN / -1 is INT_MIN; Mod follows the
 * divisor's sign (fmod = 0) or the dividend's (fmod = 1), x mod 0 is 0; Pow with
 * a negative exponent is the truncated quotient (1 for base 1, +-1 for base -1,
 * else 0). Float comparisons are false with a NaN operand (Equal too). */
#ifndef RADRT_TYPED_H
#define RADRT_TYPED_H
#include <stddef.h>
#include <stdint.h>
#include "elementwise.h"

/* Element types. */
#define RADRT_T_F32 0
#define RADRT_T_F64 1
#define RADRT_T_I8 2
#define RADRT_T_U8 3
#define RADRT_T_I16 4
#define RADRT_T_U16 5
#define RADRT_T_I32 6
#define RADRT_T_U32 7
#define RADRT_T_I64 8
#define RADRT_T_U64 9
#define RADRT_T_BOOL 10

/* Ops: arithmetic (result of the operands' type) ... */
#define RADRT_TOP_ADD 0
#define RADRT_TOP_SUB 1
#define RADRT_TOP_MUL 2
#define RADRT_TOP_DIV 3
#define RADRT_TOP_MOD 4
#define RADRT_TOP_FMOD 5
#define RADRT_TOP_POW 6
#define RADRT_TOP_MAX 7
#define RADRT_TOP_MIN 8
/* ... comparisons (bool result) ... */
#define RADRT_TOP_EQ 9
#define RADRT_TOP_LT 10
#define RADRT_TOP_GT 11
#define RADRT_TOP_LE 12
#define RADRT_TOP_GE 13
/* ... logic on bool operands (bool result). */
#define RADRT_TOP_AND 14
#define RADRT_TOP_OR 15
#define RADRT_TOP_XOR 16

/* y[idx] = a[idx . a_stride] OP b[idx . b_stride] (p->op is ignored; `op` and
 * `dtype`, the operands' type, choose). Returns 0, or -1 for an op the type
 * does not have (logic on non-bool, arithmetic on bool). */
int radrt_typed_binary(const radrt_bcast_t *p, int op, int dtype, const void *a, const void *b, void *y);

/* Variadic Max/Min/Sum of n_inputs >= 2 operands of `dtype`: steps[0] combines
 * inputs[0] and inputs[1] into y, then steps[k] combines y with inputs[k + 1] in
 * place (as radrt_variadic in elementwise.h). */
int radrt_typed_variadic(const radrt_bcast_t *steps, int op, int dtype, const void *const *inputs,
                         size_t n_inputs, void *y);

/* y = c ? x : z with the three broadcast to `shape` (strides in elements, 0 on a
 * broadcast dim); elem_size bytes per element of x, z and y; c is bool. */
typedef struct {
    int ndim;
    int64_t shape[RADRT_MAX_DIMS];
    int64_t c_stride[RADRT_MAX_DIMS];
    int64_t x_stride[RADRT_MAX_DIMS];
    int64_t z_stride[RADRT_MAX_DIMS];
} radrt_where_t;

void radrt_where(const radrt_where_t *p, size_t elem_size, const uint8_t *c, const void *x, const void *z,
                 void *y);

/* y = !x over n bools. */
void radrt_not(const uint8_t *x, uint8_t *y, size_t n);

#endif
