/*
 * journal-writer.c: the writer thread and the checkpointer thread. The
 * writer takes every batch queued since its last pass and commits each
 * in its own transaction, together with the state-table changes its
 * events imply, so a failed batch leaves nothing behind. When idle it
 * prunes what retention lets go, in small transactions. Results go back
 * to the loop thread through a pipe and the done callbacks run there, in
 * submission order. The checkpointer copies the WAL into the database
 * whenever it passes JOURNAL_CKPT_PAGES, so neither the loop nor a commit
 * ever waits for a checkpoint's fsyncs.
 *
 * Threads and connections:
 *	writer thread	the write connection, j_wdb, from journal_start() to
 *			journal_stop(); no other thread may use it meanwhile
 *	checkpointer	a connection of its own, j_cdb, opened and closed
 *			with the thread
 *	loop thread	none here: it submits, sets retention, and runs the
 *			done callbacks when the pipe wakes it
 * The threads share only what j_lock guards (the queues, retention, the
 * stop request) and the checkpointer's wake-up under j_ckpt_lock. The two
 * retention steps also serve journal_prune() (journal-admin.c), on the
 * opener's thread while no writer thread runs.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "wschatd.h"
#include "journal-int.h"

#define JOURNAL_CKPT_PAGES	1000		/* WAL pages that wake the checkpointer */
#define JOURNAL_PRUNE_MS	10000		/* between retention checks */
#define JOURNAL_DAY_MS		(86400 * (int64_t)1000)
#define JOURNAL_HEALTH_MS	1000		/* between checks of the file */

/* Run one of the access statements: channel, user (and data, seq). */
static int
journal_waccess(struct journal *j, int which, const struct journal_rec *r,
    char **cause)
{
	sqlite3_stmt	*st = j->j_w[which];

	journal_bind_text(st, 1, r->resource);
	journal_bind_text(st, 2, r->actor);
	if (which == W_INVITE || which == W_BAN) {
		journal_bind_text(st, 3, r->data);
		sqlite3_bind_int64(st, 4, r->seq);
	}
	return (journal_wexec(j, st, cause));
}

