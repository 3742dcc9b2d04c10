/*
 * api_bulk.c -- bulk recharges from a CSV or XLSX file (admin/README.md).
 *
 *   POST /api/v1/recharges/bulk?mode=all|valid[&dry_run=true]   operator
 *   GET  /api/v1/recharges/bulk[?before=&limit=]                viewer
 *   GET  /api/v1/recharges/bulk/{id}                            viewer
 *
 * A POST, in this order:
 *
 *   read the file (admin.max_body_kb) -> rows (bulk_csv.h | xlsx.h)
 *   validate every row (catalog, briefly online): account known and not
 *     closed, amount > 0, <= 2^50 micro-units, <= 6 decimals, reason
 *   dry run: 200 preview, nothing written
 *   lock "bulk#<key>" (session advisory lock, as api_money.c)
 *   the key's batch exists: another file -> 422; else roll it forward
 *     if unfinished, answer it (200, Idempotent-Replayed)
 *   refused (mode=all with an invalid row, or no valid row): 422, audited,
 *     nothing stored
 *   BEGIN; INSERT the batch (state applying); COPY its rows; COMMIT
 *   each valid row: money_apply_locked (money_common.h) with the key
 *     "<batch key>#<line>": claim, journaled move, key done, audit;
 *     then the row marked applied (or failed)
 *   BEGIN; batch done|partial, audit bulk.apply; COMMIT
 *   201 with the stored batch
 *
 * Exactly once: every row is an ordinary exactly-once recharge of its own
 * key, so a batch interrupted anywhere (admin process killed, PostgreSQL
 * lost) is completed by running the same loop again: rows already moved
 * are found done (or recovered from the journal and the ledger) and not
 * moved twice. The loop runs again on a retry of the POST, and once in
 * each admin process for every batch still 'applying' (lazily: the first
 * request to any of these endpoints, see bulk_resume_all). The batch lock
 * covers its rows' keys: '#' is outside the charset of the single
 * recharge's keys, so nobody else can claim them. Each row is marked
 * applied as soon as it moved, and a resumed batch looks a row whose key
 * is gone (the housekeeping deletes done keys after
 * admin.idempotency_days) up in the ledger first: however late a batch is
 * resumed, no row moves twice.
 *
 * All or none is decided before anything moves: mode=all refuses the file
 * when any row is invalid. A row that fails when applied although it was
 * valid (its account closed meanwhile) is "failed" and the batch
 * "partial": the rows already credited are not taken back, because that
 * money may already have been spent on calls; reversing would need
 * debits that can fail in their turn. The report names the failed rows
 * and an operator decides (an adjustment, or a new batch).
 *
 * Amounts are exact: text cells and CSV fields are money_parse'd (more
 * than 6 decimals is an error, not a rounding); XLSX numeric cells are
 * binary doubles written as text ("0.30000000000000004"), so their text
 * is rounded half-up to 6 decimals, in decimal, without a double.
 * A CSV separated by ';' (Excel in Spanish locales) writes decimal
 * commas: there "10,50" is 10.50 (only there: with ',' as separator
 * "1,000" would be ambiguous).
 *
 * NOTES
 * - APOLO_TEST_CRASH_BULK=after_row:N makes the admin process _exit(137)
 *   once it has applied N rows (counted across batches): the crash test's
 *   hook. Test-only; nothing happens when unset.
 * - The reader is taken offline first (the body may be slow to arrive) and
 *   online only around the catalog lookups.
 */
#include "admin/api.h"
#include "admin/alert.h"

#include "admin/bulk_csv.h"
#include "admin/http.h"
#include "admin/money_common.h"
#include "admin/xlsx.h"
#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/jrec.h"
#include "shm/log.h"
#include "shm/money.h"

#include <civetweb.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BULK_KEY_MAX     48        /* + "#<line>" <= JREC_REFERENCE_MAX */
#define BULK_MAX_ROWS    100000
#define BULK_ACCOUNT_MAX 64        /* bytes of an account, an amount kept */
#define BULK_REASON_KEPT 256       /* bytes of a (too long) reason kept */
#define BULK_ERR         120
#define BULK_LIST_LIMIT  50
#define BULK_LIST_MAX    500
#define BULK_XLSX_TYPE   \
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

typedef enum {
    BR_VALID = 0, BR_INVALID, BR_APPLIED, BR_SKIPPED, BR_FAILED
} bulk_status_t;

static const char *const bulk_status_name[] = {
    "valid", "invalid", "applied", "skipped", "failed"
};

/* One data row of the file. */
typedef struct bulk_row {
    uint32_t line;
    uint8_t  status;            /* bulk_status_t */
    uint8_t  numeric;           /* the amount was an XLSX number */
    char    *account;           /* as given, trimmed (malloc'd) */
    char    *amount_text;
    char    *reason;
    int64_t  acct_id;           /* 0: unresolved */
    money_t  amount;
    char     error[BULK_ERR];
} bulk_row_t;

/* The file and its rows. */
typedef struct bulk_file {
    bulk_row_t *rows;
    size_t      n, cap;
    int         xlsx;
    char        sep;            /* CSV: ',' or ';' */
    int         col[3];         /* account, amount, reason: index or -1 */
    int         header;         /* seen */
    int         status;         /* an unreadable file: 400 or 413 */
    char        err[200];
    size_t      nvalid, ninvalid;
    money_t     total;
} bulk_file_t;

enum { COL_ACCOUNT = 0, COL_AMOUNT = 1, COL_REASON = 2 };

/* A parsed request. */
typedef struct bulk_req {
    const char *mode;           /* "all" | "valid" */
    int         dry;
    char        key[BULK_KEY_MAX + 1];   /* "" = none (dry run) */
    char        hash[crypto_generichash_BYTES * 2 + 1];
} bulk_req_t;

static int bulk_resumed;        /* this process ran bulk_resume_all once */
static long bulk_rows_moved;    /* for APOLO_TEST_CRASH_BULK */

/* ---- small helpers ------------------------------------------------------ */

