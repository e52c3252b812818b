/*
 * journal-read.c: the reads behind the protocol and the daemon's start:
 * the events after a cursor (RESUME, wschatctl events and tail), a user's
 * own events, a channel's history, the state tables replayed at start-up,
 * and a snapshot in one go. Each read runs in one read transaction, so it
 * sees one committed state while the writer goes on committing.
 *
 * Connections: the read connection, j_rdb, only: the loop thread's in the
 * daemon, wschatctl's only thread in the tool. The writer thread never
 * touches it.
 */
#include "config.h"

#include <stdlib.h>

#include <sqlite3.h>

#include "wschatd.h"
#include "journal-int.h"

/* Hand the rows of a bound event query to cb; rows delivered or -1. */
static int
journal_rrecs(struct journal *j, sqlite3_stmt *st, journal_rec_cb cb,
    void *arg, int *stopped, char **cause)
{
	struct journal_rec	 r;
	int			 rc, n = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		journal_row(st, &r);
		n++;
		if (cb != NULL && cb(&r, arg) != 0) {
			if (stopped != NULL)
				*stopped = 1;
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		journal_rfail(j, cause);
		sqlite3_reset(st);
		return (-1);
	}
	sqlite3_reset(st);
	return (n);
}

/* One event query in its own read transaction. */
static int
journal_rread(struct journal *j, sqlite3_stmt *st, journal_rec_cb cb,
    void *arg, char **cause)
{
	int	n;

	if (journal_rtx(j, R_BEGIN, cause) != 0) {
		sqlite3_clear_bindings(st);
		return (-1);
	}
	n = journal_rrecs(j, st, cb, arg, NULL, cause);
	sqlite3_clear_bindings(st);
	if (n == -1)
		return (-1);
	if (journal_rtx(j, R_END, cause) != 0)
		return (-1);
	return (n);
}

/* Events in (after, upto], ascending. */
int
journal_events(struct journal *j, int64_t after, int64_t upto, size_t limit,
    journal_rec_cb cb, void *arg, char **cause)
{
	sqlite3_stmt	*st = j->j_r[R_EVENTS];

	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, upto < 0 ? INT64_MAX : upto);
	sqlite3_bind_int64(st, 3, limit == 0 ? -1 : (int64_t)limit);
	return (journal_rread(j, st, cb, arg, cause));
}

/* A user's own user events after a cursor, newest first. */
int
journal_user_events_desc(struct journal *j, const char *user, int64_t after,
    journal_rec_cb cb, void *arg, char **cause)
{
	sqlite3_stmt	*st = j->j_r[R_USER_DESC];

	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, after);
	return (journal_rread(j, st, cb, arg, cause));
}

/* A channel's messages before a seq (<= 0: the newest), newest first. */
int
journal_history(struct journal *j, const char *channel, int64_t before,
    size_t limit, journal_rec_cb cb, void *arg, char **cause)
{
	sqlite3_stmt	*st = j->j_r[R_HISTORY];

	sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, before <= 0 ? INT64_MAX : before);
	sqlite3_bind_int64(st, 3, limit == 0 ? -1 : (int64_t)limit);
	return (journal_rread(j, st, cb, arg, cause));
}

/* The last n events, oldest of them first. */
int
journal_tail(struct journal *j, size_t n, journal_rec_cb cb, void *arg,
    char **cause)
{
	sqlite3_stmt	*st = j->j_r[R_TAIL];

	sqlite3_bind_int64(st, 1, (int64_t)n);
	return (journal_rread(j, st, cb, arg, cause));
}

/*
 * Is a state row fit to load? Its first two columns are names, and
 * column rowid_col its rowid; the schema says NOT NULL, but a database from before
 * 0004, or edited around it, may still hold a NULL. Then the cause reads
 * "file: table row N: column is NULL", and the load stops.
 */
static int
journal_bad_row(struct journal *j, sqlite3_stmt *st, const char *table,
    const char *const *cols, int rowid_col, char **cause)
{
	int	i;

	for (i = 0; i < 2; i++) {
		if (sqlite3_column_type(st, i) != SQLITE_NULL)
			continue;
		xasprintf(cause, "%s: %s row %lld: %s is NULL (wschatctl "
		    "check lists every such row)", j->j_path, table,
		    (long long)sqlite3_column_int64(st, rowid_col), cols[i]);
		return (1);
	}
	return (0);
}

/*
 * Replay the state tables into memory: channels, access lists,
 * memberships, accounts and tokens.
 */
