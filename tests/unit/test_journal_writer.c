/*
 * test_journal_writer.c: the writer thread against real SQLite files:
 * batches commit in order and their done callbacks run on the loop
 * thread, journal_stop() drains the queue, the state tables follow every
 * batch, a bad batch leaves nothing behind, retention by the writer and
 * by journal_prune(), and (debug builds) every write step failing in turn.
 */
#include "config.h"

#include "journal-test.h"

/* Batches commit in order, callbacks run on the loop thread, in order. */
static void
t_writer_order(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;
	int64_t		 seq = 0;
	int		 i, k, first;

	open_journal(fx);
	start(fx);
	first = fx->nextid;
	for (i = 0; i < 50; i++) {
		b = new_batch(fx);
		if (i == 0)
			add(b, ++seq, "channel", "CREATE", "g", "alice", NULL);
		for (k = 0; i > 0 && k < i % 7; k++)	/* some batches empty */
			add(b, ++seq, "message", "CREATE", "g", "alice", "hi");
		submit(fx, b);
	}
	wait_done(fx, 50);
	for (i = 0; i < 50; i++) {
		assert_int_equal(fx->done.ids[i], first + i);
		assert_true(fx->done.ok[i]);
		assert_null(fx->done.cause[i]);
	}
	assert_int_equal(journal_head(fx->j), seq);
	assert_int_equal(count(fx->j, "SELECT count(*) FROM events"), seq);
	journal_stop(fx->j);
	assert_int_equal(journal_head(fx->j), seq);
	reopen(fx);
	assert_int_equal(journal_head(fx->j), seq);
}

/* journal_stop() commits what is queued and runs its callbacks. */
static void
t_stop_drains(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;
	int		 i;

	open_journal(fx);
	start(fx);
	for (i = 0; i < 20; i++) {	/* from the third on: duplicates */
		b = new_batch(fx);
		add(b, i + 1, "channel", "CREATE", i % 2 ? "odd" : "even",
		    "alice", NULL);
		submit(fx, b);
	}
	journal_stop(fx->j);		/* no loop run: stop delivers */
	assert_int_equal(fx->done.n, 20);
	for (i = 0; i < 20; i++) {
		assert_int_equal(fx->done.ids[i], i);
		assert_int_equal(fx->done.ok[i], i < 2);
		if (i >= 2)
			assert_non_null(strstr(fx->done.cause[i],
			    "journal write failed: UNIQUE constraint failed"));
	}
	assert_int_equal(journal_head(fx->j), 2);
	assert_rows(fx->j, "SELECT seq FROM events", "1\n2\n");
}

struct loaded {
	char	*text;
};

static void
load_channel(const char *name, const char *creator, int64_t seq, int priv,
    void *arg)
{
	struct loaded	*l = arg;

	appendf(&l->text, "channel %s %s %lld%s\n", name, creator,
	    (long long)seq, priv ? " private" : "");
}

static void
load_access(const char *channel, int kind, const char *user, void *arg)
{
	struct loaded	*l = arg;

	appendf(&l->text, "%s %s %s\n", kind == STATE_BAN ? "ban" : "invite",
	    channel, user);
}

static void
load_member(const char *channel, const char *user, int64_t seq, void *arg)
{
	struct loaded	*l = arg;

	appendf(&l->text, "member %s %s %lld\n", channel, user,
	    (long long)seq);
}

static void
assert_loaded(struct journal *j, const char *want)
{
	struct journal_state_cb	 cbs = { .channel = load_channel,
				    .member = load_member, .access = load_access };
	struct loaded		 l;
	char			*cause = NULL;

	l.text = xstrdup("");
	cbs.arg = &l;
	if (journal_load_state(j, &cbs, &cause) != 0)
		fail_msg("load_state: %s", cause);
	if (strcmp(l.text, want) != 0) {
		print_error("--- got\n%s--- want\n%s", l.text, want);
		free(l.text);
		fail();
	}
	free(l.text);
}