static int bulk_fail(bulk_file_t *f, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Marks the file unreadable (the first reason wins): -1. */
static int bulk_fail(bulk_file_t *f, int status, const char *fmt, ...)
{
    if (f->status != 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof f->err, fmt, ap);
    va_end(ap);
    f->status = status;
    return -1;
}

static int bulk_row_error(bulk_row_t *row, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Marks the row invalid with its first error: -1. */
static int bulk_row_error(bulk_row_t *row, const char *fmt, ...)
{
    if (row->status == BR_INVALID)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(row->error, sizeof row->error, fmt, ap);
    va_end(ap);
    row->status = BR_INVALID;
    return -1;
}

/* A copy of s without surrounding blanks (NULL out of memory). */
static char *bulk_trimdup(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return strndup(s, n);
}

static int bulk_blank(const char *s)
{
    return s == NULL || s[strspn(s, " \t")] == '\0';
}

/* The key: 1..48 of [A-Za-z0-9_.:-]. */
static int bulk_key_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= BULK_KEY_MAX
           && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_.:-") == n;
}

/* APOLO_TEST_CRASH_BULK=after_row:N: dies once N rows moved here. */
static void bulk_test_crash(void)
{
    const char *spec = getenv("APOLO_TEST_CRASH_BULK");
    long n = __atomic_add_fetch(&bulk_rows_moved, 1, __ATOMIC_RELAXED);
    if (spec != NULL && strncmp(spec, "after_row:", 10) == 0
        && strtol(spec + 10, NULL, 10) == n) {
        LOG_WARN("api", 0, "APOLO_TEST_CRASH_BULK: dying after row %ld", n);
        _exit(137);
    }
}

/* ---- amounts ------------------------------------------------------------ */

/*
 * An XLSX number's text ("12.5", "1.0000000000000001E-2", "-3E+2") to
 * micro-units, rounded half-up (ties away from zero) to 6 decimals, in
 * decimal arithmetic: the text is what the writer meant, the double behind
 * it is not. 0, -1 not a number, -2 more than 12 integer digits.
 */
static int bulk_num_money(const char *s, money_t *out)
{
    char dig[64];
    size_t nd = 0;
    long point = -1, exp = 0;
    int neg = *s == '-', any = 0;
    if (*s == '-' || *s == '+')
        s++;
    for (; (*s >= '0' && *s <= '9') || *s == '.'; s++) {
        if (*s == '.') {
            if (point >= 0)
                return -1;
            point = (long)nd;
            continue;
        }
        any = 1;
        if (*s == '0' && nd == 0 && point < 0)
            continue;                      /* a leading zero */
        if (nd < sizeof dig) {
            dig[nd++] = *s;
        } else if (point < 0) {
            return -2;                     /* too many integer digits */
        }                                  /* else: far decimals, ignored */
    }
    if (!any)
        return -1;
    if (point < 0)
        point = (long)nd;
    if (*s == 'e' || *s == 'E') {
        char *end;
        errno = 0;
        exp = strtol(s + 1, &end, 10);
        if (errno != 0 || end == s + 1 || exp > 400 || exp < -400)
            return -1;
        s = end;
    }
    if (*s != '\0')
        return -1;
    point += exp;                          /* digits before the point */
    /* micro-units = the digits up to point + 6, then round on the next */
    long keep = point + MONEY_DECIMALS;
    if (keep > 18)
        return -2;
    int64_t v = 0;
    for (long i = 0; i < keep; i++)
        v = v * 10 + (i < (long)nd && i >= 0 ? dig[i] - '0' : 0);
    if (keep >= 0 && keep < (long)nd && dig[keep] >= '5')
        v++;
    if (keep < 0)
        v = 0;                             /* below half a micro-unit */
    *out = neg ? -v : v;
    return 0;
}

/* The amount of a row: 0 parsed, or -1 and the row marked invalid. */
static int bulk_amount(bulk_row_t *row, char sep)
{
    char buf[64];
    const char *s = row->amount_text;
    money_t m = 0;
    if (s[0] == '\0')
        return bulk_row_error(row, "amount: missing");
    if (strlen(s) >= sizeof buf)
        return bulk_row_error(row, "amount: not a decimal number");
    snprintf(buf, sizeof buf, "%s", s);
    char *comma = strchr(buf, ',');
    if (sep == ';' && comma != NULL && strchr(comma + 1, ',') == NULL
        && strchr(buf, '.') == NULL)
        *comma = '.';                      /* a decimal comma */
    const char *dot = strchr(buf, '.');
    if (row->numeric) {
        int rc = bulk_num_money(buf, &m);
        if (rc == -2)
            return bulk_row_error(row, "amount: out of bounds");
        if (rc != 0)
            return bulk_row_error(row, "amount: not a decimal number");
    } else if (dot != NULL && strlen(dot + 1) > MONEY_DECIMALS
               && strspn(dot + 1, "0123456789") == strlen(dot + 1)) {
        return bulk_row_error(row, "amount: at most %d decimals",
                              MONEY_DECIMALS);
    } else {
        int rc = money_parse(buf, strlen(buf), &m);
        if (rc == MONEY_ERANGE)
            return bulk_row_error(row, "amount: out of bounds");
        if (rc != MONEY_OK)
            return bulk_row_error(row, "amount: not a decimal number "
                                  "(\"12.50\")");
    }
    if (m <= 0)
        return bulk_row_error(row, "amount: must be > 0");
    if (m > MONEY_AMOUNT_MAX)
        return bulk_row_error(row, "amount: out of bounds (at most "
                              "1125899906.842624)");
    row->amount = m;
    return 0;
}

/* ---- the file: header and rows ------------------------------------------ */

/* Which column a header cell names: COL_*, or -1. */
static int bulk_header_col(const char *name)
{
    static const struct { const char *name; int col; } names[] = {
        { "account", COL_ACCOUNT }, { "cuenta", COL_ACCOUNT },
        { "account_code", COL_ACCOUNT }, { "account_id", COL_ACCOUNT },
        { "amount", COL_AMOUNT }, { "monto", COL_AMOUNT },
        { "importe", COL_AMOUNT },
        { "reason", COL_REASON }, { "motivo", COL_REASON },
    };
    char *t = bulk_trimdup(name);
    int col = -1;
    for (size_t i = 0; t != NULL && i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(t, names[i].name) == 0)
            col = names[i].col;
    free(t);
    return col;
}

/* One header cell at column index i (line for the errors). */
static int bulk_header_cell(bulk_file_t *f, uint32_t line, int i,
                            const char *text)
{
    int c = bulk_header_col(text);
    if (c < 0)
        return 0;                          /* other columns are ignored */
    if (f->col[c] >= 0)
        return bulk_fail(f, 400, "line %u: the header names the %s column "
                         "twice", line, c == COL_ACCOUNT ? "account"
                         : c == COL_AMOUNT ? "amount" : "reason");
    f->col[c] = i;
    return 0;
}

/* After the header's cells: the required columns are there. */
static int bulk_header_done(bulk_file_t *f, uint32_t line)
{
    f->header = 1;
    if (f->col[COL_ACCOUNT] < 0 || f->col[COL_AMOUNT] < 0)
        return bulk_fail(f, 400, "line %u: the first line must be a header "
                         "naming the columns account (cuenta) and amount "
                         "(monto, importe), reason (motivo) optional", line);
    return 0;
}

/* A data row from its three values (NULL: absent). */
static int bulk_add_row(bulk_file_t *f, uint32_t line, const char *account,
                        const char *amount, const char *reason, int numeric)
{
    if (f->n == BULK_MAX_ROWS)
        return bulk_fail(f, 413, "line %u: more than %d rows (split the "
                         "file)", line, BULK_MAX_ROWS);
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        bulk_row_t *p = realloc(f->rows, cap * sizeof *p);
        if (p == NULL)
            return bulk_fail(f, 500, "out of memory");
        f->rows = p;
        f->cap = cap;
    }
    bulk_row_t *row = &f->rows[f->n];
    memset(row, 0, sizeof *row);
    row->line = line;
    row->numeric = (uint8_t)numeric;
    row->account = bulk_trimdup(account != NULL ? account : "");
    row->amount_text = bulk_trimdup(amount != NULL ? amount : "");
    row->reason = bulk_trimdup(reason != NULL ? reason : "");
    f->n++;
    if (row->account == NULL || row->amount_text == NULL
        || row->reason == NULL)
        return bulk_fail(f, 500, "out of memory");
    return 0;
}

