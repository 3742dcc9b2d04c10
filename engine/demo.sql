-- demo.sql -- a small demo configuration for `make run` (engine/run.sh loads
-- it once, into a database that has no rate plan yet; psql -1, so it is all
-- or nothing). Not a migration: never applied to a real installation.
--
-- One plan priced in ARS, in Buenos Aires local time, numbers rewritten by
-- "00=>,0=>54" (00 international prefix dropped, a national 0 becomes 54),
-- a peak period Monday to Friday 08:00-20:00, about 30 prefixes in a zone
-- tree, four accounts (prepaid and postpaid) with extensions, and the
-- ledger's opening rows that make each account's balance add up.
-- Money is micro-units: 12000000 = 12.000000 ARS.

INSERT INTO rate_plans (name, currency, time_zone, rounding, number_rules)
VALUES ('Demo Argentina', 'ARS', 'America/Argentina/Buenos_Aires', 'up',
        '00=>,0=>54');

INSERT INTO rate_periods (plan_id, name)
SELECT id, 'peak' FROM rate_plans WHERE name = 'Demo Argentina';

-- Monday (bit 1) .. Friday (bit 5) = 62, local 08:00-20:00.
INSERT INTO rate_period_windows (period_id, wday_mask, start_min, end_min)
SELECT p.id, 62, 480, 1200
  FROM rate_periods p JOIN rate_plans r ON r.id = p.plan_id
 WHERE r.name = 'Demo Argentina' AND p.name = 'peak';

-- The zone tree: region > country > mobile / area.
INSERT INTO zones (code, name, min_authorization_level) VALUES
    ('LATAM', 'Latin America', 0),
    ('NA', 'North America', 1),
    ('EU', 'Europe', 1);
INSERT INTO zones (code, name, parent_id, min_authorization_level)
SELECT z.code, z.name, p.id, z.lvl
  FROM (VALUES
    ('AR', 'Argentina', 'LATAM', 0),
    ('BR', 'Brazil', 'LATAM', 1),
    ('CL', 'Chile', 'LATAM', 1),
    ('UY', 'Uruguay', 'LATAM', 1),
    ('MX', 'Mexico', 'LATAM', 1),
    ('US', 'United States and Canada', 'NA', 1),
    ('ES', 'Spain', 'EU', 1),
    ('IT', 'Italy', 'EU', 1),
    ('GB', 'United Kingdom', 'EU', 1),
    ('DE', 'Germany', 'EU', 1)) AS z(code, name, parent, lvl)
  JOIN zones p ON p.code = z.parent;
INSERT INTO zones (code, name, parent_id, min_authorization_level)
SELECT z.code, z.name, p.id, z.lvl
  FROM (VALUES
    ('AR-BA', 'Buenos Aires (fixed)', 'AR', 0),
    ('AR-INT', 'Argentina interior (fixed)', 'AR', 0),
    ('AR-MOB', 'Argentina mobile', 'AR', 0),
    ('BR-MOB', 'Brazil mobile', 'BR', 1),
    ('MX-MOB', 'Mexico mobile', 'MX', 1),
    ('ES-MOB', 'Spain mobile', 'ES', 1),
    ('GB-MOB', 'United Kingdom mobile', 'GB', 1)) AS z(code, name, parent, lvl)
  JOIN zones p ON p.code = z.parent;

INSERT INTO deck_versions (plan_id, version, actor, rows, note)
SELECT id, 1, 'demo', 0, 'demo deck (engine/demo.sql)'
  FROM rate_plans WHERE name = 'Demo Argentina';

-- prefix, zone, ARS/min off peak, ARS/min at peak (NULL: same all day),
-- connection fee, first and next increment (s).
INSERT INTO rates (plan_id, prefix, zone_id, period_id, rate_per_minute,
                   connection_fee, first_increment, next_increment,
                   effective_from, deck_version)