/* Bind and run a statement of (text, int64) on the write connection. */
static int
journal_wts(struct journal *j, int which, const char *a, const char *b,
    char **cause)
{
	sqlite3_stmt	*st = j->j_w[which];

	journal_bind_text(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		journal_bind_text(st, 2, b);
	return (journal_wexec(j, st, cause));
}

/*
 * An account event's state changes: the accounts and tokens tables, and
 * the hashes the record carries, which never reach the events table.
 */
static int
journal_waccount(struct journal *j, const struct journal_rec *r, char **cause)
{
	sqlite3_stmt	*st;
	const char	*a = r->action;
	int		 which;

	if (strcmp(a, "GUEST") == 0 || strcmp(a, "REGISTER") == 0) {
		which = strcmp(a, "GUEST") == 0 ? W_ACCT_GUEST : W_ACCT_REGISTER;
		st = j->j_w[which];
		journal_bind_text(st, 1, r->resource);
		sqlite3_bind_int64(st, 2, r->seq);
		sqlite3_bind_int64(st, 3, r->ts);
		if (which == W_ACCT_REGISTER)
			journal_bind_text(st, 4, r->secret);
		if (journal_wexec(j, st, cause) != 0)
			return (-1);
	} else if (strcmp(a, "PASSWD") == 0) {
		if (journal_wts(j, W_ACCT_PASSWD, r->resource, r->secret,
		    cause) != 0)
			return (-1);
		/* Every token but the one kept. */
		if (journal_wts(j, W_TOKENS_DEL, r->resource, r->token,
		    cause) != 0)
			return (-1);
		return (0);
	} else if (strcmp(a, "RELEASE") == 0) {
		if (journal_wts(j, W_TOKENS_DEL, r->resource, NULL, cause) != 0)
			return (-1);
		return (journal_wts(j, W_ACCT_DEL, r->resource, NULL, cause));
	} else if (strcmp(a, "REVOKE") == 0)
		return (journal_wts(j, W_TOKEN_DEL, r->token, NULL, cause));
	else if (strcmp(a, "TOUCH") == 0) {
		st = j->j_w[W_TOKEN_TOUCH];
		journal_bind_text(st, 1, r->token);
		sqlite3_bind_int64(st, 2, r->ts);
		return (journal_wexec(j, st, cause));
	} else if (strcmp(a, "ADMIN") == 0 || strcmp(a, "UNADMIN") == 0 ||
	    strcmp(a, "DISABLE") == 0 || strcmp(a, "ENABLE") == 0) {
		which = (a[0] == 'A' || a[0] == 'U') ? W_ACCT_ADMIN :
		    W_ACCT_DISABLE;
		st = j->j_w[which];
		journal_bind_text(st, 1, r->resource);
		sqlite3_bind_int(st, 2, a[0] == 'A' || a[0] == 'D');
		return (journal_wexec(j, st, cause));
	}
	/* GUEST, REGISTER and TOKEN bring a new token. */
	if (r->token != NULL) {
		st = j->j_w[W_TOKEN_ADD];
		journal_bind_text(st, 1, r->token);
		journal_bind_text(st, 2, r->resource);
		sqlite3_bind_int64(st, 3, r->ts);
		if (journal_wexec(j, st, cause) != 0)
			return (-1);
	}
	return (0);
}

/* Insert one event and apply it to the state tables. */
static int
journal_wrec(struct journal *j, const struct journal_rec *r, char **cause)
{
	sqlite3_stmt	*st;
	int		 channel, user, i;

	st = j->j_w[W_EVENT];
	sqlite3_bind_int64(st, 1, r->seq);
	sqlite3_bind_int64(st, 2, r->ts);
	journal_bind_text(st, 3, r->type);
	journal_bind_text(st, 4, r->action);
	journal_bind_text(st, 5, r->resource);
	journal_bind_text(st, 6, r->actor);
	journal_bind_text(st, 7, r->data);
	sqlite3_bind_int(st, 8, r->priv != 0);
	if (journal_wexec(j, st, cause) != 0)
		return (-1);

	channel = r->type != NULL && strcmp(r->type, "channel") == 0;
	user = r->type != NULL && strcmp(r->type, "user") == 0;
	if (channel && strcmp(r->action, "CREATE") == 0) {
		st = j->j_w[W_CHANNEL_ADD];
		journal_bind_text(st, 1, r->resource);
		journal_bind_text(st, 2, r->actor);
		sqlite3_bind_int64(st, 3, r->seq);
		sqlite3_bind_int64(st, 4, r->ts);
		sqlite3_bind_int(st, 5, r->priv != 0);
		if (journal_wexec(j, st, cause) != 0)
			return (-1);
	} else if (channel && strcmp(r->action, "DELETE") == 0) {
		/* Its members, invites and bans go with it. */
		static const int	 gone[] = { W_CHANNEL_EMPTY,
					    W_CHANNEL_INVITES, W_CHANNEL_BANS,
					    W_CHANNEL_DEL };

		for (i = 0; i < (int)(sizeof gone / sizeof gone[0]); i++) {
			st = j->j_w[gone[i]];
			journal_bind_text(st, 1, r->resource);
			if (journal_wexec(j, st, cause) != 0)
				return (-1);
		}
	} else if (channel && strcmp(r->action, "INVITE") == 0) {
		if (journal_waccess(j, W_INVITE, r, cause) != 0)
			return (-1);
	} else if (channel && strcmp(r->action, "BAN") == 0) {
		/* A ban takes back an invite. */
		if (journal_waccess(j, W_UNINVITE, r, cause) != 0 ||
		    journal_waccess(j, W_BAN, r, cause) != 0)
			return (-1);
	} else if (channel && strcmp(r->action, "UNBAN") == 0) {
		if (journal_waccess(j, W_UNBAN, r, cause) != 0)
			return (-1);
	} else if (user && strcmp(r->action, "JOIN") == 0) {
		st = j->j_w[W_JOIN];
		journal_bind_text(st, 1, r->resource);
		journal_bind_text(st, 2, r->actor);
		sqlite3_bind_int64(st, 3, r->seq);
		if (journal_wexec(j, st, cause) != 0)
			return (-1);
		/* Joining uses the invite up. */
		if (journal_waccess(j, W_UNINVITE, r, cause) != 0)
			return (-1);
	} else if (user && strcmp(r->action, "PART") == 0) {
		st = j->j_w[W_PART];
		journal_bind_text(st, 1, r->resource);
		journal_bind_text(st, 2, r->actor);
		if (journal_wexec(j, st, cause) != 0)
			return (-1);
	} else if (r->type != NULL && strcmp(r->type, "account") == 0) {
		if (journal_waccount(j, r, cause) != 0)
			return (-1);
	}
	if (r->request > 0) {
		st = j->j_w[W_REQUESTS_DONE];
		sqlite3_bind_int64(st, 1, r->request);
		if (journal_wexec(j, st, cause) != 0)
			return (-1);
	}

	if (r->actor != NULL) {
		st = j->j_w[W_USER];
		journal_bind_text(st, 1, r->actor);
		sqlite3_bind_int64(st, 2, r->seq);
		sqlite3_bind_int64(st, 3, r->ts);
		if (journal_wexec(j, st, cause) != 0)
			return (-1);
	}
	return (0);
}

/* Commit one batch in one transaction; on any error nothing of it stays. */
static int
journal_commit(struct journal *j, const struct journal_rec *recs, size_t n,
    char **cause)
{
	int64_t	 last;
	size_t	 i;

	j->j_wfault = 0;
	if (n == 0)
		return (0);
	/* Check the file before as well as after: a refused write stays out. */
	if (journal_broken(j) != NULL || journal_moved(j, j->j_wdb))
		goto refused;
	last = atomic_load(&j->j_head);
	if (journal_wexec(j, j->j_w[W_BEGIN], cause) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		/* A seq at or below the head would reuse or reorder one. */
		if (recs[i].seq <= last) {
			xasprintf(cause, "journal write failed: seq %lld is "
			    "not after %lld", (long long)recs[i].seq,
			    (long long)last);
			goto fail;
		}
		if (journal_wrec(j, &recs[i], cause) != 0)
			goto fail;
		last = recs[i].seq;
	}
	if (journal_wexec(j, j->j_w[W_COMMIT], cause) != 0)
		goto fail;
	/*
	 * A file moved or deleted before this commit got it, not the file
	 * at the path, which a restart opens: it is not durable, so it
	 * failed. One stat(2) each side of a batch.
	 */
	if (journal_moved(j, j->j_wdb))
		goto refused;
	atomic_store(&j->j_head, last);
	return (0);

fail:
	journal_wrollback(j);
	/* What this failure revealed (journal_wfail) refuses the rest. */
	if (journal_broken(j) == NULL)
		return (-1);
refused:
	free(*cause);
	xasprintf(cause, "journal write failed: refused: %s",
	    journal_broken(j));
	return (-1);
}

/*
 * Writer thread, every JOURNAL_HEALTH_MS: is the file still at its path,
 * and still readable? The page cache goes first, so the check and the
 * next commit read the pages from the file again rather than trusting
 * copies made before it changed. The probe reads both ends of the events
 * table, where every commit writes. It is not a write, so it skips the
 * fault seam (whose countdown counts only the steps of commands).
 */
static void
journal_health(struct journal *j)
{
	sqlite3_stmt	*st = j->j_w[W_RANGE];
	int		 rc;

	if (journal_broken(j) != NULL || journal_moved(j, j->j_wdb))
		return;
	sqlite3_db_release_memory(j->j_wdb);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		journal_fault_rc(j, j->j_wdb, rc, "check");
}

/*
 * Writer thread, once the file is found moved or deleted: the data this
 * process still holds open may be the only copy left, so write it out
 * beside the path, for the operator to put back.
 */
static void
journal_rescue(struct journal *j)
{
	sqlite3_stmt	*st;
	char		*path;
	int		 rc;

	xasprintf(&path, "%s.rescued-%lld", j->j_path,
	    (long long)(clock_wall_ms() / 1000));
	if (sqlite3_prepare_v2(j->j_wdb, "VACUUM INTO ?1", -1, &st, NULL) !=
	    SQLITE_OK) {
		log_warnx("journal %s: rescue: %s", j->j_path,
		    sqlite3_errmsg(j->j_wdb));
		free(path);
		return;
	}
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		log_crit("CRITICAL: journal %s: what this process had "
		    "committed is saved in %s", j->j_path, path);
	else
		log_warnx("journal %s: rescue to %s: %s", j->j_path, path,
		    sqlite3_errmsg(j->j_wdb));
	sqlite3_finalize(st);
	free(path);
}

/* Where retention cuts: events with seq < bound or ts < cutoff may go. */
int
journal_retain_bound(struct journal *j, int64_t keep_events,
    int64_t keep_days, char **cause)
{
	sqlite3_stmt	*st;
	int64_t		 first, last;
	int		 rc;

	j->j_prune_bound = 0;
	j->j_prune_cutoff = INT64_MIN;
	if (keep_days > 0)
		j->j_prune_cutoff = clock_wall_ms() - keep_days * JOURNAL_DAY_MS;
	if (keep_events <= 0)
		return (0);

	/* Seqs are unique, so [first, last] bounds the count cheaply. */
	st = j->j_w[W_RANGE];
	if ((rc = journal_wrow(j, st, cause)) <= 0)
		return (rc);
	if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		sqlite3_reset(st);
		return (0);
	}
	first = sqlite3_column_int64(st, 0);
	last = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	if (last - first + 1 <= keep_events)
		return (0);

	/* The keep_events-th newest event is the oldest one kept. */
	st = j->j_w[W_KEEP];
	sqlite3_bind_int64(st, 1, keep_events - 1);
	if ((rc = journal_wrow(j, st, cause)) <= 0)
		return (rc);
	j->j_prune_bound = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return (0);
}

