/*
 * notify.c -- sd_notify in a few lines (see notify.h).
 *
 * NOTES: a NOTIFY_SOCKET starting with '@' names an abstract socket (the
 * '@' becomes a NUL and the address length must not include a trailing
 * NUL); a path socket is a plain sockaddr_un.
 */
#include "engine/notify.h"
#include "shm/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sup_notify(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un a;
    size_t len;

    if (path == NULL || *path == '\0')
        return 0;
    len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof a.sun_path)
        return -1;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, path, len);
    if (a.sun_path[0] == '@')
        a.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    ssize_t n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
                       (struct sockaddr *)&a,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path)
                                   + len + (path[0] == '/')));
    int e = errno;
    close(fd);
    if (n < 0) {
        LOG_DEBUG("notify", "sd_notify(%s) failed: %s", msg, strerror(e));
        return -1;
    }
    return 0;
}
