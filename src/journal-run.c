/*
 * journal-run.c: the run state, meta run_state, run_sync and run_boot,
 * and the epoch it decides. With journal_sync = normal a commit has
 * reached the kernel, not the disk, when its events go out. A crash of
 * wschatd loses none of it; an OS crash or a power loss may lose the last
 * commits, and their seqs would be handed out again under the same epoch,
 * so a client holding one would miss (or be replayed) other events. A
 * start after a run that may have lost commits therefore takes a new
 * epoch, and such cursors get a snapshot. With journal_sync = full every
 * commit is on disk before its events go out, and the kernel's boot id
 * tells a crash of wschatd (same boot: the kernel kept every commit) from
 * one of the system.
 *
 * Connections: the write connection, j_wdb, on the thread that opened the
 * journal. journal_run_start() runs inside journal_open(), before
 * journal_start() hands the connection to the writer thread, and
 * journal_mark_stopped() stops the writer before it writes.
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "wschatd.h"
#include "journal-int.h"

#define JOURNAL_BOOT_ID	"/proc/sys/kernel/random/boot_id"

#ifdef WSCHAT_DEBUG
static char	*journal_boot_fake;

/* Pretend the kernel's boot id is id; NULL reads the real one again. */
void
journal_fake_boot_id(const char *id)
{
	free(journal_boot_fake);
	journal_boot_fake = id != NULL ? xstrdup(id) : NULL;
}
#endif

/* The kernel's boot id, new with every boot; "" if it cannot be read. */
static char *
journal_boot_id(void)
{
	char	buf[64];
	ssize_t	n;
	int	fd;

#ifdef WSCHAT_DEBUG
	if (journal_boot_fake != NULL)
		return (xstrdup(journal_boot_fake));
#endif
	if ((fd = open(JOURNAL_BOOT_ID, O_RDONLY | O_CLOEXEC)) == -1)
		return (xstrdup(""));
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (xstrdup(""));
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (buf[strspn(buf, "0123456789abcdef-")] != '\0')
		return (xstrdup(""));
	return (xstrdup(buf));
}

/*
 * May the run that last used the database have lost commits its clients
 * saw? If so, why (the caller frees it). If not, NULL, and *kept says why
 * an unclean end lost nothing, when it was one. Anything not understood
 * counts as a loss: a needless snapshot costs less than a wrong replay.
 */
static char *
journal_run_loss(const char *state, const char *sync, const char *boot,
    const char *now, const char **kept)
{
	char	*why;

	*kept = NULL;
	if (state != NULL && strcmp(state, "stopped") == 0)
		return (NULL);
	if (state != NULL && strcmp(state, "backup") == 0)
		return (xstrdup("the database is a copy made by wschatctl "
		    "backup, and clients may have seen events after it"));
	if (state != NULL && strcmp(state, "unknown") == 0)
		return (xstrdup("the last run was by a wschatd that did not "
		    "record how it ended"));
	if (state == NULL || strcmp(state, "running") != 0) {
		xasprintf(&why, "meta run_state is %s%s%s", state != NULL ?
		    "'" : "missing", state != NULL ? state : "",
		    state != NULL ? "'" : "");
		return (why);
	}
	if (sync != NULL && strcmp(sync, "full") == 0) {
		*kept = "it ran with journal_sync = full, so every commit was "
		    "on disk";
		return (NULL);
	}
	if (boot != NULL && *boot != '\0' && *now != '\0' &&
	    strcmp(boot, now) == 0) {
		*kept = "the system has not restarted since, so the kernel "
		    "kept every commit";
		return (NULL);
	}
	xasprintf(&why, "the last run (journal_sync = %s) did not shut down "
	    "cleanly and %s, so its last commits may be lost",
	    sync != NULL && *sync != '\0' ? sync : "unknown",
	    boot != NULL && *boot != '\0' && *now != '\0' ?
	    "the system has restarted since" :
	    "whether the system has restarted since is unknown");
	return (why);
}

/* Read a meta value in the write transaction; *v is NULL if it has none. */
static int
journal_wmeta(struct journal *j, const char *key, char **v, char **cause)
{
	sqlite3_stmt	*st = j->j_w[W_META];
	const char	*s;
	int		 rc;

	*v = NULL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((rc = journal_wrow(j, st, cause)) == 1) {
		if ((s = (const char *)sqlite3_column_text(st, 0)) != NULL)
			*v = xstrdup(s);
		sqlite3_reset(st);
	}
	sqlite3_clear_bindings(st);
	return (rc == -1 ? -1 : 0);
}

