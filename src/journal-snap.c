/*
 * journal-snap.c: snapshot cursors. A snapshot too big to send in one go
 * is read in pages across loop turns, and every page must come from the
 * same committed state. So each cursor has its own read-only connection
 * holding one read transaction open from journal_snap_open() to
 * journal_snap_close(): in WAL mode that pins the snapshot while the
 * writer goes on committing. An open cursor also stops checkpoints from
 * recycling the WAL, so keep it short.
 *
 * Connections: a cursor's own, s_db, used only by the loop thread that
 * opened the cursor. The journal's connections are not touched: a cursor
 * takes only the database's path from it.
 */
#include "config.h"

#include <stdlib.h>

#include <sqlite3.h>

#include "wschatd.h"
#include "journal-int.h"

#define JOURNAL_SNAP_CACHE	"-512"		/* KiB of page cache per cursor */

enum journal_snap_phase {
	SNAP_CHANNELS,			/* every channel */
	SNAP_SUBS,			/* the user's channels */
	SNAP_MEMBERS,			/* the members of each of those */
	SNAP_MESSAGES,			/* the last messages of each of those */
	SNAP_DONE,
	SNAP_FAILED
};

/* The cursor's statements: the same queries as journal_snapshot(). */
enum { S_HEAD, S_CHANNELS, S_SUBS, S_MEMBERS, S_MESSAGES, S_MAX };

struct journal_snap {
	struct journal	*s_j;		/* told if the file has gone bad */
	sqlite3		*s_db;
	sqlite3_stmt	*s_st[S_MAX];
	char		*s_user;	/* NULL: channels only */
	size_t		 s_nmessages;
	int64_t		 s_seq;
	enum journal_snap_phase s_phase;
	int		 s_ready;	/* the phase's statement holds a row */
	int		 s_bound;	/* ... and is bound to s_chans[s_chan] */
	char		**s_chans;	/* the user's channels, from SUBS */
	size_t		 s_nchans;
	size_t		 s_chan;	/* MEMBERS, MESSAGES: the one being read */
};

/* A snapshot cursor refuses a database not in WAL mode. */
static int
journal_snap_wal(sqlite3 *db, char **cause)
{
	return (journal_mode_wal(db, "PRAGMA journal_mode", "snapshot: the "
	    "journal is not in WAL mode (%s), so a paged read would block the "
	    "writer", cause));
}

/* Describe a cursor's read error; the cursor is no good after it. */
static int
journal_snap_fail(struct journal_snap *s, sqlite3_stmt *st, char **cause)
{
	xasprintf(cause, "journal read failed: %s", sqlite3_errmsg(s->s_db));
	journal_fault_rc(s->s_j, s->s_db, sqlite3_extended_errcode(s->s_db),
	    "snapshot read");
	if (st != NULL)
		sqlite3_reset(st);
	s->s_phase = SNAP_FAILED;
	s->s_ready = 0;
	return (-1);
}

/* Step the phase's statement: 1 a row is ready, 0 it is exhausted, -1. */
static int
journal_snap_step(struct journal_snap *s, sqlite3_stmt *st, char **cause)
{
	int	rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		s->s_ready = 1;
		return (1);
	}
	if (rc != SQLITE_DONE)
		return (journal_snap_fail(s, st, cause));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return (0);
}

