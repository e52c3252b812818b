/*
 * batch.c: group commit between the event loop and the journal writer.
 *
 * Events and the replies that depend on them collect in the open batch.
 * When the loop has nothing more urgent to do (a low-priority event) and
 * no batch is at the writer, the open batch is submitted; when the writer
 * reports back, its events are fanned out and its replies sent, in order.
 * So no client sees an event, and no sender its CONFIRM, before the commit.
 *
 * If a commit fails, the batch at the writer and the open batch (built on
 * top of it) both fail: their events are dropped, journaled commands get
 * ERROR INTERNAL, and the state in memory is reloaded from the database.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

struct breply {
	struct client		*r_client;
	char			*r_ok;
	char			*r_failed;	/* NULL: same text either way */
	TAILQ_ENTRY(breply)	 r_entry;
};

struct batch {
	uint64_t		 b_id;
	struct wevent		**b_events;
	size_t			 b_nevents;
	size_t			 b_cap;
	struct journal_rec	*b_recs;
	TAILQ_HEAD(, breply)	 b_replies;
};

static struct event_base *batch_base;
static struct journal	*batch_journal;
static struct event	*batch_flush_ev;
static struct batch	*batch_open;		/* collecting */
static struct batch	*batch_writing;		/* at the writer */
static uint64_t		 batch_ids;
static int64_t		 batch_head;		/* committed and fanned out */

static void	batch_done(void *, int, const char *, void *);

/* A new, empty batch. */
static struct batch *
batch_new(void)
{
	struct batch	*b;

	b = xcalloc(1, sizeof *b);
	b->b_id = ++batch_ids;
	TAILQ_INIT(&b->b_replies);
	return (b);
}

/* Release a batch, its events and any replies left. */
static void
batch_destroy(struct batch *b)
{
	struct breply	*r;
	size_t		 i;

	while ((r = TAILQ_FIRST(&b->b_replies)) != NULL) {
		TAILQ_REMOVE(&b->b_replies, r, r_entry);
		r->r_client->c_deferred--;
		client_unref(r->r_client);
		free(r->r_ok);
		free(r->r_failed);
		free(r);
	}
	for (i = 0; i < b->b_nevents; i++)
		wevent_free(b->b_events[i]);
	free(b->b_events);
	free(b->b_recs);
	free(b);
}

/* Hand the open batch to the writer if it is idle. */
static void
batch_submit(void)
{
	struct batch	*b = batch_open;
	size_t		 i;

	if (b == NULL || batch_writing != NULL)
		return;
	batch_open = NULL;
	batch_writing = b;
	if (b->b_nevents > 0)
		b->b_recs = xreallocarray(NULL, b->b_nevents, sizeof *b->b_recs);
	for (i = 0; i < b->b_nevents; i++) {
		struct wevent		*ev = b->b_events[i];
		struct journal_rec	*r = &b->b_recs[i];

		r->seq = ev->ev_seq;
		r->ts = ev->ev_ts;
		r->type = intent_name(ev->ev_type);
		r->action = ev->ev_action;
		r->resource = ev->ev_resource;
		r->actor = ev->ev_actor;
		r->data = ev->ev_data;
	}
	journal_submit(batch_journal, b, b->b_recs, b->b_nevents);
}

/* End of a loop pass: submit what the pass produced. */
static void
batch_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	batch_submit();
}

/* The open batch, created on demand; schedules the flush. */
static struct batch *
batch_get(void)
{
	if (batch_open == NULL) {
		batch_open = batch_new();
		event_active(batch_flush_ev, EV_TIMEOUT, 0);
	}
	return (batch_open);
}

