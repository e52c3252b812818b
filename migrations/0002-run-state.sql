-- 0002-run-state: how the last run of wschatd on this database ended. A
-- start after a run that may have lost commits its clients had already
-- seen takes a new epoch, so their cursors get a snapshot instead of a
-- replay of other events under the same seqs (docs/SCHEMA.md, "Epoch and
-- cursor"). Three rows in meta, no new table.

-- 'running' from the start of a run (written with a full sync before any
-- client connects) until the end of its orderly shutdown, 'stopped' after
-- it, 'backup' in a copy made by wschatctl backup. 'unknown': a wschatd
-- from before this migration used the database and did not record how it
-- stopped; a database that never had an event has nothing to lose.
INSERT INTO meta (key, value) SELECT 'run_state', CASE WHEN EXISTS
    (SELECT 1 FROM sqlite_sequence WHERE name = 'events')
    THEN 'unknown' ELSE 'stopped' END;

-- The journal_sync setting of that run, 'normal' or 'full' ('' before the
-- first run).
INSERT INTO meta (key, value) VALUES ('run_sync', '');

-- The kernel's boot id during that run ('' if unknown). Commits reach the
-- kernel before clients see them, so a run that died on the boot the
-- server starts on lost nothing: only an OS crash or power loss can.
INSERT INTO meta (key, value) VALUES ('run_boot', '');
