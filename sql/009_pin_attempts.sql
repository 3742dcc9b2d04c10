-- 009_pin_attempts.sql -- failed PIN verifications per extension, so that a
-- PIN (4 to 8 digits: at most 10^8 guesses, a 4-digit one 10^4) cannot be
-- found by asking the API again and again (admin/api_accounts.c).
--
-- A table of its own rather than columns of extensions: an attempt is not
-- a change of the extension (its updated_at trigger stays meaningful), and
-- the row exists only for extensions that have failed lately.
--
-- failures counts the failed attempts since the last success or the last
-- lock; when it reaches the limit the extension is locked until
-- locked_until and the count starts again.
CREATE TABLE pin_attempts (
    extension_id bigint PRIMARY KEY REFERENCES extensions (id)
                 ON DELETE CASCADE,
    failures     int NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until timestamptz,
    last_failure timestamptz
);
