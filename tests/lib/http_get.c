/*  tests/lib/http_get.c - one HTTP/1.0 request over loopback TCP. */
#include "http_get.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ANSWER (16u << 20)

static long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *) &a, sizeof a) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

//  Read until the peer closes; NULL on timeout, error or an answer too big.
static char *s_read_all(int fd, size_t *n, int timeout_ms)
{
    size_t cap = 65536;
    char *buf = malloc(cap + 1);
    long deadline = s_now_ms() + timeout_ms;
    *n = 0;
    while (buf) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        long left = deadline - s_now_ms();
        if (left <= 0 || poll(&p, 1, (int) left) <= 0)
            break;
        if (*n == cap) {
            char *grown = cap < MAX_ANSWER ? realloc(buf, 2 * cap + 1) : NULL;
            if (!grown)
                break;
            buf = grown;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + *n, cap - *n);
        if (got == 0) {
            buf[*n] = '\0';
            return buf;
        }
        if (got < 0)
            break;
        *n += (size_t) got;
    }
    free(buf);
    return NULL;
}

int th_http_request(uint16_t port, const char *method, const char *path, char **body, size_t *len,
                    int timeout_ms)
{
    if (body)
        *body = NULL;
    int fd = s_connect(port);
    if (fd < 0)
        return -1;
    char req[512];
    int rlen = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    size_t n = 0;
    char *answer = rlen > 0 && rlen < (int) sizeof req && write(fd, req, (size_t) rlen) == rlen
                       ? s_read_all(fd, &n, timeout_ms)
                       : NULL;
    close(fd);
    int status = -1;
    char *start = answer ? strstr(answer, "\r\n\r\n") : NULL;
    if (!answer || !start || sscanf(answer, "HTTP/1.%*d %d", &status) != 1) {
        free(answer);
        return -1;
    }
    start += 4;
    size_t blen = n - (size_t) (start - answer);
    if (body) {
        *body = malloc(blen + 1);
        if (*body) {
            memcpy(*body, start, blen);
            (*body)[blen] = '\0';
        }
    }
    if (len)
        *len = blen;
    free(answer);
    return status;
}

int th_http_get(uint16_t port, const char *path, char **body, size_t *len)
{
    return th_http_request(port, "GET", path, body, len, 30000);
}