/* Set a meta value in the write transaction. */
static int
journal_wmeta_set(struct journal *j, const char *key, const char *v,
    char **cause)
{
	sqlite3_stmt	*st = j->j_w[W_META_SET];
	int		 rc;

	journal_bind_text(st, 1, key);
	journal_bind_text(st, 2, v);
	rc = journal_wexec(j, st, cause);
	sqlite3_clear_bindings(st);
	return (rc);
}

/*
 * The write connection's sync: full for the run markers, whose commit
 * must be on disk when it returns; else journal_sync, for the batches.
 */
static int
journal_wsync(struct journal *j, int full, char **cause)
{
	return (journal_setup(j->j_wdb, full ? "PRAGMA synchronous = FULL" :
	    j->j_syncsql, cause));
}

/* Go back to journal_sync after a marker; an error only if ok so far. */
static int
journal_wsync_back(struct journal *j, int error, char **cause)
{
	char	*tmp = NULL;

	if (journal_wsync(j, 0, &tmp) == 0)
		return (error);
	if (error == 0)
		*cause = tmp;
	else
		free(tmp);
	return (-1);
}

/*
 * A daemon's open, before any client connects: take a new epoch if the
 * last run may have lost commits, and record this run as running, with a
 * full sync, so a power loss cannot take the marker and leave an older
 * "stopped" in its place. Seqs go on from the head either way.
 */
int
journal_run_start(struct journal *j, int sync, char **cause)
{
	char		*state = NULL, *was = NULL, *boot = NULL, *now;
	char		*old = NULL, *epoch = NULL, *why = NULL;
	const char	*kept = NULL;
	int		 error = -1;

	now = journal_boot_id();
	j->j_wfault = 0;
	if (journal_wsync(j, 1, cause) != 0)
		goto out;
	if (journal_wexec(j, j->j_w[W_BEGIN], cause) != 0 ||
	    journal_wmeta(j, "run_state", &state, cause) != 0 ||
	    journal_wmeta(j, "run_sync", &was, cause) != 0 ||
	    journal_wmeta(j, "run_boot", &boot, cause) != 0 ||
	    journal_wmeta(j, "epoch", &old, cause) != 0)
		goto fail;
	why = journal_run_loss(state, was, boot, now, &kept);
	if (why != NULL && (journal_wexec(j, j->j_w[W_NEW_EPOCH], cause) != 0 ||
	    journal_wmeta(j, "epoch", &epoch, cause) != 0))
		goto fail;
	if (journal_wmeta_set(j, "run_state", "running", cause) != 0 ||
	    journal_wmeta_set(j, "run_sync", sync == JOURNAL_SYNC_FULL ?
	    "full" : "normal", cause) != 0 ||
	    journal_wmeta_set(j, "run_boot", now, cause) != 0 ||
	    journal_wexec(j, j->j_w[W_COMMIT], cause) != 0)
		goto fail;
	error = 0;
	goto out;

fail:
	journal_wrollback(j);
out:
	if ((error = journal_wsync_back(j, error, cause)) == 0) {
		j->j_run = 1;
		if (why != NULL)
			log_warnx("journal %s: new epoch %s (was %s): %s; "
			    "clients resuming from the old epoch get a snapshot",
			    j->j_path, epoch != NULL ? epoch : "none",
			    old != NULL ? old : "none", why);
		else if (kept != NULL)
			log_info("journal %s: the last run did not shut down "
			    "cleanly, but %s: epoch %s kept", j->j_path, kept,
			    old != NULL ? old : "none");
	}
	free(state);
	free(was);
	free(boot);
	free(now);
	free(old);
	free(epoch);
	free(why);
	return (error);
}

/*
 * The end of an orderly shutdown: stop the writer (the last commits), then
 * record that this run ended with every commit in place, with a full sync,
 * so the next start keeps the epoch. On an error the next start takes
 * this run for a crash.
 */
int
journal_mark_stopped(struct journal *j, char **cause)
{
	int	error = -1;

	if (!j->j_run || j->j_stopped)
		fatalx("%s: no run to end", __func__);
	journal_stop(j);
	j->j_stopped = 1;
	j->j_wfault = 0;
	if (journal_broken(j) != NULL) {
		xasprintf(cause, "not marked stopped: %s", journal_broken(j));
		return (-1);
	}
	if (journal_wsync(j, 1, cause) != 0)
		return (-1);
	if (journal_wexec(j, j->j_w[W_BEGIN], cause) != 0 ||
	    journal_wmeta_set(j, "run_state", "stopped", cause) != 0 ||
	    journal_wexec(j, j->j_w[W_COMMIT], cause) != 0)
		journal_wrollback(j);
	else
		error = 0;
	return (journal_wsync_back(j, error, cause));
}
