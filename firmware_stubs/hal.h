/* The hardware abstraction the firmware needs: one UART and a millisecond clock.
 * hal_posix.c implements it on termios (real UARTs and ptys); an MCU port
 * implements the same five functions on its UART driver. */
#ifndef HAL_H
#define HAL_H

#include <stddef.h>
#include <stdint.h>

/* Opens the port 8N1, raw, no flow control. Returns 0, or -1 (message on stderr). */
int hal_uart_open(const char *path, long baud);
/* Writes all bytes; 0 or -1. */
int hal_uart_write(const uint8_t *data, size_t len);
/* Waits up to timeout_ms for bytes; returns how many were read (0 on timeout), -1 on error. */
long hal_uart_read(uint8_t *buf, size_t cap, int timeout_ms);
void hal_uart_close(void);
/* A monotonic millisecond clock. */
uint32_t hal_millis(void);

#endif
