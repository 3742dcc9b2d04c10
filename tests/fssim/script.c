/*
 * script.c -- what the run does: the scripted calls and directives of
 * --script, or the random load; the expectations; the report.
 *
 * Script: one directive per line, '#' starts a comment (outside quotes),
 * words are key=value (a value may be "quoted" with C escapes). Times are
 * ms after the first client subscribed (`event ...`). README.md has the
 * grammar. The run ends when every scripted call has ended and every
 * drop/raw directive has run, at `end`, or on SIGTERM/SIGINT.
 *
 * The report (--report) gets one JSON line per call when the call ends
 * (calls never started get theirs at the end of the run).
 */
#include "tests/fssim/fssim.h"

#include "shm/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct spec {
    char     name[FS_STR];
    int      line;
    int64_t  at_ms;
    char     caller[FS_STR], dest[FS_STR], context[FS_STR];
    char     uuid[FS_UUID_STR];
    uint32_t ring_ms, talk_ms;
    int      answer, cause, dup, reorder, lose_hangup, lose_answer,
             ignore_sched;
    buf_t    vars;
    /* expectations (-1: none) */
    int      exp_verdict;
    int      exp_cause;
    int64_t  exp_talk_ms, tol_ms, exp_billsec;
    buf_t    exp_setvars;           /* names, NUL-separated */
    int      exp_sched;
    int      started, ended;
} spec_t;

enum { D_DROP = 1, D_RAW, D_END };
typedef struct directive {
    int     kind, line;
    int64_t at_ms;
    int64_t down_ms;        /* drop: refuse clients this long after */
    buf_t   data;
} directive_t;

static spec_t      *specs;
static size_t       nspecs;
static directive_t *dirs;
static size_t       ndirs, dirs_done;
static size_t       specs_ended;
static int          stopped;
static FILE        *report;
static int64_t      end_mono = -1;

/* random load */
static int       random_mode;
static char    **callers, **dests;
static size_t    ncallers, ndests;
static uint64_t  rnd_state;
static uint64_t  r_started;
static int64_t   r_base_us;
static uint64_t  r_base_n;
static int       r_blocked;         /* waiting for a call to end */
static int       r_armed;           /* a T_SPAWN timer is pending */

/* park -> verdict latencies (us) */
static uint32_t *lat;
static size_t    nlat, caplat;

static const char *const verdict_names[] = { "none", "transfer", "kill" };
static const char *const ended_names[] = { "", "script", "uuid_kill",
                                           "sched_hangup", "park_timeout",
                                           "end" };

/* ---- script parsing ------------------------------------------------------ */

static int perr(const char *path, int line, const char *msg, const char *arg)
{
    fprintf(stderr, "fssim: %s:%d: %s%s%s\n", path, line, msg,
            arg ? ": " : "", arg ? arg : "");
    return -1;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One word of a line: key[=value]. *pp advances past it. The value is
 * decoded into val (C escapes when quoted). Returns 1 for a word, 0 at the
 * end of the line (or a comment), -1 on a syntax error. */
static int next_word(const char **pp, buf_t *key, buf_t *val, int *has_val)
{
    const char *p = *pp;
    key->len = val->len = 0;
    *has_val = 0;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (!*p || *p == '#') {
        *pp = p;
        return 0;
    }
    while (*p && *p != '=' && *p != ' ' && *p != '\t' && *p != '\r' &&
           *p != '\n')
        buf_putc(key, *p++);
    buf_putc(key, '\0');
    key->len--;
    if (*p == '=') {
        *has_val = 1;
        p++;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p)
                    return -1;      /* unterminated */
                if (*p == '"') {
                    p++;
                    break;
                }
                if (*p != '\\') {
                    buf_putc(val, *p++);
                    continue;
                }
                p++;
                int c = (unsigned char)*p++;
                switch (c) {
                case 'n': buf_putc(val, '\n'); break;
                case 'r': buf_putc(val, '\r'); break;
                case 't': buf_putc(val, '\t'); break;
                case 'a': buf_putc(val, '\a'); break;
                case 'b': buf_putc(val, '\b'); break;
                case 'f': buf_putc(val, '\f'); break;
                case 'v': buf_putc(val, '\v'); break;
                case 'e': buf_putc(val, 0x1b); break;
                case '\\': case '"': case '\'': case '?':
                    buf_putc(val, (char)c);
                    break;
                case 'x': {
                    int v = 0, n = 0, h;
                    while (n < 2 && (h = hexval((unsigned char)*p)) >= 0) {
                        v = v * 16 + h;
                        p++;
                        n++;
                    }
                    if (!n)
                        return -1;
                    buf_putc(val, (char)v);
                    break;
                }
                default:
                    if (c >= '0' && c <= '7') {
                        int v = c - '0', n = 1;
                        while (n < 3 && *p >= '0' && *p <= '7') {
                            v = v * 8 + (*p++ - '0');
                            n++;
                        }
                        buf_putc(val, (char)v);
                    } else {
                        return -1;
                    }
                }
            }
        } else {
            while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
                buf_putc(val, *p++);
        }
    }
    buf_putc(val, '\0');
    val->len--;
    if (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
        return -1;
    *pp = p;
    return 1;
}