/* Find the next row to deliver, moving through the phases; 0 or -1. */
static int
journal_snap_advance(struct journal_snap *s, char **cause)
{
	sqlite3_stmt	*st;
	int		 rc;

	while (!s->s_ready) {
		switch (s->s_phase) {
		case SNAP_CHANNELS:
			if ((rc = journal_snap_step(s, s->s_st[S_CHANNELS],
			    cause)) != 0)
				return (rc == -1 ? -1 : 0);
			if (s->s_user == NULL) {
				s->s_phase = SNAP_DONE;
				break;
			}
			sqlite3_bind_text(s->s_st[S_SUBS], 1, s->s_user, -1,
			    SQLITE_STATIC);
			s->s_phase = SNAP_SUBS;
			break;
		case SNAP_SUBS:
			st = s->s_st[S_SUBS];
			if ((rc = journal_snap_step(s, st, cause)) == -1)
				return (-1);
			if (rc == 1) {
				/* Kept: MEMBERS and MESSAGES walk this list. */
				s->s_chans = xreallocarray(s->s_chans,
				    s->s_nchans + 1, sizeof *s->s_chans);
				s->s_chans[s->s_nchans++] = xstrdup((const char *)
				    sqlite3_column_text(st, 0));
				return (0);
			}
			s->s_phase = SNAP_MEMBERS;
			s->s_chan = 0;
			s->s_bound = 0;
			break;
		case SNAP_MEMBERS:
		case SNAP_MESSAGES:
			if (s->s_chan >= s->s_nchans ||
			    (s->s_phase == SNAP_MESSAGES && s->s_nmessages == 0)) {
				s->s_phase = s->s_phase == SNAP_MEMBERS ?
				    SNAP_MESSAGES : SNAP_DONE;
				s->s_chan = 0;
				s->s_bound = 0;
				break;
			}
			st = s->s_st[s->s_phase == SNAP_MEMBERS ? S_MEMBERS :
			    S_MESSAGES];
			if (!s->s_bound) {
				sqlite3_bind_text(st, 1, s->s_chans[s->s_chan], -1,
				    SQLITE_STATIC);
				if (s->s_phase == SNAP_MESSAGES)
					sqlite3_bind_int64(st, 2,
					    s->s_nmessages > INT64_MAX ? -1 :
					    (int64_t)s->s_nmessages);
				s->s_bound = 1;
			}
			if ((rc = journal_snap_step(s, st, cause)) != 0)
				return (rc == -1 ? -1 : 0);
			s->s_bound = 0;
			s->s_chan++;
			break;
		case SNAP_DONE:
			return (0);
		case SNAP_FAILED:
			xasprintf(cause, "journal read failed: snapshot cursor "
			    "used after an error");
			return (-1);
		}
	}
	return (0);
}

/* Hand the ready row to its callback; nonzero if the callback said stop. */
static int
journal_snap_deliver(struct journal_snap *s, const struct journal_snapshot_cb *cbs)
{
	struct journal_rec	 r;
	sqlite3_stmt		*st;
	void			*arg = cbs->arg;

	s->s_ready = 0;
	switch (s->s_phase) {
	case SNAP_CHANNELS:
		st = s->s_st[S_CHANNELS];
		if (cbs->channel == NULL)
			return (0);
		return (cbs->channel((const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3),
		    arg));
	case SNAP_SUBS:
		st = s->s_st[S_SUBS];
		if (cbs->sub == NULL)
			return (0);
		return (cbs->sub(s->s_chans[s->s_nchans - 1],
		    sqlite3_column_int64(st, 1), arg));
	case SNAP_MEMBERS:
		st = s->s_st[S_MEMBERS];
		if (cbs->member == NULL)
			return (0);
		return (cbs->member(s->s_chans[s->s_chan],
		    (const char *)sqlite3_column_text(st, 0),
		    sqlite3_column_int64(st, 1), arg));
	case SNAP_MESSAGES:
		st = s->s_st[S_MESSAGES];
		if (cbs->message == NULL)
			return (0);
		journal_row(st, &r);
		return (cbs->message(&r, arg));
	default:
		fatalx("%s: no row in phase %d", __func__, s->s_phase);
	}
}


/*
 * Start a snapshot: a fresh read-only connection, one read transaction,
 * and the head seq the snapshot is consistent with. NULL with *cause.
 */