/* Set up on a base with three priorities (the flush runs at the lowest). */
int
batch_init(struct event_base *base, struct journal *j)
{
	char	*cause;

	batch_base = base;
	batch_journal = j;
	batch_head = journal_head(j);
	batch_flush_ev = event_new(base, -1, 0, batch_flush_cb, NULL);
	if (batch_flush_ev == NULL)
		fatalx("%s: event_new", __func__);
	if (event_priority_set(batch_flush_ev, 2) != 0)
		fatalx("%s: event base needs 3 priorities", __func__);
	if (journal_start(j, base, batch_done, NULL, &cause) != 0) {
		log_warnx("journal: %s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/* Stop the writer (completing what it holds) and free the batches. */
void
batch_free(void)
{
	if (batch_journal == NULL)
		return;
	batch_drain();
	journal_stop(batch_journal);
	if (batch_open != NULL)
		batch_destroy(batch_open);
	batch_open = NULL;
	if (batch_flush_ev != NULL)
		event_free(batch_flush_ev);
	batch_flush_ev = NULL;
	batch_journal = NULL;
}

/* Queue an event in the open batch. */
void
batch_add_event(struct wevent *ev)
{
	struct batch	*b = batch_get();

	if (b->b_nevents == b->b_cap) {
		b->b_cap = b->b_cap == 0 ? 16 : b->b_cap * 2;
		b->b_events = xreallocarray(b->b_events, b->b_cap,
		    sizeof *b->b_events);
	}
	b->b_events[b->b_nevents++] = ev;
}

/* A reply that must wait for the open batch's commit. Takes the strings. */
void
batch_defer_reply(struct client *c, char *ok, char *failed)
{
	struct batch	*b = batch_get();
	struct breply	*r;

	r = xcalloc(1, sizeof *r);
	r->r_client = c;
	r->r_ok = ok;
	r->r_failed = failed;
	client_ref(c);
	c->c_deferred++;
	TAILQ_INSERT_TAIL(&b->b_replies, r, r_entry);
}

/* How many batches are collecting or committing. */
int
batch_pending(void)
{
	return ((batch_open != NULL) + (batch_writing != NULL));
}

/* The highest seq committed and delivered. */
int64_t
batch_committed(void)
{
	return (batch_head);
}

/* Send a batch's replies: ok texts, or failure texts after a failed commit. */
static void
batch_replies(struct batch *b, int ok)
{
	struct breply	*r;

	while ((r = TAILQ_FIRST(&b->b_replies)) != NULL) {
		TAILQ_REMOVE(&b->b_replies, r, r_entry);
		r->r_client->c_deferred--;
		if (ok || r->r_failed == NULL)
			client_send(r->r_client, r->r_ok, strlen(r->r_ok));
		else
			client_send(r->r_client, r->r_failed, strlen(r->r_failed));
		if (r->r_client->c_deferred == 0 && r->r_client->c_parked != NULL)
			client_unpark(r->r_client);
		client_unref(r->r_client);
		free(r->r_ok);
		free(r->r_failed);
		free(r);
	}
}

/* journal_load_state callbacks: rebuild channels and memberships. */
static void
batch_load_channel(const char *name, const char *creator, int64_t seq, void *arg)
{
	state_channel_add(name, creator, seq);
}

static void
batch_load_member(const char *channel, const char *user, int64_t seq, void *arg)
{
	struct channel	*ch;

	if ((ch = state_channel_find(channel)) == NULL) {
		log_warnx("journal: membership of %s in missing channel %s",
		    user, channel);
		return;
	}
	state_member_add(state_user_get(user), ch, seq);
}

/* Load channels and memberships from the journal's state tables. */
int
batch_load_state(struct journal *j)
{
	struct journal_state_cb	 cb = { batch_load_channel, batch_load_member, NULL };
	char			*cause;

	state_reset();
	if (journal_load_state(j, &cb, &cause) != 0) {
		log_warnx("journal: loading state: %s", cause);
		free(cause);
		return (-1);
	}
	wevent_set_next_seq(journal_head(j) + 1);
	batch_head = journal_head(j);
	return (0);
}

/* The writer finished a batch (on the loop thread, in order). */
static void
batch_done(void *arg, int ok, const char *cause, void *unused)
{
	struct batch	*b = arg, *open;
	size_t		 i;

	if (b != batch_writing)
		fatalx("%s: batch %llu completed out of order", __func__,
		    (unsigned long long)b->b_id);
	batch_writing = NULL;

	if (ok) {
		for (i = 0; i < b->b_nevents; i++)
			wevent_fanout(b->b_events[i]);
		if (b->b_nevents > 0)
			batch_head = b->b_events[b->b_nevents - 1]->ev_seq;
		batch_replies(b, 1);
		state_reap(batch_head);
		batch_destroy(b);
		batch_submit();
		return;
	}

	/* The open batch was built on the failed one's state: fail it too. */
	log_warnx("journal: batch %llu of %zu events failed: %s",
	    (unsigned long long)b->b_id, b->b_nevents, cause);
	batch_replies(b, 0);
	batch_destroy(b);
	if ((open = batch_open) != NULL) {
		batch_open = NULL;
		batch_replies(open, 0);
		batch_destroy(open);
	}
	if (batch_load_state(batch_journal) != 0)
		fatalx("journal: cannot reload state after a failed commit");
}

/* Run the loop until no batch is left (shutdown). */
void
batch_drain(void)
{
	while (batch_pending() > 0) {
		batch_submit();
		if (event_base_loop(batch_base, EVLOOP_ONCE) == -1)
			break;
	}
}