static int get_ms(const char *s, int64_t *out)
{
    uint64_t v;
    if (parse_u64(s, &v) != 0 || v > 86400000ULL * 365)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_call(const char *path, int line, const char *rest, spec_t *s)
{
    buf_t key = { 0 }, val = { 0 };
    int hv, r, have_at = 0, rc = -1;
    int64_t v;

    memset(s, 0, sizeof *s);
    s->line = line;
    s->ring_ms = 100;
    s->talk_ms = 1000;
    s->answer = 1;
    s->cause = -1;
    s->exp_verdict = -1;
    s->exp_cause = -1;
    s->exp_talk_ms = -1;
    s->tol_ms = 1000;
    s->exp_billsec = -1;
    snprintf(s->name, sizeof s->name, "line%d", line);
    snprintf(s->context, sizeof s->context, "%s", G.o.context);

    while ((r = next_word(&rest, &key, &val, &hv)) == 1) {
        const char *k = key.p, *vs = val.p;
        if (!hv) {
            perr(path, line, "expected key=value", k);
            goto out;
        }
        if (strlen(vs) != val.len && strcmp(k, "data") != 0) {
            perr(path, line, "NUL byte in a value", k);
            goto out;
        }
        if (strncmp(k, "var.", 4) == 0) {
            if (!k[4] || strlen(k + 4) >= FS_STR) {
                perr(path, line, "bad variable name", k);
                goto out;
            }
            buf_put(&s->vars, k + 4, strlen(k + 4) + 1);
            buf_put(&s->vars, vs, strlen(vs) + 1);
            continue;
        }
        char *dst = NULL;
        size_t cap = FS_STR;
        if (strcmp(k, "name") == 0)
            dst = s->name;
        else if (strcmp(k, "caller") == 0)
            dst = s->caller;
        else if (strcmp(k, "dest") == 0)
            dst = s->dest;
        else if (strcmp(k, "context") == 0)
            dst = s->context;
        if (dst) {
            if (!*vs || str_copy(dst, cap, vs) != 0 || strchr(vs, ' ')) {
                perr(path, line, "value empty, too long or with spaces", k);
                goto out;
            }
        } else if (strcmp(k, "uuid") == 0) {
            if (strlen(vs) != 36 || strspn(vs, "0123456789abcdefABCDEF-") != 36) {
                perr(path, line, "uuid: 36 hex digits and dashes", vs);
                goto out;
            }
            strcpy(s->uuid, vs);
        } else if (strcmp(k, "at") == 0) {
            if (get_ms(vs, &s->at_ms) != 0) {
                perr(path, line, "at: milliseconds", vs);
                goto out;
            }
            have_at = 1;
        } else if (strcmp(k, "ring") == 0 || strcmp(k, "talk") == 0) {
            if (get_ms(vs, &v) != 0 || v > 86400000) {
                perr(path, line, "expected milliseconds", k);
                goto out;
            }
            if (k[0] == 'r')
                s->ring_ms = (uint32_t)v;
            else
                s->talk_ms = (uint32_t)v;
        } else if (strcmp(k, "answer") == 0) {
            if (strcmp(vs, "no") == 0 || strcmp(vs, "0") == 0)
                s->answer = 0;
            else if (strcmp(vs, "yes") == 0 || strcmp(vs, "1") == 0)
                s->answer = 1;
            else {
                perr(path, line, "answer: yes or no", vs);
                goto out;
            }
        } else if (strcmp(k, "cause") == 0) {
            if (!cause_known(vs)) {
                perr(path, line, "unknown hangup cause", vs);
                goto out;
            }
            s->cause = cause_id(vs);
        } else if (strcmp(k, "dup") == 0 || strcmp(k, "reorder") == 0 ||
                   strcmp(k, "lose_hangup") == 0 ||
                   strcmp(k, "lose_answer") == 0 ||
                   strcmp(k, "ignore_sched") == 0 ||
                   strcmp(k, "expect_sched") == 0) {
            if (strcmp(vs, "0") != 0 && strcmp(vs, "1") != 0) {
                perr(path, line, "expected 0 or 1", k);
                goto out;
            }
            int b = vs[0] == '1';
            if (strcmp(k, "lose_hangup") == 0)
                s->lose_hangup = b;
            else if (strcmp(k, "lose_answer") == 0)
                s->lose_answer = b;
            else if (k[0] == 'i')
                s->ignore_sched = b;
            else if (k[0] == 'd')
                s->dup = b;
            else if (k[0] == 'r')
                s->reorder = b;
            else
                s->exp_sched = b;
        } else if (strcmp(k, "expect") == 0) {
            if (strcmp(vs, "none") == 0)
                s->exp_verdict = V_NONE;
            else if (strcmp(vs, "transfer") == 0)
                s->exp_verdict = V_TRANSFER;
            else if (strcmp(vs, "kill") == 0)
                s->exp_verdict = V_KILL;
            else {
                perr(path, line, "expect: transfer, kill or none", vs);
                goto out;
            }
        } else if (strcmp(k, "expect_cause") == 0) {
            if (!*vs) {
                perr(path, line, "expect_cause: a cause", NULL);
                goto out;
            }
            s->exp_cause = cause_id(vs);
        } else if (strcmp(k, "expect_talk") == 0 || strcmp(k, "tol") == 0 ||
                   strcmp(k, "expect_billsec") == 0) {
            if (get_ms(vs, &v) != 0) {
                perr(path, line, "expected a non-negative integer", k);
                goto out;
            }
            if (strcmp(k, "tol") == 0)
                s->tol_ms = v;
            else if (strcmp(k, "expect_talk") == 0)
                s->exp_talk_ms = v;
            else
                s->exp_billsec = v;
        } else if (strcmp(k, "expect_setvar") == 0) {
            if (!*vs) {
                perr(path, line, "expect_setvar: a variable name", NULL);
                goto out;
            }
            buf_put(&s->exp_setvars, vs, strlen(vs) + 1);
        } else {
            perr(path, line, "unknown key", k);
            goto out;
        }
    }
    if (r < 0) {
        perr(path, line, "syntax error (quotes, escapes or spaces)", NULL);
        goto out;
    }
    if (!have_at || !s->caller[0] || !s->dest[0]) {
        perr(path, line, "a call needs at=, caller= and dest=", NULL);
        goto out;
    }
    if (s->cause < 0)
        s->cause = cause_by_name("NO_ANSWER");
    rc = 0;
out:
    buf_free(&key);
    buf_free(&val);
    return rc;
}

static int parse_directive(const char *path, int line, int kind,
                           const char *rest, directive_t *d)
{
    buf_t key = { 0 }, val = { 0 };
    int hv, r, have_at = 0, have_data = 0, rc = -1;
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->line = line;
    while ((r = next_word(&rest, &key, &val, &hv)) == 1) {
        if (strcmp(key.p, "at") == 0 && hv) {
            if (get_ms(val.p, &d->at_ms) != 0) {
                perr(path, line, "at: milliseconds", val.p);
                goto out;
            }
            have_at = 1;
        } else if (kind == D_DROP && strcmp(key.p, "down") == 0 && hv) {
            if (get_ms(val.p, &d->down_ms) != 0) {
                perr(path, line, "down: milliseconds", val.p);
                goto out;
            }
        } else if (kind == D_RAW && strcmp(key.p, "data") == 0 && hv) {
            buf_put(&d->data, val.p, val.len);
            have_data = 1;
        } else {
            perr(path, line, "unknown key", key.p);
            goto out;
        }
    }
    if (r < 0) {
        perr(path, line, "syntax error (quotes, escapes or spaces)", NULL);
        goto out;
    }
    if (!have_at || (kind == D_RAW && !have_data)) {
        perr(path, line, kind == D_RAW ? "raw needs at= and data=" :
                                         "needs at=", NULL);
        goto out;
    }
    rc = 0;
out:
    buf_free(&key);
    buf_free(&val);
    return rc;
}

static int script_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "fssim: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int ln = 0, rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        ln++;
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#' || *p == '\n' || *p == '\r')
            continue;
        const char *w = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        size_t wl = (size_t)(p - w);
        if (wl == 4 && memcmp(w, "call", 4) == 0) {
            spec_t *ns = realloc(specs, (nspecs + 1) * sizeof *ns);
            if (!ns) {
                rc = -1;
                break;
            }
            specs = ns;
            if (parse_call(path, ln, p, &specs[nspecs]) != 0) {
                rc = -1;
                break;
            }
            for (size_t i = 0; i < nspecs; i++) {
                if (strcmp(specs[i].name, specs[nspecs].name) == 0) {
                    perr(path, ln, "duplicate call name", specs[i].name);
                    rc = -1;
                }
                if (specs[i].uuid[0] &&
                    strcasecmp(specs[i].uuid, specs[nspecs].uuid) == 0) {
                    perr(path, ln, "duplicate uuid", specs[i].uuid);
                    rc = -1;
                }
            }
            if (rc)
                break;
            nspecs++;
        } else if ((wl == 4 && memcmp(w, "drop", 4) == 0) ||
                   (wl == 3 && memcmp(w, "raw", 3) == 0) ||
                   (wl == 3 && memcmp(w, "end", 3) == 0)) {
            int kind = w[0] == 'd' ? D_DROP : w[0] == 'r' ? D_RAW : D_END;
            directive_t *nd = realloc(dirs, (ndirs + 1) * sizeof *nd);
            if (!nd) {
                rc = -1;
                break;
            }
            dirs = nd;
            if (parse_directive(path, ln, kind, p, &dirs[ndirs]) != 0) {
                rc = -1;
                break;
            }
            ndirs++;
        } else {
            char word[64];
            snprintf(word, sizeof word, "%.*s", (int)(wl < 60 ? wl : 60), w);
            perr(path, ln, "unknown directive", word);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    if (rc == 0)
        LOG_INFO("script", "%s: %zu calls, %zu directives", path, nspecs, ndirs);
    return rc;
}

/* "a,b,c" or "@file" (one per line, '#' comments) or a path. */
static int load_list(const char *what, const char *arg, char ***out, size_t *n)
{
    buf_t all = { 0 };
    const char *path = arg[0] == '@' ? arg + 1 : NULL;
    FILE *f = NULL;
    if (!path && strchr(arg, ',') == NULL && (f = fopen(arg, "r")) != NULL)
        path = arg;
    if (path) {
        if (!f)
            f = fopen(path, "r");
        if (!f) {
            fprintf(stderr, "fssim: --%s: cannot open %s: %s\n", what, path,
                    strerror(errno));
            return -1;
        }
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) >= 0) {
            char *p = line;
            while (*p == ' ' || *p == '\t')
                p++;
            size_t l = strcspn(p, " \t\r\n#");
            if (!l)
                continue;
            buf_put(&all, p, l);
            buf_putc(&all, ',');
        }
        free(line);
        fclose(f);
    } else {
        buf_put(&all, arg, strlen(arg));
        buf_putc(&all, ',');
    }
    buf_putc(&all, '\0');
    *n = 0;
    *out = NULL;
    for (char *s = all.p, *save = NULL, *t; (t = strtok_r(s, ",", &save));
         s = NULL) {
        if (strlen(t) >= FS_STR) {
            fprintf(stderr, "fssim: --%s: \"%s\" is too long\n", what, t);
            return -1;
        }
        char **nl = realloc(*out, (*n + 1) * sizeof *nl);
        char *d = strdup(t);
        if (!nl || !d)
            return -1;
        *out = nl;
        (*out)[(*n)++] = d;
    }
    buf_free(&all);
    if (!*n) {
        fprintf(stderr, "fssim: --%s: empty list\n", what);
        return -1;
    }
    return 0;
}

