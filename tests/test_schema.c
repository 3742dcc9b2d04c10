/*
 * test_schema.c -- the schema of sql/ refuses bad data and keeps its
 * partitions, on the real private PostgreSQL.
 *
 * A database of its own (apolo_test_schema_<pid>) is created, migrated
 * with engine/migrate.c, and dropped at the end. Each refusal is checked by
 * its SQLSTATE, so a constraint that is missing (the statement succeeds)
 * or that fails for another reason both show up.
 * Needs DATABASE_URL (tests/run.sh sets it): without it the test fails.
 */
#include "engine/db.h"
#include "engine/migrate.h"
#include "tests/testhelp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OK        "00000"
#define CHECK_V   "23514"             /* check_violation */
#define FK_V      "23503"             /* foreign_key_violation */
#define UNIQUE_V  "23505"             /* unique_violation */
#define EXCL_V    "23P01"             /* exclusion_violation */
#define PRIV_V    "42501"             /* insufficient_privilege */

static PGconn *conn;

/* Runs sql with text params; returns "00000" or the error's SQLSTATE. */
static const char *run(const char *sql, int n, const char *const *params)
{
    static char state[8];
    PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        snprintf(state, sizeof state, OK);
    } else {
        const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(state, sizeof state, "%s", s ? s : "?????");
    }
    PQclear(r);
    return state;
}

#define PARAMS(...) ((const char *[]){ NULL, __VA_ARGS__ } + 1)
#define NPARAMS(...) \
    ((int)(sizeof((const char *[]){ NULL, __VA_ARGS__ }) / sizeof(char *)) - 1)
#define RUN(sql, ...) run(sql, NPARAMS(__VA_ARGS__), PARAMS(__VA_ARGS__))

/* First column of the first row as text ("" when no row, "ERR" on error). */
static const char *val(const char *sql, int n, const char *const *params)
{
    static char buf[256];
    PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        snprintf(buf, sizeof buf, "ERR");
    } else {
        snprintf(buf, sizeof buf, "%s",
                 PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    }
    PQclear(r);
    return buf;
}
#define VAL(sql, ...) val(sql, NPARAMS(__VA_ARGS__), PARAMS(__VA_ARGS__))

static const char *rate(const char *prefix, const char *rpm, const char *fi,
                        const char *ni, const char *from, const char *to,
                        const char *period, const char *deck)
{
    return RUN("INSERT INTO rates (plan_id, prefix, zone_id, period_id, "
               "rate_per_minute, connection_fee, first_increment, "
               "next_increment, effective_from, effective_to, deck_version) "
               "VALUES (1, $1, 1, $2, $3, 0, $4, $5, $6, $7, $8)",
               prefix, period, rpm, fi, ni, from, to, deck);
}

static void setup(void)
{
    TEST_EQ_STR(RUN("INSERT INTO rate_plans (id, name, currency, time_zone) "
                    "VALUES (1, 'test', 'USD', "
                    "'America/Argentina/Buenos_Aires'),"
                    " (2, 'other', 'EUR', 'UTC')"), OK);
    TEST_EQ_STR(RUN("INSERT INTO zones (id, code, name) VALUES (1, 'AR', "
                    "'Argentina')"), OK);
    TEST_EQ_STR(RUN("INSERT INTO zones (id, code, name, parent_id) VALUES "
                    "(2, 'AR-MOB', 'Argentina mobile', 1)"), OK);
    TEST_EQ_STR(RUN("INSERT INTO deck_versions (plan_id, actor) VALUES (1, "
                    "'test')"), OK);
    TEST_EQ_STR(RUN("INSERT INTO accounts (id, code, name, type, currency, "
                    "plan_id) VALUES (1, 'A1', 'Acme', 'prepaid', 'USD', 1)"),
                OK);
}

