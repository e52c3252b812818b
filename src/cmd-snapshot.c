/*
 * cmd-snapshot.c: SNAPSHOT sends the current state as of one committed
 * seq, read in one journal read transaction: channels, the user's
 * memberships, the members of those channels and their last messages.
 * Live events continue after it from seq+1. RESUME falls back to it.
 */
#include "config.h"

#include <stdlib.h>

#include "wschatd.h"

/* The snapshot lines, each a callback of journal_snapshot(). */
static int
cmd_snapshot_begin(int64_t seq, void *arg)
{
	struct client	*c = arg;

	/* Everything up to seq is in the snapshot; live events follow it. */
	if (c->c_live_after < seq)
		c->c_live_after = seq;
	return (client_sendf(c, "SNAPSHOT BEGIN %lld", (long long)seq) != 0);
}

static int
cmd_snapshot_channel(const char *name, const char *creator, int64_t seq,
    void *arg)
{
	return (client_sendf(arg, "SNAPSHOT CHANNEL %s {\"creator\":\"%s\","
	    "\"seq\":%lld}", name, creator, (long long)seq) != 0);
}

static int
cmd_snapshot_sub(const char *channel, int64_t joined, void *arg)
{
	return (client_sendf(arg, "SNAPSHOT SUB %s", channel) != 0);
}

static int
cmd_snapshot_member(const char *channel, const char *user, int64_t joined,
    void *arg)
{
	return (client_sendf(arg, "SNAPSHOT MEMBER %s %s", channel, user) != 0);
}

static int
cmd_snapshot_message(const struct journal_rec *r, void *arg)
{
	return (client_sendf(arg, "SNAPSHOT MESSAGE %s %s", r->resource,
	    r->data) != 0);
}

/* Send a whole snapshot now (the caller made sure replies are in order). */
void
cmd_snapshot_send(struct client *c)
{
	struct journal_snapshot_cb cb = {
		cmd_snapshot_begin, cmd_snapshot_channel, cmd_snapshot_sub,
		cmd_snapshot_member, cmd_snapshot_message, c
	};
	int64_t	 seq;
	char	*cause;

	if (journal_snapshot(wschatd_journal, c->c_user != NULL ?
	    c->c_user->u_name : "", config.snapshot_messages, &cb, &seq,
	    &cause) == -1) {
		log_warnx("snapshot: %s", cause);
		free(cause);
		client_error(c, PROTO_ERR_INTERNAL, "snapshot is unavailable");
		return;
	}
	client_sendf(c, "SNAPSHOT END %lld", (long long)seq);
}

static enum cmd_retval
cmd_snapshot_exec(struct client *c, struct proto_line *pl)
{
	cmd_snapshot_send(c);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_snapshot_entry = {
	.name = "SNAPSHOT",
	.lower = 0,
	.upper = 0,
	.flags = CMD_BARRIER,
	.usage = "SNAPSHOT",
	.missing = NULL,
	.exec = cmd_snapshot_exec
};