int run_load(void)
{
    if (G.o.report) {
        report = fopen(G.o.report, "w");
        if (!report) {
            fprintf(stderr, "fssim: cannot write %s: %s\n", G.o.report,
                    strerror(errno));
            return -1;
        }
    }
    if (G.o.script)
        return script_load(G.o.script);
    if (G.o.calls) {
        random_mode = 1;
        rnd_state = G.o.seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
        if (!rnd_state)
            rnd_state = 1;
        if (load_list("callers", G.o.callers, &callers, &ncallers) != 0 ||
            load_list("dests", G.o.dests, &dests, &ndests) != 0)
            return -1;
    }
    return 0;
}

/* ---- the run ------------------------------------------------------------- */

static void arm_spawn(int64_t when)
{
    if (!r_armed) {
        r_armed = 1;
        timer_add(when, T_SPAWN, 0, 0, 0, 0);
    }
}

void run_begin(int64_t now)
{
    for (size_t i = 0; i < nspecs; i++)
        timer_add(now + specs[i].at_ms * 1000, T_SPEC_START, 0, 0,
                  (uint32_t)i, 0);
    for (size_t i = 0; i < ndirs; i++)
        timer_add(now + dirs[i].at_ms * 1000, T_DIRECTIVE, 0, 0,
                  (uint32_t)i, 0);
    if (random_mode) {
        r_base_us = now;
        r_base_n = 0;
        arm_spawn(now);
    }
}

