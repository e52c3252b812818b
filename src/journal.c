/*
 * journal.c: the SQLite event journal's core. It opens the database on its
 * two connections (WAL mode, the migrations, every statement prepared)
 * and closes them; it holds the helpers the other parts step those
 * connections with, the fault seam every write step goes through in
 * debug builds, and the epoch, head and first accessors. The other parts:
 * journal-writer.c (the writer and checkpointer threads), journal-read.c
 * (the loop thread's reads), journal-snap.c (snapshot cursors),
 * journal-run.c (the run state and the epoch it decides) and
 * journal-admin.c (wschatctl's side). Every sqlite3 call in the project
 * lives in those files and migrate.c.
 *
 * Connections: both are opened and closed here, on the thread that calls
 * journal_open() and journal_close(): the loop thread, or wschatctl's only
 * one. The read connection, j_rdb, stays that thread's. The write
 * connection, j_wdb, is the writer thread's from journal_start() to
 * journal_stop(), so the write helpers here run on whichever thread owns
 * it at the time. journal_head() is safe from any thread.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "wschatd.h"
#include "journal-int.h"

#define JOURNAL_WAL_LIMIT	"16777216"	/* WAL bytes kept after a reset */

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

/* The journal's random id. */
const char *
journal_epoch(struct journal *j)
{
	return (j->j_epoch);
}

/* The last committed seq; safe from any thread. */
int64_t
journal_head(struct journal *j)
{
	return (atomic_load(&j->j_head));
}

