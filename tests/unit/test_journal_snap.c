/*
 * test_journal_snap.c: snapshot cursors. Every way of paging one gives
 * journal_snapshot()'s rows, a journal not in WAL mode is refused, and a
 * cursor keeps its seq while the writer commits and the checkpointer
 * copies the WAL.
 */
#include "config.h"

#include <sys/stat.h>

#include "journal-test.h"

/* A snapshot cursor's rows, as the snapshot callbacks above write them. */
struct cur {
	struct recs	 r;
	int		 stop_every;	/* a callback says stop at this row */
	int		 in_call;	/* rows in the current next() call */
};

static int
cur_begin(int64_t seq, void *arg)
{
	fail_msg("journal_snap_next called begin (%lld)", (long long)seq);
	return (1);
}

static int
cur_stop(struct cur *cu)
{
	cu->in_call++;
	return (cu->stop_every != 0 && cu->in_call % cu->stop_every == 0);
}

static int
cur_channel(const char *name, const char *creator, int64_t seq, int priv,
    void *arg)
{
	snap_channel(name, creator, seq, priv, &((struct cur *)arg)->r);
	return (cur_stop(arg));
}

static int
cur_sub(const char *channel, int64_t seq, void *arg)
{
	snap_sub(channel, seq, &((struct cur *)arg)->r);
	return (cur_stop(arg));
}

static int
cur_member(const char *channel, const char *user, int64_t seq, void *arg)
{
	snap_member(channel, user, seq, &((struct cur *)arg)->r);
	return (cur_stop(arg));
}

static int
cur_message(const struct journal_rec *r, void *arg)
{
	snap_message(r, &((struct cur *)arg)->r);
	return (cur_stop(arg));
}

/* Open a cursor; its text starts with the BEGIN line journal_snapshot's has. */
static struct journal_snap *
cur_open(struct journal *j, const char *user, size_t nmessages,
    struct cur *cu, int64_t *seq)
{
	struct journal_snap	*s;
	char			*cause = NULL;

	memset(cu, 0, sizeof *cu);
	cu->r.text = xstrdup("");
	s = journal_snap_open(j, user, 0, nmessages, seq, &cause);
	if (s == NULL)
		fail_msg("journal_snap_open: %s", cause);
	snap_begin(*seq, &cu->r);
	return (s);
}

/* One next() call: checks the page bounds; returns what next returned. */
static int
cur_next(struct journal_snap *s, struct cur *cu, size_t max_rows)
{
	struct journal_snapshot_cb	 cbs = { cur_begin, cur_channel,
	    cur_sub, cur_member, cur_message, NULL };
	char				*cause = NULL;
	int				 rc;

	cbs.arg = cu;
	cu->in_call = 0;
	rc = journal_snap_next(s, &cbs, max_rows, &cause);
	if (rc == -1)
		fail_msg("journal_snap_next: %s", cause);
	assert_true(rc == 0 || rc == 1);
	if (max_rows != 0)
		assert_true(cu->in_call <= (int)max_rows);
	if (cu->stop_every != 0)
		assert_true(cu->in_call <= cu->stop_every);
	/* "More remain" is exact: a call that says so delivered something. */
	if (rc == 1)
		assert_true(cu->in_call > 0);
	return (rc);
}

/* A whole snapshot through a cursor, in pages; *calls is how many. */
static char *
cursor(struct journal *j, const char *user, size_t nmessages,
    size_t max_rows, int stop_every, int64_t *seq, int *calls)
{
	struct journal_snap	*s;
	struct cur		 cu;
	int			 rc, n = 0;

	s = cur_open(j, user, nmessages, &cu, seq);
	cu.stop_every = stop_every;
	do {
		assert_true(++n < 10000);
		rc = cur_next(s, &cu, max_rows);
	} while (rc == 1);
	/* Done stays done. */
	assert_int_equal(cur_next(s, &cu, max_rows), 0);
	assert_int_equal(cu.in_call, 0);
	journal_snap_close(s);
	if (calls != NULL)
		*calls = n;
	return (cu.r.text);
}

