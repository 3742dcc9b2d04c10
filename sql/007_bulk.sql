-- 007_bulk.sql -- bulk recharges from a CSV or XLSX file (admin/api_bulk.c).
--
-- A batch and all its rows (valid and invalid, with the error of each) are
-- committed together before any money moves; then every valid row is
-- applied through the exactly-once path of a single recharge: one
-- idempotency_keys claim whose key, and journal reference, is
-- "<batch key>#<line>", then the journaled movement. A batch left in
-- state 'applying' by a dead admin process is rolled forward (the rows'
-- claims tell what moved): never rolled back, never applied twice.
--
-- A batch refused as a whole (mode 'all' with an invalid row, or no valid
-- row at all) is not stored: it changed nothing, and its key stays free.
--
-- file_hash is a BLAKE2b-256 (hex) of the mode, the format and the file's
-- bytes: the same key sent with another file (or mode) is refused.

CREATE TABLE bulk_batches (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key           text COLLATE "C" NOT NULL UNIQUE
                  CHECK (key ~ '^[A-Za-z0-9_.:-]{1,48}$'),
    mode          text NOT NULL CHECK (mode IN ('all', 'valid')),
    format        text NOT NULL CHECK (format IN ('csv', 'xlsx')),
    file_hash     text NOT NULL,
    state         text NOT NULL
                  CHECK (state IN ('applying', 'done', 'partial')),
    rows_total    int NOT NULL CHECK (rows_total > 0),
    rows_valid    int NOT NULL CHECK (rows_valid > 0),
    rows_invalid  int NOT NULL CHECK (rows_invalid >= 0),
    rows_applied  int NOT NULL DEFAULT 0 CHECK (rows_applied >= 0),
    total_amount  bigint NOT NULL CHECK (total_amount > 0),  -- valid rows
    actor         text NOT NULL,
    owner_pid     int,                  -- information only (see 006)
    created_at    timestamptz NOT NULL DEFAULT now(),
    done_at       timestamptz,
    CHECK (rows_valid + rows_invalid = rows_total),
    CHECK (mode = 'valid' OR rows_invalid = 0),
    CHECK ((state = 'applying') = (done_at IS NULL))
);
CREATE INDEX bulk_batches_applying_idx ON bulk_batches (id)
    WHERE state = 'applying';

-- One row per data line of the file. account and amount_text are what the
-- file said; account_id and amount what they resolved to (NULL when they
-- did not). An 'applied' row names its journal record; its ledger row has
-- reference "<batch key>#<line>".
CREATE TABLE bulk_rows (
    batch_id      bigint NOT NULL REFERENCES bulk_batches (id),
    line          int NOT NULL CHECK (line > 0),
    account       text NOT NULL,
    account_id    bigint,
    amount_text   text NOT NULL,
    amount        bigint CHECK (amount > 0),
    reason        text NOT NULL DEFAULT '',
    status        text NOT NULL
                  CHECK (status IN ('valid', 'invalid', 'applied', 'failed')),
    error         text,
    balance_after bigint,
    journal       text,
    journal_seq   bigint,
    PRIMARY KEY (batch_id, line),
    CHECK ((status IN ('invalid', 'failed')) = (error IS NOT NULL)),
    CHECK (status = 'invalid' OR (account_id IS NOT NULL
                                  AND amount IS NOT NULL)),
    CHECK ((status = 'applied') = (journal_seq IS NOT NULL))
);

-- The claim of a row: "<batch key>#<line>". '#' is outside the charset of
-- the single recharge's key, so no client key can take a row's.
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_key_check;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_key_check
    CHECK (key ~ '^[A-Za-z0-9_.:-]{1,64}$'
           OR key ~ '^[A-Za-z0-9_.:-]{1,48}#[0-9]{1,10}$');