static void spawn(int64_t now)
{
    int burst = 0;
    r_blocked = 0;
    while (r_started < G.o.calls && !stopped) {
        if (G.st.live >= G.o.concurrency) {
            r_blocked = 1;
            return;
        }
        int64_t due = r_base_us +
            (int64_t)((r_started - r_base_n) * 1000000ULL / G.o.cps);
        if (due > now) {
            arm_spawn(due);
            return;
        }
        if (++burst > 2000) {       /* let the sockets breathe */
            arm_spawn(now);
            return;
        }
        char name[32];
        snprintf(name, sizeof name, "r%llu", (unsigned long long)r_started + 1);
        uint64_t r1 = rnd_next(&rnd_state), r2 = rnd_next(&rnd_state);
        uint64_t r3 = rnd_next(&rnd_state), r4 = rnd_next(&rnd_state);
        uint32_t span = G.o.talk_max_ms - G.o.talk_min_ms + 1;
        call_params_t p = {
            .name = name,
            .caller = callers[r1 % ncallers],
            .dest = dests[r2 % ndests],
            .context = G.o.context,
            .ring_ms = G.o.ring_ms,
            .talk_ms = G.o.talk_min_ms + (uint32_t)(r3 % span),
            .answer = (r4 % 100) < G.o.answer_pct,
            .noanswer_cause = cause_by_name("NO_ANSWER"),
            .spec = -1,
        };
        r_started++;
        call_start(&p);
    }
}