static void test_rates(void)
{
    const char *t0 = "2025-01-01 00:00:00+00";
    TEST_EQ_STR(rate("54", "-1", "1", "1", t0, NULL, NULL, "1"), CHECK_V);
    TEST_EQ_STR(rate("54", "100", "0", "1", t0, NULL, NULL, "1"), CHECK_V);
    TEST_EQ_STR(rate("54", "100", "1", "0", t0, NULL, NULL, "1"), CHECK_V);
    TEST_EQ_STR(rate("ab12", "100", "1", "1", t0, NULL, NULL, "1"), CHECK_V);
    TEST_EQ_STR(rate("", "100", "1", "1", t0, NULL, NULL, "1"), CHECK_V);
    TEST_EQ_STR(rate("54", "100", "1", "1", t0, t0, NULL, "1"), CHECK_V);
    TEST_EQ_STR(rate("54", "100", "1", "1", t0, NULL, NULL, "99"), FK_V);

    /* 0.0125 per minute, open-ended from t0. */
    TEST_EQ_STR(rate("5411", "12500", "1", "1", t0, NULL, NULL, "1"), OK);
    TEST_EQ_STR(rate("5411", "13000", "1", "1", "2025-06-01 00:00:00+00",
                     NULL, NULL, "1"), EXCL_V);
    TEST_EQ_STR(rate("5411", "13000", "1", "1", "2024-06-01 00:00:00+00",
                     "2025-02-01 00:00:00+00", NULL, "1"), EXCL_V);
    /* Half-open ranges: ending exactly at t0 touches, does not overlap. */
    TEST_EQ_STR(rate("5411", "11000", "60", "60", "2024-01-01 00:00:00+00",
                     t0, NULL, "1"), OK);
    /* Same prefix in another plan's deck or in a period: allowed. */
    TEST_EQ_STR(RUN("INSERT INTO rate_periods (id, plan_id, name) VALUES "
                    "(1, 1, 'peak'), (2, 1, 'night'), (3, 2, 'peak')"), OK);
    TEST_EQ_STR(rate("5411", "20000", "1", "1", t0, NULL, "1", "1"), OK);
    TEST_EQ_STR(rate("5411", "21000", "1", "1", t0, NULL, "1", "1"), EXCL_V);
    /* A period of plan 2 cannot be used by plan 1's rate. */
    TEST_EQ_STR(rate("5412", "20000", "1", "1", t0, NULL, "3", "1"), FK_V);
    /* Closing the open row then opening a new one is the way to change. */
    TEST_EQ_STR(RUN("UPDATE rates SET effective_to = '2026-01-01 00:00:00+00' "
                    "WHERE prefix = '5411' AND period_id IS NULL "
                    "AND effective_to IS NULL"), OK);
    TEST_EQ_STR(rate("5411", "14000", "1", "1", "2026-01-01 00:00:00+00",
                     NULL, NULL, "1"), OK);
}

/* Sends an overlapping rate for prefix on c2 while conn holds an
 * uncommitted one, commits conn, returns c2's SQLSTATE. */
static const char *race_rate(PGconn *c2, const char *prefix)
{
    static char state[8];
    static const char sql[] =
        "INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, "
        "first_increment, next_increment, effective_from, deck_version) "
        "VALUES (1, $1, 1, 100, 1, 1, $2, 1)";
    const char *p1[2] = { prefix, "2025-01-01 00:00:00+00" };
    const char *p2[2] = { prefix, "2025-06-01 00:00:00+00" };

    TEST_EQ_STR(RUN("BEGIN"), OK);
    TEST_EQ_STR(run(sql, 2, p1), OK);
    TEST_EQ_I64(PQsendQueryParams(c2, sql, 2, NULL, p2, NULL, NULL, 0), 1);
    usleep(300 * 1000);
    TEST_EQ_I64(PQconsumeInput(c2), 1);
    TEST_EQ_I64(PQisBusy(c2), 1);          /* waits for the plan's lock */
    TEST_EQ_STR(RUN("COMMIT"), OK);
    PGresult *r = PQgetResult(c2);
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(state, sizeof state, "%s", st ? st : OK);
    PQclear(r);
    while ((r = PQgetResult(c2)) != NULL)
        PQclear(r);
    return state;
}

