-- FerretDB 1.24 (PostgreSQL backend) pushes every equality filter of a find down as
--     _jsonb -> 'field' @> '<value>'
-- even for _id, while the indexes it creates are btree on (_jsonb -> 'field'). A btree
-- cannot answer @>, so every find, a point read by _id included, was a sequential scan
-- (pg_stat_user_tables: idx_scan 0 on the event store after a full demo; 9,274 scans of
-- the follow-up events). Updates and deletes by _id use = and the btree.
--
-- This event trigger gives every btree index FerretDB creates on (_jsonb -> 'field') a
-- GIN twin on the same expression, which @> can use; the DO block adds the twins to
-- indexes made before the trigger existed. Idempotent: run at every start.
-- The GIN twins are invisible to FerretDB (its metadata does not list them) and go with
-- their table when FerretDB drops it.

CREATE OR REPLACE FUNCTION ganxun_gin_twin(idx oid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  tbl regclass;
  expr text;
BEGIN
  SELECT i.indrelid::regclass, pg_get_indexdef(i.indexrelid, 1, true) INTO tbl, expr
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
   WHERE i.indexrelid = idx AND am.amname = 'btree';
  IF expr LIKE '(_jsonb -> %' THEN
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin (%s) WITH (fastupdate = off)',
                   'gin_' || md5(tbl::text || expr), tbl, expr);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION ganxun_gin_twin_trigger() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT objid FROM pg_event_trigger_ddl_commands()
            WHERE command_tag = 'CREATE INDEX' AND object_type = 'index' LOOP
    PERFORM ganxun_gin_twin(r.objid);
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS ganxun_gin_twin;
CREATE EVENT TRIGGER ganxun_gin_twin ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION ganxun_gin_twin_trigger();

DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT i.indexrelid FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') LOOP
    PERFORM ganxun_gin_twin(r.indexrelid);
  END LOOP;
END $$;
