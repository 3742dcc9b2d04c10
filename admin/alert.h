/*
 * alert.h -- notifications: low balance, balance exhausted, bulk-recharge
 * reports, by webhook and by email (placeholder; being written).
 */
#ifndef APOLO_ALERT_H
#define APOLO_ALERT_H

#include "shm/proc.h"

typedef struct alert alert_t;

/* Starts the detector and the sender (threads of the admin process).
 * NULL when disabled or on failure (logged); the process goes on. */
alert_t *alert_start(proc_ctx_t *ctx);
/* Stops and frees them (NULL: nothing). */
void     alert_stop(alert_t *a);

#endif