static void bulk_file_free(bulk_file_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->rows[i].account);
        free(f->rows[i].amount_text);
        free(f->rows[i].reason);
    }
    free(f->rows);
}

/* bcsv_record_fn: the header, then the rows; blank records skipped. */
static int bulk_csv_record(void *arg, uint32_t line, char **fields,
                           uint32_t n)
{
    bulk_file_t *f = arg;
    int blank = 1;
    for (uint32_t i = 0; i < n && blank; i++)
        blank = bulk_blank(fields[i]);
    if (blank)
        return 0;
    if (!f->header) {
        for (uint32_t i = 0; i < n; i++)
            if (bulk_header_cell(f, line, (int)i, fields[i]) != 0)
                return -1;
        return bulk_header_done(f, line);
    }
    const char *v[3];
    for (int c = 0; c < 3; c++)
        v[c] = f->col[c] >= 0 && (uint32_t)f->col[c] < n ? fields[f->col[c]]
                                                         : NULL;
    return bulk_add_row(f, line, v[0], v[1], v[2], 0);
}

static void bulk_read_csv(bulk_file_t *f, const char *buf, size_t len)
{
    char err[BCSV_ERR_MAX];
    int rc = bcsv_parse(buf, len, bulk_csv_record, f, &f->sep, err,
                        sizeof err);
    if (rc == -1 && f->status == 0)
        bulk_fail(f, 400, "not a readable CSV file: %s", err);
}

/* The cells of one sheet row [i, j): header or data. */
static int bulk_xlsx_row(bulk_file_t *f, const xlsx_cell_t *c, size_t i,
                         size_t j)
{
    uint32_t line = c[i].row;
    int blank = 1;
    for (size_t k = i; k < j && blank; k++)
        blank = bulk_blank(c[k].text);
    if (blank)
        return 0;
    if (!f->header) {
        for (size_t k = i; k < j; k++)
            if (bulk_header_cell(f, line, (int)c[k].col, c[k].text) != 0)
                return -1;
        return bulk_header_done(f, line);
    }
    const char *v[3] = { NULL, NULL, NULL };
    int numeric = 0;
    for (size_t k = i; k < j; k++)
        for (int col = 0; col < 3; col++)
            if (f->col[col] == (int)c[k].col) {
                v[col] = c[k].text;
                if (col == COL_AMOUNT)
                    numeric = c[k].type == XLSX_NUMBER;
            }
    return bulk_add_row(f, line, v[0], v[1], v[2], numeric);
}

static void bulk_read_xlsx(bulk_file_t *f, const char *buf, size_t len)
{
    xlsx_sheet_t *sh = NULL;
    char err[200];
    size_t n = 0;
    if (xlsx_read(buf, len, NULL, &sh, err, sizeof err) != XLSX_OK) {
        bulk_fail(f, 400, "%s", err);
        return;
    }
    const xlsx_cell_t *c = xlsx_cells(sh, &n);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && c[j].row == c[i].row; j++)
            ;
        if (bulk_xlsx_row(f, c, i, j) != 0)
            break;
    }
    xlsx_free(sh);
}

/* Parses the body into f: 0, or -1 with f->status and f->err. */
static int bulk_read_file(bulk_file_t *f, const char *ctype, const char *buf,
                          size_t len)
{
    f->col[0] = f->col[1] = f->col[2] = -1;
    f->xlsx = xlsx_is_zip(buf, len)
              || (ctype != NULL && strncasecmp(ctype, BULK_XLSX_TYPE,
                                               strlen(BULK_XLSX_TYPE)) == 0);
    if (len == 0)
        return bulk_fail(f, 400, "the file is empty");
    if (f->xlsx)
        bulk_read_xlsx(f, buf, len);
    else
        bulk_read_csv(f, buf, len);
    if (f->status == 0 && !f->header)
        bulk_fail(f, 400, "the file has no header line (account, amount"
                  "[, reason])");
    if (f->status == 0 && f->n == 0)
        bulk_fail(f, 422, "the file has a header but no rows");
    return f->status == 0 ? 0 : -1;
}

/* ---- validation --------------------------------------------------------- */

/* The account of a row by code, else by numeric id; online. 0, or -1
 * and the row marked invalid. */
static int bulk_resolve(const cat_hdr_t *c, const acct_shm_t *a,
                         bulk_row_t *row)
{
    const cat_acct_t *ca = NULL;
    const char *s = row->account;
    if (s[0] == '\0')
        return bulk_row_error(row, "account: missing");
    if (strlen(s) < CAT_KEY)
        ca = cat_account_by_code(c, s);
    if (ca == NULL && strlen(s) <= 18
        && strspn(s, "0123456789") == strlen(s))
        ca = cat_account(c, strtoll(s, NULL, 10));
    if (ca == NULL)
        return bulk_row_error(row, "account: no account with this code "
                              "or id");
    row->acct_id = ca->id;
    if (__atomic_load_n(&a->slots[ca->slot].status, __ATOMIC_RELAXED)
        == ACCT_CLOSED)
        return bulk_row_error(row, "account: closed");
    return 0;
}

/* Every row's checks; the counts and the total of the valid rows. 0, or
 * -1 when there is no catalog to check the accounts against. */
static int bulk_validate(http_req_t *r, bulk_file_t *f)
{
    const acct_shm_t *a = region_area(r->ctx->region, REGION_AREA_ACCOUNTS);
    if (r->rd == NULL)
        return -1;
    qsbr_online(r->rd);
    const cat_hdr_t *c = cat_current(r->ctx->region);
    for (size_t i = 0; c != NULL && i < f->n; i++)
        bulk_resolve(c, a, &f->rows[i]);
    qsbr_offline(r->rd);
    if (c == NULL)
        return -1;
    for (size_t i = 0; i < f->n; i++) {
        bulk_row_t *row = &f->rows[i];
        bulk_amount(row, f->sep);
        if (strlen(row->reason) > JREC_REASON_MAX)
            bulk_row_error(row, "reason: at most %d bytes", JREC_REASON_MAX);
        if (row->status == BR_VALID
            && money_add(f->total, row->amount, &f->total) != MONEY_OK)
            bulk_row_error(row, "amount: the file's total overflows");
        if (row->status == BR_VALID)
            f->nvalid++;
        else
            f->ninvalid++;
    }
    return 0;
}

/* ---- JSON --------------------------------------------------------------- */

