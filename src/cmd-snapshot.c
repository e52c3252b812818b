/*
 * cmd-snapshot.c: SNAPSHOT sends the current state as of one committed
 * seq: channels, the user's memberships, the members of those channels
 * and their last messages. Live events continue after it from seq+1.
 * RESUME falls back to it.
 *
 * A snapshot can be far bigger than max_output, so it streams in pages
 * from a journal cursor whose read transaction pins the seq, waiting for
 * the client's output to drain between pages; live events after the seq
 * are held meanwhile and follow SNAPSHOT END.
 */
#include "config.h"

#include <stdlib.h>

#include "wschatd.h"

#define SNAPSHOT_PAGE		512	/* rows per page, at most */
#define SNAPSHOT_WATCH_MS	100	/* look at a stalled stream this often */
#define SNAPSHOT_END_MAX	64	/* bytes of the END frame, at most */

struct snapshot {
	struct client	*s_client;
	struct journal_snap *s_cur;	/* NULL once every row is sent */
	int64_t		 s_seq;
	struct event	*s_ev;		/* the next page, or the watch */
	struct evbuffer_cb_entry *s_outcb; /* on the client's output */
};

static void	snapshot_page(struct client *);

/* Has a page sent enough? Nonzero also if the client is gone. */
static int
snapshot_full(struct client *c)
{
	return (c->c_state != CLIENT_OPEN ||
	    client_output_len(c) > (size_t)config.max_output / 2);
}

/* The snapshot lines, each a callback of journal_snap_next(). */
static int
snapshot_channel(const char *name, const char *creator, int64_t seq,
    void *arg)
{
	struct client	*c = arg;

	client_sendf(c, "SNAPSHOT CHANNEL %s {\"creator\":\"%s\",\"seq\":%lld}",
	    name, creator, (long long)seq);
	return (snapshot_full(c));
}

static int
snapshot_sub(const char *channel, int64_t joined, void *arg)
{
	struct client	*c = arg;

	client_sendf(c, "SNAPSHOT SUB %s", channel);
	return (snapshot_full(c));
}

static int
snapshot_member(const char *channel, const char *user, int64_t joined,
    void *arg)
{
	struct client	*c = arg;

	client_sendf(c, "SNAPSHOT MEMBER %s %s", channel, user);
	return (snapshot_full(c));
}

static int
snapshot_message(const struct journal_rec *r, void *arg)
{
	struct client	*c = arg;

	client_sendf(c, "SNAPSHOT MESSAGE %s %s", r->resource, r->data);
	return (snapshot_full(c));
}

/* Close the cursor and let the connection take input and events again. */
static void
snapshot_finish(struct client *c)
{
	struct snapshot	*s = c->c_stream;

	c->c_stream = NULL;
	c->c_stream_cb = NULL;
	journal_snap_close(s->s_cur);	/* first: it holds the WAL back */
	/* Without its evhttp connection the bufferevent is gone, and our cb. */
	if (c->c_evcon != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(c->c_bev),
		    s->s_outcb);
	event_free(s->s_ev);
	free(s);
	client_stream_end(c);
	client_unref(c);
}

/* The next turn, or the watch on a stream waiting for its output. */
static void
snapshot_later(evutil_socket_t fd, short what, void *arg)
{
	snapshot_page(arg);
}

/*
 * Wait for client_write_cb to say the output drained. It only calls while
 * the connection is open, so a stream must notice a close by itself: a
 * client gone mid-stream must not keep the cursor and its reference. A
 * close frame going out is seen at once (snapshot_output); a dropped
 * connection by this watch.
 */
static void
snapshot_wait(struct snapshot *s)
{
	struct timeval	tv = { 0, SNAPSHOT_WATCH_MS * 1000 };

	if (event_add(s->s_ev, &tv) != 0)
		fatalx("%s: event_add", __func__);
}

/* The client's output changed: if it is closing, end the stream soon. */
static void
snapshot_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct snapshot	*s = arg;

	/* Not from here: this runs inside whatever touched the buffer. */
	if (s->s_client->c_state != CLIENT_OPEN)
		event_active(s->s_ev, EV_TIMEOUT, 0);
}