/* Every way of paging a cursor gives journal_snapshot()'s rows. */
static void
assert_cursor_matches(struct journal *j, const char *user, size_t nmessages)
{
	static const struct {
		size_t	max_rows;
		int	stop_every;
	} ways[] = {
		{ 0, 0 }, { 1, 0 }, { 2, 0 }, { 5, 0 }, { 1000, 0 },
		{ 0, 1 }, { 0, 3 }, { 3, 2 }, { 2, 3 }, { 1, 1 },
	};
	char	*want, *got;
	int64_t	 wseq, gseq;
	int	 calls, rows;
	size_t	 i;

	want = snapshot(j, user, nmessages, 0, &wseq);
	for (i = 0; i < sizeof ways / sizeof ways[0]; i++) {
		got = cursor(j, user, nmessages, ways[i].max_rows,
		    ways[i].stop_every, &gseq, &calls);
		if (strcmp(got, want) != 0 || gseq != wseq) {
			print_error("user %s, %zu messages, max_rows %zu, stop "
			    "every %d\n--- got (seq %lld)\n%s--- want (seq "
			    "%lld)\n%s", user != NULL ? user : "(none)",
			    nmessages, ways[i].max_rows, ways[i].stop_every,
			    (long long)gseq, got, (long long)wseq, want);
			fail();
		}
		/* One row a call: as many calls as rows (one if none). */
		if (ways[i].max_rows == 1 || ways[i].stop_every == 1) {
			rows = 0;
			for (const char *p = got; *p != '\0'; p++)
				rows += *p == '\n';
			rows--;		/* the BEGIN line */
			assert_int_equal(calls, rows > 0 ? rows : 1);
		}
		free(got);
	}
	free(want);
}

/* Snapshot cursors: journal_snapshot's rows, page by page. */
static void
t_snap_cursor(void **state)
{
	struct fx	*fx = *state;
	struct journal	*j, *a;
	char		*s, *cause = NULL, bk[160];
	int64_t		 seq = -1;
	int		 calls;

	j = open_journal(fx);
	s = cursor(j, "alice", 2, 1, 0, &seq, &calls);
	assert_string_equal(s, "BEGIN 0\n");
	assert_int_equal(seq, 0);
	assert_int_equal(calls, 1);
	free(s);
	assert_cursor_matches(j, "alice", 2);

	start(fx);
	populate(fx);
	s = cursor(j, "alice", 2, 1, 0, &seq, NULL);
	assert_int_equal(seq, 14);
	assert_string_equal(s, POPULATED_ALICE_2);
	free(s);

	assert_cursor_matches(j, "alice", 2);
	assert_cursor_matches(j, "alice", 100);
	assert_cursor_matches(j, "alice", 0);
	assert_cursor_matches(j, "bob", 0);
	assert_cursor_matches(j, "bob", 1);
	assert_cursor_matches(j, "carol", 3);
	assert_cursor_matches(j, "zed", 5);
	assert_cursor_matches(j, NULL, 2);

	/* Without WAL a long read would block the writer: refused. */
	snprintf(bk, sizeof bk, "%s/backup.db", fx->dir);
	if (journal_backup(j, bk, &cause) != 0)
		fail_msg("backup: %s", cause);
	if ((a = journal_open_admin(bk, &cause)) == NULL)
		fail_msg("journal_open_admin: %s", cause);
	assert_null(journal_snap_open(a, "alice", 0, 2, &seq, &cause));
	assert_non_null(cause);
	assert_non_null(strstr(cause, "not in WAL mode (delete)"));
	free(cause);
	journal_close(a);
}

/* More than the checkpointer's 1000 pages of WAL, in one message. */
#define CKPT_TEXT	(5 * 1024 * 1024)

/* The size of a file, 0 if it is not there. */
static int64_t
file_size(const char *path)
{
	struct stat	sb;

	return (stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0);
}

