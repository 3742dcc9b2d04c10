-- 010_cdr_zone_name.sql -- cdrs.zone_name filled when a CDR is written.
--
-- The journal record of a call carries the zone's id only (its name would
-- cost every record up to 47 bytes), and the flusher writes cdrs with COPY,
-- which cannot look anything up. The name is the zone's at the time the
-- CDR is written and stays so: a zone renamed later does not rewrite call
-- history, which is why this is a copy and not a join at report time.
-- COPY fires row triggers; a BEFORE trigger on the partitioned table is
-- cloned to every partition, present and future. One primary-key lookup a
-- CDR.
CREATE FUNCTION apolo_cdr_zone_name() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.zone_name IS NULL AND NEW.zone_id IS NOT NULL THEN
        SELECT z.name INTO NEW.zone_name FROM zones z WHERE z.id = NEW.zone_id;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER cdrs_zone_name BEFORE INSERT ON cdrs
    FOR EACH ROW EXECUTE FUNCTION apolo_cdr_zone_name();

-- The CDRs written before this migration.
UPDATE cdrs c SET zone_name = z.name
  FROM zones z
 WHERE c.zone_id = z.id AND c.zone_name IS NULL;