/* Send one page; then wait for the output to drain or for the next turn. */
static void
snapshot_page(struct client *c)
{
	struct journal_snapshot_cb cb = {
		NULL, snapshot_channel, snapshot_sub, snapshot_member,
		snapshot_message, c
	};
	struct snapshot	*s = c->c_stream;
	struct timeval	 tv = { 0, 0 };
	char		*cause;
	size_t		 held;
	int		 rc;

	if (s == NULL || c->c_stream_cb != snapshot_page)
		return;
	if (c->c_state != CLIENT_OPEN) {
		snapshot_finish(c);
		return;
	}
	if (snapshot_full(c)) {
		snapshot_wait(s);
		return;
	}

	if (s->s_cur != NULL) {
		rc = journal_snap_next(s->s_cur, &cb, SNAPSHOT_PAGE, &cause);
		if (rc == -1) {
			/* SNAPSHOT BEGIN is out: no reply can take its place. */
			log_warnx("snapshot: %s", cause);
			free(cause);
			client_close(c, WS_CLOSE_INTERNAL,
			    "snapshot read failed");
			snapshot_finish(c);
			return;
		}
		if (c->c_state != CLIENT_OPEN) {
			snapshot_finish(c);
			return;
		}
		if (rc == 1) {
			if (snapshot_full(c))
				snapshot_wait(s);
			else if (event_add(s->s_ev, &tv) != 0)
				fatalx("%s: event_add", __func__);
			return;
		}
		/* Every row is out: release the read transaction now. */
		journal_snap_close(s->s_cur);
		s->s_cur = NULL;
	}

	/*
	 * The events held meanwhile follow SNAPSHOT END; let the output drain
	 * until they fit (client_stream_end closes a client they never fit).
	 */
	held = c->c_held != NULL ? evbuffer_get_length(c->c_held) : 0;
	if (held > 0 && client_output_len(c) > 0 && client_output_len(c) +
	    held + SNAPSHOT_END_MAX > (size_t)config.max_output) {
		snapshot_wait(s);
		return;
	}
	client_sendf(c, "SNAPSHOT END %lld", (long long)s->s_seq);
	snapshot_finish(c);
}

/* Start a snapshot (the caller made sure replies are in order). */
void
cmd_snapshot_send(struct client *c)
{
	struct snapshot		*s;
	struct journal_snap	*cur;
	int64_t			 seq;
	char			*cause;

	/* RESUME's fallback starts before RESUME owns the stream state. */
	if (c->c_stream != NULL) {
		client_error(c, PROTO_ERR_BADARGS, "a replay is already running");
		return;
	}
	if ((cur = journal_snap_open(wschatd_journal, c->c_user != NULL ?
	    c->c_user->u_name : NULL, config.snapshot_messages, &seq,
	    &cause)) == NULL) {
		log_warnx("snapshot: %s", cause);
		free(cause);
		client_error(c, PROTO_ERR_INTERNAL, "snapshot is unavailable");
		return;
	}

	s = xcalloc(1, sizeof *s);
	s->s_client = c;
	s->s_cur = cur;
	s->s_seq = seq;
	if ((s->s_ev = evtimer_new(wschatd_base, snapshot_later, c)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	s->s_outcb = evbuffer_add_cb(bufferevent_get_output(c->c_bev),
	    snapshot_output, s);
	if (s->s_outcb == NULL)
		fatalx("%s: evbuffer_add_cb", __func__);
	client_ref(c);
	c->c_stream = s;
	/* Everything up to seq is in the snapshot; later events wait for it. */
	client_stream_begin(c, c->c_live_after > seq ? c->c_live_after : seq);
	c->c_stream_cb = snapshot_page;
	if (client_sendf(c, "SNAPSHOT BEGIN %lld", (long long)seq) != 0) {
		snapshot_finish(c);
		return;
	}
	snapshot_page(c);
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
