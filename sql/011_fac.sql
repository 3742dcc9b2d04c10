-- 011_fac.sql -- Forced Authorization Codes managed by the admin API
-- (admin/api_fac.c) and pushed to CUCM by AXL (admin/axl.h).
--
-- The code itself is never stored in clear: code_hash is
-- HMAC-SHA256(fac.secret, code) in lowercase hex, deterministic so that the
-- CUCM worker can look a CDR's authorizationCodeValue up by value.
--
-- code_hash becomes nullable: a FAC imported from CUCM (listFacInfo) whose
-- code did not come back, or that came back while fac.secret was empty, has
-- no hash until an admin sets its code here. UNIQUE still holds for the
-- hashes there are (NULLs are distinct).
ALTER TABLE fac_codes ALTER COLUMN code_hash DROP NOT NULL;

-- CUCM's limits (Call Routing > Forced Authorization Codes; AXL XFacInfo:
-- name String50, code String16, authorizationLevel 0..255).
ALTER TABLE fac_codes
    ADD CONSTRAINT fac_codes_name_len CHECK (char_length(name) <= 50),
    ADD CONSTRAINT fac_codes_level_max CHECK (authorization_level <= 255);

-- Names are unique whatever their case: CUCM knows a FAC by its name
-- (updateFacInfo / removeFacInfo name it) and import matches by it.
CREATE UNIQUE INDEX fac_codes_name_lower_key ON fac_codes (lower(name));

-- The AXL push state of each FAC (no outbox: the operation to send is
-- derived from the row, so a retry always pushes the newest state):
--   cucm_name    the name CUCM knows the FAC by (NULL: not in CUCM), so a
--                rename is updateFacInfo(name = cucm_name, newName = name)
--                and a deactivation removeFacInfo(name = cucm_name)
--   cucm_uuid    the pkid CUCM returned (addFacInfo, listFacInfo)
--   axl_state    local   no AXL endpoint configured when it last changed
--                pending committed here, push not done yet (or the process
--                        died while pushing)
--                synced  CUCM has this version
--                failed  the last push failed: push_error says why;
--                        POST /api/v1/facs/{id}/push retries it
--   change_seq   + 1 per change, so that a push recorded after a newer
--                change does not mark the newer one synced
--   pending_code the code while a push that must carry it (add, code
--                change) is not done: sealed (XChaCha20-Poly1305, a key
--                derived from fac.secret), never in clear, set to NULL by
--                the successful push. Whoever holds fac.secret can test
--                every code of up to 16 digits against code_hash anyway,
--                so the sealed copy exposes nothing the hash does not.
ALTER TABLE fac_codes
    ADD COLUMN cucm_name    text,
    ADD COLUMN cucm_uuid    text,
    ADD COLUMN axl_state    text NOT NULL DEFAULT 'local'
               CHECK (axl_state IN ('local', 'pending', 'synced', 'failed')),
    ADD COLUMN change_seq   bigint NOT NULL DEFAULT 1,
    ADD COLUMN pending_code text,
    ADD COLUMN pushed_at    timestamptz,
    ADD COLUMN push_error   text,
    ADD COLUMN push_attempts int NOT NULL DEFAULT 0
               CHECK (push_attempts >= 0);

-- No index on cdrs.fac_id: the report is bounded by a start_at range of at
-- most 31 days (partition pruning and cdrs_start_at_idx) and filters fac_id
-- within it.
