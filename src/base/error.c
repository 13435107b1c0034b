/* error.c - status names and the one way errors are filled in. */
#include "base/common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

const char *rf_status_name(rf_status status)
{
    switch (status) {
    case RF_OK: return "ok";
    case RF_E_ARG: return "invalid argument";
    case RF_E_IO: return "i/o error";
    case RF_E_FORMAT: return "bad format";
    case RF_E_MODEL: return "model mismatch";
    case RF_E_NOMEM: return "out of memory";
    case RF_E_LIMIT: return "limit exceeded";
    case RF_E_UNSUPPORTED: return "unsupported";
    case RF_E_NETWORK: return "network error";
    }
    return "unknown status";
}

rf_status rf_fail(rf_error *err, rf_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

rf_status rf_ok(rf_error *err)
{
    if (err) {
        err->status = RF_OK;
        err->message[0] = '\0';
    }
    return RF_OK;
}

size_t rf_mul_size(size_t a, size_t b)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    return a * b;
}