/* The oldest retained seq, or head + 1 if no event is retained. */
int64_t
journal_first(struct journal *j)
{
	char	*cause = NULL;
	int64_t	 first, head = journal_head(j);

	if (journal_rint(j, j->j_r[R_FIRST], -1, &first, &cause) != 0) {
		/* As if nothing were retained: callers fall back to a snapshot. */
		log_warnx("journal: %s", cause);
		free(cause);
		return (head + 1);
	}
	return (first == -1 ? head + 1 : first);
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

/* Open both connections; admin opens never create and never migrate. */
static struct journal *
journal_open1(const char *path, int sync, int admin, char **cause)
{
	struct journal		*j;
	pthread_condattr_t	 ca;
	const char		*syncsql;
	char			*err = NULL;
	int			 flags, i;

	switch (sync) {
	case JOURNAL_SYNC_NORMAL:
		syncsql = "PRAGMA synchronous = NORMAL";
		break;
	case JOURNAL_SYNC_FULL:
		syncsql = "PRAGMA synchronous = FULL";
		break;
	default:
		xasprintf(cause, "journal: unknown sync mode %d", sync);
		return (NULL);
	}

	j = xcalloc(1, sizeof *j);
	j->j_path = xstrdup(path);
	j->j_syncsql = syncsql;
	j->j_pipe[0] = j->j_pipe[1] = -1;
	TAILQ_INIT(&j->j_queue);
	TAILQ_INIT(&j->j_results);
	if (pthread_mutex_init(&j->j_lock, NULL) != 0 ||
	    pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&j->j_cond, &ca) != 0)
		fatalx("journal: cannot set up the writer's lock");
	pthread_condattr_destroy(&ca);

	flags = SQLITE_OPEN_READWRITE | (admin ? 0 : SQLITE_OPEN_CREATE);
	if (sqlite3_open_v2(path, &j->j_wdb, flags, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", path, j->j_wdb != NULL ?
		    sqlite3_errmsg(j->j_wdb) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(j->j_wdb, JOURNAL_BUSY_MS);
	/* wschatctl leaves the journal mode alone (a backup stays DELETE). */
	if ((!admin && journal_wal(j->j_wdb, cause) != 0) ||
	    journal_setup(j->j_wdb, syncsql, cause) != 0 ||
	    journal_setup(j->j_wdb, "PRAGMA foreign_keys = OFF", cause) != 0 ||
	    journal_setup(j->j_wdb, "PRAGMA journal_size_limit = "
	    JOURNAL_WAL_LIMIT, cause) != 0)
		goto fail_path;
	if ((admin ? migrate_check(j->j_wdb, cause) :
	    migrate_apply(j->j_wdb, cause)) != 0)
		goto fail_path;

	if (sqlite3_open_v2(path, &j->j_rdb, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		xasprintf(cause, "%s: %s", path, j->j_rdb != NULL ?
		    sqlite3_errmsg(j->j_rdb) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(j->j_rdb, JOURNAL_BUSY_MS);
	if (journal_setup(j->j_rdb, "PRAGMA foreign_keys = OFF", cause) != 0)
		goto fail_path;

	for (i = 0; i < W_MAX; i++) {
		if (sqlite3_prepare_v3(j->j_wdb, journal_wsql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &j->j_w[i], NULL) != SQLITE_OK) {
			xasprintf(&err, "%s", sqlite3_errmsg(j->j_wdb));
			goto fail_prepare;
		}
	}
	for (i = 0; i < R_MAX; i++) {
		if (sqlite3_prepare_v3(j->j_rdb, journal_rsql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &j->j_r[i], NULL) != SQLITE_OK) {
			xasprintf(&err, "%s", sqlite3_errmsg(j->j_rdb));
			goto fail_prepare;
		}
	}
	if (!admin && journal_run_start(j, sync, cause) != 0)
		goto fail_path;

	if (journal_rtx(j, R_BEGIN, cause) != 0)
		goto fail_path;
	if (sqlite3_step(j->j_r[R_EPOCH]) == SQLITE_ROW &&
	    sqlite3_column_text(j->j_r[R_EPOCH], 0) != NULL)
		j->j_epoch = xstrdup((const char *)
		    sqlite3_column_text(j->j_r[R_EPOCH], 0));
	sqlite3_reset(j->j_r[R_EPOCH]);
	{
		int64_t	head;

		if (journal_rint(j, j->j_r[R_HEAD], 0, &head, cause) != 0)
			goto fail_path;
		atomic_store(&j->j_head, head);
	}
	if (journal_rtx(j, R_END, cause) != 0)
		goto fail_path;
	if (j->j_epoch == NULL) {
		xasprintf(cause, "%s: no epoch in the meta table", path);
		goto fail;
	}
	return (j);

fail_prepare:
	xasprintf(cause, "%s: %s (schema does not match this binary?)", path,
	    err);
	free(err);
	goto fail;
fail_path:
	/* Name the database in the message once. */
	{
		char	*tmp;

		xasprintf(&tmp, "%s: %s", path, *cause);
		free(*cause);
		*cause = tmp;
	}
fail:
	journal_close(j);
	return (NULL);
}

/* Open (creating and migrating as needed) the daemon's journal. */
struct journal *
journal_open(const char *path, int sync, char **cause)
{
	return (journal_open1(path, sync, 0, cause));
}

/* Open an existing journal for wschatctl, beside a running daemon. */
struct journal *
journal_open_admin(const char *path, char **cause)
{
	return (journal_open1(path, JOURNAL_SYNC_NORMAL, 1, cause));
}

/* Stop the writer, finalize everything and close both connections. */
void
journal_close(struct journal *j)
{
	struct jbatch	*b;
	int		 i;

	if (j == NULL)
		return;
	journal_stop(j);
	while ((b = TAILQ_FIRST(&j->j_results)) != NULL) {
		TAILQ_REMOVE(&j->j_results, b, b_entry);
		free(b->b_cause);
		free(b);
	}
	for (i = 0; i < R_MAX; i++)
		sqlite3_finalize(j->j_r[i]);
	for (i = 0; i < W_MAX; i++)
		sqlite3_finalize(j->j_w[i]);
	/* The read connection first: the last close checkpoints the WAL. */
	if (sqlite3_close(j->j_rdb) != SQLITE_OK)
		log_warnx("journal: close: %s", sqlite3_errmsg(j->j_rdb));
	if (sqlite3_close(j->j_wdb) != SQLITE_OK)
		log_warnx("journal: close: %s", sqlite3_errmsg(j->j_wdb));
	pthread_mutex_destroy(&j->j_lock);
	pthread_cond_destroy(&j->j_cond);
	free(j->j_epoch);
	free(j->j_path);
	free(j);
}
