/* Cast between float32 and the other supported element types (float16 stored
 * as its IEEE binary16 bits in uint16_t, bool as one byte 0/1). One function
 * per direction and type; runtime/ops/cast.py picks it at compile time. */
#ifndef RADRT_CAST_H
#define RADRT_CAST_H
#include <stddef.h>
#include <stdint.h>

void radrt_cast_f32_to_f16(const float *x, uint16_t *y, size_t n);
void radrt_cast_f32_to_f64(const float *x, double *y, size_t n);
void radrt_cast_f32_to_i8(const float *x, int8_t *y, size_t n);
void radrt_cast_f32_to_u8(const float *x, uint8_t *y, size_t n);
void radrt_cast_f32_to_i16(const float *x, int16_t *y, size_t n);
void radrt_cast_f32_to_u16(const float *x, uint16_t *y, size_t n);
void radrt_cast_f32_to_i32(const float *x, int32_t *y, size_t n);
void radrt_cast_f32_to_u32(const float *x, uint32_t *y, size_t n);
void radrt_cast_f32_to_i64(const float *x, int64_t *y, size_t n);
void radrt_cast_f32_to_u64(const float *x, uint64_t *y, size_t n);
void radrt_cast_f32_to_bool(const float *x, uint8_t *y, size_t n);

void radrt_cast_f16_to_f32(const uint16_t *x, float *y, size_t n);
/* float32 -> float16 -> float32 in one pass (x and y may be the same buffer). */
void radrt_cast_f32_via_f16(const float *x, float *y, size_t n);
void radrt_cast_f64_to_f32(const double *x, float *y, size_t n);
void radrt_cast_i8_to_f32(const int8_t *x, float *y, size_t n);
void radrt_cast_u8_to_f32(const uint8_t *x, float *y, size_t n);
void radrt_cast_i16_to_f32(const int16_t *x, float *y, size_t n);
void radrt_cast_u16_to_f32(const uint16_t *x, float *y, size_t n);
void radrt_cast_i32_to_f32(const int32_t *x, float *y, size_t n);
void radrt_cast_u32_to_f32(const uint32_t *x, float *y, size_t n);
void radrt_cast_i64_to_f32(const int64_t *x, float *y, size_t n);
void radrt_cast_u64_to_f32(const uint64_t *x, float *y, size_t n);
void radrt_cast_bool_to_f32(const uint8_t *x, float *y, size_t n);

#endif
