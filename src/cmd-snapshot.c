/*
 * cmd-snapshot.c: SNAPSHOT sends the current state as of one committed
 * seq: channels, the user's memberships, the members of those channels
 * and their last messages. Live events continue after it from seq+1.
 * RESUME falls back to it.
 *
 * A snapshot can be far bigger than max_output, so it streams in pages
 * (stream_start) from a journal cursor whose read transaction pins
 * the seq, waiting for the client's output to drain between pages; live
 * events after the seq are held meanwhile and follow SNAPSHOT END.
 */
#include "config.h"

#include <stdlib.h>

#include "wschatd.h"

#define SNAPSHOT_PAGE		512	/* rows per page, at most */

struct snapshot {
	struct journal_snap *s_cur;	/* NULL once every row is sent */
	int64_t		 s_seq;
};

/* The snapshot lines, each a callback of journal_snap_next(). */
static int
snapshot_channel(const char *name, const char *creator, int64_t seq,
    int priv, void *arg)
{
	struct client	*c = arg;

	client_sendf(c, "SNAPSHOT CHANNEL %s {\"creator\":\"%s\","
	    "\"seq\":%lld%s}", name, creator, (long long)seq,
	    priv ? ",\"visibility\":\"private\"" : "");
	return (stream_line(c));
}

static int
snapshot_sub(const char *channel, int64_t joined, void *arg)
{
	struct client	*c = arg;

	client_sendf(c, "SNAPSHOT SUB %s", channel);
	return (stream_line(c));
}

static int
snapshot_member(const char *channel, const char *user, int64_t joined,
    void *arg)
{
	struct client	*c = arg;

	client_sendf(c, "SNAPSHOT MEMBER %s %s", channel, user);
	return (stream_line(c));
}

static int
snapshot_message(const struct journal_rec *r, void *arg)
{
	struct client	*c = arg;

	client_sendf(c, "SNAPSHOT MESSAGE %s %s", r->resource, r->data);
	return (stream_line(c));
}

/* Close the cursor (it holds the WAL back) and free the state. */
static void
snapshot_free(void *arg)
{
	struct snapshot	*s = arg;

	if (s->s_cur != NULL)
		journal_snap_close(s->s_cur);
	free(s);
}

/* Send one page of rows; SNAPSHOT END ends it. */
static enum stream_next
snapshot_page(struct client *c, void *arg)
{
	struct journal_snapshot_cb cb = {
		NULL, snapshot_channel, snapshot_sub, snapshot_member,
		snapshot_message, c
	};
	struct snapshot	*s = arg;
	char		*cause;
	int		 rc;

	if (s->s_cur != NULL) {
		rc = journal_snap_next(s->s_cur, &cb, SNAPSHOT_PAGE, &cause);
		if (rc == -1) {
			/* SNAPSHOT BEGIN is out: no reply can take its place. */
			log_warnx("snapshot: %s", cause);
			free(cause);
			client_close(c, WS_CLOSE_INTERNAL,
			    "snapshot read failed");
			return (STREAM_DONE);
		}
		if (rc == 1)
			return (STREAM_MORE);
		/* Every row is out: release the read transaction now. */
		journal_snap_close(s->s_cur);
		s->s_cur = NULL;
	}
	/* The events held meanwhile follow it (stream.c). */
	client_sendf(c, "SNAPSHOT END %lld", (long long)s->s_seq);
	return (STREAM_DONE);
}

/* Start a snapshot (the caller made sure replies are in order). */
void
cmd_snapshot_send(struct client *c)
{
	struct snapshot		*s;
	struct journal_snap	*cur;
	int64_t			 seq;
	char			*cause;

	/* Private channels show to whom they exist (admins: all). */
	if ((cur = journal_snap_open(cmd_journal, c->c_user != NULL ?
	    c->c_user->u_name : NULL, c->c_user != NULL && c->c_user->u_admin,
	    config.snapshot_messages, &seq, &cause)) == NULL) {
		log_warnx("snapshot: %s", cause);
		free(cause);
		reply_error(c, PROTO_ERR_INTERNAL, "snapshot is unavailable");
		return;
	}

	if (client_sendf(c, "SNAPSHOT BEGIN %lld", (long long)seq) != 0) {
		journal_snap_close(cur);
		return;
	}
	s = xcalloc(1, sizeof *s);
	s->s_cur = cur;
	s->s_seq = seq;
	/* Everything up to seq is in the snapshot; later events wait for it. */
	stream_start(c, c->c_live_after > seq ? c->c_live_after : seq,
	    snapshot_page, snapshot_free, s);
}

static enum cmd_retval
cmd_snapshot_exec(struct cmd_call *cc)
{
	cmd_snapshot_send(cc->cc_client);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_snapshot_entry = {
	.name = "SNAPSHOT",
	.lower = 0,
	.upper = 0,
	.flags = CMD_NEEDNAME | CMD_READ,
	.usage = "SNAPSHOT",
	.missing = NULL,
	.exec = cmd_snapshot_exec
};
