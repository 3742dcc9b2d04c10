-- 008_alerts.sql -- notifications (admin/alert.h): the outbox of messages
-- to send by webhook and by email, the detector's per-account state, and
-- an optional per-account email address.
--
-- alert_outbox: one row per message and channel. Producers insert rows
-- 'pending' (the low-balance detector, in the transaction that records its
-- state; the bulk-recharge module and the API through alert_enqueue, in
-- their own transactions), the sender delivers them:
--
--   pending --(delivered: 2xx / 250)----------------------> sent
--      |  \--(failed, attempts < max: next_attempt_at later)--> pending
--      `----(failed, attempts = alert.max_attempts)----------> failed
--
-- attempts counts the deliveries begun (incremented before each one), so a
-- crash during a delivery counts too. Delivery is at-least-once: the id is
-- the idempotency key receivers see (X-Apolo-Delivery, Message-ID).
--
-- recipient: email rows only, the addresses (comma separated) chosen when
-- the row was queued: accounts.notify_email, else alert.smtp_to. The
-- webhook's URL is configuration (it may carry a token): never stored here.

ALTER TABLE accounts ADD COLUMN notify_email text
    CHECK (notify_email ~ '^[^[:space:]<>,;"()@]+@[^[:space:]<>,;"()@]+$');

CREATE TABLE alert_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind ~ '^[a-z_]{1,32}$'),
    channel         text NOT NULL CHECK (channel IN ('webhook', 'email')),
    account_id      bigint REFERENCES accounts (id),
    recipient       text CHECK ((channel = 'email') = (recipient IS NOT NULL)),
    payload         jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
-- The sender's question: what is due?
CREATE INDEX alert_outbox_due_idx ON alert_outbox (next_attempt_at, id)
    WHERE state = 'pending';
-- GET /api/v1/notifications?account=
CREATE INDEX alert_outbox_account_idx ON alert_outbox (account_id, id);

-- The detector's edge state per watched account, so that a restart
-- neither resends nor forgets: level 0 above the threshold (armed), 1
-- below it (low_balance sent), 2 nothing left (balance_exhausted sent).
-- low_funds: balance + credit_limit (reservations not counted) when the
-- level last changed; money coming in above it re-arms. threshold: the
-- threshold then (a change re-arms too). Written in the same transaction
-- as the outbox rows of the event.
CREATE TABLE alert_state (
    account_id bigint PRIMARY KEY REFERENCES accounts (id),
    level      smallint NOT NULL CHECK (level BETWEEN 0 AND 2),
    low_funds  bigint NOT NULL,
    threshold  bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