/* Two writers of one plan cannot both add overlapping rates. */
static void test_rates_concurrent(PGconn *c2)
{
    TEST_EQ_STR(race_rate(c2, "7000"), EXCL_V);
    /* In REPEATABLE READ the second cannot see the first: it must fail
     * to serialize rather than pass its check. */
    PQclear(PQexec(c2, "BEGIN ISOLATION LEVEL REPEATABLE READ"));
    PQclear(PQexec(c2, "SELECT 1"));
    TEST_EQ_STR(race_rate(c2, "7001"), "40001");
    PQclear(PQexec(c2, "ROLLBACK"));
    TEST_EQ_STR(VAL("SELECT count(*) FROM rates WHERE prefix IN "
                    "('7000', '7001')"), "2");
}

static void test_periods_zones_plans(void)
{
    /* peak Mon-Fri 08:00-20:00; night every day 20:00-24:00. */
    TEST_EQ_STR(RUN("INSERT INTO rate_period_windows (period_id, wday_mask, "
                    "start_min, end_min) VALUES (1, 62, 480, 1200)"), OK);
    TEST_EQ_STR(RUN("INSERT INTO rate_period_windows (period_id, wday_mask, "
                    "start_min, end_min) VALUES (2, 127, 1200, 1440)"), OK);
    TEST_EQ_STR(RUN("INSERT INTO rate_period_windows (period_id, wday_mask, "
                    "start_min, end_min) VALUES (2, 127, 0, 540)"), EXCL_V);
    TEST_EQ_STR(RUN("INSERT INTO rate_period_windows (period_id, wday_mask, "
                    "start_min, end_min) VALUES (2, 65, 0, 540)"), OK);
    TEST_EQ_STR(RUN("INSERT INTO rate_period_windows (period_id, wday_mask, "
                    "start_min, end_min) VALUES (2, 0, 0, 10)"), CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO rate_period_windows (period_id, wday_mask, "
                    "start_min, end_min) VALUES (2, 1, 600, 600)"), CHECK_V);

    TEST_EQ_STR(RUN("UPDATE zones SET parent_id = 2 WHERE id = 1"), CHECK_V);

    TEST_EQ_STR(RUN("INSERT INTO rate_plans (name, currency, time_zone) "
                    "VALUES ('x1', 'USD', 'Mars/Olympus')"), CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO rate_plans (name, currency, rounding) "
                    "VALUES ('x2', 'USD', 'nearest')"), CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO rate_plans (name, currency, number_rules) "
                    "VALUES ('x3', 'USD', '0=>54,abc')"), CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO rate_plans (name, currency) VALUES ('x4', "
                    "'usd')"), CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO rate_plans (name, currency, number_rules) "
                    "VALUES ('x5', 'USD', '00=>,0=>54')"), OK);

    /* Deck versions only go up, one plan at a time. */
    TEST_EQ_STR(RUN("INSERT INTO deck_versions (plan_id, version, actor) "
                    "VALUES (1, 1, 't')"), CHECK_V);
    TEST_EQ_STR(VAL("INSERT INTO deck_versions (plan_id, actor) VALUES "
                    "(1, 't') RETURNING version"), "2");
    TEST_EQ_STR(VAL("INSERT INTO deck_versions (plan_id, actor) VALUES "
                    "(2, 't') RETURNING version"), "1");
}

