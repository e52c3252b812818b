/*
 * reply.c: replies to commands, and the one rule for when a reply may be
 * sent. A reply goes out at once unless the connection has replies still
 * waiting for a commit: then it waits behind them, in order. A reply that
 * depends on a journaled change waits for that change's batch, and turns
 * into ERROR INTERNAL if the batch fails. Waiting replies are kept in one
 * queue, in batch order, and sent when the group commit says their batch
 * committed or failed (a batch listener).
 *
 * Waiting replies are output not yet queued, so they count against
 * max_output with what is queued (a connection over it is closed as a
 * slow consumer), and past reply_budget the connection's input is held
 * until they are out: a client pipelining commands behind a slow commit
 * cannot make us keep more than about that much for it.
 *
 * The same rule decides when a command that reads state may run: only
 * once the connection has no reply waiting (reply_waits), so that what it
 * reads includes every earlier write of the connection that committed and
 * none that failed. The dispatcher holds such a command's line
 * (CLIENT_LINE_HOLD) and this file lets it run again.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

struct reply {
	struct client		*r_client;
	uint64_t		 r_batch;	/* sent when this batch is done */
	char			*r_text;
	int			 r_commit;	/* ERROR INTERNAL if r_batch fails */
	TAILQ_ENTRY(reply)	 r_entry;
};
TAILQ_HEAD(replies, reply);

static struct replies	 reply_queue = TAILQ_HEAD_INITIALIZER(reply_queue);

/* What a waiting reply costs beyond its text: the entry and its frame. */
#define REPLY_OVERHEAD	(sizeof (struct reply) + WS_MAX_HEADER)

static void	reply_committed(uint64_t, int64_t);
static void	reply_failed(uint64_t, const char *);

static const struct batch_listener reply_listener = {
	reply_committed, reply_failed
};

/* Hear of commits (after the events module: events go out before replies). */
void
reply_init(void)
{
	batch_listen(&reply_listener);
}

/* What a waiting reply with this text costs the connection. */
static size_t
reply_cost(const char *text)
{
	return (strlen(text) + REPLY_OVERHEAD);
}

/*
 * Queue a reply behind batch id. Takes the text. What waits counts
 * against max_output, and past reply_budget input stops until it is out.
 */
static void
reply_defer(struct client *c, uint64_t id, char *text, int commit)
{
	struct reply	*r;
	size_t		 cost = reply_cost(text);

	if (c->c_state != CLIENT_OPEN) {
		free(text);	/* nothing more goes out to it */
		return;
	}
	if (client_output_len(c) + c->c_deferred_bytes + cost >
	    (size_t)config.max_output) {
		client_close(c, WS_CLOSE_TRY_AGAIN, "slow consumer: replies "
		    "waiting for a commit over max_output");
		free(text);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->r_client = c;
	r->r_batch = id;
	r->r_text = text;
	r->r_commit = commit;
	client_ref(c);
	c->c_deferred++;
	c->c_deferred_bytes += cost;
	if (!c->c_reply_held &&
	    c->c_deferred_bytes > (size_t)config.reply_budget) {
		c->c_reply_held = 1;
		client_hold(c);
	}
	TAILQ_INSERT_TAIL(&reply_queue, r, r_entry);
}

/* Does this connection have replies waiting for a commit? */
int
reply_waits(struct client *c)
{
	return (c->c_deferred > 0);
}

/* Send and free one waiting reply; its connection may go on. */
static void
reply_release(struct reply *r, int ok)
{
	struct client	*c = r->r_client;
	const char	*text = r->r_text;
	char		*failed = NULL;

	TAILQ_REMOVE(&reply_queue, r, r_entry);
	c->c_deferred--;
	c->c_deferred_bytes -= reply_cost(r->r_text);
	if (!ok && r->r_commit) {
		xasprintf(&failed, "ERROR %s journal write failed",
		    proto_error_name(PROTO_ERR_INTERNAL));
		text = failed;
	}
	client_send(c, text, strlen(text));
	if (c->c_reply_held && c->c_deferred_bytes <=
	    (size_t)config.reply_budget / 2) {
		c->c_reply_held = 0;
		client_unhold(c);	/* input goes on */
	} else if (c->c_deferred == 0)
		client_resume(c);	/* a held read may run now */
	client_unref(c);
	free(failed);
	free(r->r_text);
	free(r);
}

/* A batch committed: every reply waiting on it, or on one before, goes. */
static void
reply_committed(uint64_t id, int64_t head)
{
	struct reply	*r;

	while ((r = TAILQ_FIRST(&reply_queue)) != NULL && r->r_batch <= id)
		reply_release(r, 1);
}

/* Batches up to upto failed: their replies become the failure texts. */
static void
reply_failed(uint64_t upto, const char *cause)
{
	struct reply	*r;

	while ((r = TAILQ_FIRST(&reply_queue)) != NULL && r->r_batch <= upto)
		reply_release(r, 0);
}

/* Free replies whose batch never completed (exit). */
void
reply_shutdown(void)
{
	struct reply	*r;

	while ((r = TAILQ_FIRST(&reply_queue)) != NULL)
		reply_release(r, 0);
}

/*
 * Reply now, or behind this connection's replies still waiting: behind the
 * newest batch not yet done, which is at least as new as any it waits on.
 */
static void
reply_vsend(struct client *c, const char *fmt, va_list ap)
{
	uint64_t id;
	char	*s;
	int	 n;

	n = xvasprintf(&s, fmt, ap);
	if (c->c_deferred > 0) {
		if ((id = batch_newest()) == 0)
			fatalx("%s: replies wait on no batch", __func__);
		reply_defer(c, id, s, 0);
		return;
	}
	client_send(c, s, n);
	free(s);
}

/* A reply to a command. */
void
reply_send(struct client *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	reply_vsend(c, fmt, ap);
	va_end(ap);
}

/* An ERROR reply: a code from the wire-error table, and words. */
void
reply_error(struct client *c, enum proto_error e, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	reply_send(c, "ERROR %s %s", proto_error_name(e), msg);
	free(msg);
}

/* A reply that waits for the commit of the change this command made. */
void
reply_commit(struct client *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*text;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	reply_defer(c, batch_ticket(), text, 1);
}

/* The first line a connection gets: who we are, the epoch, the head. */
void
reply_hello(struct client *c)
{
	client_sendf(c, "HELLO %s %s %lld", WSCHAT_VERSION, batch_epoch(),
	    (long long)batch_committed());
}
