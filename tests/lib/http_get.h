/*  tests/lib/http_get.h - the smallest HTTP/1.0 client the tests need to
    scrape /metrics, /healthz and /readyz: one request on a fresh loopback
    TCP connection, the whole answer read until the server closes. No
    dependency beyond the C library, so a test needs neither curl nor
    libmicrohttpd on its own side.
*/
#ifndef TRUC_TEST_HTTP_GET_H
#define TRUC_TEST_HTTP_GET_H

#include <stddef.h>
#include <stdint.h>

//  Send `METHOD path` to 127.0.0.1:port and read the answer (at most
//  16 MiB, within timeout_ms). Returns the status code and *body (malloc'd,
//  NUL-terminated, the caller frees; NULL allowed to ignore it), or -1 if
//  no well-formed answer came.
int th_http_request(uint16_t port, const char *method, const char *path, char **body, size_t *len,
                    int timeout_ms);

//  The same with GET.
int th_http_get(uint16_t port, const char *path, char **body, size_t *len);

#endif
