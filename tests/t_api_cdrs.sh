#!/usr/bin/env bash
# t_api_cdrs.sh -- CDR reports over real HTTP (admin/api_cdrs.c), with
# apolod and the private PostgreSQL of tests/run.sh (DATABASE_URL,
# APOLO_TOP, APOLO_BUILD).
#
# ~300 CDRs seeded in SQL over the last 3 days (4 accounts, 3 zones,
# answered / unanswered / refused, ties on start_at and on cost, a caller
# with a comma and a quote), a ledger and a viewer; then:
#   - every filter of /api/v1/cdrs returns exactly the call ids SQL selects
#   - pagination walks every row once, in order, for both sorts
#   - /api/v1/cdrs.csv: row count and sum of costs equal SQL's; RFC 4180
#     quoting; /api/v1/ledger.csv likewise
#   - stats (revenue by day/zone/account, quality, top destinations) equal
#     independent SQL
#   - bad parameters 400; audit: viewer 403, admin 200; injection harmless
#   - a report blocked past admin.report_timeout_ms: 503 timeout
#
# KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
t_init cdrs
t_conf <<EOC
admin.report_timeout_ms = 1000
EOC

t_migrate
# 300 calls, one every 13 minutes back from now (pairs share a start_at:
# the call_id breaks the tie); cost ties every 7; every 4th unanswered,
# every 8th of those refused (CALL_REJECTED), every 25th estimated.
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'CDR test', 'ARS', 'UTC', 'up', '');
INSERT INTO zones (id, code, name) VALUES (1, 'AR', 'Argentina'),
  (2, 'ES', 'Spain'), (3, 'US', 'United States');
INSERT INTO accounts (id, code, name, type, status, balance, credit_limit,
                      currency, plan_id)
  SELECT a, 'C' || a, 'Account ' || a, 'prepaid', 'active', 0, 0, 'ARS', 1
  FROM generate_series(1, 4) a;
CREATE TABLE t_now AS SELECT date_trunc('second', now()) - interval '1 minute' AS t;
INSERT INTO cdrs (call_id, source, account_id, extension, caller, callee,
  dialed, direction, start_at, answer_at, end_at, duration, billsec, cost,
  zone_id, zone_name, prefix, plan_id, deck_version, period_id,
  rate_per_minute, connection_fee, first_increment, next_increment,
  min_seconds, grace_seconds, rounding, segments, hangup_cause, flags,
  journal, journal_seq)
SELECT 'c-' || lpad(i::text, 4, '0'), 'freeswitch', 1 + i % 4,
  '10' || (i % 5), '54911' || lpad((i % 50)::text, 4, '0'),
  z.pfx || lpad(i::text, 6, '0'), z.pfx || lpad(i::text, 6, '0'),
  CASE WHEN i % 10 = 9 THEN 'inbound' ELSE 'outbound' END,
  st, CASE WHEN bs > 0 THEN st + interval '3 seconds' END,
  st + make_interval(secs => bs + 5), bs + 5, bs,
  CASE WHEN bs > 0 THEN (i % 7) * 250000 + (i % 3) * 1000 ELSE 0 END,
  z.id, z.name, z.pfx, 1, 3, NULL, 6000000 * z.id, 0, 60, 6, 0, 0, 'up',
  CASE WHEN i = 5 THEN '[{\"period\":1,\"seconds\":10}]'::jsonb END,
  CASE WHEN bs > 0 THEN 'NORMAL_CLEARING'
       WHEN i % 8 = 0 THEN 'CALL_REJECTED' ELSE 'NO_ANSWER' END,
  CASE WHEN i % 25 = 0 THEN 8 ELSE 0 END, 'ring:0', i
FROM generate_series(1, 300) i
CROSS JOIN t_now
CROSS JOIN LATERAL (SELECT t_now.t - make_interval(mins => (i / 2) * 26) AS st,
                           CASE WHEN i % 4 = 0 THEN 0 ELSE (i * 7) % 600 + 1 END AS bs) x