/* Delete up to batch of the oldest events retention lets go. */
int64_t
journal_prune_batch(struct journal *j, size_t batch, char **cause)
{
	sqlite3_stmt	*st;
	int64_t		 seq, ts, upto = 0, n;
	int		 rc;

	j->j_wfault = 0;
	if (journal_wexec(j, j->j_w[W_BEGIN], cause) != 0)
		goto fail;

	/* Only a prefix goes, so the retained journal has no holes. */
	st = j->j_w[W_OLDEST];
	sqlite3_bind_int64(st, 1, (int64_t)batch);
	while ((rc = journal_wstep(j, st)) == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0);
		ts = sqlite3_column_int64(st, 1);
		if (seq >= j->j_prune_bound && ts >= j->j_prune_cutoff)
			break;
		upto = seq;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		journal_wfail(j, rc, cause);
		sqlite3_reset(st);
		goto fail;
	}
	sqlite3_reset(st);

	n = 0;
	if (upto != 0) {
		st = j->j_w[W_PRUNE];
		sqlite3_bind_int64(st, 1, upto);
		if (journal_wexec(j, st, cause) != 0)
			goto fail;
		n = sqlite3_changes(j->j_wdb);
	}
	if (journal_wexec(j, j->j_w[W_COMMIT], cause) != 0)
		goto fail;
	return (n);