/* The state tables follow CREATE, JOIN, PART and DELETE in each batch. */
static void
t_state_tables(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;

	open_journal(fx);
	start(fx);
	populate(fx);
	assert_loaded(fx->j,
	    "channel g alice 1\n"
	    "channel h bob 6\n"
	    "member g alice 2\n"
	    "member h bob 7\n"
	    "member h alice 8\n"
	    "member g carol 13\n");
	assert_rows(fx->j, "SELECT * FROM users ORDER BY name",
	    "alice|1|1764000001000|12|1764000012000\n"
	    "bob|3|1764000003000|10|1764000010000\n"
	    "carol|13|1764000013000|14|1764000014000\n");
	assert_rows(fx->j, "SELECT * FROM channels ORDER BY name",
	    "g|alice|1|1764000001000|0\nh|bob|6|1764000006000|0\n");

	/* DELETE as the server does it: PART every member, then DELETE. */
	b = new_batch(fx);
	add(b, 15, "user", "PART", "g", "alice", NULL);
	add(b, 16, "user", "PART", "g", "carol", NULL);
	add(b, 17, "channel", "DELETE", "g", "alice", NULL);
	assert_true(commit(fx, b));
	assert_loaded(fx->j,
	    "channel h bob 6\n"
	    "member h bob 7\n"
	    "member h alice 8\n");

	/* DELETE alone still drops the channel's memberships. */
	b = new_batch(fx);
	add(b, 18, "channel", "DELETE", "h", "bob", NULL);
	add(b, 19, "channel", "CREATE", "g", "carol", NULL);
	add(b, 20, "user", "JOIN", "g", "bob", NULL);
	assert_true(commit(fx, b));
	assert_loaded(fx->j, "channel g carol 19\nmember g bob 20\n");
	assert_rows(fx->j, "SELECT count(*) FROM memberships", "1\n");
	assert_int_equal(journal_check(fx->j, NULL, NULL, NULL), 0);

	/* The state is there after a restart. */
	journal_stop(fx->j);
	reopen(fx);
	assert_loaded(fx->j, "channel g carol 19\nmember g bob 20\n");
}

/* An access event as the server builds it: the target is the actor. */
static void
add_access(struct tbatch *b, int64_t seq, const char *action,
    const char *channel, const char *target, const char *by)
{
	struct journal_rec	*r;

	add(b, seq, "channel", action, channel, target, NULL);
	r = &b->recs[b->n - 1];
	free(b->strs[b->n - 1]);
	xasprintf(&b->strs[b->n - 1], "{\"seq\":%lld,\"ts\":%lld,"
	    "\"username\":\"%s\",\"by\":\"%s\"}", (long long)seq,
	    (long long)r->ts, target, by);
	r->data = b->strs[b->n - 1];
	r->priv = 1;
}

/*
 * Private channels, invites and bans follow their events: an invite is
 * used up by the JOIN and taken back by a BAN, UNBAN lifts a ban, DELETE
 * takes both lists with it, and all of it is there after a restart.
 */
static void
t_access_tables(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;

	open_journal(fx);
	start(fx);
	b = new_batch(fx);
	add(b, 1, "channel", "CREATE", "p", "alice", NULL);
	b->recs[0].priv = 1;
	add_access(b, 2, "INVITE", "p", "bob", "alice");
	add_access(b, 3, "INVITE", "p", "carol", "alice");
	add_access(b, 4, "INVITE", "p", "dave", "alice");
	add(b, 5, "user", "JOIN", "p", "bob", NULL);
	b->recs[4].priv = 1;
	add_access(b, 6, "BAN", "p", "carol", "alice");
	add_access(b, 7, "BAN", "p", "erin", "alice");
	add_access(b, 8, "UNBAN", "p", "erin", "alice");
	add(b, 9, "channel", "CREATE", "q", "bob", NULL);
	add_access(b, 10, "BAN", "q", "alice", "bob");
	b->recs[9].priv = 0;
	assert_true(commit(fx, b));
	assert_loaded(fx->j,
	    "channel p alice 1 private\n"
	    "channel q bob 9\n"
	    "invite p dave\n"
	    "ban p carol\n"
	    "ban q alice\n"
	    "member p bob 5\n");
	assert_rows(fx->j, "SELECT * FROM invites", "p|dave|alice|4\n");
	assert_rows(fx->j, "SELECT * FROM bans ORDER BY channel",
	    "p|carol|alice|6\nq|alice|bob|10\n");
	assert_rows(fx->j, "SELECT seq FROM events WHERE private = 1",
	    "1\n2\n3\n4\n5\n6\n7\n8\n");
	assert_int_equal(journal_check(fx->j, NULL, NULL, NULL), 0);

	journal_stop(fx->j);
	reopen(fx);
	assert_loaded(fx->j,
	    "channel p alice 1 private\n"
	    "channel q bob 9\n"
	    "invite p dave\n"
	    "ban p carol\n"
	    "ban q alice\n"
	    "member p bob 5\n");

	/* DELETE as the server does it: the lists go with the channel. */
	start(fx);
	b = new_batch(fx);
	add(b, 11, "user", "PART", "p", "bob", NULL);
	add(b, 12, "channel", "DELETE", "p", "alice", NULL);
	assert_true(commit(fx, b));
	assert_loaded(fx->j, "channel q bob 9\nban q alice\n");
	assert_rows(fx->j, "SELECT count(*) FROM invites", "0\n");
}