/* The current time as the API writes times. */
static json_t *bulk_now_json(void)
{
    struct timespec ts;
    struct tm tm;
    char buf[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%06ldZ", ts.tv_nsec / 1000);
    return json_string(buf);
}

/* A row as the API shows it. */
static json_t *bulk_row_json(uint32_t line, const char *account,
                             int64_t acct_id, const char *amount,
                             const char *reason, const char *status,
                             const char *error, json_t *balance_after)
{
    json_t *o = json_pack("{s:I,s:s,s:o,s:s,s:s,s:s}", "line",
                          (json_int_t)line, "account", account, "account_id",
                          acct_id > 0 ? json_integer(acct_id) : json_null(),
                          "amount", amount, "reason", reason,
                          "status", status);
    if (error != NULL)
        json_object_set_new(o, "error", json_string(error));
    if (balance_after != NULL)
        json_object_set_new(o, "balance_after", balance_after);
    return o;
}

/* The response of a batch not stored (preview, refusal) from f. */
static json_t *bulk_file_json(const bulk_req_t *q, const bulk_file_t *f,
                              const char *state)
{
    json_t *rows = json_array();
    int rejected = strcmp(state, "rejected") == 0;
    for (size_t i = 0; i < f->n; i++) {
        const bulk_row_t *w = &f->rows[i];
        char amt[MONEY_STRLEN];
        int st = w->status == BR_VALID && rejected ? BR_SKIPPED : w->status;
        if (w->amount > 0)             /* it parsed (the row may be bad) */
            money_format(w->amount, amt);
        json_array_append_new(rows, bulk_row_json(w->line, w->account,
            w->acct_id, w->amount > 0 ? amt : w->amount_text,
            w->reason, bulk_status_name[st],
            w->status == BR_INVALID ? w->error : NULL, NULL));
    }
    json_t *b = json_pack("{s:n,s:o,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:o,s:o}",
        "id", "key", q->key[0] ? json_string(q->key) : json_null(),
        "mode", q->mode, "state", state, "format", f->xlsx ? "xlsx" : "csv",
        "rows_total", (json_int_t)f->n, "rows_valid", (json_int_t)f->nvalid,
        "rows_invalid", (json_int_t)f->ninvalid, "rows_applied",
        (json_int_t)0, "total_amount", money_amount_json(f->total),
        "created_at", bulk_now_json());
    return json_pack("{s:o,s:o}", "batch", b, "rows", rows);
}

#define BULK_BATCH_COLS \
    "id, key, mode, state, format, rows_total, rows_valid, rows_invalid, " \
    "rows_applied, total_amount, to_char(created_at AT TIME ZONE 'UTC', " \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* A bulk_batches row (BULK_BATCH_COLS) as JSON. */
static json_t *bulk_batch_json(const PGresult *res, int i)
{
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:o,s:s}",
        "id", (json_int_t)strtoll(PQgetvalue(res, i, 0), NULL, 10),
        "key", PQgetvalue(res, i, 1), "mode", PQgetvalue(res, i, 2),
        "state", PQgetvalue(res, i, 3), "format", PQgetvalue(res, i, 4),
        "rows_total", (json_int_t)strtoll(PQgetvalue(res, i, 5), NULL, 10),
        "rows_valid", (json_int_t)strtoll(PQgetvalue(res, i, 6), NULL, 10),
        "rows_invalid", (json_int_t)strtoll(PQgetvalue(res, i, 7), NULL, 10),
        "rows_applied", (json_int_t)strtoll(PQgetvalue(res, i, 8), NULL, 10),
        "total_amount", money_amount_json(strtoll(PQgetvalue(res, i, 9),
                                                  NULL, 10)),
        "created_at", PQgetvalue(res, i, 10));
}

/* The rows of a stored batch, in line order. NULL on error (logged). */
static json_t *bulk_rows_json(http_req_t *r, const char *ids)
{
    const char *p[1] = { ids };
    PGresult *res = http_exec(r, "SELECT line, account, coalesce(account_id, "
        "0), coalesce(amount::text, ''), amount_text, reason, status, error, "
        "balance_after FROM bulk_rows WHERE batch_id = $1 ORDER BY line",
        1, p);
    if (!http_res_ok(res)) {
        LOG_ERROR("api", 0, "bulk rows: %s", PQerrorMessage(r->db));
        PQclear(res);
        return NULL;
    }
    json_t *rows = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        char amt[MONEY_STRLEN];
        const char *micro = PQgetvalue(res, i, 3);
        if (micro[0] != '\0')
            money_format(strtoll(micro, NULL, 10), amt);
        json_array_append_new(rows, bulk_row_json(
            (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10),
            PQgetvalue(res, i, 1), strtoll(PQgetvalue(res, i, 2), NULL, 10),
            micro[0] != '\0' ? amt : PQgetvalue(res, i, 4),
            PQgetvalue(res, i, 5), PQgetvalue(res, i, 6),
            PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7),
            PQgetisnull(res, i, 8) ? NULL
            : money_amount_json(strtoll(PQgetvalue(res, i, 8), NULL, 10))));
    }
    PQclear(res);
    return rows;
}

/* A stored batch with its rows, by id (where = "id") or key: the JSON,
 * NULL when there is none (*err = 0) or on error (*err = 1, logged). */
