-- channel-access: private channels, invites and bans. All three are state
-- changes journaled as events (channel CREATE with "visibility":"private",
-- channel INVITE, BAN, UNBAN) and materialized here in the same
-- transaction as their event, like channels and memberships
-- (docs/SCHEMA.md, "How the state tables follow the events").

-- 1 for an event of a private channel: only its members as of the event,
-- the event's actor and server admins receive it, live and on RESUME.
ALTER TABLE events ADD COLUMN private INTEGER NOT NULL DEFAULT 0
    CHECK (private IN (0, 1));

-- 1 for a private channel, fixed when it is created.
ALTER TABLE channels ADD COLUMN private INTEGER NOT NULL DEFAULT 0
    CHECK (private IN (0, 1));

-- Names the owner (or an admin) invited into a private channel, until
-- they join, are banned, or the channel is deleted.
CREATE TABLE invites (
	channel		TEXT NOT NULL,
	user		TEXT NOT NULL,
	by		TEXT NOT NULL,
	seq		INTEGER NOT NULL,	-- of the channel INVITE event
	PRIMARY KEY (channel, user)
);

-- Names banned from a channel, until UNBAN or the channel is deleted.
CREATE TABLE bans (
	channel		TEXT NOT NULL,
	user		TEXT NOT NULL,
	by		TEXT NOT NULL,
	seq		INTEGER NOT NULL,	-- of the channel BAN event
	PRIMARY KEY (channel, user)
);
