-- 004_ledger_cdrs.sql -- the money trail (ledger), the call records (cdrs),
-- the exactly-once guard of call ids (cdr_ids), the flusher's drained
-- positions (journal_position) and the monthly partitions.
--
-- ledger and cdrs are partitioned by month (UTC) with a DEFAULT partition
-- each, so that no row is ever refused for want of a partition; see
-- apolo_ensure_partitions() below and sql/README.md.

-- ---------------------------------------------------------------- ledger --
-- Append-only. One row per movement of an account's balance:
--   opening     the balance an account was created or migrated with (any sign)
--   recharge    money paid in (> 0)
--   call_debit  the final cost of one call (<= 0), reference = call id
--   refund      a call's cost given back (> 0), reference = call id
--   adjustment  an operator's correction (<> 0), reason in reference
-- Reservations are not ledger rows: they hold credit only in shared memory
-- while a call is up and end as one call_debit (or nothing); recovery
-- rebuilds them from the live calls, so PostgreSQL never sees them.
-- Conservation: per account, the sum of amount equals accounts.balance and
-- each balance_after is the previous one plus amount.
CREATE TABLE ledger (
    id            bigserial,
    account_id    bigint NOT NULL REFERENCES accounts (id),
    kind          text NOT NULL CHECK (kind IN
                  ('opening', 'recharge', 'call_debit', 'refund', 'adjustment')),
    amount        bigint NOT NULL,
    balance_after bigint NOT NULL,
    reference     text,
    extension     text COLLATE "C",
    journal       text,
    journal_seq   bigint CHECK (journal_seq >= 0),
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,
    PRIMARY KEY (id, at),
    CONSTRAINT ledger_amount_sign CHECK (CASE kind
           WHEN 'recharge'   THEN amount > 0
           WHEN 'refund'     THEN amount > 0
           WHEN 'call_debit' THEN amount <= 0
           WHEN 'adjustment' THEN amount <> 0
           ELSE true END),
    CONSTRAINT ledger_reference_required
        CHECK (kind NOT IN ('call_debit', 'refund') OR reference IS NOT NULL)
) PARTITION BY RANGE (at);
CREATE INDEX ledger_account_at_idx ON ledger (account_id, at);
CREATE INDEX ledger_at_idx ON ledger (at);

