/*
 * test_journal_admin.c: wschatctl's side of the journal: the admin open
 * beside a running writer, stats, check and the problems it reports, and
 * a backup, on which a server takes a new epoch.
 */
#include "config.h"

#include "journal-test.h"

/* wschatctl's view: stats, check, backup, and the admin open. */
static void
t_admin(void **state)
{
	struct fx		*fx = *state;
	struct journal_stats	 js;
	struct journal		*a;
	char			*cause = NULL, bk[160], missing[160];

	open_journal(fx);
	start(fx);
	populate(fx);

	snprintf(missing, sizeof missing, "%s/missing.db", fx->dir);
	assert_null(journal_open_admin(missing, &cause));
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	assert_int_equal(access(missing, F_OK), -1);

	/* Beside the running writer, as wschatctl runs beside wschatd. */
	a = journal_open_admin(fx->path, &cause);
	assert_non_null(a);
	assert_string_equal(journal_epoch(a), journal_epoch(fx->j));
	assert_int_equal(journal_head(a), 14);
	assert_int_equal(journal_stats(a, &js, &cause), 0);
	assert_int_equal(js.events, 14);
	assert_int_equal(js.head, 14);
	assert_int_equal(js.first, 1);
	assert_int_equal(js.channels, 2);
	assert_int_equal(js.users, 3);
	assert_int_equal(js.memberships, 4);
	assert_int_equal(js.schema_version, migrate_latest());
	assert_true(js.db_bytes > 0);
	assert_int_equal(journal_check(a, NULL, NULL, &cause), 0);

	snprintf(bk, sizeof bk, "%s/backup.db", fx->dir);
	if (journal_backup(a, bk, &cause) != 0)
		fail_msg("backup: %s", cause);
	assert_int_equal(journal_backup(a, bk, &cause), -1);	/* exists */
	assert_non_null(strstr(cause, "File exists"));
	free(cause);
	cause = NULL;
	journal_close(a);

	a = journal_open_admin(bk, &cause);
	assert_non_null(a);
	assert_string_equal(journal_epoch(a), journal_epoch(fx->j));
	assert_int_equal(journal_stats(a, &js, &cause), 0);
	assert_int_equal(js.events, 14);
	assert_int_equal(js.head, 14);
	assert_int_equal(journal_check(a, NULL, NULL, &cause), 0);
	assert_meta(a, "run_state", "backup");
	journal_close(a);

	/* A server started on the copy takes a new epoch, on any boot. */
	a = journal_open(bk, JOURNAL_SYNC_FULL, &cause);
	assert_non_null(a);
	assert_string_not_equal(journal_epoch(a), journal_epoch(fx->j));
	assert_int_equal(journal_head(a), 14);
	assert_meta(a, "run_state", "running");
	journal_close(a);
}

static void
count_problem(const char *problem, void *arg)
{
	struct recs	*c = arg;

	snap_line(c, "%s", problem);
}

/* check reports a journal whose JSON disagrees with its columns. */
static void
t_check_problems(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;
	struct recs	 c = { NULL, 0, 0 };
	char		*cause = NULL;

	open_journal(fx);
	start(fx);
	populate(fx);
	b = new_batch(fx);
	add(b, 15, "message", "CREATE", "g", "alice", "x");
	b->recs[0].data = "{\"seq\":99,\"ts\":1,\"username\":\"alice\"}";
	add(b, 16, "user", "WAVE", "g", "alice", NULL);
	assert_true(commit(fx, b));
	c.text = xstrdup("");
	assert_int_equal(journal_check(fx->j, count_problem, &c, &cause), 2);
	assert_string_equal(c.text,
	    "event JSON disagrees with its seq or ts: 15\n"
	    "unknown type and action: 16 user WAVE\n");
	free(c.text);
}

/* check reports invites and bans that no channel's events allow. */
static void
t_check_access(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;
	struct recs	 c = { NULL, 0, 0 };
	char		*cause = NULL;

	open_journal(fx);
	start(fx);
	b = new_batch(fx);
	add(b, 1, "channel", "CREATE", "pub", "alice", NULL);
	add(b, 2, "channel", "CREATE", "sec", "alice", NULL);
	b->recs[1].priv = 1;
	add(b, 3, "channel", "INVITE", "sec", "bob", NULL);
	add(b, 4, "channel", "BAN", "pub", "bob", NULL);
	assert_true(commit(fx, b));
	assert_int_equal(journal_check(fx->j, NULL, NULL, &cause), 0);
	b = new_batch(fx);
	add(b, 5, "channel", "INVITE", "pub", "carol", NULL);
	add(b, 6, "channel", "BAN", "gone", "dave", NULL);
	assert_true(commit(fx, b));
	c.text = xstrdup("");
	assert_int_equal(journal_check(fx->j, count_problem, &c, &cause), 2);
	assert_string_equal(c.text,
	    "invite or ban of a missing channel: ban gone dave\n"
	    "invite to a public channel: pub carol\n");
	free(c.text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(t_admin),
		T(t_check_problems),
		T(t_check_access),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
