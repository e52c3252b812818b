/*
 * batch.c: group commit between the event loop and a log backend.
 *
 * Records collect in the open batch. When the loop has nothing more
 * urgent to do (a low-priority event) and no batch is at the log, the open
 * batch is submitted; when the log reports back, every listener hears
 * that the batch committed, in the order they registered. If a commit
 * fails, the batch at the log and the open batch (built on top of it)
 * both fail, and listeners hear it once for both.
 *
 * It knows records, batch ids and the log seam (struct eventlog): not
 * clients, events or state. Whoever needs to wait for a commit notes the
 * id batch_ticket() gives and waits for its listener to hear of it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

#define BATCH_LISTENERS	4

struct batch {
	uint64_t		 b_id;
	struct journal_rec	*b_recs;
	size_t			 b_nrecs;
	size_t			 b_cap;
};

static struct event_base *batch_base;
static struct eventlog	 batch_log;
static int		 batch_started;
static struct event	*batch_flush_ev;
static struct batch	*batch_open;		/* collecting */
static struct batch	*batch_writing;		/* at the log */
static uint64_t		 batch_ids;
static int64_t		 batch_head;		/* committed, and heard of */
static const struct batch_listener *batch_listeners[BATCH_LISTENERS];
static size_t		 batch_nlisteners;
static int		 batch_last = -1;	/* last commit: 1 ok, 0 not */
static int64_t		 batch_last_ms;		/* when it was heard of */
static char		*batch_last_cause;	/* why it failed */

static void	batch_done(void *, int, const char *, void *);

/* A new, empty batch. */
static struct batch *
batch_new(void)
{
	struct batch	*b;

	b = xcalloc(1, sizeof *b);
	b->b_id = ++batch_ids;
	return (b);
}

/* Release a batch (the records' strings belong to whoever added them). */
static void
batch_destroy(struct batch *b)
{
	free(b->b_recs);
	free(b);
}

/* Hand the open batch to the log if it is idle. */
static void
batch_submit(void)
{
	struct batch	*b = batch_open;

	if (b == NULL || batch_writing != NULL)
		return;
	batch_open = NULL;
	batch_writing = b;
	batch_log.el_submit(batch_log.el_arg, b, b->b_recs, b->b_nrecs);
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

/*
 * Set up on a base with three priorities (the flush runs at the lowest)
 * and start the log; the log's head is where committed seqs stand.
 */
int
batch_init(struct event_base *base, const struct eventlog *log)
{
	char	*cause;

	batch_base = base;
	batch_log = *log;
	batch_head = batch_log.el_head(batch_log.el_arg);
	batch_flush_ev = event_new(base, -1, 0, batch_flush_cb, NULL);
	if (batch_flush_ev == NULL)
		fatalx("%s: event_new", __func__);
	if (event_priority_set(batch_flush_ev, 2) != 0)
		fatalx("%s: event base needs 3 priorities", __func__);
	if (batch_log.el_start(batch_log.el_arg, base, batch_done, NULL,
	    &cause) != 0) {
		log_warnx("journal: %s", cause);
		free(cause);
		return (-1);
	}
	batch_started = 1;
	return (0);
}

/* Hear of every commit and failure, after the listeners before it. */
void
batch_listen(const struct batch_listener *l)
{
	if (batch_nlisteners == BATCH_LISTENERS)
		fatalx("%s: too many listeners", __func__);
	batch_listeners[batch_nlisteners++] = l;
}

/* Stop the log (completing what it holds) and free the batches. */
void
batch_free(void)
{
	if (batch_started) {
		batch_drain();
		batch_log.el_stop(batch_log.el_arg);
		batch_started = 0;
	}
	if (batch_open != NULL)
		batch_destroy(batch_open);
	batch_open = NULL;
	if (batch_flush_ev != NULL)
		event_free(batch_flush_ev);
	batch_flush_ev = NULL;
	batch_nlisteners = 0;
	free(batch_last_cause);
	batch_last_cause = NULL;
	batch_last = -1;
}

/* Queue a record in the open batch; returns the batch's id. */
uint64_t
batch_add(const struct journal_rec *rec)
{
	struct batch	*b = batch_get();

	if (b->b_nrecs == b->b_cap) {
		b->b_cap = b->b_cap == 0 ? 16 : b->b_cap * 2;
		b->b_recs = xreallocarray(b->b_recs, b->b_cap,
		    sizeof *b->b_recs);
	}
	b->b_recs[b->b_nrecs++] = *rec;
	return (b->b_id);
}

/* The id of the open batch (created if need be): what commits next. */
uint64_t
batch_ticket(void)
{
	return (batch_get()->b_id);
}

/* The newest batch not yet done (open, else at the log); 0 if none. */
uint64_t
batch_newest(void)
{
	if (batch_open != NULL)
		return (batch_open->b_id);
	return (batch_writing != NULL ? batch_writing->b_id : 0);
}

/* How many batches are collecting or committing. */
int
batch_pending(void)
{
	return ((batch_open != NULL) + (batch_writing != NULL));
}

/* The highest seq committed and heard of by every listener. */
int64_t
batch_committed(void)
{
	return (batch_head);
}

/* The log's epoch: which history the seqs count in. */
const char *
batch_epoch(void)
{
	return (batch_log.el_epoch(batch_log.el_arg));
}

/* Why the log refuses every write, or NULL while it takes them (or has
 * none yet: the unit tests run commands without one). */
const char *
batch_broken(void)
{
	if (batch_log.el_broken == NULL)
		return (NULL);
	return (batch_log.el_broken(batch_log.el_arg));
}

/* The log's state and the last commit, for /healthz. */
void
batch_health(struct batch_health *bh)
{
	bh->bh_broken = batch_log.el_broken(batch_log.el_arg);
	bh->bh_last = batch_last;
	bh->bh_age_ms = batch_last == -1 ? 0 : clock_mono_ms() - batch_last_ms;
	bh->bh_cause = batch_last_cause;
}

/* Note how the last commit went. */
static void
batch_note(int ok, const char *cause)
{
	batch_last = ok;
	batch_last_ms = clock_mono_ms();
	free(batch_last_cause);
	batch_last_cause = !ok && cause != NULL ? xstrdup(cause) : NULL;
}

/* The log finished a batch (on the loop thread, in order). */
static void
batch_done(void *arg, int ok, const char *cause, void *unused)
{
	struct batch	*b = arg;
	uint64_t	 upto;
	size_t		 i;

	if (b != batch_writing)
		fatalx("%s: batch %llu completed out of order", __func__,
		    (unsigned long long)b->b_id);
	batch_writing = NULL;
	if (b->b_nrecs > 0)
		batch_note(ok, cause);

	if (ok) {
		if (b->b_nrecs > 0)
			batch_head = b->b_recs[b->b_nrecs - 1].seq;
		for (i = 0; i < batch_nlisteners; i++)
			batch_listeners[i]->committed(b->b_id, batch_head);
		batch_destroy(b);
		batch_submit();
		return;
	}

	/* The open batch was built on the failed one's state: fail it too. */
	log_warnx("journal: batch %llu of %zu events failed: %s",
	    (unsigned long long)b->b_id, b->b_nrecs, cause);
	upto = b->b_id;
	batch_destroy(b);
	if (batch_open != NULL) {
		upto = batch_open->b_id;
		batch_destroy(batch_open);
		batch_open = NULL;
	}
	for (i = 0; i < batch_nlisteners; i++)
		batch_listeners[i]->failed(upto, cause);
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
