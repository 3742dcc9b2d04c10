/*
 * wsclient.c -- a small WebSocket client for tests/t_ws.sh (GET /ws).
 *
 *   wsclient --port P [--host 127.0.0.1] [--path /ws] [--token T |
 *            --cookie T] [--seconds N]
 *
 * Sends the upgrade (RFC 6455, with Authorization: Bearer T or Cookie:
 * apolo_session=T), prints `HTTP <status>` (the status line's code), then
 * for each text message `RECV <local wall-clock µs> <text>`, for N seconds
 * (default 5), then closes. At the end, over the messages whose type
 * starts with "call_": `WSCLIENT events=N latency_p50_us=.. p99_us=..
 * max_us=..` (receive time - the message's "at").
 *
 * Exit: 0 upgraded and read until the end, 1 the upgrade was refused,
 * 2 a usage, connection or protocol error. Plain blocking sockets; the
 * server's frames are unmasked, ours masked (with a fixed key: a test).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 100000

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned char buf[1 << 22];
static size_t have;
static int64_t lat[MAX_EVENTS];
static size_t nlat;

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Reads more into buf before the deadline: bytes read, 0 timeout, -1. */
static int fill(int fd, int64_t deadline)
{
    int64_t left = deadline - mono_ms();
    if (left <= 0)
        return 0;
    struct pollfd p = { fd, POLLIN, 0 };
    int r = poll(&p, 1, (int)left);
    if (r <= 0)
        return r;
    if (have == sizeof buf)
        return -1;
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n <= 0)
        return -1;
    have += (size_t)n;
    return (int)n;
}

static void message(const char *text, size_t len, int64_t recv_us)
{
    printf("RECV %lld %.*s\n", (long long)recv_us, (int)len, text);
    if (len < 20 || strncmp(text, "{\"type\":\"call_", 14) != 0
        || nlat == MAX_EVENTS)
        return;
    const char *at = strstr(text, "\"at\":");
    if (at != NULL && at < text + len)
        lat[nlat++] = recv_us - strtoll(at + 5, NULL, 10);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *path = "/ws", *token = NULL;
    int port = 0, cookie = 0, seconds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--host") == 0) host = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0) port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--path") == 0) path = argv[i + 1];
        else if (strcmp(argv[i], "--token") == 0) token = argv[i + 1];
        else if (strcmp(argv[i], "--cookie") == 0) {
            token = argv[i + 1];
            cookie = 1;
        } else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "wsclient: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (port <= 0) {
        fprintf(stderr, "usage: wsclient --port P [--host H] [--path P] "
                "[--token T | --cookie T] [--seconds N]\n");
        return 2;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1
        || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("wsclient: connect");
        return 2;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[1024], auth[300] = "";
    if (token != NULL)
        snprintf(auth, sizeof auth, cookie ? "Cookie: apolo_session=%s\r\n"
                 : "Authorization: Bearer %s\r\n", token);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n",
                     path, host, port, auth);
    if (write(fd, req, (size_t)n) != n) {
        perror("wsclient: write");
        return 2;
    }
    int64_t deadline = mono_ms() + (int64_t)seconds * 1000;
    char *end = NULL;
    while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL)
        if (fill(fd, deadline) <= 0) {
            fprintf(stderr, "wsclient: no response\n");
            return 2;
        }
    int status = 0;
    sscanf((char *)buf, "HTTP/1.%*d %d", &status);
    printf("HTTP %d\n", status);
    fflush(stdout);
    if (status != 101) {
        fprintf(stderr, "%.*s", (int)(end - (char *)buf), (char *)buf);
        return 1;
    }
    size_t off = (size_t)(end + 4 - (char *)buf);
    memmove(buf, buf + off, have - off);
    have -= off;

    for (;;) {
        /* a whole frame in buf? */
        while (have >= 2) {
            size_t len = buf[1] & 0x7f, hl = 2;
            if (len == 126) {
                if (have < 4) break;
                len = (size_t)buf[2] << 8 | buf[3];
                hl = 4;
            } else if (len == 127) {
                if (have < 10) break;
                len = 0;
                for (int k = 2; k < 10; k++)
                    len = len << 8 | buf[k];
                hl = 10;
            }
            if (len > sizeof buf - hl) {
                fprintf(stderr, "wsclient: frame of %zu bytes\n", len);
                return 2;
            }
            if (have < hl + len)
                break;
            int op = buf[0] & 0x0f;
            if (op == 1)
                message((char *)buf + hl, len, wall_us());
            else if (op == 8) {
                printf("CLOSE %u\n", len >= 2 ? (unsigned)(buf[hl] << 8
                                                          | buf[hl + 1]) : 0);
                goto done;
            }
            memmove(buf, buf + hl + len, have - hl - len);
            have -= hl + len;
        }
        int r = fill(fd, deadline);
        if (r == 0)
            break;
        if (r < 0) {
            fprintf(stderr, "wsclient: connection lost\n");
            return 2;
        }
    }
    /* close frame, masked with key 0 */
    static const unsigned char bye[] = { 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8 };
    if (write(fd, bye, sizeof bye) != (ssize_t)sizeof bye)
        perror("wsclient: close");
done:
    close(fd);
    if (nlat > 0) {
        qsort(lat, nlat, sizeof *lat, cmp64);
        printf("WSCLIENT events=%zu latency_p50_us=%lld p99_us=%lld "
               "max_us=%lld\n", nlat, (long long)lat[nlat / 2],
               (long long)lat[(nlat * 99) / 100 < nlat ? (nlat * 99) / 100
                                                      : nlat - 1],
               (long long)lat[nlat - 1]);
    } else {
        printf("WSCLIENT events=0\n");
    }
    return 0;
}