void run_timer(tkind_t k, uint32_t arg)
{
    int64_t now = mono_us();
    if (k == T_SPEC_START) {
        spec_t *s = &specs[arg];
        if (stopped || s->started)
            return;
        s->started = 1;
        call_params_t p = {
            .name = s->name, .caller = s->caller, .dest = s->dest,
            .context = s->context, .uuid = s->uuid, .ring_ms = s->ring_ms,
            .talk_ms = s->talk_ms, .answer = s->answer,
            .noanswer_cause = s->cause, .dup = s->dup, .reorder = s->reorder,
            .lose_hangup = s->lose_hangup, .lose_answer = s->lose_answer,
            .ignore_sched = s->ignore_sched,
            .spec = (int)arg, .vars = s->vars.p, .vars_len = s->vars.len,
        };
        call_start(&p);
    } else if (k == T_DIRECTIVE) {
        directive_t *d = &dirs[arg];
        if (stopped)
            return;
        dirs_done++;
        switch (d->kind) {
        case D_DROP:
            LOG_INFO("script", "line %d: drop every client (down %lld ms)",
                     d->line, (long long)d->down_ms);
            G.st.refuse_until_us = mono_us() + d->down_ms * 1000;
            server_close_all(1);
            break;
        case D_RAW:
            LOG_INFO("script", "line %d: %zu raw bytes to every client",
                     d->line, d->data.len);
            server_raw_all(d->data.p, d->data.len);
            break;
        case D_END:
            LOG_INFO("script", "line %d: end", d->line);
            run_stop();
            break;
        }
    } else if (k == T_SPAWN) {
        r_armed = 0;
        if (r_blocked) {
            int64_t due = r_base_us +
                (int64_t)((r_started - r_base_n) * 1000000ULL / G.o.cps);
            if (due < now) {        /* no catching up after a stall */
                r_base_us = now;
                r_base_n = r_started;
            }
        }
        spawn(now);
    }
}