JOIN (VALUES (0, 1, 'Argentina', '54'), (1, 2, 'Spain', '34'),
             (2, 3, 'United States', '1')) z(m, id, name, pfx) ON z.m = i % 3;
UPDATE cdrs SET caller = 'evil,\"name\"' WHERE call_id = 'c-0007';
INSERT INTO ledger (account_id, kind, amount, balance_after, reference, at, actor)
  SELECT 1, 'recharge', 1000000 * i, 1000000 * i * (i + 1) / 2, 'r-' || i,
         (SELECT t FROM t_now) - make_interval(hours => i), 'seed'
  FROM generate_series(1, 40) i;" ||
  { fail "seeding the database"; exit 1; }
n=$(sql "SELECT count(*) FROM cdrs")
[ "$n" = 300 ] && ok "seeded 300 CDRs" || { fail "seeded $n CDRs"; exit 1; }

pw_admin='admin-secret-Pw1'
pw_view='viewer-secret-Pw3'
t_user admin admin "$pw_admin"
t_user viewer viewer "$pw_view"

t_start
atok=$(login admin "$pw_admin")
vtok=$(login viewer "$pw_view")
[ -n "$atok" ] && [ -n "$vtok" ] || { fail "login"; exit 1; }

# The checks that walk JSON and CSV are in Python (ok:/FAIL: lines too).
BASE=$base VTOK=$vtok ATOK=$atok DBURL=$dburl python3 - <<'PY'
import base64, csv, io, json, os, subprocess, sys, urllib.parse, urllib.request
base, vtok, atok, dburl = (os.environ[k] for k in ("BASE", "VTOK", "ATOK", "DBURL"))
fails = 0
def ok(m): print("ok:   " + m)
def fail(m):
    global fails; fails += 1; print("FAIL: " + m)
def sql(q):
    out = subprocess.run(["psql", dburl, "-v", "ON_ERROR_STOP=1", "-qAtF", "|", "-c", q],
                         capture_output=True, text=True, check=True).stdout
    return [l.split("|") for l in out.splitlines()]
def get(path, params=None, tok=vtok, raw=False):
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + tok})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            body = r.read()
            return r.status, (body if raw else json.loads(body)), r.headers
    except urllib.error.HTTPError as e:
        body = e.read()
        try: body = json.loads(body)
        except Exception: pass
        return e.code, body, e.headers

frm = sql("SELECT to_char((t - interval '4 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
          "to_char((t + interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM t_now")[0]
R = {"from": frm[0], "to": frm[1]}
RSQL = "start_at >= '%s' AND start_at < '%s'" % (frm[0], frm[1])
STATUS = ("CASE WHEN billsec > 0 THEN 'answered' WHEN hangup_cause = 'CALL_REJECTED' "
          "THEN 'refused' ELSE 'unanswered' END")

def walk(params, limit):
    ids, nxt, pages = [], None, 0
    while True:
        p = dict(R, **params, limit=limit)
        if nxt: p["after"] = nxt
        s, b, _ = get("/api/v1/cdrs", p)
        if s != 200:
            return None, "status %s: %s" % (s, b)
        ids += [c["call_id"] for c in b["cdrs"]]
        nxt = b["next"]; pages += 1
        if not nxt or pages > 400: return ids, b
    
