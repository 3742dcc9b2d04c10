/*
 * www.c -- see www.h (placeholder; being written).
 */
#include "admin/www.h"

int www_start(http_server_t *s)
{
    (void)s;
    return 0;
}