/* The head lives in sqlite_sequence: pruning everything keeps it. */
static void
t_head_survives_prune(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;
	char		*cause = NULL;
	int		 i, n;

	open_journal(fx);
	start(fx);
	b = new_batch(fx);
	add_ts(b, 1, 1000, "channel", "CREATE", "g", "alice", NULL);
	for (i = 2; i <= 10; i++)
		add_ts(b, i, 1000 + i, "message", "CREATE", "g", "alice", "x");
	assert_true(commit(fx, b));
	journal_stop(fx->j);

	/* 1970 is more than a day ago: everything goes. */
	n = journal_prune(fx->j, 0, 1, 3, &cause);
	assert_int_equal(n, 10);
	assert_int_equal(count(fx->j, "SELECT count(*) FROM events"), 0);
	reopen(fx);
	assert_int_equal(journal_head(fx->j), 10);
	assert_int_equal(journal_first(fx->j), 11);
	assert_rows(fx->j, "SELECT * FROM channels", "g|alice|1|1000|0\n");

	/* A seq at or below the head is never accepted again. */
	start(fx);
	b = new_batch(fx);
	add(b, 5, "message", "CREATE", "g", "alice", "again");
	assert_false(commit(fx, b));
	assert_non_null(strstr(fx->done.cause[fx->done.n - 1],
	    "seq 5 is not after 10"));
	b = new_batch(fx);
	add(b, 11, "message", "CREATE", "g", "alice", "next");
	assert_true(commit(fx, b));
	assert_int_equal(journal_head(fx->j), 11);
	assert_int_equal(journal_first(fx->j), 11);
}

/* The state tables and the event count, as one comparable string. */
static char *
state_text(struct journal *j)
{
	char	*a, *b, *c, *d, *all;

	a = dump(j, "SELECT count(*), max(seq) FROM events");
	b = dump(j, "SELECT * FROM channels ORDER BY name");
	c = dump(j, "SELECT * FROM memberships ORDER BY channel, user");
	d = dump(j, "SELECT * FROM users ORDER BY name");
	xasprintf(&all, "%s--\n%s--\n%s--\n%s", a, b, c, d);
	free(a);
	free(b);
	free(c);
	free(d);
	return (all);
}

/* A batch with a bad record fails whole, and the next one commits. */
static void
t_bad_batch(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;
	char		*before, *after;

	open_journal(fx);
	start(fx);
	populate(fx);
	before = state_text(fx->j);
	b = new_batch(fx);
	add(b, 15, "channel", "CREATE", "k", "dave", NULL);
	add(b, 16, "user", "JOIN", "k", "dave", NULL);
	add(b, 17, "message", "CREATE", "k", "dave", "x");
	b->recs[2].data = "{not json";
	assert_false(commit(fx, b));
	assert_non_null(strstr(fx->done.cause[fx->done.n - 1],
	    "journal write failed: CHECK constraint failed"));
	after = state_text(fx->j);
	assert_string_equal(before, after);
	free(after);
	assert_int_equal(journal_head(fx->j), 14);

	b = new_batch(fx);
	add(b, 15, "channel", "CREATE", "k", "dave", NULL);
	add(b, 16, "bogus", "CREATE", "k", "dave", NULL);
	assert_false(commit(fx, b));
	after = state_text(fx->j);
	assert_string_equal(before, after);
	free(after);
	free(before);

	b = new_batch(fx);
	add(b, 15, "channel", "CREATE", "k", "dave", NULL);
	assert_true(commit(fx, b));
	assert_int_equal(journal_head(fx->j), 15);
	assert_int_equal(journal_check(fx->j, NULL, NULL, NULL), 0);
}