static void test_accounts(void)
{
    TEST_EQ_STR(RUN("INSERT INTO accounts (code, name, type, currency, "
                    "plan_id, credit_limit) VALUES ('A2', 'x', 'prepaid', "
                    "'USD', 1, -1)"), CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO accounts (code, name, type, currency, "
                    "plan_id) VALUES ('A3', 'x', 'gold', 'USD', 1)"), CHECK_V);
    /* A plan priced in EUR for a USD account. */
    TEST_EQ_STR(RUN("INSERT INTO accounts (code, name, type, currency, "
                    "plan_id) VALUES ('A4', 'x', 'prepaid', 'USD', 2)"), FK_V);
    TEST_EQ_STR(RUN("INSERT INTO accounts (code, name, type, currency, "
                    "plan_id, status) VALUES ('A5', 'x', 'postpaid', 'USD', "
                    "1, 'frozen')"), CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO accounts (code, name, type, currency, "
                    "plan_id) VALUES ('A1', 'dup', 'prepaid', 'USD', 1)"),
                UNIQUE_V);
    TEST_EQ_STR(RUN("INSERT INTO extensions (number, account_id) VALUES "
                    "('12a', 1)"), CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO extensions (number, account_id, "
                    "monthly_limit) VALUES ('1001', 1, -1)"), CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO extensions (number, account_id, "
                    "monthly_limit) VALUES ('1001', 1, 50000000)"), OK);
    TEST_EQ_STR(RUN("INSERT INTO extensions (number, account_id) VALUES "
                    "('1001', 1)"), UNIQUE_V);
    TEST_EQ_STR(RUN("INSERT INTO fac_codes (name, code_hash, "
                    "authorization_level) VALUES ('boss', 'h1', -1)"),
                CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO users (username, password_hash, role) "
                    "VALUES ('root', 'x', 'god')"), CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO users (username, password_hash, role) "
                    "VALUES ('Admin', 'x', 'admin')"), OK);
    TEST_EQ_STR(RUN("INSERT INTO users (username, password_hash, role) "
                    "VALUES ('admin', 'x', 'viewer')"), UNIQUE_V);
}

static const char *cdr(const char *call_id, const char *start)
{
    return RUN("INSERT INTO cdrs (call_id, source, account_id, direction, "
               "start_at, end_at, duration, billsec, cost) VALUES "
               "($1, 'freeswitch', 1, 'outbound', $2::timestamptz, "
               "$2::timestamptz + interval '1 minute', 60, 55, 12500)",
               call_id, start);
}

/* COPY of rows whose second and third share a call id: all refused. */
static void test_copy_duplicate(void)
{
    static const char rows[] =
        "cp-1\tcucm\toutbound\t2026-01-05 10:00:00+00\t"
        "2026-01-05 10:01:00+00\t60\t60\n"
        "cp-2\tcucm\toutbound\t2026-01-05 10:00:00+00\t"
        "2026-01-05 10:01:00+00\t60\t60\n"
        "cp-2\tcucm\toutbound\t2026-01-06 10:00:00+00\t"
        "2026-01-06 10:01:00+00\t60\t60\n";
    PGresult *r = PQexec(conn, "COPY cdrs (call_id, source, direction, "
                               "start_at, end_at, duration, billsec) "
                               "FROM STDIN");
    TEST_EQ_I64(PQresultStatus(r), PGRES_COPY_IN);
    PQclear(r);
    TEST_EQ_I64(PQputCopyData(conn, rows, (int)strlen(rows)), 1);
    TEST_EQ_I64(PQputCopyEnd(conn, NULL), 1);
    r = PQgetResult(conn);
    TEST_EQ_I64(PQresultStatus(r), PGRES_FATAL_ERROR);
    TEST_EQ_STR(PQresultErrorField(r, PG_DIAG_SQLSTATE), UNIQUE_V);
    PQclear(r);
    while ((r = PQgetResult(conn)) != NULL)
        PQclear(r);
    TEST_EQ_STR(VAL("SELECT count(*) FROM cdrs WHERE call_id LIKE 'cp-%'"),
                "0");
    TEST_EQ_STR(VAL("SELECT count(*) FROM cdr_ids WHERE call_id LIKE 'cp-%'"),
                "0");
}