fail:
	journal_wrollback(j);
	return (-1);
}

/* Writer thread: one retention step; 1 if more remains to delete. */
static int
journal_retain(struct journal *j, int64_t keep_events, int64_t keep_days,
    int fresh, int *deleted)
{
	char	*cause = NULL;
	int64_t	 n;

	*deleted = 0;
	if (journal_broken(j) != NULL)
		return (0);
	if (fresh) {
		j->j_pruned = 0;
		if (journal_retain_bound(j, keep_events, keep_days,
		    &cause) != 0)
			goto fail;
	}
	if ((n = journal_prune_batch(j, JOURNAL_PRUNE_BATCH, &cause)) == -1)
		goto fail;
	j->j_pruned += n;
	*deleted = n > 0;
	if (n == JOURNAL_PRUNE_BATCH)
		return (1);
	if (j->j_pruned > 0)
		log_info("journal: pruned %lld events",
		    (long long)j->j_pruned);
	return (0);

fail:
	log_warnx("journal: retention: %s", cause);
	free(cause);
	return (0);
}

/* Wake the loop thread; a full pipe already means a wake-up is pending. */
static void
journal_notify(struct journal *j)
{
	char	c = 0;

	while (write(j->j_pipe[1], &c, 1) == -1 && errno == EINTR)
		continue;
}

