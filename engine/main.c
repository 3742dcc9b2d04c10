/*
 * main.c -- the apolod command line.
 *
 *   apolod [-c FILE]                 run the supervisor (foreground)
 *   apolod [-c FILE] ctl [-t MS] CMD send CMD (reload, status, ping) to the
 *                                    running supervisor over ctl.socket
 *   apolod [-c FILE] migrate         apply sql_dir's migrations and exit
 *   apolod [-c FILE] config          print the effective configuration
 *   apolod [-c FILE] user add NAME ROLE
 *                                    create an API user (admin, operator,
 *                                    viewer); the password is one line of
 *                                    stdin (bootstraps the first admin)
 *   apolod --keys                    print the configuration keys (Markdown)
 *
 * The kinds of children the supervisor forks are declared here, in the
 * binary, so that libapolo_engine.a does not depend on admin/ or workers/.
 */
#include "admin/admin.h"
#include "admin/auth_hash.h"
#include "engine/db.h"
#include "engine/children.h"
#include "engine/supervisor.h"
#include "shm/conf.h"
#include "shm/ctl.h"
#include "shm/log.h"
#include "workers/cucm.h"
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
    { .name = "cucm", .main = cucm_main, .count = cucm_dir_count },
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: apolod [-c FILE]                  run the supervisor\n"
        "       apolod [-c FILE] ctl [-t MS] CMD  reload | status | ping\n"
        "       apolod [-c FILE] migrate          apply the migrations\n"
        "       apolod [-c FILE] config           print the configuration\n"
        "       apolod [-c FILE] user add NAME ROLE  create an API user "
        "(password on stdin)\n"
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

/*
 * `apolod user add NAME ROLE`: applies the migrations, reads the password
 * (one line of stdin, at least AUTH_PW_MIN characters), stores its argon2id
 * hash. 0 when created; 1 when PostgreSQL fails or NAME exists; 2 for bad
 * arguments or password.
 */
static int cmd_user(const conf_t *c, const char *sql_dir, int argc,
                    char **argv)
{
    static const char *const roles[] = { "admin", "operator", "viewer" };
    char hash[AUTH_HASH_MAX], *pw = NULL;
    size_t cap = 0;
    int ok_role = 0;

    if (argc != 4 || strcmp(argv[1], "add") != 0) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[2], *role = argv[3];
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        ok_role |= strcmp(role, roles[i]) == 0;
    if (!ok_role || name[0] == '\0' || strlen(name) > 64
        || strpbrk(name, " \t\r\n") != NULL) {
        fprintf(stderr, "apolod user add: NAME is 1 to 64 characters without "
                "blanks, ROLE is admin, operator or viewer\n");
        return 2;
    }
    ssize_t n = getline(&pw, &cap, stdin);
    while (n > 0 && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
        pw[--n] = '\0';
    if (n < AUTH_PW_MIN || n > AUTH_PW_MAX) {
        fprintf(stderr, "apolod user add: the password (one line of stdin) "
                "must have %d to %d characters\n", AUTH_PW_MIN, AUTH_PW_MAX);
        free(pw);
        return 2;
    }
    int rc = auth_hash_password(pw, hash);
    memset(pw, 0, cap);
    free(pw);
    if (rc != 0) {
        fprintf(stderr, "apolod user add: password hashing failed\n");
        return 1;
    }
    rc = sup_migrate(c, sql_dir);
    if (rc != 0)
        return rc;
    PGconn *db = db_connect(conf_str(c, "database_url"), "apolod user");
    if (db == NULL)
        return 1;
    const char *p[3] = { name, hash, role };
    PGresult *res = PQexecParams(db, "INSERT INTO users (username, "
                                 "password_hash, role) VALUES ($1, $2, $3)",
                                 3, NULL, p, NULL, NULL, 0);
    rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (st != NULL && strcmp(st, "23505") == 0)
            fprintf(stderr, "apolod user add: user %s already exists\n", name);
        else
            fprintf(stderr, "apolod user add: %s", PQerrorMessage(db));
        rc = 1;
    }
    PQclear(res);
    if (rc == 0) {
        const char *a[3] = { "apolod", name, role };
        res = PQexecParams(db, "INSERT INTO audit_log (actor, action, object, "
                           "details) VALUES ($1, 'user_create', NULL, "
                           "jsonb_build_object('username', $2::text, "
                           "'role', $3::text))", 3, NULL, a, NULL, NULL, 0);
        PQclear(res);
        printf("ok user %s (%s)\n", name, role);
    }
    PQfinish(db);
    return rc;
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
    } else if (strcmp(argv[0], "user") == 0) {
        log_level = (log_level_t)c->log_level;
        rc = cmd_user(c, sql_dir, argc, argv);
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