/* Is there a file named <db>.rescued-* beside the journal? */
static int
rescued(struct fx *fx, void *arg)
{
	struct dirent	*de;
	DIR		*d;
	int		 found = 0;

	if ((d = opendir(fx->dir)) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL)
		found |= strncmp(de->d_name, "wschat.db.rescued-", 18) == 0;
	closedir(d);
	return (found);
}

/*
 * The file moved away under the writer: the next batch is refused, not
 * committed into the file that is no longer at the path, and so is every
 * one after; the writer saves a copy of what it had beside the path.
 */
static void
t_moved_file(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;
	char		 moved[160];

	open_journal(fx);
	start(fx);
	populate(fx);
	assert_null(journal_broken(fx->j));
	snprintf(moved, sizeof moved, "%s.moved", fx->path);
	assert_int_equal(rename(fx->path, moved), 0);

	b = new_batch(fx);
	add(b, 15, "channel", "CREATE", "k", "dave", NULL);
	assert_false(commit(fx, b));
	assert_non_null(strstr(fx->done.cause[fx->done.n - 1],
	    "journal write failed: refused: the database file was moved"));
	assert_non_null(journal_broken(fx->j));
	assert_int_equal(journal_head(fx->j), 14);
	b = new_batch(fx);
	add(b, 15, "channel", "CREATE", "k", "dave", NULL);
	assert_false(commit(fx, b));
	assert_int_equal(journal_head(fx->j), 14);
	wait_until(fx, rescued, NULL, "a rescued copy");

	/* The moved file never got the refused batch. */
	journal_close(fx->j);
	fx->j = NULL;
	assert_int_equal(rename(moved, fx->path), 0);
	open_journal(fx);
	assert_null(journal_broken(fx->j));
	assert_int_equal(journal_head(fx->j), 14);
	assert_int_equal(count(fx->j, "SELECT count(*) FROM channels"
	    " WHERE name = 'k'"), 0);
}

#ifdef WSCHAT_DEBUG
/*
 * Fail the 1st, 2nd, 3rd ... write step of a batch until a run completes
 * without hitting the fault: each failure must leave nothing of the batch
 * and must not stop the next batch from committing.
 */
static void
t_fault_injection(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;
	char		*before, *after, *cause;
	long		 nth;
	int		 ok, failures = 0;

	for (nth = 1; nth < 1000; nth++) {
		journal_close(fx->j);
		fx->j = NULL;
		unlink(fx->path);
		open_journal(fx);
		start(fx);
		populate(fx);
		before = state_text(fx->j);

		journal_fail_step(nth);
		b = new_batch(fx);
		add(b, 15, "channel", "CREATE", "k", "dave", NULL);
		add(b, 16, "user", "JOIN", "k", "dave", NULL);
		add(b, 17, "user", "JOIN", "g", "dave", NULL);
		add(b, 18, "message", "CREATE", "k", "dave", "x");
		add(b, 19, "user", "PART", "h", "alice", NULL);
		add(b, 20, "channel", "DELETE", "g", "alice", NULL);
		ok = commit(fx, b);
		journal_fail_step(0);
		if (ok) {
			free(before);
			break;
		}
		failures++;
		cause = fx->done.cause[fx->done.n - 1];
		assert_non_null(cause);
		assert_string_equal(cause,
		    "journal write failed: disk I/O error");
		after = state_text(fx->j);
		assert_string_equal(before, after);
		free(after);
		free(before);
		assert_int_equal(journal_head(fx->j), 14);
		assert_int_equal(journal_first(fx->j), 1);

		/* The server retries from head + 1: that batch commits. */
		b = new_batch(fx);
		add(b, 15, "channel", "CREATE", "k", "dave", NULL);
		add(b, 16, "message", "CREATE", "g", "alice", "after");
		assert_true(commit(fx, b));
		assert_int_equal(journal_head(fx->j), 16);
		assert_rows(fx->j, "SELECT name FROM channels ORDER BY name",
		    "g\nh\nk\n");
		assert_int_equal(journal_check(fx->j, NULL, NULL, NULL), 0);
	}
	/* BEGIN, 6 events, their state and user rows, COMMIT. */
	assert_true(failures >= 15);
	assert_int_equal(journal_head(fx->j), 20);
	assert_loaded(fx->j,
	    "channel h bob 6\n"
	    "channel k dave 15\n"
	    "member h bob 7\n"
	    "member k dave 16\n");
}