/* Has the database file grown past *arg bytes? */
static int
file_grew(struct fx *fx, void *arg)
{
	return (file_size(fx->path) > *(int64_t *)arg);
}

/* A cursor stays at its seq while the writer commits and checkpoints. */
static void
t_snap_cursor_consistent(void **state)
{
	struct fx		*fx = *state;
	struct journal		*j;
	struct journal_snap	*a, *b, *c;
	struct tbatch		*bt;
	struct cur		 ca, cb, cc;
	char			*before, *after, *big, wal[160];
	int64_t			 seq, bseq, cseq, size;
	int			 i;

	j = open_journal(fx);
	start(fx);
	populate(fx);
	before = snapshot(j, "alice", 2, 0, &seq);
	assert_int_equal(seq, 14);

	/* a: one row read before the commits; b: none; c: closed early. */
	a = cur_open(j, "alice", 2, &ca, &seq);
	b = cur_open(j, "alice", 2, &cb, &bseq);
	c = cur_open(j, "alice", 2, &cc, &cseq);
	assert_int_equal(seq, 14);
	assert_int_equal(bseq, 14);
	assert_int_equal(cur_next(a, &ca, 1), 1);
	assert_int_equal(cur_next(c, &cc, 3), 1);
	journal_snap_close(c);

	/* New channels, joins, parts, messages, a deleted channel. */
	bt = new_batch(fx);
	add(bt, 15, "channel", "CREATE", "k", "alice", NULL);
	add(bt, 16, "user", "JOIN", "k", "alice", NULL);
	add(bt, 17, "message", "CREATE", "g", "alice", "seven");
	add(bt, 18, "message", "CREATE", "k", "alice", "eight");
	add(bt, 19, "user", "PART", "h", "bob", NULL);
	add(bt, 20, "user", "PART", "g", "carol", NULL);
	add(bt, 21, "user", "PART", "h", "alice", NULL);
	add(bt, 22, "channel", "CREATE", "m", "bob", NULL);
	assert_true(commit(fx, bt));
	bt = new_batch(fx);
	add(bt, 23, "user", "JOIN", "g", "dave", NULL);
	add(bt, 24, "message", "CREATE", "g", "dave", "nine");
	add(bt, 25, "channel", "DELETE", "h", "bob", NULL);
	assert_true(commit(fx, bt));
	assert_int_equal(journal_head(j), 25);

	/*
	 * A checkpoint past the readers: one message no cursor shows takes
	 * the WAL past the checkpointer's threshold, and the checkpoint has
	 * run once the database file grows (only by what the cursors see).
	 */
	size = file_size(fx->path);
	big = xmalloc(CKPT_TEXT + 1);
	memset(big, 'x', CKPT_TEXT);
	big[CKPT_TEXT] = '\0';
	bt = new_batch(fx);
	add(bt, 26, "message", "CREATE", "m", "bob", big);
	free(big);
	assert_true(commit(fx, bt));
	wait_until(fx, file_grew, &size, "the checkpointer copied the WAL");

	/* Between pages too. */
	for (i = 0; cur_next(a, &ca, 1) == 1; i++) {
		if (i == 3) {
			bt = new_batch(fx);
			add(bt, 26 + i, "message", "CREATE", "g", "alice",
			    "ten");
			assert_true(commit(fx, bt));
		}
	}
	while (cur_next(b, &cb, 2) == 1)
		continue;
	assert_string_equal(ca.r.text, before);
	assert_string_equal(cb.r.text, before);
	journal_snap_close(a);
	journal_snap_close(b);
	free(ca.r.text);
	free(cb.r.text);
	free(cc.r.text);
	free(before);

	/* A new cursor sees the new head and state, as journal_snapshot. */
	after = cursor(j, "alice", 2, 1, 0, &seq, NULL);
	assert_int_equal(seq, 29);
	free(after);
	assert_cursor_matches(j, "alice", 2);
	assert_cursor_matches(j, "dave", 5);

	/* No cursor left open: the last close checkpoints and drops the WAL. */
	journal_close(fx->j);
	fx->j = NULL;
	snprintf(wal, sizeof wal, "%s-wal", fx->path);
	assert_int_equal(access(wal, F_OK), -1);
}