struct journal_snap *
journal_snap_open(struct journal *j, const char *user, int all,
    size_t nmessages, int64_t *seq, char **cause)
{
	static const int	 which[S_MAX] = { R_HEAD, R_SNAP_CHANNELS, R_SUBS,
				    R_MEMBERS, R_LAST_MESSAGES };
	struct journal_snap	*s;
	sqlite3_stmt		*st;
	int			 i, rc;

	s = xcalloc(1, sizeof *s);
	s->s_j = j;
	s->s_user = user != NULL ? xstrdup(user) : NULL;
	s->s_nmessages = nmessages;
	if (sqlite3_open_v2(j->j_path, &s->s_db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		xasprintf(cause, "%s: %s", j->j_path, s->s_db != NULL ?
		    sqlite3_errmsg(s->s_db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->s_db, JOURNAL_BUSY_MS);
	if (journal_setup(s->s_db, "PRAGMA cache_size = " JOURNAL_SNAP_CACHE,
	    cause) != 0 || journal_snap_wal(s->s_db, cause) != 0)
		goto fail;
	for (i = 0; i < S_MAX; i++) {
		if (sqlite3_prepare_v2(s->s_db, journal_rsql[which[i]], -1,
		    &s->s_st[i], NULL) != SQLITE_OK) {
			xasprintf(cause, "snapshot: %s",
			    sqlite3_errmsg(s->s_db));
			goto fail;
		}
	}
	if (journal_setup(s->s_db, "BEGIN", cause) != 0)
		goto fail;

	/* The first read starts the transaction: every row is as of this. */
	st = s->s_st[S_HEAD];
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		journal_snap_fail(s, st, cause);
		goto fail;
	}
	s->s_seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	/* The channels this user may see (a private one only if entitled). */
	if (s->s_user != NULL)
		sqlite3_bind_text(s->s_st[S_CHANNELS], 1, s->s_user, -1,
		    SQLITE_STATIC);
	sqlite3_bind_int(s->s_st[S_CHANNELS], 2, all != 0);
	s->s_phase = SNAP_CHANNELS;
	*seq = s->s_seq;
	return (s);

fail:
	journal_snap_close(s);
	return (NULL);
}

/*
 * Up to max_rows (0: no limit) more rows of the snapshot, in the order of
 * journal_snapshot(); begin is not called (journal_snap_open gave the seq).
 * A callback returning nonzero ends this call after its row. Returns 1 if
 * rows remain, 0 once all have been delivered, -1 on an error.
 */
int
journal_snap_next(struct journal_snap *s, const struct journal_snapshot_cb *cbs,
    size_t max_rows, char **cause)
{
	size_t	n = 0;
	int	stop;

	for (;;) {
		if (journal_snap_advance(s, cause) != 0)
			return (-1);
		if (s->s_phase == SNAP_DONE)
			return (0);
		if (max_rows != 0 && n >= max_rows)
			return (1);
		stop = journal_snap_deliver(s, cbs);
		n++;
		if (stop) {
			/* Look ahead, so "done" is known with the last row. */
			if (journal_snap_advance(s, cause) != 0)
				return (-1);
			return (s->s_phase == SNAP_DONE ? 0 : 1);
		}
	}
}

/* End the read transaction and close the cursor's connection. */
void
journal_snap_close(struct journal_snap *s)
{
	size_t	i;

	if (s == NULL)
		return;
	for (i = 0; i < S_MAX; i++)
		sqlite3_finalize(s->s_st[i]);
	if (s->s_db != NULL) {
		if (!sqlite3_get_autocommit(s->s_db) &&
		    sqlite3_exec(s->s_db, "COMMIT", NULL, NULL, NULL) !=
		    SQLITE_OK)
			sqlite3_exec(s->s_db, "ROLLBACK", NULL, NULL, NULL);
		if (sqlite3_close(s->s_db) != SQLITE_OK)
			log_warnx("journal: snapshot close: %s",
			    sqlite3_errmsg(s->s_db));
	}
	for (i = 0; i < s->s_nchans; i++)
		free(s->s_chans[i]);
	free(s->s_chans);
	free(s->s_user);
	free(s);
}