static void test_cdrs(void)
{
    TEST_EQ_STR(cdr("call-1", "now"), OK);
    /* Same call id, other start time (other partition): refused. */
    TEST_EQ_STR(cdr("call-1", "2026-01-15 12:00:00+00"), UNIQUE_V);
    TEST_EQ_STR(cdr("", "now"), CHECK_V);
    TEST_EQ_STR(RUN("UPDATE cdrs SET start_at = start_at - interval '40 days' "
                    "WHERE call_id = 'call-1'"), CHECK_V);
    TEST_EQ_STR(RUN("UPDATE cdrs SET flags = 1 WHERE call_id = 'call-1'"), OK);
    TEST_EQ_STR(RUN("INSERT INTO cdrs (call_id, source, direction, start_at, "
                    "end_at, duration, billsec) VALUES ('x', 'skype', "
                    "'outbound', now(), now(), 0, 0)"), CHECK_V);
    TEST_EQ_STR(RUN("INSERT INTO cdrs (call_id, source, direction, start_at, "
                    "end_at, duration, billsec, cost) VALUES ('x', 'cucm', "
                    "'outbound', now(), now(), 0, 0, -1)"), CHECK_V);
    /* A deleted CDR keeps its claim: the call id stays used. */
    TEST_EQ_STR(cdr("call-del", "now"), OK);
    TEST_EQ_STR(RUN("DELETE FROM cdrs WHERE call_id = 'call-del'"), OK);
    TEST_EQ_STR(cdr("call-del", "now"), UNIQUE_V);
    test_copy_duplicate();
}

static const char *ledger(const char *kind, const char *amount,
                          const char *ref, const char *at)
{
    return RUN("INSERT INTO ledger (account_id, kind, amount, balance_after, "
               "reference, at, actor) VALUES (1, $1, $2, 0, $3, "
               "$4::timestamptz, 'test')", kind, amount, ref, at);
}

static void test_ledger_journal(void)
{
    TEST_EQ_STR(ledger("recharge", "-5", NULL, "now"), CHECK_V);
    TEST_EQ_STR(ledger("refund", "0", "call-1", "now"), CHECK_V);
    TEST_EQ_STR(ledger("call_debit", "5", "call-1", "now"), CHECK_V);
    TEST_EQ_STR(ledger("call_debit", "-5", NULL, "now"), CHECK_V);
    TEST_EQ_STR(ledger("adjustment", "0", "typo", "now"), CHECK_V);
    TEST_EQ_STR(ledger("reservation", "-5", "call-1", "now"), CHECK_V);
    TEST_EQ_STR(ledger("recharge", "10000000", "receipt 1", "now"), OK);
    TEST_EQ_STR(ledger("call_debit", "-12500", "call-1", "now"), OK);
    TEST_EQ_STR(RUN("UPDATE ledger SET amount = 1"), PRIV_V);
    TEST_EQ_STR(RUN("DELETE FROM ledger"), PRIV_V);
    TEST_EQ_STR(RUN("INSERT INTO ledger (account_id, kind, amount, "
                    "balance_after, actor) VALUES (42, 'recharge', 1, 1, "
                    "'t')"), FK_V);

    TEST_EQ_STR(RUN("INSERT INTO journal_position (name, drained_seq) "
                    "VALUES ('fs1', 10)"), OK);
    TEST_EQ_STR(RUN("UPDATE journal_position SET drained_seq = 9 "
                    "WHERE name = 'fs1'"), CHECK_V);
    TEST_EQ_STR(RUN("UPDATE journal_position SET drained_seq = 11 "
                    "WHERE name = 'fs1'"), OK);
    TEST_EQ_STR(RUN("INSERT INTO journal_position (name, drained_seq) "
                    "VALUES ('fs2', -1)"), CHECK_V);
}

/* Partitions of the previous, this and the next 3 months, with bounds that
 * route this month's rows to this month's partition. */
