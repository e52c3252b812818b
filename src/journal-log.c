/*
 * journal-log.c: the SQLite journal as the group commit's log backend
 * (struct eventlog, the log seam). Only these adapters know that the
 * backend is a journal; the group commit sees the seam.
 *
 * Debug builds have a delay seam here: every commit is reported to the
 * loop journal_log_delay() milliseconds late, as a slow disk would, so
 * tests can show that what waits for a commit really waits.
 */
#include "config.h"

#include <stdlib.h>

#include "wschatd.h"

static struct event_base *journal_log_base;
static eventlog_done_cb	 journal_log_done;
static void		*journal_log_done_arg;

#ifdef WSCHAT_DEBUG
static long		 journal_log_delay_ms;

struct journal_log_late {
	void	*batch;
	int	 ok;
	char	*cause;
};

/* Slow every commit's report by ms (0: off). */
void
journal_log_delay(long ms)
{
	journal_log_delay_ms = ms;
}

/* The delayed report reaches the group commit. */
static void
journal_log_late_cb(evutil_socket_t fd, short what, void *arg)
{
	struct journal_log_late	*l = arg;

	journal_log_done(l->batch, l->ok, l->cause, journal_log_done_arg);
	free(l->cause);
	free(l);
}

/* Report a commit ms late; 0 if the delay seam is off. */
static int
journal_log_later(void *batch, int ok, const char *cause)
{
	struct journal_log_late	*l;
	struct timeval		 tv;

	if (journal_log_delay_ms == 0)
		return (0);
	l = xcalloc(1, sizeof *l);
	l->batch = batch;
	l->ok = ok;
	l->cause = cause != NULL ? xstrdup(cause) : NULL;
	tv.tv_sec = journal_log_delay_ms / 1000;
	tv.tv_usec = (journal_log_delay_ms % 1000) * 1000;
	if (event_base_once(journal_log_base, -1, EV_TIMEOUT,
	    journal_log_late_cb, l, &tv) != 0)
		fatalx("%s: event_base_once", __func__);
	return (1);
}
#endif

/* A commit is done: tell the group commit (debug builds: maybe later). */
static void
journal_log_report(void *batch, int ok, const char *cause, void *arg)
{
#ifdef WSCHAT_DEBUG
	if (journal_log_later(batch, ok, cause))
		return;
#endif
	journal_log_done(batch, ok, cause, journal_log_done_arg);
}

static int
journal_log_start(void *arg, struct event_base *base, eventlog_done_cb done,
    void *done_arg, char **cause)
{
	journal_log_base = base;
	journal_log_done = done;
	journal_log_done_arg = done_arg;
	return (journal_start(arg, base, journal_log_report, NULL, cause));
}

static void
journal_log_stop(void *arg)
{
	journal_stop(arg);
}

static void
journal_log_submit(void *arg, void *batch, const struct journal_rec *recs,
    size_t n)
{
	journal_submit(arg, batch, recs, n);
}

static int64_t
journal_log_head(void *arg)
{
	return (journal_head(arg));
}

static const char *
journal_log_epoch(void *arg)
{
	return (journal_epoch(arg));
}

static const char *
journal_log_broken(void *arg)
{
	return (journal_broken(arg));
}

/* Fill in the seam for this journal. */
void
journal_eventlog(struct journal *j, struct eventlog *el)
{
	el->el_arg = j;
	el->el_start = journal_log_start;
	el->el_stop = journal_log_stop;
	el->el_submit = journal_log_submit;
	el->el_head = journal_log_head;
	el->el_epoch = journal_log_epoch;
	el->el_broken = journal_log_broken;
}