void run_note_verdict(call_t *c)
{
    if (caplat == nlat) {
        size_t nc = caplat ? caplat * 2 : 4096;
        uint32_t *nl = realloc(lat, nc * sizeof *nl);
        if (!nl)
            return;
        lat = nl;
        caplat = nc;
    }
    int64_t d = c->verdict_us - c->parked_us;
    lat[nlat++] = d < 0 ? 0 : d > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* ---- expectations and report --------------------------------------------- */

static int64_t billsec_of(const call_t *c)
{
    if (!c || c->answered_us <= 0 || c->hangup_us <= 0)
        return 0;
    return c->hangup_us / 1000000 - c->answered_us / 1000000;
}

static int64_t billmsec_of(const call_t *c)
{
    if (!c || c->answered_us <= 0 || c->hangup_us <= 0)
        return 0;
    return c->hangup_us / 1000 - c->answered_us / 1000;
}

static int has_setvar(const call_t *c, const char *name)
{
    const buf_t *v = &c->setvars;
    for (size_t i = 0; i < v->len;) {
        const char *n = v->p + i;
        if (strcmp(n, name) == 0)
            return 1;
        i += strlen(n) + 1;
        i += strlen(v->p + i) + 1;
    }
    return 0;
}

/* Checks s's expectations against c (NULL: the call never started).
 * Prints each failure; returns 1 when all held. */
static int check(const spec_t *s, const call_t *c)
{
    int ok = 1;
    int verdict = c ? (int)c->verdict : V_NONE;
    if (!c && !(s->exp_verdict < 0 && s->exp_cause < 0 && s->exp_talk_ms < 0 &&
                s->exp_billsec < 0 && !s->exp_setvars.len && !s->exp_sched)) {
        fprintf(stderr, "FAIL %s: expected the call to run, got never "
                "started (the run ended first)\n", s->name);
        return 0;
    }
    if (!c)
        return 1;
    if (s->exp_verdict >= 0 && s->exp_verdict != verdict) {
        fprintf(stderr, "FAIL %s: expected verdict=%s, got verdict=%s\n",
                s->name, verdict_names[s->exp_verdict], verdict_names[verdict]);
        ok = 0;
    }
    if (s->exp_cause >= 0 &&
        strcasecmp(cause_name(s->exp_cause), cause_name(c->cause)) != 0) {
        fprintf(stderr, "FAIL %s: expected cause=%s, got cause=%s\n", s->name,
                cause_name(s->exp_cause), c->cause >= 0 ? cause_name(c->cause)
                                                        : "(none)");
        ok = 0;
    }
    if (s->exp_talk_ms >= 0) {
        if (c->answered_us <= 0) {
            fprintf(stderr, "FAIL %s: expected talk=%lldms (tol %lld), got "
                    "not answered\n", s->name, (long long)s->exp_talk_ms,
                    (long long)s->tol_ms);
            ok = 0;
        } else {
            int64_t t = (c->hangup_us - c->answered_us) / 1000;
            int64_t diff = t > s->exp_talk_ms ? t - s->exp_talk_ms
                                              : s->exp_talk_ms - t;
            if (diff > s->tol_ms) {
                fprintf(stderr, "FAIL %s: expected talk=%lldms (tol %lld), "
                        "got talk=%lldms\n", s->name, (long long)s->exp_talk_ms,
                        (long long)s->tol_ms, (long long)t);
                ok = 0;
            }
        }
    }
    if (s->exp_billsec >= 0 && billsec_of(c) != s->exp_billsec) {
        fprintf(stderr, "FAIL %s: expected billsec=%lld, got billsec=%lld\n",
                s->name, (long long)s->exp_billsec, (long long)billsec_of(c));
        ok = 0;
    }
    for (size_t i = 0; i < s->exp_setvars.len;) {
        const char *n = s->exp_setvars.p + i;
        if (!has_setvar(c, n)) {
            fprintf(stderr, "FAIL %s: expected setvar %s, got not set\n",
                    s->name, n);
            ok = 0;
        }
        i += strlen(n) + 1;
    }
    if (s->exp_sched && c->sched.len == 0) {
        fprintf(stderr, "FAIL %s: expected sched_hangup, got none\n", s->name);
        ok = 0;
    }
    return ok;
}

static void report_line(const spec_t *s, const call_t *c, int ok)
{
    if (!report)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(c ? c->name : s->name));
    json_object_set_new(o, "uuid", json_string(c ? c->uuid : s->uuid));
    json_object_set_new(o, "caller", json_string(c ? c->caller : s->caller));
    json_object_set_new(o, "dest", json_string(c ? c->init_dest : s->dest));
    json_object_set_new(o, "created_us", json_integer(c ? c->created_us : 0));
    json_object_set_new(o, "parked_us", json_integer(c ? c->parked_us : 0));
    json_object_set_new(o, "verdict",
                        json_string(verdict_names[c ? c->verdict : V_NONE]));
    json_object_set_new(o, "verdict_us", json_integer(c ? c->verdict_us : 0));
    json_object_set_new(o, "kill_cause", c && c->kill_cause >= 0
                        ? json_string(cause_name(c->kill_cause)) : json_null());
    json_t *sv = json_object();
    if (c)
        for (size_t i = 0; i < c->setvars.len;) {
            const char *n = c->setvars.p + i;
            const char *v = n + strlen(n) + 1;
            json_object_set_new(sv, n, json_string(v));
            i += strlen(n) + 1 + strlen(v) + 1;
        }
    json_object_set_new(o, "setvars", sv);
    json_t *sh = json_array();
    if (c)
        for (size_t i = 0; i + 4 <= c->sched.len; i += 4) {
            uint32_t secs;
            memcpy(&secs, c->sched.p + i, 4);
            json_array_append_new(sh, json_integer(secs));
        }
    json_object_set_new(o, "sched_hangups", sh);
    json_object_set_new(o, "broadcasts", json_integer(c ? c->broadcasts : 0));
    json_object_set_new(o, "answered_us", json_integer(c ? c->answered_us : 0));
    json_object_set_new(o, "hangup_us", json_integer(c ? c->hangup_us : 0));
    json_object_set_new(o, "cause", c && c->cause >= 0
                        ? json_string(cause_name(c->cause)) : json_null());
    json_object_set_new(o, "billsec", json_integer(billsec_of(c)));
    json_object_set_new(o, "billmsec", json_integer(billmsec_of(c)));
    json_object_set_new(o, "ended_by",
                        json_string(c ? ended_names[c->ended_by] : "end"));
    json_object_set_new(o, "ok", json_boolean(ok));
    char *txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (txt) {
        fputs(txt, report);
        fputc('\n', report);
        free(txt);
    }
    json_decref(o);
}

