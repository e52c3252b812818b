/*
 * journal.c: the SQLite event journal's core. It opens the database on its
 * two connections (WAL mode, the migrations, every statement prepared)
 * and closes them, and holds the epoch, head and first accessors. It is
 * the top of the journal: it starts the run (journal-run.c) and stops the
 * writer. The other parts: journal-sql.c (the helpers every part steps its
 * connections with, and the fault seam), journal-writer.c (the writer and checkpointer threads), journal-read.c
 * (the loop thread's reads), journal-snap.c (snapshot cursors),
 * journal-run.c (the run state and the epoch it decides) and
 * journal-admin.c (wschatctl's side). Every sqlite3 call in the project
 * lives in those files and migrate.c.
 *
 * Connections: both are opened and closed here, on the thread that calls
 * journal_open() and journal_close(): the loop thread, or wschatctl's only
 * one. The read connection, j_rdb, stays that thread's. The write
 * connection, j_wdb, is the writer thread's from journal_start() to
 * journal_stop(). journal_head() is safe from any thread.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "wschatd.h"
#include "journal-int.h"

#define JOURNAL_WAL_LIMIT	"16777216"	/* WAL bytes kept after a reset */

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

/* Open both connections; admin opens never create and never migrate. */
static struct journal *
journal_open1(const char *path, int sync, int admin, char **cause)
{
	struct journal		*j;
	pthread_condattr_t	 ca;
	const char		*syncsql;
	char			*err = NULL;
	int			 flags, i, fd;

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
	/*
	 * A new database is made 0600 before SQLite opens it (its -wal and
	 * -shm files take the same mode): it holds password and token hashes,
	 * which no other local user may read and attack offline.
	 */
	if (!admin && (fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) != -1)
		close(fd);
	else if (!admin && errno != EEXIST) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
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
	free(atomic_load(&j->j_fault));
	free(j->j_epoch);
	free(j->j_path);
	free(j);
}