/* A whole snapshot through a cursor in one call, with all set or not. */
static char *
cursor_all(struct journal *j, const char *user, int all)
{
	struct journal_snapshot_cb	 cbs = { cur_begin, cur_channel,
	    cur_sub, cur_member, cur_message, NULL };
	struct journal_snap		*s;
	struct cur			 cu;
	char				*cause = NULL;
	int64_t				 seq;

	memset(&cu, 0, sizeof cu);
	cu.r.text = xstrdup("");
	if ((s = journal_snap_open(j, user, all, 5, &seq, &cause)) == NULL)
		fail_msg("journal_snap_open: %s", cause);
	cbs.arg = &cu;
	if (journal_snap_next(s, &cbs, 0, &cause) != 0)
		fail_msg("journal_snap_next: %s", cause);
	journal_snap_close(s);
	return (cu.r.text);
}

/*
 * A private channel is in a snapshot only for its owner, a member, an
 * invited name and (all) an admin; the one-go snapshot agrees with the
 * cursor. A recreated channel's messages start at its own CREATE: the old
 * channel's "old" is not in it.
 */
static void
t_snap_private(void **state)
{
	static const char	*all = "CHANNEL pub alice 1\nCHANNEL sec alice 2 private\n"
				    "CHANNEL g alice 8\n";
	static const char	*pub = "CHANNEL pub alice 1\nCHANNEL g alice 8\n";
	static const struct {
		const char	*user;
		int		 all;
		const char	*more;
	} cases[] = {
		{ "alice", 0, "" },
		{ "carol", 0, "" },
		{ "bob", 0, "SUB sec 4\nSUB g 9\nMEMBER sec bob 4\n"
		    "MEMBER g bob 9\nMESSAGE g {\"seq\":10,\"ts\":1764000010000,"
		    "\"username\":\"alice\",\"text\":\"new\"}\n" },
		{ "dave", 0, NULL },
		{ NULL, 0, NULL },
		{ "dave", 1, "" },
	};
	struct fx	*fx = *state;
	struct journal	*j;
	struct tbatch	*b;
	char		*got, *want;
	size_t		 i;

	j = open_journal(fx);
	start(fx);
	b = new_batch(fx);
	add(b, 1, "channel", "CREATE", "pub", "alice", NULL);
	add(b, 2, "channel", "CREATE", "sec", "alice", NULL);
	add(b, 3, "channel", "INVITE", "sec", "carol", NULL);
	add(b, 4, "user", "JOIN", "sec", "bob", NULL);
	b->recs[1].priv = b->recs[2].priv = b->recs[3].priv = 1;
	add(b, 5, "channel", "CREATE", "g", "alice", NULL);
	add(b, 6, "message", "CREATE", "g", "alice", "old");
	add(b, 7, "channel", "DELETE", "g", "alice", NULL);
	add(b, 8, "channel", "CREATE", "g", "alice", NULL);
	add(b, 9, "user", "JOIN", "g", "bob", NULL);
	add(b, 10, "message", "CREATE", "g", "alice", "new");
	assert_true(commit(fx, b));

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		got = cursor_all(j, cases[i].user, cases[i].all);
		if (cases[i].more == NULL)
			want = xstrdup(pub);
		else
			xasprintf(&want, "%s%s", all, cases[i].more);
		if (strcmp(got, want) != 0) {
			print_error("user %s all %d\n--- got\n%s--- want\n%s",
			    cases[i].user != NULL ? cases[i].user : "(none)",
			    cases[i].all, got, want);
			fail();
		}
		free(got);
		free(want);
		if (!cases[i].all)
			assert_cursor_matches(j, cases[i].user, 5);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(t_snap_cursor),
		T(t_snap_private),
		T(t_snap_cursor_consistent),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
