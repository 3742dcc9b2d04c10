/*
 * alert.c -- see alert.h (placeholder; being written).
 */
#include "admin/alert.h"

#include <stddef.h>

alert_t *alert_start(proc_ctx_t *ctx)
{
    (void)ctx;
    return NULL;
}

void alert_stop(alert_t *a)
{
    (void)a;
}