static json_t *bulk_load(http_req_t *r, const char *where, const char *v,
                         int *err)
{
    char sql[512], ids[24];
    snprintf(sql, sizeof sql, "SELECT " BULK_BATCH_COLS " FROM bulk_batches "
             "WHERE %s = $1", strcmp(where, "id") == 0 ? "id" : "key");
    const char *p[1] = { v };
    PGresult *res = http_exec(r, sql, 1, p);
    *err = !http_res_ok(res);
    if (*err)
        LOG_ERROR("api", 0, "bulk batch: %s", PQerrorMessage(r->db));
    if (*err || PQntuples(res) == 0) {
        PQclear(res);
        return NULL;
    }
    json_t *b = bulk_batch_json(res, 0);
    snprintf(ids, sizeof ids, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    json_t *rows = bulk_rows_json(r, ids);
    if (rows == NULL) {
        json_decref(b);
        *err = 1;
        return NULL;
    }
    return json_pack("{s:o,s:o}", "batch", b, "rows", rows);
}

/* Answers a stored batch (by key) with status; replayed adds the header. */
static int bulk_answer_stored(http_req_t *r, const char *key, int status,
                              int replayed)
{
    int err = 0;
    json_t *body = bulk_load(r, "key", key, &err);
    if (body == NULL)
        return http_db_fail(r, NULL, "bulk batch read");
    if (replayed)
        http_header(r, "Idempotent-Replayed", "true");
    return http_json(r, status, body);
}

/* ---- storing a batch ---------------------------------------------------- */

/* Appends s to the COPY text buffer, escaped (\\, \t, \n, \r); NULL is
 * \N. Then a tab, or a newline after the last field. */
static int bulk_copy_field(char **buf, size_t *len, size_t *cap,
                           const char *s, int last)
{
    size_t need = (s != NULL ? strlen(s) * 2 : 2) + 2;
    if (*len + need > *cap) {
        size_t nc = (*len + need) * 2;
        char *p = realloc(*buf, nc);
        if (p == NULL)
            return -1;
        *buf = p;
        *cap = nc;
    }
    if (s == NULL) {
        (*buf)[(*len)++] = '\\';
        (*buf)[(*len)++] = 'N';
    }
    for (; s != NULL && *s != '\0'; s++) {
        char c = *s, e = c == '\\' ? '\\' : c == '\t' ? 't'
                       : c == '\n' ? 'n' : c == '\r' ? 'r' : 0;
        if (e != 0) {
            (*buf)[(*len)++] = '\\';
            c = e;
        }
        (*buf)[(*len)++] = c;
    }
    (*buf)[(*len)++] = last ? '\n' : '\t';
    return 0;
}

/* One row in COPY text format: batch_id line account account_id
 * amount_text amount reason status error. */
static int bulk_copy_row(char **buf, size_t *len, size_t *cap,
                         const char *ids, const bulk_row_t *w)
{
    char line[16], acct[24], amt[24], account[BULK_ACCOUNT_MAX + 1],
         text[BULK_ACCOUNT_MAX + 1], reason[BULK_REASON_KEPT + 1];
    int valid = w->status == BR_VALID, parsed = w->amount > 0;
    snprintf(line, sizeof line, "%u", w->line);
    snprintf(acct, sizeof acct, "%" PRId64, w->acct_id);
    snprintf(amt, sizeof amt, "%" PRId64, w->amount);
    /* what a bad row said is kept for the report, not without bound */
    money_copy_utf8(account, sizeof account, w->account);
    money_copy_utf8(text, sizeof text, w->amount_text);
    money_copy_utf8(reason, sizeof reason, w->reason);
    const char *v[9] = { ids, line, account, w->acct_id > 0 ? acct : NULL,
                         text, parsed ? amt : NULL, reason,
                         bulk_status_name[w->status],
                         valid ? NULL : w->error };
    for (int i = 0; i < 9; i++)
        if (bulk_copy_field(buf, len, cap, v[i], i == 8) != 0)
            return -1;
    return 0;
}

/* COPY the rows of batch ids; inside the caller's transaction. */
static int bulk_copy_rows(http_req_t *r, const char *ids,
                          const bulk_file_t *f)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < f->n; i++)
        if (bulk_copy_row(&buf, &len, &cap, ids, &f->rows[i]) != 0) {
            free(buf);
            LOG_ERROR("api", 0, "bulk rows: out of memory");
            return -1;
        }
    PGresult *res = PQexec(r->db, "COPY bulk_rows (batch_id, line, account, "
                           "account_id, amount_text, amount, reason, status, "
                           "error) FROM STDIN");
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    PQclear(res);
    ok = ok && PQputCopyData(r->db, buf, (int)len) == 1;
    ok = PQputCopyEnd(r->db, ok ? NULL : "aborted") == 1 && ok;
    free(buf);
    res = PQgetResult(r->db);
    ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        LOG_ERROR("api", 0, "bulk rows COPY: %s", PQerrorMessage(r->db));
    PQclear(res);
    while ((res = PQgetResult(r->db)) != NULL)
        PQclear(res);
    return ok ? 0 : -1;
}

/* The batch and its rows, committed together: its id, or 0 (logged). */
static int64_t bulk_store(http_req_t *r, const bulk_req_t *q,
                          const bulk_file_t *f)
{
    char tot[24], nt[16], nv[16], ni[16], pid[16], ids[24] = "";
    snprintf(tot, sizeof tot, "%" PRId64, f->total);
    snprintf(nt, sizeof nt, "%zu", f->n);
    snprintf(nv, sizeof nv, "%zu", f->nvalid);
    snprintf(ni, sizeof ni, "%zu", f->ninvalid);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    const char *p[10] = { q->key, q->mode, f->xlsx ? "xlsx" : "csv", q->hash,
                          nt, nv, ni, tot, r->user, pid };
    if (money_run(r, "bulk begin", "BEGIN", 0, NULL) != 0)
        return 0;
    PGresult *res = http_exec(r, "INSERT INTO bulk_batches (key, mode, "
        "format, file_hash, state, rows_total, rows_valid, rows_invalid, "
        "total_amount, actor, owner_pid) VALUES ($1, $2, $3, $4, 'applying', "
        "$5, $6, $7, $8, $9, $10) RETURNING id", 10, p);
    if (http_res_ok(res) && PQntuples(res) == 1)
        snprintf(ids, sizeof ids, "%s", PQgetvalue(res, 0, 0));
    else
        LOG_ERROR("api", 0, "bulk batch insert: %s", PQerrorMessage(r->db));
    PQclear(res);
    if (ids[0] == '\0' || bulk_copy_rows(r, ids, f) != 0
        || money_run(r, "bulk commit", "COMMIT", 0, NULL) != 0) {
        money_run(r, "bulk rollback", "ROLLBACK", 0, NULL);
        return 0;
    }
    return strtoll(ids, NULL, 10);
}

/* ---- applying a batch --------------------------------------------------- */

/* The loop over a batch's rows. */
typedef struct bulk_run {
    int64_t     id;
    char        ids[24];
    const char *key;
    const char *actor;
    int         resume;          /* the batch was interrupted before */
    long        applied, failed;
    int         stop;            /* the status to answer, when it stopped */
    char        why[160];
} bulk_run_t;

/* Records an applied row at once, so that a batch interrupted later never
 * depends on its rows' idempotency keys (deleted after
 * admin.idempotency_days) for the rows already done. */
static int bulk_row_applied(http_req_t *r, bulk_run_t *u, const char *line,
                            const money_done_t *d)
{
    char bal[24], ring[24], seq[24];
    snprintf(bal, sizeof bal, "%" PRId64, d->balance_after);
    snprintf(ring, sizeof ring, "ring:%u", d->ring);
    snprintf(seq, sizeof seq, "%" PRIu64, d->seq);
    const char *p[5] = { u->ids, line, bal, ring, seq };
    return money_run(r, "bulk row applied", "UPDATE bulk_rows SET status = "
                     "'applied', balance_after = $3, journal = $4, "
                     "journal_seq = $5 WHERE batch_id = $1 AND line = $2",
                     5, p);
}

/* Records a row that failed although valid (nothing moved for it): 0,
 * or -1 and the batch stops (logged). */
static int bulk_row_failed(http_req_t *r, bulk_run_t *u, const char *line,
                           const char *why)
{
    const char *p[3] = { u->ids, line, why };
    if (money_run(r, "bulk row failed", "UPDATE bulk_rows SET status = "
                  "'failed', error = $3 WHERE batch_id = $1 AND line = $2",
                  3, p) != 0) {
        u->stop = 503;
        snprintf(u->why, sizeof u->why, "the batch stopped at line %s "
                 "(PostgreSQL failed); retry with the same key to go on",
                 line);
        return -1;
    }
    u->failed++;
    return 0;
}

