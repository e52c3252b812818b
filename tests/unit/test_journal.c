/*
 * test_journal.c: opening and closing the journal, against real SQLite
 * files in a temporary directory: the migrations, the golden schema and
 * its views, the epoch, and the run state that decides whether a start
 * takes a new epoch, with (debug builds) every step of its markers failing
 * in turn. The writer, the reads, snapshot cursors and wschatctl's side
 * have their own test_journal_*.c.
 */
#include "config.h"

#include <fcntl.h>

#include "journal-test.h"

/* A fresh database is migrated to the newest version and has an epoch. */
static void
t_migrate(void **state)
{
	struct fx	*fx = *state;
	struct journal	*j = open_journal(fx);
	char		 want[32];

	assert_true(migrate_latest() >= 1);
	snprintf(want, sizeof want, "%d\n", migrate_latest());
	assert_rows(j, "PRAGMA user_version", want);
	assert_rows(j, "PRAGMA journal_mode", "wal\n");
	assert_int_equal(strlen(journal_epoch(j)), 16);
	assert_int_equal(strspn(journal_epoch(j), "0123456789abcdef"), 16);
	assert_int_equal(journal_head(j), 0);
	assert_int_equal(journal_first(j), 1);
	/* Opening again applies nothing and keeps the version. */
	reopen(fx);
	assert_rows(fx->j, "PRAGMA user_version", want);
}

/* Set user_version in the file header (offset 60, big-endian). */
static void
poke_user_version(const char *path, uint32_t v)
{
	unsigned char	 buf[4];
	int		 fd;

	buf[0] = v >> 24;
	buf[1] = v >> 16;
	buf[2] = v >> 8;
	buf[3] = v;
	assert_true((fd = open(path, O_WRONLY)) != -1);
	assert_int_equal(pwrite(fd, buf, 4, 60), 4);
	close(fd);
}

/* A database from a newer wschatd is refused, by the daemon and the tool. */
static void
t_newer_refused(void **state)
{
	struct fx	*fx = *state;
	char		*cause = NULL, want[128];
	struct journal	*j;

	open_journal(fx);
	journal_close(fx->j);		/* checkpoints: the header is final */
	fx->j = NULL;
	poke_user_version(fx->path, migrate_latest() + 1);

	snprintf(want, sizeof want, "database schema version %d is newer than "
	    "this wschatd supports (%d); upgrade wschatd", migrate_latest() + 1,
	    migrate_latest());
	j = journal_open(fx->path, JOURNAL_SYNC_FULL, &cause);
	assert_null(j);
	assert_non_null(cause);
	assert_non_null(strstr(cause, want));
	free(cause);
	cause = NULL;
	j = journal_open_admin(fx->path, &cause);
	assert_null(j);
	assert_non_null(strstr(cause, want));
	free(cause);
}

static int
schema_row(int ncols, const char *const *values, void *arg)
{
	struct dump	*d = arg;

	appendf(&d->text, "-- %s %s\n%s\n\n", values[0], values[1],
	    values[2] != NULL ? values[2] : "(automatic)");
	return (0);
}

/* The schema the migrations build is the reviewed one (schema.golden). */
static void
t_golden_schema(void **state)
{
	struct fx	*fx = *state;
	struct dump	 d;
	char		*cause = NULL, *path, *want;
	FILE		*f;

	open_journal(fx);
	d.text = xstrdup("");
	if (journal_query(fx->j, "SELECT type, name, sql FROM sqlite_master "
	    "ORDER BY name", schema_row, &d, &cause) == -1)
		fail_msg("%s", cause);

	path = srcfile("tests/unit/schema.golden");
	if (getenv("WSCHAT_UPDATE_GOLDEN") != NULL) {
		assert_non_null(f = fopen(path, "w"));
		fputs(d.text, f);
		fclose(f);
	}
	want = slurp(path, NULL);
	if (strcmp(d.text, want) != 0) {
		print_error("schema differs from %s; a new migration needs a "
		    "new golden (WSCHAT_UPDATE_GOLDEN=1). Got:\n%s", path,
		    d.text);
		fail();
	}
	free(want);
	free(path);
	free(d.text);
}

