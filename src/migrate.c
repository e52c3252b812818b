/*
 * migrate.c: brings a database's schema up to the newest migration embedded
 * in this binary (src/migrations.c, generated from migrations/NNNN-*.sql).
 * PRAGMA user_version records the last migration applied; each migration
 * runs in its own transaction together with the user_version bump, so a
 * crash leaves the database at a whole version. A database newer than the
 * binary is refused rather than guessed at.
 */
#include "config.h"

#include <stdlib.h>

#include <sqlite3.h>

#include "wschatd.h"

/* The newest schema version this binary knows; the table must be 1..n. */
int
migrate_latest(void)
{
	size_t	i;

	for (i = 0; i < migrations_count; i++) {
		if (migrations[i].version != (int)i + 1)
			fatalx("migration %s: version %d at position %zu",
			    migrations[i].name, migrations[i].version, i + 1);
	}
	return ((int)migrations_count);
}

/* Read PRAGMA user_version. */
static int
migrate_version(sqlite3 *db, int *version, char **cause)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK) {
		xasprintf(cause, "schema version: %s", sqlite3_errmsg(db));
		return (-1);
	}
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		xasprintf(cause, "schema version: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return (-1);
	}
	*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return (0);
}

/* The message for a database written by a newer wschatd. */
static void
migrate_too_new(int version, int latest, char **cause)
{
	xasprintf(cause, "database schema version %d is newer than this "
	    "wschatd supports (%d); upgrade wschatd", version, latest);
}

/* Run one migration and record it, all in one transaction. */
static int
migrate_one(sqlite3 *db, const struct migration *m, int *applied,
    char **cause)
{
	char	*sql, *err = NULL;
	int	 version;

	*applied = 0;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK)
		goto fail;
	/* Another process may have migrated while we waited for the lock. */
	if (migrate_version(db, &version, cause) != 0)
		goto rollback;
	if (version >= m->version) {
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		return (0);
	}
	if (version != m->version - 1) {
		xasprintf(cause, "migration %s: database is at version %d",
		    m->name, version);
		goto rollback;
	}
	if (sqlite3_exec(db, m->sql, NULL, NULL, &err) != SQLITE_OK)
		goto fail;
	xasprintf(&sql, "PRAGMA user_version = %d", m->version);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		free(sql);
		goto fail;
	}
	free(sql);
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, &err) != SQLITE_OK)
		goto fail;
	*applied = 1;
	return (0);

fail:
	xasprintf(cause, "migration %s: %s", m->name,
	    err != NULL ? err : sqlite3_errmsg(db));
	sqlite3_free(err);
rollback:
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return (-1);
}

/* The database's version, refused if newer than any we carry. */
static int
migrate_known_version(struct sqlite3 *db, int *version, char **cause)
{
	if (migrate_version(db, version, cause) != 0)
		return (-1);
	if (*version > migrate_latest()) {
		migrate_too_new(*version, migrate_latest(), cause);
		return (-1);
	}
	return (0);
}

/* Apply every migration newer than the database, in order. */
int
migrate_apply(struct sqlite3 *db, char **cause)
{
	int	 version, applied;
	size_t	 i;

	if (migrate_known_version(db, &version, cause) != 0)
		return (-1);
	for (i = (size_t)version; i < migrations_count; i++) {
		if (migrate_one(db, &migrations[i], &applied, cause) != 0)
			return (-1);
		if (applied)
			log_info("journal: applied migration %s",
			    migrations[i].name);
	}
	return (0);
}

/* Accept only a database at exactly our version (tools never migrate). */
int
migrate_check(struct sqlite3 *db, char **cause)
{
	int	 version, latest = migrate_latest();

	if (migrate_known_version(db, &version, cause) != 0)
		return (-1);
	if (version < latest) {
		xasprintf(cause, "database schema version %d is older than this "
		    "wschatctl expects (%d); start wschatd to migrate it",
		    version, latest);
		return (-1);
	}
	return (0);
}
