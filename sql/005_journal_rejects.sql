-- 005_journal_rejects.sql -- where the flusher puts a journal record it
-- cannot write (a poison record), and the reason of a ledger movement.
--
-- The flusher (admin/flusher.c) drains journal records into ledger/cdrs in
-- batches. A record whose payload does not decode, or whose rows
-- PostgreSQL refuses (a check, a foreign key, a duplicate call id, a
-- timestamp out of range), must neither block the journal forever nor
-- vanish: it is stored here, raw, with the error, in the same transaction
-- that moves the ring's drained position past it. Such a record is
-- rejected whole: no ledger row, no CDR, and its amount is NOT added to
-- accounts.balance, so PostgreSQL stays consistent with itself
-- (sum(ledger.amount) = accounts.balance). The live balance in shared
-- memory did move; it differs from PostgreSQL by the amount of the
-- unresolved rejects of the account until the next load from PostgreSQL
-- (a supervisor restart) or until an operator resolves the reject (fix
-- and re-post it as an adjustment, then set resolved_at).

-- recharge/adjustment/refund carry a reason beside their reference.
ALTER TABLE ledger ADD COLUMN reason text;

CREATE TABLE journal_rejects (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journal       text NOT NULL,                  -- 'ring:<i>'
    journal_seq   bigint NOT NULL CHECK (journal_seq >= 0),
    -- The record header as found (raw integers: a damaged record may hold
    -- anything, and this insert must not fail on it).
    kind          smallint NOT NULL,              -- jrn_kind_t
    state         smallint NOT NULL,              -- jrn_state_t
    account_id    bigint,
    amount        bigint NOT NULL DEFAULT 0,      -- delta_balance
    balance_after bigint,
    at_us         bigint,                         -- UTC microseconds
    record        bytea NOT NULL,                 -- the whole slot
    error         text NOT NULL,
    rejected_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    resolved_by   text,
    UNIQUE (journal, journal_seq)
);
CREATE INDEX journal_rejects_open_idx ON journal_rejects (rejected_at)
    WHERE resolved_at IS NULL;