# ---- filters: exactly SQL's rows ---------------------------------------------
filters = [
    ({}, "true"),
    ({"account": "2"}, "account_id = 2"),
    ({"zone": "3"}, "zone_id = 3"),
    ({"extension": "103"}, "extension = '103'"),
    ({"caller": "549110001"}, "caller = '549110001'"),
    ({"caller": "5491100*"}, "caller LIKE '5491100%'"),
    ({"callee": "34*"}, "callee LIKE '34%'"),
    ({"callee": "1000101"}, "callee = '1000101'"),
    ({"direction": "inbound"}, "direction = 'inbound'"),
    ({"status": "answered"}, STATUS + " = 'answered'"),
    ({"status": "unanswered"}, STATUS + " = 'unanswered'"),
    ({"status": "refused"}, STATUS + " = 'refused'"),
    ({"cost_min": "0.75", "cost_max": "1.251"}, "cost >= 750000 AND cost <= 1251000"),
    ({"account": "2", "zone": "1", "status": "answered"},
     "account_id = 2 AND zone_id = 1 AND billsec > 0"),
]
for params, where in filters:
    want = [r[0] for r in sql("SELECT call_id FROM cdrs WHERE %s AND %s "
                              "ORDER BY start_at DESC, call_id COLLATE \"C\" DESC" % (RSQL, where))]
    got, _ = walk(params, 1000)
    if got == want and (want or params.get("status") == "refused"):
        ok("filter %s: %d rows as SQL" % (params, len(want)))
    else:
        fail("filter %s: %s rows, SQL %d" % (params, None if got is None else len(got), len(want)))
n = len(sql("SELECT 1 FROM cdrs WHERE " + RSQL + " AND " + STATUS + " = 'refused'"))
ok("refused calls seeded: %d" % n) if n > 0 else fail("no refused call seeded")

# ---- pagination ----------------------------------------------------------------
want = [r[0] for r in sql("SELECT call_id FROM cdrs WHERE %s ORDER BY start_at DESC, "
                          "call_id COLLATE \"C\" DESC" % RSQL)]
got, _ = walk({}, 7)
if got == want and len(set(got)) == 300:
    ok("sort=start_at, pages of 7: all 300 once, in order")
else:
    fail("sort=start_at pages: %s" % (None if got is None else len(got)))
want = [r[0] for r in sql("SELECT call_id FROM cdrs WHERE %s ORDER BY cost DESC, start_at DESC, "
                          "call_id COLLATE \"C\" DESC" % RSQL)]
got, _ = walk({"sort": "cost"}, 9)
if got == want and len(set(got)) == 300:
    ok("sort=cost, pages of 9: all 300 once, in order")
else:
    fail("sort=cost pages: %s" % (None if got is None else len(got)))
s, b, _ = get("/api/v1/cdrs", dict(R, limit=2))
first = b["cdrs"][0] if s == 200 and b["cdrs"] else {}
s2, b2, _ = get("/api/v1/cdrs", dict(R, limit=2, sort="cost", after=b["next"]))
if s2 == 400 and "after" in json.dumps(b2):
    ok("a start_at cursor with sort=cost: 400")
else:
    fail("cursor of the other sort: %s %s" % (s2, b2))
s, b, _ = get("/api/v1/cdrs", dict(R, limit=2, after="not-a-cursor"))
ok("garbage cursor: 400") if s == 400 else fail("garbage cursor: %s" % s)

# ---- a row: every column, amounts as strings, trace ------------------------------
s, b, _ = get("/api/v1/cdrs", dict(R, caller="evil,\"name\""))
row = b["cdrs"][0] if s == 200 and len(b["cdrs"]) == 1 else None
db = sql("SELECT cost, billsec, zone_name, prefix, rate_per_minute FROM cdrs WHERE call_id = 'c-0007'")[0]
cols = ["call_id", "source", "account_id", "extension", "caller", "callee", "dialed", "direction",
        "start_at", "answer_at", "end_at", "duration", "billsec", "cost", "zone_id", "zone_name",
        "prefix", "plan_id", "deck_version", "period_id", "rate_per_minute", "connection_fee",
        "first_increment", "next_increment", "min_seconds", "grace_seconds", "rounding", "segments",
        "hangup_cause", "fac_id", "flags", "journal", "journal_seq", "inserted_at", "estimated", "status"]
if row and all(c in row for c in cols) and row["cost"] == "%d.%06d" % divmod(int(db[0]), 1000000) \
   and row["rate_per_minute"] == "%d.%06d" % divmod(int(db[4]), 1000000) \
   and row["prefix"] == db[3] and row["start_at"].endswith("Z") and row["estimated"] is False:
    ok("a CDR has every column, decimal strings, ISO UTC: cost %s" % row["cost"])
