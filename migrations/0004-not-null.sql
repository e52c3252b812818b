-- 0004-not-null: NOT NULL on the names and keys the state tables are
-- looked up by. A TEXT PRIMARY KEY in SQLite allows NULL (an old quirk),
-- and a hand-written INSERT of a NULL channel name crashed wschatd's
-- start. SQLite adds NOT NULL only by rebuilding a table: a new table,
-- the rows copied, the old one dropped, the new one renamed. None of the
-- three has an index besides its key's, and no view reads them.

-- Existing bad rows are refused, not repaired: wschatd never writes one,
-- so one is somebody's hand edit, and they decide what it should have
-- been. The migration fails (nothing of it stays) naming the constraint
-- below; delete or fix the rows with sqlite3 and start again
-- (docs/SCHEMA.md, "Migrations").
CREATE TEMP TABLE migration_0004_refusal (
	channels	INTEGER CONSTRAINT
	    "channels has a row with a NULL name; fix it, then start again"
	    CHECK (channels = 0),
	users		INTEGER CONSTRAINT
	    "users has a row with a NULL name; fix it, then start again"
	    CHECK (users = 0),
	meta		INTEGER CONSTRAINT
	    "meta has a row with a NULL key; fix it, then start again"
	    CHECK (meta = 0)
);
INSERT INTO migration_0004_refusal (channels, users, meta) SELECT
    (SELECT count(*) FROM main.channels WHERE name IS NULL),
    (SELECT count(*) FROM main.users WHERE name IS NULL),
    (SELECT count(*) FROM main.meta WHERE key IS NULL);
DROP TABLE migration_0004_refusal;

CREATE TABLE meta_0004 (
	key	TEXT NOT NULL PRIMARY KEY,
	value	TEXT NOT NULL
);
INSERT INTO meta_0004 (key, value) SELECT key, value FROM meta;
DROP TABLE meta;
ALTER TABLE meta_0004 RENAME TO meta;

CREATE TABLE channels_0004 (
	name		TEXT NOT NULL PRIMARY KEY,
	creator		TEXT NOT NULL,
	created_seq	INTEGER NOT NULL,
	created_ts	INTEGER NOT NULL
);
INSERT INTO channels_0004 (name, creator, created_seq, created_ts)
    SELECT name, creator, created_seq, created_ts FROM channels;
DROP TABLE channels;
ALTER TABLE channels_0004 RENAME TO channels;

CREATE TABLE users_0004 (
	name		TEXT NOT NULL PRIMARY KEY,
	first_seq	INTEGER NOT NULL,
	first_ts	INTEGER NOT NULL,
	last_seq	INTEGER NOT NULL,
	last_ts		INTEGER NOT NULL
);
INSERT INTO users_0004 (name, first_seq, first_ts, last_seq, last_ts)
    SELECT name, first_seq, first_ts, last_seq, last_ts FROM users;
DROP TABLE users;
ALTER TABLE users_0004 RENAME TO users;