/* Hand a finished batch to the loop thread. */
static void
journal_finish(struct journal *j, struct jbatch *b)
{
	pthread_mutex_lock(&j->j_lock);
	TAILQ_INSERT_TAIL(&j->j_results, b, b_entry);
	pthread_mutex_unlock(&j->j_lock);
	journal_notify(j);
}

/* Sleep until signalled or until the monotonic ms deadline. */
static void
journal_wait(struct journal *j, int64_t deadline)
{
	struct timespec	ts;

	if (deadline == INT64_MAX) {
		pthread_cond_wait(&j->j_cond, &j->j_lock);
		return;
	}
	ts.tv_sec = deadline / 1000;
	ts.tv_nsec = (deadline % 1000) * 1000000;
	pthread_cond_timedwait(&j->j_cond, &j->j_lock, &ts);
}

/* The writer thread: batches first, then retention when idle. */
static void *
journal_writer(void *arg)
{
	struct journal	*j = arg;
	struct jbatches	 todo;
	struct jbatch	*b;
	int64_t		 now, deadline, next_prune = 0, next_health = 0;
	int64_t		 keep_events, keep_days;
	int		 pruning = 0, deleted, rescued = 0;

	pthread_mutex_lock(&j->j_lock);
	for (;;) {
		if (!TAILQ_EMPTY(&j->j_queue)) {
			TAILQ_INIT(&todo);
			TAILQ_CONCAT(&todo, &j->j_queue, b_entry);
			pthread_mutex_unlock(&j->j_lock);
			while ((b = TAILQ_FIRST(&todo)) != NULL) {
				TAILQ_REMOVE(&todo, b, b_entry);
				b->b_ok = journal_commit(j, b->b_recs, b->b_n,
				    &b->b_cause) == 0;
				if (!b->b_ok)
					log_warnx("journal: batch of %zu: %s",
					    b->b_n, b->b_cause);
				journal_finish(j, b);
			}
			pthread_mutex_lock(&j->j_lock);
			continue;
		}
		if (j->j_stopping)
			break;
		now = clock_mono_ms();
		if (now >= next_health || (!rescued &&
		    journal_broken(j) != NULL)) {
			pthread_mutex_unlock(&j->j_lock);
			journal_health(j);
			next_health = now + JOURNAL_HEALTH_MS;
			if (!rescued && journal_broken(j) != NULL) {
				rescued = 1;
				if (journal_moved(j, j->j_wdb))
					journal_rescue(j);
			}
			pthread_mutex_lock(&j->j_lock);
			continue;
		}
		if (j->j_retention_kick) {
			j->j_retention_kick = 0;
			pruning = 0;
			next_prune = 0;
		}

		deadline = next_health;
		keep_events = j->j_keep_events;
		keep_days = j->j_keep_days;
		if (keep_events > 0 || keep_days > 0) {
			if (pruning || now >= next_prune) {
				pthread_mutex_unlock(&j->j_lock);
				pruning = journal_retain(j, keep_events,
				    keep_days, !pruning, &deleted);
				if (!pruning)
					next_prune = now + JOURNAL_PRUNE_MS;
				pthread_mutex_lock(&j->j_lock);
				continue;
			}
			if (next_prune < deadline)
				deadline = next_prune;
		}
		journal_wait(j, deadline);
	}
	pthread_mutex_unlock(&j->j_lock);
	return (NULL);
}

/* Loop thread: run done callbacks one at a time, in order. */
static void
journal_deliver(struct journal *j)
{
	struct jbatch	*b;

	/* Pop singly: a callback may submit, or even stop the journal. */
	for (;;) {
		pthread_mutex_lock(&j->j_lock);
		if ((b = TAILQ_FIRST(&j->j_results)) != NULL)
			TAILQ_REMOVE(&j->j_results, b, b_entry);
		pthread_mutex_unlock(&j->j_lock);
		if (b == NULL)
			break;
		j->j_done(b->b_batch, b->b_ok, b->b_cause, j->j_arg);
		free(b->b_cause);
		free(b);
	}
}

/* Loop thread: the writer finished something. */
static void
journal_wakeup(evutil_socket_t fd, short events, void *arg)
{
	struct journal	*j = arg;
	char		 buf[64];

	while (read(fd, buf, sizeof buf) > 0)
		continue;
	journal_deliver(j);
}

