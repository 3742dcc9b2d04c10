/*
 * notify.h -- the sd_notify protocol without libsystemd: one datagram to
 * the unix socket named by $NOTIFY_SOCKET ("READY=1", "STOPPING=1",
 * "RELOADING=1", "STATUS=...").
 *
 * Does nothing when NOTIFY_SOCKET is unset (not under systemd, or
 * Type= is not notify). Errors are logged once at debug level and
 * otherwise ignored: systemd's view of us is not worth failing for.
 * Supervisor only (systemd listens to the main pid: NotifyAccess=main).
 */
#ifndef APOLO_NOTIFY_H
#define APOLO_NOTIFY_H

/* 0 sent (or nothing to send to), -1 failed. */
int sup_notify(const char *msg);

#endif
