/*
 * test_journal_read.c: the reads on the loop thread's connection, on a
 * populated journal: the events after a cursor, a user's own events, a
 * channel's history, the tail, and the snapshot in one go.
 */
#include "config.h"

#include "journal-test.h"

static int
collect(const struct journal_rec *r, void *arg)
{
	struct recs	*c = arg;

	appendf(&c->text, "%lld %s %s %s %s\n", (long long)r->seq, r->type,
	    r->action, r->resource, r->actor);
	return (++c->n == c->stop_after);
}

#define ASSERT_RECS(call, want) do {					\
	struct recs	 c_ = { xstrdup(""), 0, 0 };			\
	char		*cause_ = NULL;					\
	int		 n_;						\
									\
	n_ = (call);							\
	if (n_ == -1)							\
		fail_msg("%s: %s", #call, cause_);			\
	if (strcmp(c_.text, (want)) != 0) {				\
		print_error("%s\n--- got\n%s--- want\n%s", #call,	\
		    c_.text, (want));					\
		fail();							\
	}								\
	assert_int_equal(n_, c_.n);					\
	free(c_.text);							\
} while (0)

/* The reads behind RESUME, HISTORY and wschatctl tail. */
static void
t_reads(void **state)
{
	struct fx	*fx = *state;
	struct journal	*j;

	j = open_journal(fx);
	start(fx);
	populate(fx);

	ASSERT_RECS(journal_events(j, 2, 6, 0, collect, &c_, &cause_),
	    "3 user JOIN g bob\n"
	    "4 message CREATE g alice\n"
	    "5 message CREATE g bob\n"
	    "6 channel CREATE h bob\n");
	ASSERT_RECS(journal_events(j, 2, 6, 2, collect, &c_, &cause_),
	    "3 user JOIN g bob\n"
	    "4 message CREATE g alice\n");
	ASSERT_RECS(journal_events(j, 11, -1, 0, collect, &c_, &cause_),
	    "12 message CREATE h alice\n"
	    "13 user JOIN g carol\n"
	    "14 message CREATE g carol\n");
	ASSERT_RECS(journal_events(j, 14, -1, 0, collect, &c_, &cause_), "");
	ASSERT_RECS(journal_events(j, 5, 5, 0, collect, &c_, &cause_), "");
	/* The callback stops the read. */
	ASSERT_RECS((c_.stop_after = 2,
	    journal_events(j, 0, -1, 0, collect, &c_, &cause_)),
	    "1 channel CREATE g alice\n"
	    "2 user JOIN g alice\n");

	ASSERT_RECS(journal_user_events_desc(j, "alice", 0, collect, &c_,
	    &cause_),
	    "8 user JOIN h alice\n"
	    "2 user JOIN g alice\n");
	ASSERT_RECS(journal_user_events_desc(j, "bob", 3, collect, &c_,
	    &cause_),
	    "10 user PART g bob\n"
	    "7 user JOIN h bob\n");
	ASSERT_RECS(journal_user_events_desc(j, "nobody", 0, collect, &c_,
	    &cause_), "");

	ASSERT_RECS(journal_history(j, "g", 0, 0, collect, &c_, &cause_),
	    "14 message CREATE g carol\n"
	    "11 message CREATE g alice\n"
	    "5 message CREATE g bob\n"
	    "4 message CREATE g alice\n");
	ASSERT_RECS(journal_history(j, "g", 0, 2, collect, &c_, &cause_),
	    "14 message CREATE g carol\n"
	    "11 message CREATE g alice\n");
	ASSERT_RECS(journal_history(j, "g", 11, 2, collect, &c_, &cause_),
	    "5 message CREATE g bob\n"
	    "4 message CREATE g alice\n");
	ASSERT_RECS(journal_history(j, "h", 9, 0, collect, &c_, &cause_), "");
	ASSERT_RECS(journal_history(j, "none", 0, 5, collect, &c_, &cause_),
	    "");

	ASSERT_RECS(journal_tail(j, 3, collect, &c_, &cause_),
	    "12 message CREATE h alice\n"
	    "13 user JOIN g carol\n"
	    "14 message CREATE g carol\n");
	ASSERT_RECS(journal_tail(j, 0, collect, &c_, &cause_), "");
}

/* SNAPSHOT: head, channels, the user's channels, members, last messages. */
static void
t_snapshot(void **state)
{
	struct fx	*fx = *state;
	struct journal	*j;
	char		*s;
	int64_t		 seq = -1;

	j = open_journal(fx);
	s = snapshot(j, "alice", 2, 0, &seq);
	assert_string_equal(s, "BEGIN 0\n");
	assert_int_equal(seq, 0);
	free(s);

	start(fx);
	populate(fx);
	s = snapshot(j, "alice", 2, 0, &seq);
	assert_int_equal(seq, 14);
	assert_string_equal(s, POPULATED_ALICE_2);
	free(s);

	/* No name: channels only. Unknown user: no subs. */
	s = snapshot(j, NULL, 2, 0, &seq);
	assert_string_equal(s, POPULATED_CHANNELS);
	free(s);
	s = snapshot(j, "zed", 5, 0, &seq);
	assert_string_equal(s, POPULATED_CHANNELS);
	free(s);
	s = snapshot(j, "bob", 0, 0, &seq);
	assert_string_equal(s, POPULATED_CHANNELS
	    "SUB h 7\nMEMBER h bob 7\nMEMBER h alice 8\n");
	free(s);
	/* Stopping early ends the read transaction cleanly. */
	s = snapshot(j, "alice", 2, 10, &seq);
	free(s);
	s = snapshot(j, NULL, 0, 0, &seq);
	assert_string_equal(s, POPULATED_CHANNELS);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(t_reads),
		T(t_snapshot),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