SELECT pl.id, d.prefix, z.id, NULL, d.rate, d.fee, d.first, d.next,
       '2024-01-01', 1
  FROM (VALUES
    ('5411',  'AR-BA',   8000000,  12000000, 0,       60, 60),
    ('54221', 'AR-INT', 10000000,  15000000, 0,       60, 60),
    ('54341', 'AR-INT', 10000000,  15000000, 0,       60, 60),
    ('54351', 'AR-INT', 10000000,  15000000, 0,       60, 60),
    ('54261', 'AR-INT', 10000000,  15000000, 0,       60, 60),
    ('54381', 'AR-INT', 10000000,  15000000, 0,       60, 60),
    ('54',    'AR-INT', 12000000,  18000000, 0,       60, 60),
    ('54911', 'AR-MOB', 30000000,  45000000, 0,       30, 6),
    ('549221','AR-MOB', 30000000,  45000000, 0,       30, 6),
    ('549341','AR-MOB', 30000000,  45000000, 0,       30, 6),
    ('549351','AR-MOB', 30000000,  45000000, 0,       30, 6),
    ('549',   'AR-MOB', 32000000,  48000000, 0,       30, 6),
    ('55',    'BR',     40000000,  NULL,     1000000, 60, 6),
    ('5511',  'BR',     35000000,  NULL,     1000000, 60, 6),
    ('55119', 'BR-MOB', 60000000,  NULL,     1000000, 60, 6),
    ('56',    'CL',     40000000,  NULL,     1000000, 60, 6),
    ('562',   'CL',     35000000,  NULL,     1000000, 60, 6),
    ('598',   'UY',     38000000,  NULL,     1000000, 60, 6),
    ('52',    'MX',     45000000,  NULL,     1000000, 60, 6),
    ('521',   'MX-MOB', 70000000,  NULL,     1000000, 60, 6),
    ('1',     'US',     25000000,  NULL,     0,       6,  6),
    ('1212',  'US',     22000000,  NULL,     0,       6,  6),
    ('1305',  'US',     22000000,  NULL,     0,       6,  6),
    ('34',    'ES',     30000000,  NULL,     1500000, 60, 1),
    ('346',   'ES-MOB', 80000000,  NULL,     1500000, 60, 1),
    ('347',   'ES-MOB', 80000000,  NULL,     1500000, 60, 1),
    ('39',    'IT',     35000000,  NULL,     1500000, 60, 1),
    ('44',    'GB',     30000000,  NULL,     1500000, 60, 1),
    ('447',   'GB-MOB', 90000000,  NULL,     1500000, 60, 1),
    ('49',    'DE',     32000000,  NULL,     1500000, 60, 1))
    AS d(prefix, zone, rate, peak, fee, first, next)
  JOIN zones z ON z.code = d.zone
  CROSS JOIN rate_plans pl
 WHERE pl.name = 'Demo Argentina';

-- Peak rows for the Argentine prefixes that have a peak price.
INSERT INTO rates (plan_id, prefix, zone_id, period_id, rate_per_minute,
                   connection_fee, first_increment, next_increment,
                   effective_from, deck_version)
SELECT r.plan_id, r.prefix, r.zone_id, p.id, d.peak, r.connection_fee,
       r.first_increment, r.next_increment, r.effective_from, 1
  FROM rates r
  JOIN rate_plans pl ON pl.id = r.plan_id AND pl.name = 'Demo Argentina'
  JOIN rate_periods p ON p.plan_id = pl.id AND p.name = 'peak'
  JOIN (VALUES
    ('5411', 12000000), ('54221', 15000000), ('54341', 15000000),
    ('54351', 15000000), ('54261', 15000000), ('54381', 15000000),
    ('54', 18000000), ('54911', 45000000), ('549221', 45000000),
    ('549341', 45000000), ('549351', 45000000), ('549', 48000000))
    AS d(prefix, peak) ON d.prefix = r.prefix
 WHERE r.period_id IS NULL;

UPDATE deck_versions dv SET rows = (SELECT count(*) FROM rates r
                                     WHERE r.plan_id = dv.plan_id)
  FROM rate_plans pl
 WHERE pl.id = dv.plan_id AND pl.name = 'Demo Argentina';

-- Accounts: balance and credit limit in micro-units.
INSERT INTO accounts (code, name, type, balance, credit_limit, currency,
                      plan_id, low_balance_threshold)
SELECT a.code, a.name, a.type, a.balance, a.credit, 'ARS', pl.id, a.low
  FROM (VALUES
    ('ACME', 'ACME S.A. (headquarters)', 'postpaid', 0, 500000000000,
     50000000000),
    ('KIOSKO', 'Kiosko Palermo', 'prepaid', 5000000000, 0, 500000000),
    ('ESTUDIO', 'Estudio Jurídico Pérez', 'prepaid', 1200000000, 0,
     200000000),
    ('HOTEL', 'Hotel Recoleta', 'postpaid', 0, 100000000000, NULL))
    AS a(code, name, type, balance, credit, low)
  CROSS JOIN rate_plans pl
 WHERE pl.name = 'Demo Argentina';

-- Conservation starts here: each account's opening balance is a ledger row.
INSERT INTO ledger (account_id, kind, amount, balance_after, reference, actor)
SELECT id, 'opening', balance, balance, 'demo', 'demo'
  FROM accounts WHERE code IN ('ACME', 'KIOSKO', 'ESTUDIO', 'HOTEL');

INSERT INTO extensions (number, account_id, user_name, department,
                        authorization_level)
SELECT e.number, a.id, e.user_name, e.dept, e.lvl
  FROM (VALUES
    ('1001', 'ACME', 'Laura Gómez', 'Management', 2),
    ('1002', 'ACME', 'Martín Díaz', 'Sales', 1),
    ('1003', 'ACME', 'Reception', 'Front desk', 0),
    ('2001', 'KIOSKO', 'Counter', NULL, 0),
    ('3001', 'ESTUDIO', 'Dr. Pérez', 'Partners', 2),
    ('3002', 'ESTUDIO', 'Secretaría', 'Staff', 0),
    ('4001', 'HOTEL', 'Lobby', 'Front desk', 1),
    ('4101', 'HOTEL', 'Room 101', 'Rooms', 0)) AS e(number, code, user_name,
                                                    dept, lvl)
  JOIN accounts a ON a.code = e.code;
