/*
 * journal-account.c: how wschatctl reaches the running daemon. The tool
 * appends a row to the requests table (user add, passwd, disable, enable,
 * admin, unadmin, tokens revoke); the daemon looks at PRAGMA data_version
 * once a second, and when another connection has written, reads the
 * requests after the last one it applied and applies each through the
 * journal as an account event, whose commit deletes the request rows.
 *
 * Connections: the daemon's read connection (loop thread) for the look
 * and the read; wschatctl's write connection (its only thread) for the add.
 */
#include "config.h"

#include <stdlib.h>

#include <sqlite3.h>

#include "wschatd.h"
#include "journal-int.h"

/* Has another connection committed since the last look? (1 the first time.) */
int
journal_changed(struct journal *j)
{
	sqlite3_stmt	*st = j->j_r[R_DATA_VERSION];
	int64_t		 v = -1;
	int		 changed;

	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	changed = v != j->j_data_version;
	j->j_data_version = v;
	return (changed);
}

/* The requests after id, in order; cb returns nonzero to stop. */
int
journal_requests(struct journal *j, int64_t after, journal_request_cb cb,
    void *arg, char **cause)
{
	sqlite3_stmt		*st = j->j_r[R_REQUESTS];
	struct journal_request	 r;
	int			 rc, n = 0;

	if (journal_rtx(j, R_BEGIN, cause) != 0)
		return (-1);
	sqlite3_bind_int64(st, 1, after);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r.id = sqlite3_column_int64(st, 0);
		r.verb = (const char *)sqlite3_column_text(st, 1);
		r.name = (const char *)sqlite3_column_text(st, 2);
		r.pwhash = (const char *)sqlite3_column_text(st, 3);
		n++;
		if (cb(&r, arg) != 0) {
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
	if (journal_rtx(j, R_END, cause) != 0)
		return (-1);
	return (n);
}

/* wschatctl: leave one request for the daemon. */
int
journal_request_add(struct journal *j, const char *verb, const char *name,
    const char *pwhash, char **cause)
{
	sqlite3_stmt	*st = j->j_w[W_REQUEST_ADD];

	sqlite3_bind_int64(st, 1, clock_wall_ms());
	journal_bind_text(st, 2, verb);
	journal_bind_text(st, 3, name);
	journal_bind_text(st, 4, pwhash);
	return (journal_wexec(j, st, cause));
}
