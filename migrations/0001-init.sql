-- 0001-init: the event journal, the state tables derived from it, and the
-- views administrators query. Released migrations are never edited: change
-- the schema with a new numbered file (see docs/SCHEMA.md).

-- Facts about the database itself. 'epoch' names this journal: a resume
-- cursor (epoch, seq) is only meaningful against the same epoch.
CREATE TABLE meta (
	key	TEXT PRIMARY KEY,
	value	TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('epoch', lower(hex(randomblob(8))));

-- The journal: one row per event, in seq order. wschatd inserts explicit
-- seqs; AUTOINCREMENT keeps sqlite_sequence, so the head survives pruning
-- and a seq is never handed out twice.
CREATE TABLE events (
	seq		INTEGER PRIMARY KEY AUTOINCREMENT,
	ts		INTEGER NOT NULL,	-- milliseconds since the Unix epoch
	type		TEXT NOT NULL CHECK (type IN ('channel', 'user', 'message')),
	action		TEXT NOT NULL,		-- CREATE, DELETE, JOIN, PART
	resource	TEXT NOT NULL,		-- the channel
	actor		TEXT,			-- the user, if any
	data		TEXT NOT NULL CHECK (json_valid(data))	-- the wire JSON
);
-- HISTORY and snapshots: a channel's messages by seq.
CREATE INDEX events_type_resource_seq ON events (type, resource, seq);
-- RESUME: a user's own events after a cursor.
CREATE INDEX events_actor_seq ON events (actor, seq);

-- State, updated in the same transaction as the event that changes it.
CREATE TABLE channels (
	name		TEXT PRIMARY KEY,
	creator		TEXT NOT NULL,
	created_seq	INTEGER NOT NULL,
	created_ts	INTEGER NOT NULL
);
CREATE TABLE memberships (
	channel		TEXT NOT NULL,
	user		TEXT NOT NULL,
	joined_seq	INTEGER NOT NULL,
	PRIMARY KEY (channel, user)
);
-- A user's channels in the order joined (snapshots, LSSUBS after a restart).
CREATE INDEX memberships_user_joined ON memberships (user, joined_seq);
CREATE TABLE users (
	name		TEXT PRIMARY KEY,
	first_seq	INTEGER NOT NULL,
	first_ts	INTEGER NOT NULL,
	last_seq	INTEGER NOT NULL,
	last_ts		INTEGER NOT NULL
);

-- Who said what, where and when.
CREATE VIEW messages AS
	SELECT seq, ts,
	    strftime('%Y-%m-%dT%H:%M:%fZ', ts / 1000.0, 'unixepoch') AS time,
	    resource AS channel, actor AS user,
	    json_extract(data, '$.text') AS text
	FROM events
	WHERE type = 'message' AND action = 'CREATE';

-- Messages and distinct speakers per channel per UTC day.
CREATE VIEW channel_activity AS
	SELECT channel, date(ts / 1000, 'unixepoch') AS day,
	    count(*) AS messages, count(DISTINCT user) AS users
	FROM messages
	GROUP BY channel, day;
