/* POSIX UART HAL on termios: real serial ports and pseudo-terminals. */
#define _POSIX_C_SOURCE 200809L
#include "hal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int uart_fd = -1;

static speed_t baud_constant(long baud)
{
    switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
#ifdef B230400
    case 230400: return B230400;
#endif
#ifdef B460800
    case 460800: return B460800;
#endif
#ifdef B921600
    case 921600: return B921600;
#endif
    default: return B0;
    }
}

int hal_uart_open(const char *path, long baud)
{
    struct termios t;
    speed_t speed = baud_constant(baud);
    if (speed == B0) {
        fprintf(stderr, "hal: baud rate %ld not supported (9600..921600 standard rates)\n", baud);
        return -1;
    }
    uart_fd = open(path, O_RDWR | O_NOCTTY);
    if (uart_fd < 0) {
        fprintf(stderr, "hal: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (tcgetattr(uart_fd, &t) != 0) {
        fprintf(stderr, "hal: %s is not a terminal: %s\n", path, strerror(errno));
        close(uart_fd);
        uart_fd = -1;
        return -1;
    }
    /* Raw 8N1 without flow control or any byte translation (cfmakeraw by hand:
     * it is not POSIX). */
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB);
    t.c_cflag |= CS8 | CREAD | CLOCAL;
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, speed);
    cfsetospeed(&t, speed);
    if (tcsetattr(uart_fd, TCSANOW, &t) != 0) {
        fprintf(stderr, "hal: cannot configure %s: %s\n", path, strerror(errno));
        close(uart_fd);
        uart_fd = -1;
        return -1;
    }
    return 0;
}

int hal_uart_write(const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(uart_fd, data, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

long hal_uart_read(uint8_t *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {uart_fd, POLLIN, 0};
    ssize_t n;
    int ready = poll(&p, 1, timeout_ms);
    if (ready < 0)
        return errno == EINTR ? 0 : -1;
    if (ready == 0)
        return 0;
    if (p.revents & POLLIN) {
        n = read(uart_fd, buf, cap);
        if (n < 0)
            return errno == EINTR || errno == EAGAIN ? 0 : -1;
        return (long)n;
    }
    return -1; /* POLLHUP / POLLERR: the other side is gone */
}

void hal_uart_close(void)
{
    if (uart_fd >= 0)
        close(uart_fd);
    uart_fd = -1;
}

uint32_t hal_millis(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}
