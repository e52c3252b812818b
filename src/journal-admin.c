/*
 * journal-admin.c: what wschatctl does with a journal, beside a running
 * daemon or without one: stats, check (SQLite's integrity check and the
 * journal's own invariants), backup through the online backup API, a
 * read-only query, and prune.
 *
 * Connections: the reads (stats, check, query, and the source of a backup)
 * use the read connection, j_rdb, on the thread that opened the journal.
 * A backup writes its copy through a connection of its own, opened and
 * closed within the call. Prune uses the write connection, j_wdb, on the
 * opener's thread too, so it refuses while a writer thread owns it: in
 * the daemon the writer prunes (journal-writer.c).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "wschatd.h"
#include "journal-int.h"

/* One read-only statement, each row as text. */
int
journal_query(struct journal *j, const char *sql, journal_row_cb cb, void *arg,
    char **cause)
{
	sqlite3_stmt	*st;
	const char	**values, *tail;
	int		 rc, i, ncols, n = 0;

	if (sqlite3_prepare_v2(j->j_rdb, sql, -1, &st, &tail) != SQLITE_OK) {
		xasprintf(cause, "%s", sqlite3_errmsg(j->j_rdb));
		return (-1);
	}
	if (st == NULL) {
		xasprintf(cause, "empty statement");
		return (-1);
	}
	if (journal_rtx(j, R_BEGIN, cause) != 0) {
		sqlite3_finalize(st);
		return (-1);
	}
	ncols = sqlite3_column_count(st);
	values = xcalloc(ncols + 1, sizeof *values);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		for (i = 0; i < ncols; i++)
			values[i] = (const char *)sqlite3_column_text(st, i);
		if (cb != NULL && cb(ncols, values, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	free(values);
	if (rc != SQLITE_DONE) {
		journal_rfail(j, cause);
		sqlite3_finalize(st);
		return (-1);
	}
	sqlite3_finalize(st);
	if (journal_rtx(j, R_END, cause) != 0)
		return (-1);
	return (n);
}

/* Size of a file, 0 if it is not there. */
static int64_t
journal_file_size(const char *path, const char *suffix)
{
	struct stat	 sb;
	char		*name;
	int64_t		 size = 0;

	xasprintf(&name, "%s%s", path, suffix);
	if (stat(name, &sb) == 0)
		size = sb.st_size;
	free(name);
	return (size);
}

/* Counts and sizes for wschatctl stats. */
int
journal_stats(struct journal *j, struct journal_stats *js, char **cause)
{
	sqlite3_stmt	*st;
	int64_t		 version;
	int		 rc;

	memset(js, 0, sizeof *js);
	if (journal_rtx(j, R_BEGIN, cause) != 0)
		return (-1);
	if (journal_rint(j, j->j_r[R_HEAD], 0, &js->head, cause) != 0 ||
	    journal_rint(j, j->j_r[R_FIRST], -1, &js->first, cause) != 0 ||
	    journal_rint(j, j->j_r[R_VERSION], 0, &version, cause) != 0)
		return (-1);
	if (js->first == -1)
		js->first = js->head + 1;
	js->schema_version = (int)version;
	st = j->j_r[R_COUNTS];
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		journal_rfail(j, cause);
		sqlite3_reset(st);
		return (-1);
	}
	js->events = sqlite3_column_int64(st, 0);
	js->channels = sqlite3_column_int64(st, 1);
	js->users = sqlite3_column_int64(st, 2);
	js->memberships = sqlite3_column_int64(st, 3);
	sqlite3_reset(st);
	if (journal_rtx(j, R_END, cause) != 0)
		return (-1);
	js->db_bytes = journal_file_size(j->j_path, "");
	js->wal_bytes = journal_file_size(j->j_path, "-wal");
	return (0);
}

/*
 * The journal's invariants, each as a query whose rows are violations.
 * "Complete" means the events concerned are still retained: pruning only
 * removes a prefix, so anything at or after the oldest event is checkable.
 */
static const struct {
	const char	*what;
	const char	*sql;
} journal_checks[] = {
	{ "no epoch in meta",
	  "SELECT 'epoch' WHERE NOT EXISTS"
	  " (SELECT 1 FROM meta WHERE key = 'epoch')" },
	{ "run state missing or unknown in meta",
	  "SELECT k, v FROM (SELECT 'run_state' AS k, (SELECT value FROM meta"
	  " WHERE key = 'run_state') AS v UNION ALL SELECT 'run_sync',"
	  " (SELECT value FROM meta WHERE key = 'run_sync') UNION ALL"
	  " SELECT 'run_boot', (SELECT value FROM meta WHERE key = 'run_boot'))"
	  " WHERE v IS NULL OR (k = 'run_state' AND v NOT IN ('running',"
	  " 'stopped', 'backup', 'unknown')) OR (k = 'run_sync'"
	  " AND v NOT IN ('', 'normal', 'full'))" },
	/* The rows journal_load_state() refuses (0004 forbids them). */
	{ "NULL where a value is needed",
	  "SELECT 'channels', rowid, 'name' FROM channels WHERE name IS NULL"
	  " UNION ALL SELECT 'channels', rowid, 'creator' FROM channels"
	  " WHERE creator IS NULL"
	  " UNION ALL SELECT 'memberships', rowid, 'channel' FROM memberships"
	  " WHERE channel IS NULL"
	  " UNION ALL SELECT 'memberships', rowid, 'user' FROM memberships"
	  " WHERE user IS NULL"
	  " UNION ALL SELECT 'users', rowid, 'name' FROM users"
	  " WHERE name IS NULL"
	  " UNION ALL SELECT 'meta', rowid, 'key' FROM meta WHERE key IS NULL" },
	{ "seq not positive",
	  "SELECT seq FROM events WHERE seq <= 0" },
	{ "max(seq) beyond sqlite_sequence",
	  "SELECT m, s FROM (SELECT (SELECT max(seq) FROM events) AS m,"
	  " coalesce((SELECT seq FROM sqlite_sequence"
	  " WHERE name = 'events'), 0) AS s) WHERE m > s" },
	{ "event JSON disagrees with its seq or ts",
	  "SELECT seq FROM events WHERE json_extract(data, '$.seq') IS NOT seq"
	  " OR json_extract(data, '$.ts') IS NOT ts" },
	{ "unknown type and action",
	  "SELECT seq, type, action FROM events WHERE NOT ("
	  " (type = 'channel' AND action IN ('CREATE', 'DELETE', 'INVITE',"
	  " 'BAN', 'UNBAN')) OR"
	  " (type = 'user' AND action IN ('JOIN', 'PART')) OR"
	  " (type = 'message' AND action = 'CREATE') OR"
	  " (type = 'account' AND action IN ('GUEST', 'REGISTER', 'TOKEN',"
	  " 'TOUCH', 'REVOKE', 'PASSWD', 'RELEASE', 'ADMIN', 'UNADMIN',"
	  " 'DISABLE', 'ENABLE')))" },
	{ "state newer than the head",
	  "SELECT 'channel', name, created_seq FROM channels"
	  " WHERE created_seq > (SELECT seq FROM sqlite_sequence"
	  " WHERE name = 'events')"
	  " UNION ALL SELECT 'membership', channel || ' ' || user, joined_seq"
	  " FROM memberships WHERE joined_seq > (SELECT seq"
	  " FROM sqlite_sequence WHERE name = 'events')" },
	{ "channel without its CREATE event",
	  "SELECT c.name, c.created_seq FROM channels c"
	  " WHERE c.created_seq >= (SELECT min(seq) FROM events)"
	  " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = c.created_seq"
	  " AND e.type = 'channel' AND e.action = 'CREATE'"
	  " AND e.resource = c.name)" },
	{ "membership of a missing channel",
	  "SELECT m.channel, m.user FROM memberships m WHERE NOT EXISTS"
	  " (SELECT 1 FROM channels c WHERE c.name = m.channel)" },
	{ "membership older than its channel",
	  "SELECT m.channel, m.user, m.joined_seq FROM memberships m"
	  " JOIN channels c ON c.name = m.channel"
	  " WHERE m.joined_seq <= c.created_seq" },
	{ "membership without its JOIN event",
	  "SELECT m.channel, m.user, m.joined_seq FROM memberships m"
	  " WHERE m.joined_seq >= (SELECT min(seq) FROM events)"
	  " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = m.joined_seq"
	  " AND e.type = 'user' AND e.action = 'JOIN'"
	  " AND e.resource = m.channel AND e.actor = m.user)" },
	{ "invite or ban of a missing channel",
	  "SELECT 'invite', i.channel, i.user FROM invites i WHERE NOT EXISTS"
	  " (SELECT 1 FROM channels c WHERE c.name = i.channel) UNION ALL"
	  " SELECT 'ban', b.channel, b.user FROM bans b WHERE NOT EXISTS"
	  " (SELECT 1 FROM channels c WHERE c.name = b.channel)" },
	{ "invite to a public channel",
	  "SELECT i.channel, i.user FROM invites i"
	  " JOIN channels c ON c.name = i.channel WHERE c.private = 0" },
	/* SQLite takes bare columns from the max(seq) row of each group. */
	{ "channel table disagrees with the last CREATE/DELETE",
	  "SELECT l.resource, l.action, l.seq FROM (SELECT resource, action,"
	  " max(seq) AS seq FROM events WHERE type = 'channel'"
	  " AND action IN ('CREATE', 'DELETE') GROUP BY resource) l"
	  " WHERE CASE l.action WHEN 'CREATE' THEN NOT EXISTS"
	  " (SELECT 1 FROM channels c WHERE c.name = l.resource"
	  " AND c.created_seq = l.seq)"
	  " ELSE EXISTS (SELECT 1 FROM channels c WHERE c.name = l.resource)"
	  " END" },
	{ "memberships disagree with the last JOIN/PART",
	  "SELECT l.resource, l.actor, l.action, l.seq FROM (SELECT resource,"
	  " actor, action, max(seq) AS seq FROM events WHERE type = 'user'"
	  " AND action IN ('JOIN', 'PART') AND actor IS NOT NULL"
	  " GROUP BY resource, actor) l"
	  " WHERE NOT EXISTS (SELECT 1 FROM events d WHERE d.type = 'channel'"
	  " AND d.resource = l.resource AND d.seq > l.seq"
	  " AND d.action = 'DELETE')"
	  " AND CASE l.action WHEN 'JOIN' THEN NOT EXISTS"
	  " (SELECT 1 FROM memberships m WHERE m.channel = l.resource"
	  " AND m.user = l.actor AND m.joined_seq = l.seq)"
	  " ELSE EXISTS (SELECT 1 FROM memberships m"
	  " WHERE m.channel = l.resource AND m.user = l.actor) END" },
	{ "users table disagrees with the events",
	  "SELECT a.actor, a.lo, a.hi, u.first_seq, u.last_seq FROM"
	  " (SELECT actor, min(seq) AS lo, max(seq) AS hi FROM events"
	  " WHERE actor IS NOT NULL GROUP BY actor) a"
	  " LEFT JOIN users u ON u.name = a.actor"
	  " WHERE u.name IS NULL OR u.first_seq > a.lo OR u.last_seq <> a.hi" },
};

/* One check under way, for journal_check_row(). */
struct journal_check_ctx {
	const char		*what;
	journal_problem_cb	 cb;
	void			*arg;
	int			 problems;
};

/* A row of a check query is a problem: report it as text. */
static int
journal_check_row(int ncols, const char *const *values, void *arg)
{
	struct journal_check_ctx	*ctx = arg;
	char				*line, *tmp;
	int				 i;

	if (ctx->what == NULL) {	/* integrity_check says "ok" when fine */
		if (ncols == 1 && values[0] != NULL &&
		    strcmp(values[0], "ok") == 0)
			return (0);
		xasprintf(&line, "integrity_check:");
	} else
		xasprintf(&line, "%s:", ctx->what);
	for (i = 0; i < ncols; i++) {
		xasprintf(&tmp, "%s %s", line,
		    values[i] != NULL ? values[i] : "NULL");
		free(line);
		line = tmp;
	}
	ctx->problems++;
	if (ctx->cb != NULL)
		ctx->cb(line, ctx->arg);
	free(line);
	return (0);
}

/* PRAGMA integrity_check, then every journal invariant. */
int
journal_check(struct journal *j, journal_problem_cb cb, void *arg,
    char **cause)
{
	struct journal_check_ctx	 ctx;
	size_t				 i;

	ctx.cb = cb;
	ctx.arg = arg;
	ctx.problems = 0;
	ctx.what = NULL;
	if (journal_query(j, "PRAGMA integrity_check", journal_check_row,
	    &ctx, cause) == -1)
		return (-1);
	for (i = 0; i < sizeof journal_checks / sizeof journal_checks[0]; i++) {
		ctx.what = journal_checks[i].what;
		if (journal_query(j, journal_checks[i].sql, journal_check_row,
		    &ctx, cause) == -1)
			return (-1);
	}
	return (ctx.problems);
}

/* Copy the database to a new file with the online backup API. */
int
journal_backup(struct journal *j, const char *path, char **cause)
{
	sqlite3		*dst = NULL;
	sqlite3_backup	*bk;
	int		 fd, rc, tries = 0;

	/* Never overwrite: a backup target that exists is a mistake. */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	close(fd);
	if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		xasprintf(cause, "%s: %s", path, sqlite3_errmsg(dst));
		goto fail;
	}
	if ((bk = sqlite3_backup_init(dst, "main", j->j_rdb, "main")) == NULL) {
		xasprintf(cause, "backup: %s", sqlite3_errmsg(dst));
		goto fail;
	}
	/* All pages in one step: one consistent read of the source. */
	while ((rc = sqlite3_backup_step(bk, -1)) == SQLITE_BUSY ||
	    rc == SQLITE_LOCKED || rc == SQLITE_OK) {
		if (rc != SQLITE_OK && ++tries > JOURNAL_BUSY_MS / 100)
			break;
		sqlite3_sleep(100);
	}
	sqlite3_backup_finish(bk);
	if (rc != SQLITE_DONE) {
		xasprintf(cause, "backup: %s", sqlite3_errstr(rc));
		goto fail;
	}
	/*
	 * Clients may see events after the copy: a server started on it
	 * must take a new epoch, or their cursors would replay other events.
	 */
	if (sqlite3_exec(dst, "UPDATE meta SET value = 'backup'"
	    " WHERE key = 'run_state'", NULL, NULL, NULL) != SQLITE_OK) {
		xasprintf(cause, "backup: %s", sqlite3_errmsg(dst));
		goto fail;
	}
	/* A single file the admin can move: no -wal beside it. */
	if (sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL,
	    NULL) != SQLITE_OK) {
		xasprintf(cause, "backup: %s", sqlite3_errmsg(dst));
		goto fail;
	}
	if (sqlite3_close(dst) != SQLITE_OK) {
		dst = NULL;
		xasprintf(cause, "backup: %s: close failed", path);
		goto fail;
	}
	return (0);

fail:
	sqlite3_close(dst);
	unlink(path);
	return (-1);
}

/* Copy the WAL into the database so the WAL stays small. */
static void
journal_checkpoint(struct journal *j)
{
	int	rc;

	rc = sqlite3_wal_checkpoint_v2(j->j_wdb, NULL,
	    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_warnx("journal: checkpoint: %s", sqlite3_errmsg(j->j_wdb));
}

/* Delete old events outside retention, in small transactions. */
int
journal_prune(struct journal *j, int64_t keep_events, int64_t keep_days,
    size_t batch, char **cause)
{
	int64_t	n, total = 0;

	if (j->j_running) {
		xasprintf(cause, "journal_prune: the writer thread owns the "
		    "write connection (use journal_set_retention)");
		return (-1);
	}
	if (batch == 0)
		batch = JOURNAL_PRUNE_BATCH;
	if (journal_retain_bound(j, keep_events, keep_days, cause) != 0)
		return (-1);
	do {
		if ((n = journal_prune_batch(j, batch, cause)) == -1)
			return (-1);
		total += n;
	} while ((size_t)n == batch);
	if (total > 0)
		journal_checkpoint(j);
	return (total > INT_MAX ? INT_MAX : (int)total);
}