void run_call_ended(call_t *c)
{
    int ok = 1;
    if (c->verdict == V_TRANSFER)
        G.st.verdict_transfer++;
    else if (c->verdict == V_KILL)
        G.st.verdict_kill++;
    else
        G.st.verdict_none++;
    if (c->spec >= 0) {
        spec_t *s = &specs[c->spec];
        s->ended = 1;
        specs_ended++;
        ok = check(s, c);
        if (!ok)
            G.failures++;
        report_line(s, c, ok);
    } else {
        report_line(NULL, c, 1);
    }
    if (random_mode && r_blocked && !stopped)
        arm_spawn(mono_us());       /* run_timer resets the rate base */
}

int run_finished(void)
{
    int done;
    if (stopped)
        done = 1;
    else if (G.t0_mono < 0)
        done = 0;
    else if (random_mode)
        done = r_started >= G.o.calls && G.st.live == 0;
    else if (!G.o.script)
        done = 0;                   /* no load: serve until a signal */
    else
        done = specs_ended == nspecs && dirs_done == ndirs;
    if (done && end_mono < 0)
        end_mono = mono_us();
    return done;
}

void run_stop(void)
{
    if (stopped)
        return;
    stopped = 1;
    end_mono = mono_us();
    calls_hangup_all(cause_by_name("SYSTEM_SHUTDOWN"));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int run_finish(void)
{
    if (end_mono < 0)
        end_mono = mono_us();
    for (size_t i = 0; i < nspecs; i++) {
        if (specs[i].started)
            continue;
        int ok = check(&specs[i], NULL);
        if (!ok)
            G.failures++;
        report_line(&specs[i], NULL, ok);
    }
    if (report) {
        fclose(report);
        report = NULL;
    }
    uint32_t p50 = 0, p99 = 0, mx = 0;
    if (nlat) {
        qsort(lat, nlat, sizeof *lat, cmp_u32);
        p50 = lat[(nlat - 1) / 2];
        p99 = lat[(size_t)((double)(nlat - 1) * 0.99)];
        mx = lat[nlat - 1];
    }
    long long elapsed = G.t0_mono < 0 ? 0
                                      : (long long)(end_mono - G.t0_mono) / 1000;
    /* Calls started per second, first to last: what the engine let the
     * simulator sustain under --concurrency (a slow verdict keeps calls
     * live longer, and the cap then holds new calls back). */
    long long span = (long long)(G.st.last_create_us - G.st.first_create_us)
                     / 1000;
    double cps = span > 0 ? (double)(G.st.calls_created - 1) * 1000.0
                                / (double)span : 0.0;
    printf("FSSIM create_span_ms=%lld cps_achieved=%.0f peak_live=%llu\n",
           span, cps, (unsigned long long)G.st.peak_live);
    printf("FSSIM calls=%llu verdict_transfer=%llu verdict_kill=%llu "
           "verdict_none=%llu answered=%llu park_to_verdict_p50_us=%u "
           "p99_us=%u max_us=%u events_sent=%llu elapsed_ms=%lld\n",
           (unsigned long long)G.st.calls_created,
           (unsigned long long)G.st.verdict_transfer,
           (unsigned long long)G.st.verdict_kill,
           (unsigned long long)G.st.verdict_none,
           (unsigned long long)G.st.answered, p50, p99, mx,
           (unsigned long long)G.st.events_sent, elapsed);
    fflush(stdout);
    if (G.failures)
        LOG_WARN("script", 0, "%d expectation(s) failed", G.failures);
    return G.failures ? 1 : 0;
}