/* Resuming: the row's key is gone and its recharge is in the ledger? 1
 * (*d filled), 0, -1 (logged). The key would tell, but the housekeeping
 * deletes done keys older than admin.idempotency_days: the ledger, where
 * every moved row lands, keeps the batch exactly once however late it is
 * resumed. While the key exists money_apply_locked decides (and completes
 * a pending one). */
static int bulk_in_ledger(http_req_t *r, const money_req_t *q,
                          money_done_t *d)
{
    char ids[24];
    unsigned ring = 0;
    snprintf(ids, sizeof ids, "%" PRId64, q->acct_id);
    const char *p[2] = { q->key, ids };
    PGresult *res = http_exec(r, "SELECT balance_after, journal, "
        "journal_seq FROM ledger WHERE reference = $1 AND kind = 'recharge' "
        "AND account_id = $2 AND NOT EXISTS (SELECT 1 FROM idempotency_keys "
        "WHERE key = $1)", 2, p);
    if (!http_res_ok(res)) {
        LOG_ERROR("api", 0, "bulk ledger search: %s", PQerrorMessage(r->db));
        PQclear(res);
        return -1;
    }
    int found = PQntuples(res) > 0;
    if (found) {
        d->balance_after = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        d->ring = sscanf(PQgetvalue(res, 0, 1), "ring:%u", &ring) == 1 ? ring
                                                                     : 0;
        d->seq = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
        d->body = NULL;
    }
    PQclear(res);
    return found;
}

/* The slot of an account (the catalog, briefly online), or UINT32_MAX. */
static uint32_t bulk_slot(http_req_t *r, int64_t id)
{
    uint32_t slot = UINT32_MAX;
    if (r->rd == NULL)
        return slot;
    qsbr_online(r->rd);
    const cat_hdr_t *c = cat_current(r->ctx->region);
    const cat_acct_t *ca = c != NULL ? cat_account(c, id) : NULL;
    if (ca != NULL)
        slot = ca->slot;
    qsbr_offline(r->rd);
    return slot;
}

/* Why a row's movement was refused, for the report; NULL when the batch
 * must stop instead (a condition a retry may clear). */
static const char *bulk_row_refusal(int rc)
{
    switch (rc) {
    case MONEY_R_ECLOSED:  return "account: closed since the validation";
    case MONEY_R_ERANGE:   return "the balance would leave its bounds";
    case MONEY_R_EREUSED:  return "its key is another request's";
    default:               return NULL;
    }
}

/* One valid row (res row i: line, account_id, amount, reason). 0 go on,
 * -1 stop (u->stop, u->why). */
static int bulk_apply_row(http_req_t *r, bulk_run_t *u, PGresult *res, int i)
{
    money_req_t q;
    money_done_t d;
    const char *line = PQgetvalue(res, i, 0);
    memset(&q, 0, sizeof q);
    q.kind = "recharge";
    q.jkind = JRN_RECHARGE;
    q.acct_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    q.amount = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    q.batch_id = u->id;
    snprintf(q.key, sizeof q.key, "%s#%s", u->key, line);
    snprintf(q.actor, sizeof q.actor, "%s", u->actor);
    snprintf(q.reason, sizeof q.reason, "%s", PQgetvalue(res, i, 3));
    int rc = u->resume ? bulk_in_ledger(r, &q, &d) : 0;
    if (rc < 0)
        rc = MONEY_R_EDB;
    else if (rc == 1)
        rc = MONEY_R_REPLAYED;
    else if ((q.slot = bulk_slot(r, q.acct_id)) == UINT32_MAX)
        return bulk_row_failed(r, u, line, "account: no longer in the "
                               "catalog");
    else {
        money_req_hash(&q);
        rc = money_apply_locked(r, &q, &d);
    }
    if (rc >= 0) {
        json_decref(d.body);
        if (bulk_row_applied(r, u, line, &d) != 0) {
            /* the money moved and its key is done: a retry finds it */
            u->stop = 503;
            snprintf(u->why, sizeof u->why, "the batch stopped at line %s "
                     "(PostgreSQL failed); retry with the same key to go on",
                     line);
            return -1;
        }
        u->applied++;
        bulk_test_crash();
        return 0;
    }
    const char *why = bulk_row_refusal(rc);
    if (why != NULL)
        return bulk_row_failed(r, u, line, why);
    u->stop = rc == MONEY_R_EDB || rc == MONEY_R_ENORING
              || rc == MONEY_R_EFULL ? 503 : 409;
    snprintf(u->why, sizeof u->why, "the batch stopped at line %s (%s); "
             "retry with the same key to go on", line,
             rc == MONEY_R_EFULL ? "the journal is full"
             : rc == MONEY_R_ENORING ? "no journal ring"
             : rc == MONEY_R_EDB ? "PostgreSQL failed"
             : "a movement in progress");
    return -1;
}

/* Queues the batch's report (alert.h: webhook and email, when configured)
 * in bulk_finish's transaction, so that a finished batch has its report
 * exactly when it is finished. 0 or -1 (logged). */
static int bulk_report(http_req_t *r, const bulk_run_t *u)
{
    const char *p[1] = { u->ids };
    PGresult *res = http_exec(r, "SELECT b.key, b.state, b.mode, "
        "b.rows_total, b.rows_applied, (SELECT count(*) FROM bulk_rows w "
        "WHERE w.batch_id = b.id AND w.status = 'failed'), (SELECT "
        "coalesce(sum(w.amount), 0) FROM bulk_rows w WHERE w.batch_id = b.id "
        "AND w.status = 'applied') FROM bulk_batches b WHERE b.id = $1", 1, p);
    if (!http_res_ok(res) || PQntuples(res) != 1) {
        LOG_ERROR("api", 0, "bulk %s report: %s", u->ids,
                  PQerrorMessage(r->db));
        PQclear(res);
        return -1;
    }
    money_t total = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
    json_t *payload = json_pack("{s:s,s:{s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:o,"
        "s:s}}", "kind", "bulk_report", "batch", "id", (json_int_t)u->id,
        "key", PQgetvalue(res, 0, 0), "state", PQgetvalue(res, 0, 1),
        "mode", PQgetvalue(res, 0, 2),
        "rows_total", (json_int_t)strtoll(PQgetvalue(res, 0, 3), NULL, 10),
        "rows_applied", (json_int_t)strtoll(PQgetvalue(res, 0, 4), NULL, 10),
        "rows_failed", (json_int_t)strtoll(PQgetvalue(res, 0, 5), NULL, 10),
        "total_amount", money_amount_json(total), "actor", u->actor);
    PQclear(res);
    int rc = payload != NULL
             ? alert_enqueue(r->db, "bulk_report", 0, payload) : -1;
    json_decref(payload);
    return rc < 0 ? -1 : 0;
}

/* The batch's final state (done, or partial when a row failed) and its
 * audit row, in one transaction. 0 or -1 (logged). */