/* The epoch is made once with the database and never changes. */
static void
t_epoch_stable(void **state)
{
	struct fx	*fx = *state;
	char		*epoch, *cause = NULL, other[160];
	struct journal	*j2;

	open_journal(fx);
	epoch = xstrdup(journal_epoch(fx->j));
	reopen(fx);
	assert_string_equal(journal_epoch(fx->j), epoch);
	reopen(fx);
	assert_string_equal(journal_epoch(fx->j), epoch);

	snprintf(other, sizeof other, "%s/other.db", fx->dir);
	j2 = journal_open(other, JOURNAL_SYNC_NORMAL, &cause);
	assert_non_null(j2);
	assert_string_not_equal(journal_epoch(j2), epoch);
	journal_close(j2);
	free(epoch);
}

/* The views: text through json_extract, and activity per day. */
static void
t_views(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;

	open_journal(fx);
	start(fx);
	b = new_batch(fx);
	add(b, 1, "channel", "CREATE", "g", "alice", NULL);
	add(b, 2, "user", "JOIN", "g", "alice", NULL);
	add_ts(b, 3, TS0 + 100, "message", "CREATE", "g", "alice",
	    "say \\\"hi\\\" \\u00e9t\\u00e9");
	add_ts(b, 4, TS0 + 86400000, "message", "CREATE", "g", "alice", "b");
	add_ts(b, 5, TS0 + 86400001, "message", "CREATE", "g", "bob", "c");
	assert_true(commit(fx, b));
	assert_rows(fx->j, "SELECT json_extract(data, '$.text') FROM events "
	    "WHERE seq = 3", "say \"hi\" \xc3\xa9t\xc3\xa9\n");
	assert_rows(fx->j, "SELECT * FROM messages",
	    "3|1764000000100|2025-11-24T16:00:00.100Z|g|alice|"
	    "say \"hi\" \xc3\xa9t\xc3\xa9\n"
	    "4|1764086400000|2025-11-25T16:00:00.000Z|g|alice|b\n"
	    "5|1764086400001|2025-11-25T16:00:00.001Z|g|bob|c\n");
	assert_rows(fx->j, "SELECT * FROM channel_activity",
	    "g|2025-11-24|1|1\ng|2025-11-25|2|2\n");
}

static void
open_sync(struct fx *fx, int sync)
{
	char	*cause = NULL;

	fx->j = journal_open(fx->path, sync, &cause);
	if (fx->j == NULL)
		fail_msg("journal_open: %s", cause);
}

/* The process dies, as by kill -9: no journal_mark_stopped(). */
static void
crash(struct fx *fx)
{
	journal_close(fx->j);
	fx->j = NULL;
}

/* An orderly shutdown: the last commits, the marker, the close. */
static void
shutdown_clean(struct fx *fx)
{
	char	*cause = NULL;

	if (journal_mark_stopped(fx->j, &cause) != 0)
		fail_msg("journal_mark_stopped: %s", cause);
	journal_close(fx->j);
	fx->j = NULL;
}

/*
 * A run is marked running from its open and stopped by an orderly
 * shutdown; wschatctl leaves the marker alone. On this boot a start keeps
 * the epoch and the head, however the last run ended.
 */