else:
    fail("the CDR row: %s" % row)
s, b, _ = get("/api/v1/cdrs", dict(R, account="1", limit=1000))
est = [c["call_id"] for c in b["cdrs"] if c["estimated"]]
want = [r[0] for r in sql("SELECT call_id FROM cdrs WHERE %s AND account_id = 1 AND flags & 8 <> 0 "
                          "ORDER BY start_at DESC, call_id COLLATE \"C\" DESC" % RSQL)]
ok("estimated = flags & 8 (%d rows)" % len(est)) if est == want and est else fail("estimated: %s vs %s" % (est, want))
s, b, _ = get("/api/v1/cdrs", dict(R, callee="1000005"))
seg = b["cdrs"][0]["segments"] if s == 200 and b["cdrs"] else None
ok("segments as JSON") if seg == [{"period": 1, "seconds": 10}] else fail("segments: %s" % seg)

# ---- CSV ---------------------------------------------------------------------------
s, body, h = get("/api/v1/cdrs.csv", R, raw=True)
txt = body.decode() if s == 200 else ""
rows = list(csv.DictReader(io.StringIO(txt, newline="")))
want = sql("SELECT count(*), sum(cost), sum(hashtext(call_id)::bigint) FROM cdrs WHERE " + RSQL)[0]
tot = sum(int(round(float(r["cost"]) * 1e6)) for r in rows) if rows else -1
if s == 200 and len(rows) == int(want[0]) and tot == int(want[1]) and \
   "chunked" in (h.get("Transfer-Encoding") or ""):
    ok("cdrs.csv: %d rows, costs sum %d as SQL, chunked" % (len(rows), tot))
else:
    fail("cdrs.csv: status %s, %d rows (SQL %s), costs %d (SQL %s), TE %s" %
         (s, len(rows), want[0], tot, want[1], h.get("Transfer-Encoding")))
ev = [r for r in rows if r["call_id"] == "c-0007"]
if ev and ev[0]["caller"] == 'evil,"name"' and '"evil,""name"""' in txt and txt.startswith("call_id,") \
   and "\r\n" in txt:
    ok("CSV quoting (RFC 4180): %s" % '"evil,""name"""')
else:
    fail("CSV quoting: %s" % (ev[0]["caller"] if ev else None))
s, body, _ = get("/api/v1/cdrs.csv", dict(R, account="3", status="answered"), raw=True)
rows = list(csv.DictReader(io.StringIO(body.decode(), newline=""))) if s == 200 else []
want = sql("SELECT count(*) FROM cdrs WHERE %s AND account_id = 3 AND billsec > 0" % RSQL)[0][0]
ok("cdrs.csv with filters: %d rows" % len(rows)) if len(rows) == int(want) else fail("cdrs.csv filtered: %d vs %s" % (len(rows), want))
s, body, _ = get("/api/v1/ledger.csv", dict(R, account="1"), raw=True)
rows = list(csv.DictReader(io.StringIO(body.decode(), newline=""))) if s == 200 else []
want = sql("SELECT count(*), sum(amount) FROM ledger WHERE account_id = 1 AND at >= '%s' AND at < '%s'"
           % (R["from"], R["to"]))[0]
tot = sum(int(round(float(r["amount"]) * 1e6)) for r in rows)
if len(rows) == int(want[0]) and tot == int(want[1]):
    ok("ledger.csv: %d rows, amounts sum as SQL" % len(rows))
else:
    fail("ledger.csv: %s %d rows %d vs %s" % (s, len(rows), tot, want))