static void test_partitions_exist(void)
{
    TEST_EQ_STR(VAL("SELECT count(*) FROM generate_series(-1, 3) k, "
                    "(VALUES ('cdrs'), ('ledger')) t(parent) "
                    "WHERE EXISTS (SELECT 1 FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = t.parent::regclass "
                    "AND c.relname = t.parent || '_p' || to_char("
                    "date_trunc('month', now() AT TIME ZONE 'UTC') "
                    "+ make_interval(months => k), 'YYYYMM'))"), "10");
    TEST_EQ_STR(VAL("SELECT count(*) FROM pg_partitioned_table "
                    "WHERE partrelid IN ('cdrs'::regclass, "
                    "'ledger'::regclass) "
                    "AND partdefid <> 0"), "2");
    TEST_EQ_STR(VAL("SELECT tableoid::regclass::text = 'cdrs_p' || "
                    "to_char(now() AT TIME ZONE 'UTC', 'YYYYMM') FROM cdrs "
                    "WHERE call_id = 'call-1'"), "t");
    TEST_EQ_STR(VAL("SELECT bool_and(tableoid::regclass::text = "
                    "'ledger_p' || to_char(now() AT TIME ZONE 'UTC', "
                    "'YYYYMM')) FROM ledger"),
                "t");
    /* Idempotent. */
    TEST_EQ_STR(VAL("SELECT apolo_ensure_partitions(3)"), "0");
}

/* A row two years ahead waits in the default partition, and moves into its
 * own partition when that is created. */
static void test_partition_move(void)
{
    char month[8], part[32];

    snprintf(month, sizeof month, "%s",
             VAL("SELECT to_char((now() + interval '2 years') AT TIME ZONE "
                 "'UTC', 'YYYYMM')"));
    TEST_EQ_STR(RUN("INSERT INTO cdrs (call_id, source, direction, start_at, "
                    "end_at, duration, billsec) VALUES ('call-2y', 'cucm', "
                    "'outbound', now() + interval '2 years', now() + "
                    "interval '2 years', 0, 0)"), OK);
    TEST_EQ_STR(ledger("recharge", "7", "future", "2000-01-01"), OK);
    TEST_EQ_STR(RUN("INSERT INTO ledger (account_id, kind, amount, "
                    "balance_after, at, actor) VALUES (1, 'recharge', 3, 3, "
                    "now() + interval '2 years', 't')"), OK);
    TEST_EQ_STR(VAL("SELECT tableoid::regclass::text FROM cdrs "
                    "WHERE call_id = 'call-2y'"), "cdrs_default");
    TEST_EQ_STR(VAL("SELECT count(*) FROM ledger_default"), "2");

    TEST_EQ_STR(VAL("SELECT apolo_ensure_partitions(24) > 0"), "t");

    snprintf(part, sizeof part, "cdrs_p%s", month);
    TEST_EQ_STR(VAL("SELECT tableoid::regclass::text FROM cdrs "
                    "WHERE call_id = 'call-2y'"), part);
    TEST_EQ_STR(VAL("SELECT count(*) FROM cdrs_default"), "0");
    TEST_EQ_STR(VAL("SELECT count(*) FROM cdr_ids WHERE call_id = 'call-2y'"),
                "1");
    /* The claim trigger was cloned onto the new partition. */
    TEST_EQ_STR(RUN("INSERT INTO cdrs (call_id, source, direction, start_at, "
                    "end_at, duration, billsec) VALUES ('call-2y', 'cucm', "
                    "'outbound', now() + interval '2 years', now() + "
                    "interval '2 years', 0, 0)"), UNIQUE_V);
    TEST_EQ_STR(RUN("INSERT INTO cdrs (call_id, source, direction, start_at, "
                    "end_at, duration, billsec) VALUES ('call-2y-b', 'cucm', "
                    "'outbound', now() + interval '2 years', now() + "
                    "interval '2 years', 0, 0)"), OK);
    TEST_EQ_STR(VAL("SELECT count(*) FROM cdr_ids "
                    "WHERE call_id = 'call-2y-b'"),
                "1");
    /* Its indexes were built, the ledger row moved too, the old one (year
     * 2000, before any partition) stays in the default. */
    TEST_EQ_STR(VAL("SELECT count(*) FROM pg_indexes WHERE tablename = $1",
                    part), "5");
    snprintf(part, sizeof part, "ledger_p%s", month);
    TEST_EQ_STR(VAL("SELECT tableoid::regclass::text FROM ledger "
                    "WHERE amount = 3"), part);
    TEST_EQ_STR(VAL("SELECT tableoid::regclass::text FROM ledger "
                    "WHERE amount = 7"), "ledger_default");
    TEST_EQ_STR(VAL("SELECT count(*) FROM ledger"), "4");
    TEST_EQ_STR(VAL("SELECT apolo_ensure_partitions(24)"), "0");
    /* Updates and deletes stay refused after the move. */
    TEST_EQ_STR(RUN("DELETE FROM ledger WHERE amount = 3"), PRIV_V);
}