/* Writer connection, after each commit: wake the checkpointer if due. */
static int
journal_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct journal	*j = arg;

	if (pages >= JOURNAL_CKPT_PAGES) {
		pthread_mutex_lock(&j->j_ckpt_lock);
		if (!j->j_ckpt_wanted) {
			j->j_ckpt_wanted = 1;
			pthread_cond_signal(&j->j_ckpt_cond);
		}
		pthread_mutex_unlock(&j->j_ckpt_lock);
	}
	return (SQLITE_OK);
}

/*
 * The checkpointer thread: PASSIVE checkpoints on its own connection run
 * beside the writer (they never block it), and the next commit after a
 * complete one starts the WAL over, so the WAL stays near the threshold.
 */
static void *
journal_checkpointer(void *arg)
{
	struct journal	*j = arg;
	int		 rc, logsz, done;

	pthread_mutex_lock(&j->j_ckpt_lock);
	for (;;) {
		while (!j->j_ckpt_wanted && !j->j_ckpt_stopping)
			pthread_cond_wait(&j->j_ckpt_cond, &j->j_ckpt_lock);
		if (j->j_ckpt_stopping)
			break;
		j->j_ckpt_wanted = 0;
		pthread_mutex_unlock(&j->j_ckpt_lock);
		rc = sqlite3_wal_checkpoint_v2(j->j_cdb, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, &logsz, &done);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY &&
		    !journal_fault_rc(j, j->j_cdb, rc, "checkpoint"))
			log_warnx("journal: checkpoint: %s",
			    sqlite3_errmsg(j->j_cdb));
		pthread_mutex_lock(&j->j_ckpt_lock);
	}
	pthread_mutex_unlock(&j->j_ckpt_lock);
	return (NULL);
}

/* Open the checkpointer's connection and start it; the writer stops its own. */
static int
journal_ckpt_start(struct journal *j, char **cause)
{
	sigset_t	 all, old;
	int		 error;

	if (sqlite3_open_v2(j->j_path, &j->j_cdb, SQLITE_OPEN_READWRITE,
	    NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: checkpointer: %s", j->j_path,
		    j->j_cdb != NULL ? sqlite3_errmsg(j->j_cdb) : "out of memory");
		sqlite3_close(j->j_cdb);
		j->j_cdb = NULL;
		return (-1);
	}
	sqlite3_busy_timeout(j->j_cdb, JOURNAL_BUSY_MS);
	/* Until it has read the database it does not know it is in WAL mode. */
	if (journal_wal(j->j_cdb, cause) != 0) {
		sqlite3_close(j->j_cdb);
		j->j_cdb = NULL;
		return (-1);
	}
	if (pthread_mutex_init(&j->j_ckpt_lock, NULL) != 0 ||
	    pthread_cond_init(&j->j_ckpt_cond, NULL) != 0)
		fatalx("journal: cannot set up the checkpointer's lock");
	j->j_ckpt_wanted = j->j_ckpt_stopping = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	error = pthread_create(&j->j_ckpt_thread, NULL, journal_checkpointer, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error != 0) {
		xasprintf(cause, "journal checkpointer: %s", strerror(error));
		sqlite3_close(j->j_cdb);
		j->j_cdb = NULL;
		return (-1);
	}
	sqlite3_wal_autocheckpoint(j->j_wdb, 0);
	sqlite3_wal_hook(j->j_wdb, journal_wal_hook, j);
	return (0);
}

/* Stop the checkpointer (after the writer) and give the writer its own back. */
static void
journal_ckpt_stop(struct journal *j)
{
	if (j->j_cdb == NULL)
		return;
	pthread_mutex_lock(&j->j_ckpt_lock);
	j->j_ckpt_stopping = 1;
	pthread_cond_signal(&j->j_ckpt_cond);
	pthread_mutex_unlock(&j->j_ckpt_lock);
	pthread_join(j->j_ckpt_thread, NULL);
	sqlite3_close(j->j_cdb);
	j->j_cdb = NULL;
	pthread_mutex_destroy(&j->j_ckpt_lock);
	pthread_cond_destroy(&j->j_ckpt_cond);
	sqlite3_wal_hook(j->j_wdb, NULL, NULL);
	sqlite3_wal_autocheckpoint(j->j_wdb, 1000);
}

