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

#include <sys/stat.h>

#include <stdarg.h>
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

/*
 * The journal has gone bad: refuse every write from now on, and say so
 * critically, once. 1 if this call decided it, 0 if it was known already.
 * Any thread may call it.
 */
int
journal_set_fault(struct journal *j, const char *fmt, ...)
{
	va_list	 ap;
	char	*why, *none = NULL;

	va_start(ap, fmt);
	xvasprintf(&why, fmt, ap);
	va_end(ap);
	if (!atomic_compare_exchange_strong(&j->j_fault, &none, why)) {
		free(why);
		return (0);
	}
	log_crit("CRITICAL: journal %s: %s: every write is refused from now on; "
	    "restore the database and restart wschatd", j->j_path, why);
	return (1);
}

/* Why every write is refused, or NULL while the journal is sound. */
const char *
journal_broken(struct journal *j)
{
	return (atomic_load(&j->j_fault));
}

/* The WAL file at <path>-wal: its device and inode, or -1. */
static int
journal_wal_id(struct journal *j, dev_t *dev, ino_t *ino)
{
	struct stat	 sb;
	char		*wal;
	int		 rc;

	xasprintf(&wal, "%s-wal", j->j_path);
	rc = stat(wal, &sb);
	free(wal);
	if (rc != 0)
		return (-1);
	*dev = sb.st_dev;
	*ino = sb.st_ino;
	return (0);
}

/*
 * Note the WAL the writer starts with. Every connection of ours keeps it
 * open, so SQLite never deletes it while we run: from now on a different
 * file, or none, at <path>-wal means someone else removed it.
 */
void
journal_note_wal(struct journal *j)
{
	if (journal_wal_id(j, &j->j_wal_dev, &j->j_wal_ino) != 0)
		j->j_wal_dev = j->j_wal_ino = 0;
}

/*
 * Has the database file, or its WAL, been moved or deleted (or replaced)
 * under this connection? A stat(2) of each path against the open files.
 * If so, what it commits from now on is not in the files at the path
 * (a restart, or another process, would not see it).
 */
int
journal_moved(struct journal *j, sqlite3 *db)
{
	dev_t	dev;
	ino_t	ino;
	int	moved = 0;

	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED,
	    &moved) == SQLITE_OK && moved) {
		journal_set_fault(j, "the database file was moved or deleted "
		    "while in use");
		return (1);
	}
	if (j->j_wal_ino != 0 && (journal_wal_id(j, &dev, &ino) != 0 ||
	    dev != j->j_wal_dev || ino != j->j_wal_ino)) {
		journal_set_fault(j, "the database's WAL file was moved or "
		    "deleted while in use");
		return (1);
	}
	return (0);
}

/*
 * Does an error from db (on the caller's thread) mean the file has gone
 * bad, rather than that one statement could not run (busy, full)? Then
 * the journal is broken; 1 if so.
 */
int
journal_fault_rc(struct journal *j, sqlite3 *db, int rc, const char *what)
{
	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		break;
	case SQLITE_IOERR:
		if (rc == SQLITE_IOERR_NOMEM)
			return (0);
		break;
	default:
		return (0);
	}
	if (journal_moved(j, db))
		return (1);
	journal_set_fault(j, "%s: %s", what, sqlite3_errmsg(db));
	return (1);
}

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
	/* An injected fault is one failed step, not a file gone bad. */
	if (!j->j_wfault)
		journal_fault_rc(j, j->j_wdb, rc, "write");
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
	journal_fault_rc(j, j->j_rdb, sqlite3_extended_errcode(j->j_rdb),
	    "read");
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