static void
t_run_state(void **state)
{
	struct fx	*fx = *state;
	struct journal	*a;
	char		*epoch, *cause = NULL, boot[64] = "";
	FILE		*f;

	if ((f = fopen("/proc/sys/kernel/random/boot_id", "r")) != NULL) {
		if (fgets(boot, sizeof boot, f) == NULL)
			boot[0] = '\0';
		boot[strcspn(boot, "\n")] = '\0';
		fclose(f);
	}
	open_journal(fx);
	assert_meta(fx->j, "run_state", "running");
	assert_meta(fx->j, "run_sync", "normal");
	assert_meta(fx->j, "run_boot", boot);
	epoch = xstrdup(journal_epoch(fx->j));
	start(fx);
	populate(fx);
	shutdown_clean(fx);

	a = journal_open_admin(fx->path, &cause);
	assert_non_null(a);
	assert_meta(a, "run_state", "stopped");
	assert_int_equal(journal_check(a, NULL, NULL, NULL), 0);
	journal_close(a);

	open_sync(fx, JOURNAL_SYNC_FULL);
	assert_string_equal(journal_epoch(fx->j), epoch);
	assert_int_equal(journal_head(fx->j), 14);
	assert_meta(fx->j, "run_state", "running");
	assert_meta(fx->j, "run_sync", "full");
	crash(fx);

	/* An admin open beside (or after) a run changes nothing. */
	a = journal_open_admin(fx->path, &cause);
	assert_non_null(a);
	assert_meta(a, "run_state", "running");
	journal_close(a);

	/* Unclean, but on the boot it ran on: nothing can be lost. */
	open_journal(fx);
	assert_string_equal(journal_epoch(fx->j), epoch);
	assert_int_equal(journal_head(fx->j), 14);

	/* The marker ends the run: no writer may start after it. */
	assert_int_equal(journal_mark_stopped(fx->j, &cause), 0);
	assert_int_equal(journal_start(fx->j, fx->base, on_done, fx, &cause),
	    -1);
	assert_non_null(strstr(cause, "marked stopped"));
	free(cause);
	free(epoch);
}

#ifdef WSCHAT_DEBUG
/* The epoch of the database at fx->path, read as wschatctl would. */
static char *
admin_epoch(struct fx *fx)
{
	struct journal	*a;
	char		*cause = NULL, *epoch;

	if ((a = journal_open_admin(fx->path, &cause)) == NULL)
		fail_msg("journal_open_admin: %s", cause);
	epoch = xstrdup(journal_epoch(a));
	journal_close(a);
	return (epoch);
}

/*
 * An unclean end with journal_sync = normal and a reboot since: a new
 * epoch, the same head, seqs going on from it, and a clean journal. The
 * next orderly shutdown keeps the new epoch across a reboot.
 */
static void
t_crash_new_epoch(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;
	char		*epoch;

	journal_fake_boot_id("aaaa");
	open_journal(fx);
	start(fx);
	populate(fx);
	epoch = xstrdup(journal_epoch(fx->j));
	crash(fx);

	journal_fake_boot_id("bbbb");
	open_journal(fx);
	assert_string_not_equal(journal_epoch(fx->j), epoch);
	assert_int_equal(strlen(journal_epoch(fx->j)), 16);
	assert_int_equal(strspn(journal_epoch(fx->j), "0123456789abcdef"), 16);
	assert_int_equal(journal_head(fx->j), 14);
	assert_int_equal(journal_first(fx->j), 1);
	assert_meta(fx->j, "epoch", journal_epoch(fx->j));
	assert_meta(fx->j, "run_state", "running");
	assert_meta(fx->j, "run_boot", "bbbb");
	start(fx);
	b = new_batch(fx);
	add(b, 15, "message", "CREATE", "g", "alice", "after");
	assert_true(commit(fx, b));
	assert_int_equal(journal_head(fx->j), 15);
	assert_int_equal(journal_check(fx->j, NULL, NULL, NULL), 0);

	free(epoch);
	epoch = xstrdup(journal_epoch(fx->j));
	shutdown_clean(fx);
	journal_fake_boot_id("cccc");
	open_journal(fx);
	assert_string_equal(journal_epoch(fx->j), epoch);
	assert_int_equal(journal_head(fx->j), 15);
	free(epoch);
}

/*
 * journal_sync = full put every commit on disk: an unclean end loses
 * nothing, even across a reboot. What counts is the last run's setting.
 */
static void
t_crash_full_sync(void **state)
{
	struct fx	*fx = *state;
	char		*epoch;

	journal_fake_boot_id("aaaa");
	open_sync(fx, JOURNAL_SYNC_FULL);
	start(fx);
	populate(fx);
	epoch = xstrdup(journal_epoch(fx->j));
	crash(fx);

	journal_fake_boot_id("bbbb");
	open_sync(fx, JOURNAL_SYNC_NORMAL);
	assert_string_equal(journal_epoch(fx->j), epoch);
	assert_int_equal(journal_head(fx->j), 14);
	assert_meta(fx->j, "run_sync", "normal");
	crash(fx);

	journal_fake_boot_id("cccc");
	open_sync(fx, JOURNAL_SYNC_FULL);
	assert_string_not_equal(journal_epoch(fx->j), epoch);
	assert_int_equal(journal_head(fx->j), 14);
	free(epoch);
}