/* Start the writer thread; from now on it owns the write connection. */
int
journal_start(struct journal *j, struct event_base *base,
    journal_done_cb done, void *arg, char **cause)
{
	sigset_t	 all, old;
	int		 error;

	if (j->j_running) {
		xasprintf(cause, "journal writer already running");
		return (-1);
	}
	if (j->j_stopped) {
		xasprintf(cause, "journal writer: the run was marked stopped");
		return (-1);
	}
	if (pipe2(j->j_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		xasprintf(cause, "journal pipe: %s", strerror(errno));
		return (-1);
	}
	j->j_ev = event_new(base, j->j_pipe[0], EV_READ | EV_PERSIST,
	    journal_wakeup, j);
	if (j->j_ev == NULL || event_add(j->j_ev, NULL) == -1) {
		xasprintf(cause, "journal: cannot watch the writer's pipe");
		goto fail;
	}
	j->j_done = done;
	j->j_arg = arg;
	j->j_stopping = 0;
	journal_note_wal(j);	/* before any other thread may look at it */
	if (journal_ckpt_start(j, cause) != 0)
		goto fail;

	/* Signals belong to the loop thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	error = pthread_create(&j->j_thread, NULL, journal_writer, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error != 0) {
		xasprintf(cause, "journal thread: %s", strerror(error));
		journal_ckpt_stop(j);
		goto fail;
	}
	j->j_running = 1;
	return (0);

fail:
	if (j->j_ev != NULL)
		event_free(j->j_ev);
	j->j_ev = NULL;
	close(j->j_pipe[0]);
	close(j->j_pipe[1]);
	j->j_pipe[0] = j->j_pipe[1] = -1;
	return (-1);
}

/* Commit what is queued, stop the thread, and run the last callbacks. */
void
journal_stop(struct journal *j)
{
	if (!j->j_running)
		return;
	pthread_mutex_lock(&j->j_lock);
	j->j_stopping = 1;
	pthread_cond_signal(&j->j_cond);
	pthread_mutex_unlock(&j->j_lock);
	pthread_join(j->j_thread, NULL);
	j->j_running = 0;
	journal_ckpt_stop(j);

	j->j_draining = 1;
	journal_deliver(j);
	j->j_draining = 0;

	event_free(j->j_ev);
	j->j_ev = NULL;
	close(j->j_pipe[0]);
	close(j->j_pipe[1]);
	j->j_pipe[0] = j->j_pipe[1] = -1;
}

/* Queue a batch for the writer; recs must live until its done callback. */
void
journal_submit(struct journal *j, void *batch, const struct journal_rec *recs,
    size_t n)
{
	struct jbatch	*b;

	b = xcalloc(1, sizeof *b);
	b->b_batch = batch;
	b->b_recs = recs;
	b->b_n = n;
	if (!j->j_running) {
		/* A done callback during journal_stop() may still submit. */
		if (!j->j_draining)
			fatalx("journal_submit: the writer is not running");
		b->b_ok = 0;
		b->b_cause = xstrdup("journal write failed: journal stopped");
		pthread_mutex_lock(&j->j_lock);
		TAILQ_INSERT_TAIL(&j->j_results, b, b_entry);
		pthread_mutex_unlock(&j->j_lock);
		return;
	}
	pthread_mutex_lock(&j->j_lock);
	TAILQ_INSERT_TAIL(&j->j_queue, b, b_entry);
	pthread_cond_signal(&j->j_cond);
	pthread_mutex_unlock(&j->j_lock);
}

/* Set retention for the writer; 0 keeps everything. */
void
journal_set_retention(struct journal *j, int64_t keep_events, int64_t keep_days)
{
	pthread_mutex_lock(&j->j_lock);
	j->j_keep_events = keep_events > 0 ? keep_events : 0;
	j->j_keep_days = keep_days > 0 ? keep_days : 0;
	j->j_retention_kick = 1;
	pthread_cond_signal(&j->j_cond);
	pthread_mutex_unlock(&j->j_lock);
}