static int bulk_finish(http_req_t *r, bulk_run_t *u)
{
    const char *p[1] = { u->ids };
    char object[40];
    snprintf(object, sizeof object, "bulk:%" PRId64, u->id);
    if (money_run(r, "bulk begin", "BEGIN", 0, NULL) != 0)
        return -1;
    int ok = money_run(r, "bulk batch done", "UPDATE bulk_batches SET state "
        "= CASE WHEN EXISTS (SELECT 1 FROM bulk_rows WHERE batch_id = $1 AND "
        "status = 'failed') THEN 'partial' ELSE 'done' END, rows_applied = "
        "(SELECT count(*) FROM bulk_rows WHERE batch_id = $1 AND status = "
        "'applied'), done_at = now() WHERE id = $1", 1, p) == 0;
    /* the batch's owner is the actor, also when a later request (a retry,
     * anybody's first request after a restart) finished it */
    ok = ok && http_audit_as(r, u->actor, "bulk.apply", object, json_pack(
        "{s:s,s:s,s:I,s:I}", "key", u->key, "finished_by", r->user,
        "applied_now", (json_int_t)u->applied, "failed_now",
        (json_int_t)u->failed)) == 0;
    ok = ok && bulk_report(r, u) == 0;
    if (ok && money_run(r, "bulk commit", "COMMIT", 0, NULL) == 0) {
        alert_kick();
        return 0;
    }
    money_run(r, "bulk rollback", "ROLLBACK", 0, NULL);
    return -1;
}

/* Applies the rows still 'valid' of batch id, with its lock held (resume:
 * the batch was interrupted before): 0 when the batch is finished, else
 * the HTTP status to answer (why, logged). */
static int bulk_apply(http_req_t *r, int64_t id, const char *key,
                      const char *actor, int resume, char *why, size_t cap)
{
    bulk_run_t u;
    memset(&u, 0, sizeof u);
    u.resume = resume;
    u.id = id;
    u.key = key;
    u.actor = actor;
    snprintf(u.ids, sizeof u.ids, "%" PRId64, id);
    const char *p[1] = { u.ids };
    PGresult *res = http_exec(r, "SELECT line, account_id, amount, reason "
                               "FROM bulk_rows WHERE batch_id = $1 AND "
                               "status = 'valid' ORDER BY line", 1, p);
    if (!http_res_ok(res)) {
        LOG_ERROR("api", 0, "bulk rows: %s", PQerrorMessage(r->db));
        PQclear(res);
        snprintf(why, cap, "PostgreSQL failed");
        return 503;
    }
    for (int i = 0; i < PQntuples(res) && u.stop == 0; i++)
        bulk_apply_row(r, &u, res, i);
    PQclear(res);
    if (u.stop == 0 && bulk_finish(r, &u) != 0) {
        u.stop = 503;
        snprintf(u.why, sizeof u.why, "the batch's state could not be "
                 "written; retry with the same key");
    }
    if (u.stop != 0) {
        LOG_ERROR("api", 0, "bulk batch %" PRId64 " (%s): %s", id, key,
                  u.why);
        snprintf(why, cap, "%s", u.why);
    } else {
        LOG_INFO("api", "bulk batch %" PRId64 " (%s): %ld rows applied, %ld "
                 "failed", id, key, u.applied, u.failed);
    }
    return u.stop;
}

/* ---- resuming unfinished batches ---------------------------------------- */

/* Rolls forward every batch left 'applying' whose lock is free (its
 * request died with an earlier admin process). Once per process, lazily:
 * on the first request to these endpoints. Failures are logged; the next
 * request tries again. */
static void bulk_resume_all(http_req_t *r)
{
    if (__atomic_load_n(&bulk_resumed, __ATOMIC_ACQUIRE) || r->db == NULL)
        return;
    PGresult *res = http_exec(r, "SELECT id, key, actor FROM bulk_batches "
                               "WHERE state = 'applying' ORDER BY id", 0,
                               NULL);
    if (!http_res_ok(res)) {
        LOG_ERROR("api", 0, "bulk resume: %s", PQerrorMessage(r->db));
        PQclear(res);
        return;
    }
    int all = 1;
    for (int i = 0; i < PQntuples(res); i++) {
        char lock[BULK_KEY_MAX + 8], why[160];
        const char *key = PQgetvalue(res, i, 1);
        snprintf(lock, sizeof lock, "bulk#%s", key);
        int got = money_trylock(r, lock);
        if (got <= 0) {                 /* busy: its request is running */
            all = all && got == 0;
            continue;
        }
        LOG_INFO("api", "bulk batch %s (%s): unfinished, resuming",
                 PQgetvalue(res, i, 0), key);
        if (bulk_apply(r, strtoll(PQgetvalue(res, i, 0), NULL, 10), key,
                       PQgetvalue(res, i, 2), 1, why, sizeof why) != 0)
            all = 0;
        money_unlock(r, lock);
    }
    PQclear(res);
    if (all)
        __atomic_store_n(&bulk_resumed, 1, __ATOMIC_RELEASE);
}

/* ---- POST --------------------------------------------------------------- */

/* The query and the key: 0, or the status answered. */
static int bulk_parse_req(http_req_t *r, bulk_req_t *q)
{
    char mode[16], dry[16];
    memset(q, 0, sizeof q[0]);
    q->mode = "all";
    if (http_query(r, "mode", mode, sizeof mode) != NULL) {
        if (strcmp(mode, "valid") == 0)
            q->mode = "valid";
        else if (strcmp(mode, "all") != 0)
            return http_error(r, 400, "validation", "mode: all or valid");
    }
    if (http_query(r, "dry_run", dry, sizeof dry) != NULL) {
        q->dry = strcmp(dry, "true") == 0 || strcmp(dry, "1") == 0;
        if (!q->dry && strcmp(dry, "false") != 0 && strcmp(dry, "0") != 0)
            return http_error(r, 400, "validation", "dry_run: true or false");
    }
    const char *key = mg_get_header(r->conn, "Idempotency-Key");
    if ((key == NULL && !q->dry) || (key != NULL && !bulk_key_ok(key)))
        return http_error(r, 400, "validation", "header Idempotency-Key: 1 "
                          "to %d of A-Z a-z 0-9 _ . : - is required",
                          BULK_KEY_MAX);
    snprintf(q->key, sizeof q->key, "%s", key != NULL ? key : "");
    return 0;
}

/* BLAKE2b-256 (hex) of the mode, the format and the file. */
static void bulk_hash(bulk_req_t *q, const bulk_file_t *f, const char *buf,
                      size_t len)
{
    unsigned char h[crypto_generichash_BYTES];
    crypto_generichash_state st;
    char head[32];
    int n = snprintf(head, sizeof head, "%s\n%s\n", q->mode,
                     f->xlsx ? "xlsx" : "csv");
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)head, (size_t)n);
    crypto_generichash_update(&st, (const unsigned char *)buf, len);
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(q->hash, sizeof q->hash, h, sizeof h);
}

