/*
 * journal-sql.c: the bottom of the journal, which every other part of it
 * steps its connections with: the statement texts, the write helpers
 * (step, exec, row, rollback) with the fault seam every write step goes
 * through in debug builds, the read helpers (a read transaction, a row, an
 * integer), and the connection setup (PRAGMAs, WAL mode). It calls nothing
 * of the journal above it.
 *
 * Connections: the helpers run on whichever thread owns the connection
 * they are given at the time (journal.c says who owns which).
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "wschatd.h"
#include "journal-int.h"

const char *const journal_wsql[W_MAX] = { JOURNAL_WSQL(JOURNAL_SQL) };
const char *const journal_rsql[R_MAX] = { JOURNAL_RSQL(JOURNAL_SQL) };

#ifdef WSCHAT_DEBUG
static _Atomic long	journal_fail_countdown;

/* Make the nth write-connection step from now fail with SQLITE_IOERR. */
void
journal_fail_step(long n)
{
	atomic_store(&journal_fail_countdown, n > 0 ? n : 0);
}

/* Is this the step to fail? */
static int
journal_fault(void)
{
	long	n = atomic_load(&journal_fail_countdown);

	while (n > 0) {
		if (atomic_compare_exchange_weak(&journal_fail_countdown, &n,
		    n - 1))
			return (n == 1);
	}
	return (0);
}
#endif

/* Every step on the write connection goes through here (the fault seam). */
int
journal_wstep(struct journal *j, sqlite3_stmt *st)
{
#ifdef WSCHAT_DEBUG
	/* Rolling back is the recovery path; failing it tests nothing. */
	if (st != j->j_w[W_ROLLBACK] && journal_fault()) {
		j->j_wfault = 1;
		return (SQLITE_IOERR);
	}
#endif
	return (sqlite3_step(st));
}

/* Describe a write error once, while sqlite3_errmsg still holds it. */
void
journal_wfail(struct journal *j, int rc, char **cause)
{
	if (*cause != NULL)
		return;
	xasprintf(cause, "journal write failed: %s",
	    j->j_wfault ? sqlite3_errstr(rc) : sqlite3_errmsg(j->j_wdb));
}

/* Run a write statement to completion and reset it. */
int
journal_wexec(struct journal *j, sqlite3_stmt *st, char **cause)
{
	int	rc;

	rc = journal_wstep(j, st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		journal_wfail(j, rc, cause);
		sqlite3_reset(st);
		return (-1);
	}
	sqlite3_reset(st);
	return (0);
}

/* Abandon the open write transaction, if any. */
void
journal_wrollback(struct journal *j)
{
	sqlite3_stmt	*st = j->j_w[W_ROLLBACK];

	if (sqlite3_get_autocommit(j->j_wdb))
		return;
	if (journal_wstep(j, st) != SQLITE_DONE)
		log_warnx("journal: rollback: %s", sqlite3_errmsg(j->j_wdb));
	sqlite3_reset(st);
}

/* Bind text that outlives the statement's use; NULL binds NULL. */
void
journal_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Fetch one row of a write-side query; 1 row, 0 none, -1 error. */
int
journal_wrow(struct journal *j, sqlite3_stmt *st, char **cause)
{
	int	rc;

	rc = journal_wstep(j, st);
	if (rc == SQLITE_ROW)
		return (1);
	if (rc != SQLITE_DONE) {
		journal_wfail(j, rc, cause);
		sqlite3_reset(st);
		return (-1);
	}
	sqlite3_reset(st);
	return (0);
}

/* Describe a read error and end the read transaction. */
int
journal_rfail(struct journal *j, char **cause)
{
	xasprintf(cause, "journal read failed: %s", sqlite3_errmsg(j->j_rdb));
	if (!sqlite3_get_autocommit(j->j_rdb))
		sqlite3_exec(j->j_rdb, "ROLLBACK", NULL, NULL, NULL);
	return (-1);
}

/* Run BEGIN or COMMIT on the read connection. */
int
journal_rtx(struct journal *j, int which, char **cause)
{
	sqlite3_stmt	*st = j->j_r[which];
	int		 rc;

	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return (journal_rfail(j, cause));
	return (0);
}

/* Fill a record from a row of JOURNAL_COLUMNS. */
void
journal_row(sqlite3_stmt *st, struct journal_rec *r)
{
	r->seq = sqlite3_column_int64(st, 0);
	r->ts = sqlite3_column_int64(st, 1);
	r->type = (const char *)sqlite3_column_text(st, 2);
	r->action = (const char *)sqlite3_column_text(st, 3);
	r->resource = (const char *)sqlite3_column_text(st, 4);
	r->actor = (const char *)sqlite3_column_text(st, 5);
	r->data = (const char *)sqlite3_column_text(st, 6);
	r->priv = sqlite3_column_int(st, 7);
}

/* Read a single integer (or NULL as dflt) from a statement's first row. */
int
journal_rint(struct journal *j, sqlite3_stmt *st, int64_t dflt, int64_t *v,
    char **cause)
{
	int	rc;

	*v = dflt;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*v = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		journal_rfail(j, cause);
		sqlite3_reset(st);
		return (-1);
	}
	sqlite3_reset(st);
	return (0);
}

/* Run a PRAGMA or statement on a connection at open time. */
int
journal_setup(sqlite3 *db, const char *sql, char **cause)
{
	char	*err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", sql, err != NULL ? err :
		    sqlite3_errmsg(db));
		sqlite3_free(err);
		return (-1);
	}
	return (0);
}

/*
 * Run a journal_mode PRAGMA and require WAL: set it (journal_wal) or, for
 * a snapshot cursor, just check it, since only in WAL mode can a long read
 * run beside the writer.
 */
int
journal_mode_wal(sqlite3 *db, const char *sql, const char *refusal_fmt,
    char **cause)
{
	sqlite3_stmt	*st;
	const char	*mode;
	int		 ok;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		xasprintf(cause, "journal_mode: %s", sqlite3_errmsg(db));
		return (-1);
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		xasprintf(cause, "journal_mode: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return (-1);
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	ok = mode != NULL && strcmp(mode, "wal") == 0;
	if (!ok)
		xasprintf(cause, refusal_fmt, mode != NULL ? mode : "nothing");
	sqlite3_finalize(st);
	return (ok ? 0 : -1);
}

/* Put a connection's database in WAL mode. */
int
journal_wal(sqlite3 *db, char **cause)
{
	return (journal_mode_wal(db, "PRAGMA journal_mode = WAL",
	    "journal_mode: WAL not available (got %s)", cause));
}