/* No money in floating point or two-decimal numerics; the money columns
 * are BIGINT micro-units. */
static void test_money_types(void)
{
    TEST_EQ_STR(VAL("SELECT count(*) FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND data_type IN "
                    "('real', 'double precision', 'money')"), "0");
    TEST_EQ_STR(VAL("SELECT count(*) FROM information_schema.columns "
                    "WHERE table_schema = current_schema() "
                    "AND data_type = 'numeric' "
                    "AND coalesce(numeric_scale, 0) < 6"), "0");
    TEST_EQ_STR(VAL("SELECT count(*) FROM (VALUES "
                    "('rates', 'rate_per_minute'), "
                    "('rates', 'connection_fee'),"
                    "('accounts', 'balance'), ('accounts', 'credit_limit'),"
                    "('accounts', 'low_balance_threshold'),"
                    "('extensions', 'monthly_limit'),"
                    "('ledger', 'amount'), ('ledger', 'balance_after'),"
                    "('cdrs', 'cost'), ('cdrs', 'rate_per_minute'),"
                    "('cdrs', 'connection_fee')) m(t, c) "
                    "JOIN information_schema.columns i ON i.table_name = m.t "
                    "AND i.column_name = m.c AND i.data_type = 'bigint' "
                    "AND i.table_schema = current_schema()"), "11");
}

static PGconn *connect_to(const char *url, const char *name)
{
    const char *keys[] = { "dbname", "dbname", NULL };
    const char *vals[] = { url, name, NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect to %s: %s", name, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int admin_db(PGconn *admin, const char *verb, const char *name)
{
    char *id = PQescapeIdentifier(admin, name, strlen(name));
    char sql[256];
    snprintf(sql, sizeof sql, "%s DATABASE %s%s", verb, id,
             strcmp(verb, "DROP") == 0 ? " WITH (FORCE)" : "");
    PQfreemem(id);
    return db_exec(admin, verb, sql, 0, NULL);
}

int main(void)
{
    const char *url = getenv("DATABASE_URL"), *top = getenv("APOLO_TOP");
    char dir[4096], name[64];
    int applied = 0;

    if (url == NULL || url[0] == '\0') {
        TEST_FAIL_AT("DATABASE_URL is not set: this test needs PostgreSQL");
        return TEST_REPORT();
    }
    snprintf(dir, sizeof dir, "%s/sql", top ? top : ".");
    snprintf(name, sizeof name, "apolo_test_schema_%d", (int)getpid());
    PGconn *admin = db_connect(url, "test_schema");
    TEST_CHECK(admin != NULL);
    if (admin == NULL || admin_db(admin, "CREATE", name) != DB_OK) {
        TEST_FAIL_AT("cannot create database %s", name);
        PQfinish(admin);
        return TEST_REPORT();
    }
    conn = connect_to(url, name);
    TEST_CHECK(conn != NULL);
    if (conn != NULL) {
        PQclear(PQexec(conn, "SET client_min_messages = warning"));
        TEST_EQ_I64(migrate_apply(conn, dir, &applied), MIGRATE_OK);
    }
    if (conn != NULL && test_failures == 0) {
        setup();
        test_rates();
        PGconn *c2 = connect_to(url, name);
        TEST_CHECK(c2 != NULL);
        if (c2 != NULL)
            test_rates_concurrent(c2);
        PQfinish(c2);
        test_periods_zones_plans();
        test_accounts();
        test_cdrs();
        test_ledger_journal();
        test_partitions_exist();
        test_partition_move();
        test_money_types();
    }
    PQfinish(conn);
    TEST_EQ_I64(admin_db(admin, "DROP", name), DB_OK);
    PQfinish(admin);
    return TEST_REPORT();
}