/* A failed retention step is logged and retried; batches still commit. */
static void
t_fault_prune(void **state)
{
	struct fx	*fx = *state;
	char		*cause = NULL;
	long		 nth;
	int		 n;

	open_journal(fx);
	start(fx);
	populate(fx);
	journal_stop(fx->j);
	for (nth = 1; nth < 100; nth++) {
		journal_fail_step(nth);
		n = journal_prune(fx->j, 4, 0, 3, &cause);
		journal_fail_step(0);
		if (n >= 0)
			break;
		assert_string_equal(cause,
		    "journal write failed: disk I/O error");
		free(cause);
		cause = NULL;
	}
	assert_true(nth > 1);
	assert_int_equal(count(fx->j, "SELECT count(*) FROM events"), 4);
	assert_int_equal(journal_first(fx->j), 11);
	assert_int_equal(journal_head(fx->j), 14);
}
#endif

/* Is the oldest retained seq *arg? */
static int
first_is(struct fx *fx, void *arg)
{
	return (journal_first(fx->j) == *(int64_t *)arg);
}

/* Retention: journal_prune and the writer both keep the newest events. */
static void
t_retention(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b;
	char		*cause = NULL;
	int64_t		 seq = 0, want = 1171;
	int		 i, k, n;

	open_journal(fx);
	start(fx);
	for (i = 0; i < 25; i++) {
		b = new_batch(fx);
		for (k = 0; k < 48; k++) {
			seq++;
			if (seq == 1)
				add(b, seq, "channel", "CREATE", "g", "al", NULL);
			else
				add(b, seq, "message", "CREATE", "g", "al", "m");
		}
		submit(fx, b);
	}
	wait_done(fx, 25);
	assert_int_equal(journal_head(fx->j), 1200);
	journal_stop(fx->j);

	n = journal_prune(fx->j, 0, 0, 0, &cause);
	assert_int_equal(n, 0);
	n = journal_prune(fx->j, 100, 0, 0, &cause);
	assert_int_equal(n, 1100);
	assert_int_equal(count(fx->j, "SELECT count(*) FROM events"), 100);
	assert_int_equal(journal_first(fx->j), 1101);
	n = journal_prune(fx->j, 100, 0, 0, &cause);
	assert_int_equal(n, 0);

	/* The writer prunes when idle once retention is set. */
	start(fx);
	journal_set_retention(fx->j, 30, 0);
	n = journal_prune(fx->j, 1, 0, 0, &cause);	/* not while it runs */
	assert_int_equal(n, -1);
	assert_non_null(strstr(cause, "writer thread"));
	free(cause);
	wait_until(fx, first_is, &want, "the writer pruned to the newest 30");
	assert_int_equal(journal_first(fx->j), 1171);
	assert_int_equal(count(fx->j, "SELECT count(*) FROM events"), 30);
	assert_int_equal(journal_head(fx->j), 1200);
	assert_int_equal(journal_check(fx->j, NULL, NULL, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(t_writer_order),
		T(t_stop_drains),
		T(t_state_tables),
		T(t_access_tables),
		T(t_head_survives_prune),
		T(t_bad_batch),
		T(t_moved_file),
#ifdef WSCHAT_DEBUG
		T(t_fault_injection),
		T(t_fault_prune),
#endif
		T(t_retention),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
