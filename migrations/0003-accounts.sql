-- 0003-accounts: identities. Accounts (guest or registered) and the
-- tokens that open them, kept in the same transaction as the 'account'
-- events that change them; and the requests wschatctl leaves for the
-- running daemon. Only hashes are stored: the Argon2id string of a
-- password, the SHA-256 of a token. See docs/SCHEMA.md.

-- events.type gains 'account'. SQLite cannot change a CHECK in place, so
-- the table is rebuilt: same columns, same indexes, the same
-- AUTOINCREMENT high-water mark in sqlite_sequence, the same views.
DROP VIEW channel_activity;
DROP VIEW messages;
CREATE TABLE events_new (
	seq		INTEGER PRIMARY KEY AUTOINCREMENT,
	ts		INTEGER NOT NULL,	-- milliseconds since the Unix epoch
	type		TEXT NOT NULL CHECK (type IN ('channel', 'user', 'message',
			    'account')),
	action		TEXT NOT NULL,		-- CREATE, DELETE, JOIN, PART, GUEST, ...
	resource	TEXT NOT NULL,		-- the channel, or the account
	actor		TEXT,			-- the user, if any
	data		TEXT NOT NULL CHECK (json_valid(data))	-- the wire JSON
);
INSERT INTO events_new (seq, ts, type, action, resource, actor, data)
	SELECT seq, ts, type, action, resource, actor, data FROM events
	ORDER BY seq;
DELETE FROM sqlite_sequence WHERE name = 'events_new';
INSERT INTO sqlite_sequence (name, seq)
	SELECT 'events_new', seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_type_resource_seq ON events (type, resource, seq);
CREATE INDEX events_actor_seq ON events (actor, seq);

CREATE VIEW messages AS
	SELECT seq, ts,
	    strftime('%Y-%m-%dT%H:%M:%fZ', ts / 1000.0, 'unixepoch') AS time,
	    resource AS channel, actor AS user,
	    json_extract(data, '$.text') AS text
	FROM events
	WHERE type = 'message' AND action = 'CREATE';
CREATE VIEW channel_activity AS
	SELECT channel, date(ts / 1000, 'unixepoch') AS day,
	    count(*) AS messages, count(DISTINCT user) AS users
	FROM messages
	GROUP BY channel, day;

-- One row per account that exists. A released guest's row goes.
CREATE TABLE accounts (
	name		TEXT PRIMARY KEY,
	kind		TEXT NOT NULL CHECK (kind IN ('guest', 'registered')),
	pwhash		TEXT,			-- Argon2id (crypto_pwhash_str); NULL for guests
	admin		INTEGER NOT NULL DEFAULT 0,
	disabled	INTEGER NOT NULL DEFAULT 0,
	created_seq	INTEGER NOT NULL,
	created_ts	INTEGER NOT NULL
);

-- One row per live token: its SHA-256 (hex), never the token.
CREATE TABLE tokens (
	hash		TEXT PRIMARY KEY,
	account		TEXT NOT NULL,
	created_ts	INTEGER NOT NULL,
	used_ts		INTEGER NOT NULL	-- last use, coarsely (docs/SCHEMA.md)
);
CREATE INDEX tokens_account ON tokens (account);

-- wschatctl's requests to the running daemon, applied (and deleted) by it
-- through the journal within a second; see docs/SCHEMA.md.
CREATE TABLE requests (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	ts		INTEGER NOT NULL,
	verb		TEXT NOT NULL CHECK (verb IN ('add', 'passwd', 'disable',
			    'enable', 'admin', 'unadmin', 'revoke')),
	name		TEXT NOT NULL,
	pwhash		TEXT			-- add, passwd
);

-- Accounts as administrators see them: never a hash.
CREATE VIEW account_list AS
	SELECT a.name, a.kind, a.admin, a.disabled,
	    strftime('%Y-%m-%dT%H:%M:%fZ', a.created_ts / 1000.0, 'unixepoch')
	    AS created,
	    (SELECT count(*) FROM tokens t WHERE t.account = a.name) AS tokens,
	    (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', max(t.used_ts) / 1000.0,
	    'unixepoch') FROM tokens t WHERE t.account = a.name) AS last_used
	FROM accounts a;
