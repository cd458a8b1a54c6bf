/* Unit test of the region allocator and the bit-flip primitive. */
#include <stdint.h>
#include <stdio.h>
#include "core.h"

static int failures;
#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

int main(void) {
    uint8_t *r = radrt_region_alloc(100);
    CHECK(r != NULL);
    CHECK(((uintptr_t)r & 63u) == 0);
    for (int i = 0; i < 128; i++) CHECK(r[i] == 0); /* rounded up to 128, zeroed */
    radrt_flip_bit(r, 99, 7);
    CHECK(r[99] == 0x80);
    radrt_flip_bit(r, 99, 7);
    CHECK(r[99] == 0);
    radrt_set_bit(r, 3, 2, 1);
    CHECK(r[3] == 0x04);
    radrt_set_bit(r, 3, 2, 1);
    CHECK(r[3] == 0x04);
    radrt_set_bit(r, 3, 2, 0);
    CHECK(r[3] == 0);
    uint8_t src[5] = {1, 2, 3, 4, 5};
    radrt_copy(src, r + 10, 5);
    CHECK(r[10] == 1 && r[14] == 5);
    radrt_region_free(r);
    uint8_t *empty = radrt_region_alloc(0);
    CHECK(empty != NULL);
    radrt_region_free(empty);
    printf("test_core: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
