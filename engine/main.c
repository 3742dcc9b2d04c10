/*
 * main.c -- the apolod command line.
 *
 *   apolod [-c FILE]                 run the supervisor (foreground)
 *   apolod [-c FILE] ctl [-t MS] CMD send CMD (reload, status, ping) to the
 *                                    running supervisor over ctl.socket
 *   apolod [-c FILE] migrate         apply sql_dir's migrations and exit
 *   apolod [-c FILE] config          print the effective configuration
 *   apolod --keys                    print the configuration keys (Markdown)
 *
 * The kinds of children the supervisor forks are declared here, in the
 * binary, so that libapolo_engine.a does not depend on admin/ or workers/.
 */
#include "admin/admin.h"
#include "engine/children.h"
#include "engine/supervisor.h"
#include "shm/conf.h"
#include "shm/ctl.h"
#include "shm/log.h"
#include "workers/esl.h"
#include "workers/loadgen.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef APOLO_DATADIR
#define APOLO_DATADIR "/usr/local/share/apolo"
#endif

/* The children, in start order. One line per kind of worker. */
static const child_kind_t apolo_kinds[] = {
    { .name = "admin", .main = admin_main, .ctl = 1, .stop_last = 1 },
    { .name = "esl", .main = esl_main, .count = esl_node_count },
    { .name = "loadgen", .main = loadgen_main, .count_key = "loadgen.count" },
    /* To come (issue 7): { .name = "cucm", .main = cucm_main, ... } */
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: apolod [-c FILE]                  run the supervisor\n"
        "       apolod [-c FILE] ctl [-t MS] CMD  reload | status | ping\n"
        "       apolod [-c FILE] migrate          apply the migrations\n"
        "       apolod [-c FILE] config           print the configuration\n"
        "       apolod --keys                     list configuration keys\n"
        "Environment overrides the file: APOLO_<KEY> ('.' -> '_'), "
        "DATABASE_URL.\n");
}

/* `apolod ctl`: 0 for an "ok" reply, 1 for "error", 3 when unreachable. */
static int cmd_ctl(const conf_t *c, int argc, char **argv)
{
    char reply[CTL_MSG_MAX];
    int timeout = 60000, opt;
    optind = 1;
    while ((opt = getopt(argc, argv, "+t:")) != -1) {
        if (opt != 't')
            return 2;
        timeout = atoi(optarg);
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *path = conf_str(c, "ctl.socket");
    int fd = ctl_connect(path);
    if (fd < 0) {
        fprintf(stderr, "apolod ctl: %s: %s\n", path, strerror(errno));
        return 3;
    }
    int rc = ctl_request(fd, argv[optind], reply, sizeof reply, timeout);
    close(fd);
    if (rc != CTL_OK) {
        fprintf(stderr, "apolod ctl: no reply (%s)\n",
                rc == CTL_ETIMEDOUT ? "timed out" : "connection lost");
        return 3;
    }
    printf("%s\n", reply);
    return strncmp(reply, "ok", 2) == 0 ? 0 : 1;
}

static int run(conf_t *c, const char *path, int argc, char **argv)
{
    char sql_dir[512];
    sup_sql_dir(c, APOLO_DATADIR, sql_dir, sizeof sql_dir);
    if (argc == 0)
        return sup_run(c, path, sql_dir, apolo_kinds,
                       sizeof apolo_kinds / sizeof apolo_kinds[0]);
    int rc;
    if (strcmp(argv[0], "ctl") == 0) {
        rc = cmd_ctl(c, argc, argv);
    } else if (strcmp(argv[0], "migrate") == 0) {
        log_level = (log_level_t)c->log_level;
        rc = sup_migrate(c, sql_dir);
    } else if (strcmp(argv[0], "config") == 0) {
        conf_print(c, STDOUT_FILENO);
        rc = 0;
    } else {
        usage(stderr);
        rc = 2;
    }
    conf_free(c);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "keys", no_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    const char *path = NULL;
    conf_t conf;
    conf_err_t err;
    int opt;

    log_set_process("supervisor");
    while ((opt = getopt_long(argc, argv, "+c:hk", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'k': conf_print_keys(STDOUT_FILENO); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (conf_load(&conf, path, &err) != CONF_OK) {
        LOG_ERROR("conf", 0, "%s", err.msg);
        return 2;
    }
    return run(&conf, path, argc - optind, argv + optind);
}