-- A wrong ledger row is corrected by an adjustment, never edited away.
-- apolo_create_month_partition() moves rows out of the default partition
-- with DELETE, and says so through the transaction-local setting.
CREATE FUNCTION apolo_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('apolo.partition_move', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'ledger is append-only: % refused (write an adjustment)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION apolo_ledger_append_only();

-- ------------------------------------------------------------------ cdrs --
-- One row per call. The rating columns are copied from the rate that was
-- used (reproducibility): plan, deck version, prefix, period, rate,
-- increments, rounding. They are NULL for a call that was not rated
-- (inbound, internal, no matching prefix). segments is NULL when the call
-- was rated in one period, else a JSON array with one object per period
-- crossed. flags is a bit set whose meanings the CDR writer defines.
CREATE TABLE cdrs (
    call_id         text COLLATE "C" NOT NULL CHECK (call_id <> ''),
    source          text NOT NULL CHECK (source IN ('freeswitch', 'cucm')),
    account_id      bigint,
    extension       text COLLATE "C",
    caller          text COLLATE "C",
    callee          text COLLATE "C",
    dialed          text COLLATE "C",
    direction       text NOT NULL
                    CHECK (direction IN ('outbound', 'inbound', 'internal')),
    start_at        timestamptz NOT NULL,
    answer_at       timestamptz,
    end_at          timestamptz NOT NULL,
    duration        int NOT NULL CHECK (duration >= 0),
    billsec         int NOT NULL CHECK (billsec >= 0),
    cost            bigint NOT NULL DEFAULT 0 CHECK (cost >= 0),
    zone_id         bigint,
    zone_name       text,
    prefix          text COLLATE "C",
    plan_id         bigint,
    deck_version    bigint,
    period_id       bigint,
    rate_per_minute bigint,
    connection_fee  bigint,
    first_increment int,
    next_increment  int,
    min_seconds     int,
    grace_seconds   int,
    rounding        text,
    segments        jsonb,
    hangup_cause    text,
    fac_id          bigint,
    flags           int NOT NULL DEFAULT 0,
    journal         text,
    journal_seq     bigint,
    inserted_at     timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (start_at);
CREATE INDEX cdrs_start_at_idx ON cdrs (start_at);
CREATE INDEX cdrs_account_start_idx ON cdrs (account_id, start_at);
CREATE INDEX cdrs_extension_start_idx ON cdrs (extension, start_at);
CREATE INDEX cdrs_caller_idx ON cdrs (caller);
CREATE INDEX cdrs_callee_idx ON cdrs (callee);

-- Exactly once per call id. A unique index on a partitioned table must
-- contain the partition key, and (call_id, start_at) would let a replay
-- with another start time through. So every call id is claimed in this
-- plain table by a row trigger on cdrs (cloned to every partition, so it
-- also guards inserts made straight into a partition, and COPY fires it).
-- A claim is never released: deleting a CDR or dropping an old partition
-- does not make its call id usable again. start_at tells which partition
-- holds the call.
CREATE TABLE cdr_ids (
    call_id  text COLLATE "C" PRIMARY KEY,
    source   text NOT NULL,
    start_at timestamptz NOT NULL
);

-- ON CONFLICT + FOUND instead of an exception block: no subtransaction per
-- row, and an error that names the call.
CREATE FUNCTION apolo_cdr_claim_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cdr_ids (call_id, source, start_at)
    VALUES (NEW.call_id, NEW.source, NEW.start_at)
    ON CONFLICT (call_id) DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'duplicate call id % (source %)', NEW.call_id, NEW.source
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER cdrs_claim_id AFTER INSERT ON cdrs
    FOR EACH ROW EXECUTE FUNCTION apolo_cdr_claim_id();

-- call_id and start_at are the identity of a CDR and the key of its claim;
-- a changed start_at could also move the row to another partition, which
-- PostgreSQL runs as DELETE + INSERT and would fire the claim again.
CREATE FUNCTION apolo_cdr_identity_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.call_id IS DISTINCT FROM OLD.call_id
       OR NEW.start_at IS DISTINCT FROM OLD.start_at THEN
        RAISE EXCEPTION 'cdrs: call_id and start_at of call % cannot change', OLD.call_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER cdrs_identity_fixed BEFORE UPDATE ON cdrs
    FOR EACH ROW EXECUTE FUNCTION apolo_cdr_identity_fixed();

-- ------------------------------------------------------ journal_position --
-- One row per journal ring ('ring:<i>'): the first sequence number NOT yet
-- in ledger/cdrs (every record below it is). The flusher updates it in the
-- transaction that writes those rows, so a replay after a crash starts
-- exactly at the first record that did not commit.
CREATE TABLE journal_position (
    name        text PRIMARY KEY,
    drained_seq bigint NOT NULL DEFAULT 0 CHECK (drained_seq >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Going backwards would replay committed records: refuse it.
CREATE FUNCTION apolo_journal_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.drained_seq < OLD.drained_seq THEN
        RAISE EXCEPTION 'journal %: drained_seq cannot go back from % to %',
            OLD.name, OLD.drained_seq, NEW.drained_seq
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER journal_position_forward BEFORE UPDATE ON journal_position
    FOR EACH ROW EXECUTE FUNCTION apolo_journal_forward_only();

-- ------------------------------------------------------------ partitions --
-- Tables partitioned by month. A later migration that adds one inserts its
-- name here; apolo_ensure_partitions() then keeps it covered too.
CREATE TABLE partitioned_tables (
    parent text PRIMARY KEY
);
INSERT INTO partitioned_tables (parent) VALUES ('cdrs'), ('ledger');

CREATE TABLE cdrs_default PARTITION OF cdrs DEFAULT;
CREATE TABLE ledger_default PARTITION OF ledger DEFAULT;

-- Creates the partition <parent>_pYYYYMM for the UTC month of `month` and
-- returns true, or returns false when it exists already. Rows of that month
-- sitting in the default partition are moved into it in this transaction:
-- the new table is filled while it is still standalone and attached
-- afterwards, because CREATE ... PARTITION OF would fail on them.
CREATE FUNCTION apolo_create_month_partition(parent regclass, month date)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    ns      name;
    rel     name;
    keycol  name;
    dflt    regclass;
    child   name;
    existing regclass;
    m0      timestamp := date_trunc('month', month::timestamp);
    lo      timestamptz := m0 AT TIME ZONE 'UTC';
    hi      timestamptz := (m0 + interval '1 month') AT TIME ZONE 'UTC';
    lo_lit  text := to_char(m0, 'YYYY-MM-DD') || ' 00:00:00+00';
    hi_lit  text := to_char(m0 + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00';
    moved   bigint;
BEGIN
    SELECT n.nspname, c.relname, a.attname, nullif(pt.partdefid, 0)::regclass
      INTO ns, rel, keycol, dflt
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
     WHERE c.oid = parent AND pt.partstrat = 'r' AND pt.partnatts = 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not range-partitioned on one column', parent;
    END IF;
    child := rel || '_p' || to_char(m0, 'YYYYMM');

    existing := to_regclass(format('%I.%I', ns, child));
    IF existing IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM pg_inherits
                    WHERE inhrelid = existing AND inhparent = parent) THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'table %.% exists but is not a partition of %', ns, child, parent;
    END IF;

    EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS '
                   'INCLUDING CONSTRAINTS INCLUDING STORAGE)', ns, child, parent);
    IF dflt IS NOT NULL THEN
        -- Nobody may add a row of this month to the default between the
        -- move and the attach (the attach would then fail on it).
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', dflt);
        PERFORM set_config('apolo.partition_move', 'on', true);
        EXECUTE format('WITH m AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 '
                       'RETURNING *) INSERT INTO %I.%I SELECT * FROM m',
                       dflt, keycol, keycol, ns, child) USING lo, hi;
        GET DIAGNOSTICS moved = ROW_COUNT;
        PERFORM set_config('apolo.partition_move', 'off', true);
        IF moved > 0 THEN
            RAISE NOTICE 'moved % rows of % from % into %.%',
                moved, parent, dflt, ns, child;
        END IF;
    END IF;
    -- The attach builds the parent's indexes, clones its foreign keys and
    -- row triggers (the call id claim included) onto the new partition.
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                   parent, ns, child, lo_lit, hi_lit);
    RETURN true;
END $$;

-- Makes sure every table of partitioned_tables has its default partition
-- and one partition per UTC month from the previous month to months_ahead
-- months after the current one. Idempotent; returns how many partitions it
-- created. Serialized by a transaction advisory lock (key 1097887596, 2:
-- "Apol", partitions) so that two callers do not race on the same month.
-- Call it at start-up and daily (the supervisor does); 004 calls it once.
CREATE FUNCTION apolo_ensure_partitions(months_ahead int)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    t       text;
    k       int;
    created int := 0;
    this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 240 THEN
        RAISE EXCEPTION 'months_ahead must be 0..240, not %', months_ahead;
    END IF;
    PERFORM pg_advisory_xact_lock(1097887596, 2);
    FOR t IN SELECT parent FROM partitioned_tables ORDER BY parent LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table
                        WHERE partrelid = t::regclass AND partdefid <> 0) THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT',
                           t || '_default', t);
            created := created + 1;
        END IF;
        FOR k IN -1 .. months_ahead LOOP
            IF apolo_create_month_partition(t::regclass,
                   (this_month + make_interval(months => k))::date) THEN
                created := created + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN created;
END $$;

SELECT apolo_ensure_partitions(3);