int
journal_load_state(struct journal *j, const struct journal_state_cb *cbs,
    char **cause)
{
	static const char *const chan_cols[] = { "name", "creator" };
	static const char *const memb_cols[] = { "channel", "user" };
	sqlite3_stmt	*st;
	int		 rc;

	if (journal_rtx(j, R_BEGIN, cause) != 0)
		return (-1);
	st = j->j_r[R_CHANNELS];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (journal_bad_row(j, st, "channels", chan_cols, 4, cause))
			goto refuse;
		cbs->channel((const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3),
		    cbs->arg);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	st = j->j_r[R_ACCESS];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cbs->access != NULL)
			cbs->access((const char *)sqlite3_column_text(st, 0),
			    sqlite3_column_int(st, 1),
			    (const char *)sqlite3_column_text(st, 2), cbs->arg);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	st = j->j_r[R_MEMBERSHIPS];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (journal_bad_row(j, st, "memberships", memb_cols, 3, cause))
			goto refuse;
		cbs->member((const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int64(st, 2), cbs->arg);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	st = j->j_r[R_ACCOUNTS];
	while (cbs->account != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		cbs->account((const char *)sqlite3_column_text(st, 0),
		    sqlite3_column_int(st, 1),
		    (const char *)sqlite3_column_text(st, 2),
		    sqlite3_column_int(st, 3), sqlite3_column_int(st, 4),
		    cbs->arg);
	}
	if (cbs->account != NULL && rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	st = j->j_r[R_TOKENS];
	while (cbs->token != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		cbs->token((const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int64(st, 2), cbs->arg);
	}
	if (cbs->token != NULL && rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	return (journal_rtx(j, R_END, cause));

refuse:
	sqlite3_reset(st);
	sqlite3_exec(j->j_rdb, "ROLLBACK", NULL, NULL, NULL);
	return (-1);
fail:
	journal_rfail(j, cause);
	sqlite3_reset(st);
	return (-1);
}

/* Everything a client needs to start over, as of one head seq. */
int
journal_snapshot(struct journal *j, const char *user, size_t nmessages,
    const struct journal_snapshot_cb *cbs, int64_t *seq, char **cause)
{
	sqlite3_stmt	*st = NULL;
	char		**chans = NULL;
	size_t		 nchans = 0, i;
	int		 rc = SQLITE_DONE, stop = 0, error = -1;
	void		*arg = cbs->arg;

	if (journal_rtx(j, R_BEGIN, cause) != 0)
		return (-1);
	if (journal_rint(j, j->j_r[R_HEAD], 0, seq, cause) != 0)
		return (-1);
	if (cbs->begin != NULL && cbs->begin(*seq, arg) != 0)
		goto done;

	st = j->j_r[R_SNAP_CHANNELS];
	journal_bind_text(st, 1, user);
	sqlite3_bind_int(st, 2, 0);
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cbs->channel != NULL)
			stop = cbs->channel(
			    (const char *)sqlite3_column_text(st, 0),
			    (const char *)sqlite3_column_text(st, 1),
			    sqlite3_column_int64(st, 2),
			    sqlite3_column_int(st, 3), arg);
	}
	if (!stop && rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (stop || user == NULL)
		goto done;

	st = j->j_r[R_SUBS];
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		chans = xreallocarray(chans, nchans + 1, sizeof *chans);
		chans[nchans++] = xstrdup((const char *)
		    sqlite3_column_text(st, 0));
		if (cbs->sub != NULL)
			stop = cbs->sub(chans[nchans - 1],
			    sqlite3_column_int64(st, 1), arg);
	}
	if (!stop && rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);

	st = j->j_r[R_MEMBERS];
	for (i = 0; !stop && i < nchans; i++) {
		sqlite3_bind_text(st, 1, chans[i], -1, SQLITE_STATIC);
		while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (cbs->member != NULL)
				stop = cbs->member(chans[i],
				    (const char *)sqlite3_column_text(st, 0),
				    sqlite3_column_int64(st, 1), arg);
		}
		if (!stop && rc != SQLITE_DONE)
			goto fail;
		sqlite3_reset(st);
	}

	st = j->j_r[R_LAST_MESSAGES];
	for (i = 0; !stop && nmessages > 0 && i < nchans; i++) {
		sqlite3_bind_text(st, 1, chans[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)nmessages);
		if (journal_rrecs(j, st, cbs->message, arg, &stop, cause) == -1)
			goto out;
	}

done:
	error = journal_rtx(j, R_END, cause);
	goto out;
fail:
	journal_rfail(j, cause);
	sqlite3_reset(st);
out:
	for (i = 0; i < nchans; i++)
		free(chans[i]);
	free(chans);
	return (error);
}
