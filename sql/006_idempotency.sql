-- 006_idempotency.sql -- exactly-once money movements through the HTTP API
-- (admin/api_money.c): the Idempotency-Key of every recharge, adjustment
-- and refund, and what was answered for it.
--
-- A key is claimed (state 'pending') before the money moves and marked
-- 'done' with the response after. The movement itself is a journal record
-- whose reference is the key, so a claim left pending by an admin process
-- that died is resolved by looking for that reference in the journal and
-- the ledger: found, the claim is completed from it; not found, the money
-- never moved and the retry moves it. While a request works on a key its
-- PostgreSQL session holds pg_advisory_lock(hashtextextended(key, 0)); a
-- dead process's session, and its lock, end with it.
--
-- request_hash is a BLAKE2b-256 (hex) of the request's kind, account,
-- amount (micro-units), reason and call id: the same key sent for another
-- request is refused.
CREATE TABLE idempotency_keys (
    key          text COLLATE "C" PRIMARY KEY
                 CHECK (key ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    kind         text NOT NULL
                 CHECK (kind IN ('recharge', 'adjustment', 'refund')),
    account_id   bigint NOT NULL,
    amount       bigint NOT NULL,
    request_hash text NOT NULL,
    state        text NOT NULL CHECK (state IN ('pending', 'done')),
    owner_pid    int,                  -- the admin process that claimed it
    actor        text NOT NULL,
    call_id      text COLLATE "C",     -- refunds: the call refunded
    response     jsonb,                -- state 'done': the 201 body
    created_at   timestamptz NOT NULL DEFAULT now(),
    done_at      timestamptz,
    CHECK ((state = 'done') = (response IS NOT NULL))
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Recovery looks a key up among the ledger's manual movements.
CREATE INDEX ledger_reference_idx ON ledger (reference)
    WHERE kind IN ('recharge', 'adjustment', 'refund');