/* The file is refused whole: audited, 422 with every row. */
static int bulk_reject(http_req_t *r, const bulk_req_t *q,
                       const bulk_file_t *f)
{
    http_audit(r, "bulk.reject", "bulk", json_pack("{s:s,s:s,s:s,s:I,s:I}",
               "key", q->key, "mode", q->mode, "format",
               f->xlsx ? "xlsx" : "csv", "rows_valid", (json_int_t)f->nvalid,
               "rows_invalid", (json_int_t)f->ninvalid));
    return http_json(r, 422, bulk_file_json(q, f, "rejected"));
}

/* With the batch lock held: replay, resume, refuse or store and apply. */
static int bulk_locked(http_req_t *r, const bulk_req_t *q,
                       const bulk_file_t *f)
{
    char why[160];
    const char *p[1] = { q->key };
    PGresult *res = http_exec(r, "SELECT id, file_hash, state, actor FROM "
                               "bulk_batches WHERE key = $1", 1, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "bulk key lookup");
    if (PQntuples(res) == 1) {
        int same = strcmp(PQgetvalue(res, 0, 1), q->hash) == 0;
        int applying = strcmp(PQgetvalue(res, 0, 2), "applying") == 0;
        int64_t id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        char actor[MONEY_ACTOR_MAX + 1];
        snprintf(actor, sizeof actor, "%s", PQgetvalue(res, 0, 3));
        PQclear(res);
        if (!same)
            return http_error(r, 422, "validation", "idempotency key reused "
                              "for another file");
        int st = applying ? bulk_apply(r, id, q->key, actor, 1, why,
                                       sizeof why) : 0;
        if (st != 0)
            return http_error(r, st, st == 409 ? "conflict" : "unavailable",
                              "%s", why);
        return bulk_answer_stored(r, q->key, 200, 1);
    }
    PQclear(res);
    if (f->nvalid == 0 || (strcmp(q->mode, "all") == 0 && f->ninvalid > 0))
        return bulk_reject(r, q, f);
    int64_t id = bulk_store(r, q, f);
    if (id == 0)
        return http_db_fail(r, NULL, "bulk batch store");
    int st = bulk_apply(r, id, q->key, r->user, 0, why, sizeof why);
    if (st != 0)
        return http_error(r, st, st == 409 ? "conflict" : "unavailable",
                          "%s", why);
    return bulk_answer_stored(r, q->key, 201, 0);
}

/* The file read and validated: preview, or locked and applied. */
static int bulk_post_file(http_req_t *r, bulk_req_t *q, bulk_file_t *f,
                          const char *buf, size_t len)
{
    if (bulk_validate(r, f) != 0)
        return http_error(r, 503, "unavailable", "no catalog to check the "
                          "accounts against; retry");
    if (q->dry)
        return http_json(r, 200, bulk_file_json(q, f, "preview"));
    if (r->db == NULL)
        return http_unavailable(r);
    bulk_resume_all(r);
    bulk_hash(q, f, buf, len);
    char lock[BULK_KEY_MAX + 8];
    snprintf(lock, sizeof lock, "bulk#%s", q->key);
    int locked = money_lock(r, lock);
    if (locked < 0)
        return http_db_fail(r, NULL, "bulk key lock");
    if (locked == 0)
        return http_error(r, 409, "conflict", "this batch is in progress; "
                          "retry");
    int rc = bulk_locked(r, q, f);
    money_unlock(r, lock);
    return rc;
}

static int bulk_post(http_req_t *r)
{
    bulk_req_t q;
    bulk_file_t f;
    char *buf = NULL;
    size_t len = 0;
    if (r->rd != NULL)
        qsbr_offline(r->rd);           /* online again for the lookups */
    if (bulk_parse_req(r, &q) != 0 || http_read_body(r, 0, &buf, &len) != 0)
        return r->status;              /* 411, 413 (admin.max_body_kb) */
    memset(&f, 0, sizeof f);
    int rc;
    if (bulk_read_file(&f, mg_get_header(r->conn, "Content-Type"), buf,
                       len) != 0)
        rc = http_error(r, f.status, f.status == 413 ? "too_large"
                        : f.status == 500 ? "internal" : "validation",
                        "%s", f.err);
    else
        rc = bulk_post_file(r, &q, &f, buf, len);
    bulk_file_free(&f);
    free(buf);
    return rc;
}

/* ---- GET ---------------------------------------------------------------- */

/* A positive integer query parameter: 0 and *v (default when absent), or
 * -1 after answering 422. */
static int bulk_query_int(http_req_t *r, const char *name, long long lo,
                          long long hi, long long *v)
{
    char b[24], *end;
    if (http_query(r, name, b, sizeof b) == NULL)
        return 0;
    errno = 0;
    long long x = strtoll(b, &end, 10);
    if (errno != 0 || end == b || *end != '\0' || x < lo || x > hi) {
        http_error(r, 422, "validation", "%s: %lld to %lld", name, lo, hi);
        return -1;
    }
    *v = x;
    return 0;
}

static int bulk_list(http_req_t *r)
{
    long long lim = BULK_LIST_LIMIT, before = 0;
    char l[24], b[24];
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    if (bulk_query_int(r, "limit", 1, BULK_LIST_MAX, &lim) != 0
        || bulk_query_int(r, "before", 1, INT64_MAX, &before) != 0)
        return r->status;
    if (r->db == NULL)
        return http_unavailable(r);
    bulk_resume_all(r);
    snprintf(l, sizeof l, "%lld", lim);
    snprintf(b, sizeof b, "%lld", before);
    const char *p[2] = { before > 0 ? b : NULL, l };
    PGresult *res = http_exec(r, "SELECT " BULK_BATCH_COLS " FROM "
        "bulk_batches WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC "
        "LIMIT $2", 2, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "bulk list");
    json_t *arr = json_array();
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, bulk_batch_json(res, i));
    json_t *next = n == lim ? json_integer(strtoll(PQgetvalue(res, n - 1, 0),
                                                   NULL, 10))
                            : json_null();
    PQclear(res);
    return http_json(r, 200, json_pack("{s:o,s:o}", "batches", arr,
                                       "next_before", next));
}

static int bulk_get(http_req_t *r)
{
    const char *s = r->subpath;
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    if (s[0] == '\0' || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
        return http_error(r, 404, "not_found", "no such batch");
    if (r->db == NULL)
        return http_unavailable(r);
    bulk_resume_all(r);
    int err = 0;
    json_t *body = bulk_load(r, "id", s, &err);
    if (err)
        return http_db_fail(r, NULL, "bulk batch read");
    if (body == NULL)
        return http_error(r, 404, "not_found", "no batch %s", s);
    return http_json(r, 200, body);
}

const http_route_t api_bulk_routes[] = {
    { "POST", "/api/v1/recharges/bulk", HTTP_ROLE_OPERATOR, bulk_post },
    { "GET", "/api/v1/recharges/bulk", HTTP_ROLE_VIEWER, bulk_list },
    { "GET", "/api/v1/recharges/bulk/", HTTP_ROLE_VIEWER, bulk_get },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