/* A boot id that cannot be read ("") never vouches for a crash. */
static void
t_crash_unknown_boot(void **state)
{
	struct fx	*fx = *state;
	static const char *boots[][2] = {
		{ "", "" }, { "aaaa", "" }, { "", "aaaa" }, { "aaaa", "aaaa" }
	};
	char		*epoch;
	size_t		 i;

	for (i = 0; i < sizeof boots / sizeof boots[0]; i++) {
		journal_fake_boot_id(boots[i][0]);
		open_journal(fx);
		epoch = xstrdup(journal_epoch(fx->j));
		crash(fx);
		journal_fake_boot_id(boots[i][1]);
		open_journal(fx);
		if (*boots[i][0] != '\0' && *boots[i][1] != '\0')
			assert_string_equal(journal_epoch(fx->j), epoch);
		else
			assert_string_not_equal(journal_epoch(fx->j), epoch);
		crash(fx);
		free(epoch);
	}
}

/*
 * Fail each write step of the start marker in turn: the open fails
 * cleanly and the database still says the last run ended uncleanly, so
 * the next try takes the new epoch. Then each step of the shutdown
 * marker: the next start after a reboot takes the run for a crash.
 */
static void
t_run_state_faults(void **state)
{
	struct fx	*fx = *state;
	struct journal	*a;
	char		*epoch, *now, *cause = NULL;
	long		 nth;
	int		 rc;

	journal_fake_boot_id("aaaa");
	open_journal(fx);
	start(fx);
	populate(fx);
	crash(fx);
	epoch = admin_epoch(fx);

	journal_fake_boot_id("bbbb");
	for (nth = 1; nth < 100; nth++) {
		journal_fail_step(nth);
		fx->j = journal_open(fx->path, JOURNAL_SYNC_NORMAL, &cause);
		journal_fail_step(0);
		if (fx->j != NULL)
			break;
		assert_non_null(strstr(cause,
		    "journal write failed: disk I/O error"));
		free(cause);
		cause = NULL;
		a = journal_open_admin(fx->path, &cause);
		assert_non_null(a);
		assert_string_equal(journal_epoch(a), epoch);
		assert_meta(a, "run_state", "running");
		assert_meta(a, "run_boot", "aaaa");
		journal_close(a);
	}
	/* BEGIN, four reads, the new epoch and its read, three sets, COMMIT. */
	assert_int_equal(nth, 12);
	assert_string_not_equal(journal_epoch(fx->j), epoch);
	assert_int_equal(journal_head(fx->j), 14);
	shutdown_clean(fx);

	for (nth = 1; nth < 100; nth++) {
		free(epoch);
		journal_fake_boot_id("bbbb");
		open_journal(fx);
		epoch = xstrdup(journal_epoch(fx->j));
		journal_fail_step(nth);
		rc = journal_mark_stopped(fx->j, &cause);
		journal_fail_step(0);
		crash(fx);
		journal_fake_boot_id("cccc");
		now = admin_epoch(fx);
		open_journal(fx);
		assert_string_equal(now, epoch);
		free(now);
		if (rc == 0) {
			assert_string_equal(journal_epoch(fx->j), epoch);
			break;
		}
		assert_string_equal(cause,
		    "journal write failed: disk I/O error");
		free(cause);
		cause = NULL;
		assert_string_not_equal(journal_epoch(fx->j), epoch);
		shutdown_clean(fx);
	}
	/* BEGIN, the set, COMMIT. */
	assert_int_equal(nth, 4);
	free(epoch);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(t_migrate),
		T(t_newer_refused),
		T(t_golden_schema),
		T(t_epoch_stable),
		T(t_views),
		T(t_run_state),
#ifdef WSCHAT_DEBUG
		T(t_crash_new_epoch),
		T(t_crash_full_sync),
		T(t_crash_unknown_boot),
		T(t_run_state_faults),
#endif
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
