/*  detail.h - the one-line failure detail written to a caller's buffer
    (private to proto).

    Many proto functions take errbuf/errlen next to their proto_err_t so a
    caller can say what went wrong; this is the one way to fill them.
*/
#ifndef PROTO_DETAIL_H
#define PROTO_DETAIL_H

#include <stddef.h>

//  printf into errbuf (errlen bytes, always NUL-terminated). Does nothing if
//  errbuf is NULL or errlen is 0.
void proto_detailf(char *errbuf, size_t errlen, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

#endif