# ---- statistics ------------------------------------------------------------------
def money(v): return "%d.%06d" % divmod(int(v), 1000000)
for g, key in (("day", "to_char(start_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
               ("zone", "zone_id::text"), ("account", "account_id::text")):
    want = [[r[0], int(r[1]), int(r[2]), int(r[3]), r[4], money(r[5])] for r in sql(
        "SELECT %s, count(*), count(*) FILTER (WHERE billsec > 0), sum(billsec), "
        "round(sum(billsec) / 60.0, 4), sum(cost) FROM cdrs WHERE %s GROUP BY 1 ORDER BY 1" % (key, RSQL))]
    s, b, _ = get("/api/v1/stats/revenue", dict(R, group=g))
    got = [[x["key"], x["calls"], x["answered"], x["seconds"], x["minutes"], x["revenue"]]
           for x in b.get("rows", [])] if s == 200 else None
    ok("revenue by %s: %d rows as SQL" % (g, len(want))) if got == want else fail("revenue by %s: %s vs %s" % (g, got, want))
want = sql("SELECT count(*), count(*) FILTER (WHERE billsec > 0), "
           "round(count(*) FILTER (WHERE billsec > 0) / count(*)::numeric, 4), "
           "round(avg(billsec) FILTER (WHERE billsec > 0), 2) FROM cdrs WHERE " + RSQL)[0]
s, b, _ = get("/api/v1/stats/quality", R)
got = b["rows"][0] if s == 200 and len(b["rows"]) == 1 else {}
if [str(got.get("calls")), str(got.get("answered")), got.get("asr"), got.get("acd_seconds")] == want:
    ok("quality: ASR %s, ACD %s as SQL" % (want[2], want[3]))
else:
    fail("quality: %s vs %s" % (got, want))
s, b, _ = get("/api/v1/stats/quality", dict(R, group="zone"))
ok("quality by zone: 3 rows") if s == 200 and len(b["rows"]) == 3 else fail("quality by zone: %s" % s)
want = [[r[0], int(r[1]), int(r[2]), money(r[3])] for r in sql(
    "SELECT prefix, zone_id, count(*), sum(cost) FROM cdrs WHERE %s GROUP BY prefix, zone_id "
    "ORDER BY sum(cost) DESC, count(*) DESC, 1, 2 LIMIT 2" % RSQL)]
s, b, _ = get("/api/v1/stats/top-destinations", dict(R, limit=2))
got = [[x["prefix"], x["zone_id"], x["calls"], x["revenue"]] for x in b.get("rows", [])] if s == 200 else None
ok("top destinations: %s" % got) if got == want else fail("top destinations: %s vs %s" % (got, want))

# ---- bad parameters ------------------------------------------------------------------
bad = [
    ("/api/v1/cdrs", {"from": "2024-13-01"}, "from"),
    ("/api/v1/cdrs", {"from": "yesterday"}, "from"),
    ("/api/v1/cdrs", {"from": "2024-02-30T00:00:00Z"}, "from"),
    ("/api/v1/cdrs", {"from": "2024-01-01", "to": "2024-03-01"}, "to"),
    ("/api/v1/cdrs", {"from": "2024-03-01", "to": "2024-01-01"}, "to"),
    ("/api/v1/cdrs", dict(R, limit="0"), "limit"),
    ("/api/v1/cdrs", dict(R, limit="5000"), "limit"),
    ("/api/v1/cdrs", dict(R, limit="1e3"), "limit"),
    ("/api/v1/cdrs", dict(R, sort="drop table cdrs"), "sort"),
    ("/api/v1/cdrs", dict(R, account="1 OR 1=1"), "account"),
    ("/api/v1/cdrs", dict(R, zone="-1"), "zone"),
    ("/api/v1/cdrs", dict(R, direction="sideways"), "direction"),
    ("/api/v1/cdrs", dict(R, status="maybe"), "status"),
    ("/api/v1/cdrs", dict(R, cost_min="1,5"), "cost_min"),
    ("/api/v1/cdrs", dict(R, cost_max="0.0000001"), "cost_max"),
    ("/api/v1/cdrs", dict(R, caller="54*1*"), "caller"),
    ("/api/v1/cdrs.csv", {"from": "2024-01-01", "to": "2024-06-01"}, "to"),
    ("/api/v1/ledger.csv", R, "account"),
    ("/api/v1/stats/revenue", dict(R, group="zone; DROP TABLE cdrs"), "group"),
    ("/api/v1/stats/quality", dict(R, group="account"), "group"),
    ("/api/v1/stats/top-destinations", dict(R, limit="0"), "limit"),
]
for path, p, name in bad:
    s, b, _ = get(path, p)
    msg = b.get("error", {}).get("message", "") if isinstance(b, dict) else ""
    if s == 400 and msg.startswith(name + ":"):
        ok("400 %s %s: %s" % (path, {k: v for k, v in p.items() if k not in R or p[k] != R[k]}, msg))
    else:
        fail("%s %s: %s %s" % (path, p, s, b))

# ---- injection: values are parameters ----------------------------------------------
for v in ("' OR '1'='1", "'; DROP TABLE cdrs; --", "%", "_*", "\\*"):
    s, b, _ = get("/api/v1/cdrs", dict(R, caller=v))
    if s not in (200, 400) or (s == 200 and b["cdrs"]):
        fail("caller=%r: %s %s" % (v, s, b))
        break
else:
    ok("injection and LIKE wildcards in values match nothing")
n = sql("SELECT count(*) FROM cdrs")[0][0]
ok("cdrs intact (%s rows)" % n) if n == "300" else fail("cdrs has %s rows" % n)

# ---- audit -------------------------------------------------------------------------------
s, b, _ = get("/api/v1/audit", {})
ok("viewer reads the audit: 403") if s == 403 else fail("viewer audit: %s" % s)
s, b, _ = get("/api/v1/audit", {"action": "login", "limit": "1"}, tok=atok)
want = sql("SELECT count(*) FROM audit_log WHERE action = 'login'")[0][0]
ids = []
nxt = None
while s == 200:
    ids += [e["id"] for e in b["entries"]]
    if b["next_before"] is None or len(ids) > 50: break
    s, b, _ = get("/api/v1/audit", {"action": "login", "limit": "1", "before": b["next_before"]}, tok=atok)
if len(ids) == int(want) and ids == sorted(ids, reverse=True) and int(want) >= 2:
    ok("admin walks the audit (action=login): %d entries, newest first" % len(ids))
else:
    fail("audit walk: %s vs %s" % (ids, want))
s, b, _ = get("/api/v1/audit", {"actor": "viewer' OR 'x'='x"}, tok=atok)
ok("audit actor injection: no rows") if s == 200 and b["entries"] == [] else fail("audit injection: %s %s" % (s, b))
s, b, _ = get("/api/v1/audit", {"from": "nope"}, tok=atok)
ok("audit bad from: 400") if s == 400 else fail("audit bad from: %s" % s)

# ---- a report over admin.report_timeout_ms (1000 ms): cancelled, 503 ------------
# A session holds an exclusive lock on cdrs for 4 s: the query waits on it,
# and statement_timeout counts lock waits.
import threading, time
locker = subprocess.Popen(["psql", dburl, "-qc",
    "BEGIN; LOCK TABLE cdrs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.5)
t0 = time.monotonic()
s, b, _ = get("/api/v1/stats/revenue", dict(R, group="day"))
dt = time.monotonic() - t0
if s == 503 and b["error"]["code"] == "timeout" and dt < 3:
    ok("a report blocked past the timeout: 503 timeout after %.1f s" % dt)
else:
    fail("report timeout: %s %s after %.1f s" % (s, b, dt))
s, b, _ = get("/api/v1/cdrs.csv", R, raw=True)
ok("an export blocked past the timeout: 503") if s == 503 else fail("export timeout: %s" % s)
locker.wait()
s, b, _ = get("/api/v1/stats/revenue", dict(R, group="day"))
ok("the same report once the lock is gone: 200") if s == 200 else fail("after the lock: %s %s" % (s, b))
sys.exit(1 if fails else 0)
PY
[ $? = 0 ] || fails=$((fails + 1))

t_stop || fail "apolod stop"
t_done
