/*
 * journal-log.c: the SQLite journal as the group commit's log backend
 * (struct eventlog, the log seam). Only these adapters know that the
 * backend is a journal; the group commit sees the seam.
 */
#include "config.h"

#include "wschatd.h"

static int
journal_log_start(void *arg, struct event_base *base, eventlog_done_cb done,
    void *done_arg, char **cause)
{
	return (journal_start(arg, base, done, done_arg, cause));
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
}
