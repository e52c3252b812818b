/*
 * test_journal.c: the journal against real SQLite files in a temporary
 * directory: migrations and the golden schema, the epoch and head, the
 * writer thread and its done callbacks, the state tables, retention, the
 * reads the protocol uses, the run state that decides whether a start
 * takes a new epoch, wschatctl's helpers, and (debug builds) every write
 * step failing in turn.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>

#include "testutil.h"

#define TS0	1764000000000LL		/* 2025-11-24T16:00:00Z */
#define MAXRECS	64

/* A batch as the loop would build it: records and their strings. */
struct tbatch {
	int			 id;
	size_t			 n;
	struct journal_rec	 recs[MAXRECS];
	char			*strs[MAXRECS];
	struct tbatch		*next;
};

/* What the done callbacks saw. */
struct done {
	int		 n;
	int		 ids[4096];
	int		 ok[4096];
	char		*cause[4096];
	int		 offthread;	/* a callback ran off the loop thread */
	pthread_t	 loop;
};

struct fx {
	char		 dir[64];
	char		 path[128];
	struct journal	*j;
	struct event_base *base;
	struct done	 done;
	struct tbatch	*batches;
	int		 nextid;
	int		 timed_out;
};

/* Make a temporary directory and an event base for one test. */
static int
setup(void **state)
{
	struct fx	*fx;

	fx = xcalloc(1, sizeof *fx);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/wschat-test.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return (-1);
	snprintf(fx->path, sizeof fx->path, "%s/wschat.db", fx->dir);
	fx->base = event_base_new();
	fx->done.loop = pthread_self();
	*state = fx;
	return (0);
}

/* Close everything and remove the directory. */
static int
teardown(void **state)
{
	struct fx	*fx = *state;
	struct tbatch	*b, *next;
	struct dirent	*de;
	DIR		*d;
	char		 name[512];
	size_t		 i;
	int		 k;

	journal_close(fx->j);
#ifdef WSCHAT_DEBUG
	journal_fake_boot_id(NULL);
#endif
	for (b = fx->batches; b != NULL; b = next) {
		next = b->next;
		for (i = 0; i < b->n; i++)
			free(b->strs[i]);
		free(b);
	}
	for (k = 0; k < fx->done.n; k++)
		free(fx->done.cause[k]);
	event_base_free(fx->base);
	if ((d = opendir(fx->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(name, sizeof name, "%s/%s", fx->dir, de->d_name);
			unlink(name);
		}
		closedir(d);
	}
	rmdir(fx->dir);
	free(fx);
	return (0);
}

/* Open the fixture's journal, failing the test if it cannot. */
static struct journal *
open_journal(struct fx *fx)
{
	char	*cause = NULL;

	fx->j = journal_open(fx->path, JOURNAL_SYNC_NORMAL, &cause);
	if (fx->j == NULL)
		fail_msg("journal_open: %s", cause);
	return (fx->j);
}

static void
reopen(struct fx *fx)
{
	journal_close(fx->j);
	fx->j = NULL;
	open_journal(fx);
}

/* The done callback: record the order and where it ran. */
static void
on_done(void *batch, int ok, const char *cause, void *arg)
{
	struct fx	*fx = arg;
	struct tbatch	*b = batch;
	struct done	*d = &fx->done;

	if (!pthread_equal(pthread_self(), d->loop))
		d->offthread = 1;
	if (d->n >= (int)(sizeof d->ids / sizeof d->ids[0]))
		return;
	d->ids[d->n] = b->id;
	d->ok[d->n] = ok;
	d->cause[d->n] = cause != NULL ? xstrdup(cause) : NULL;
	d->n++;
}

static void
start(struct fx *fx)
{
	char	*cause = NULL;

	if (journal_start(fx->j, fx->base, on_done, fx, &cause) != 0)
		fail_msg("journal_start: %s", cause);
}

static struct tbatch *
new_batch(struct fx *fx)
{
	struct tbatch	*b;

	b = xcalloc(1, sizeof *b);
	b->id = fx->nextid++;
	b->next = fx->batches;
	fx->batches = b;
	return (b);
}

/* Add a record with the wire JSON the server would build. */
static void
add_ts(struct tbatch *b, int64_t seq, int64_t ts, const char *type,
    const char *action, const char *resource, const char *actor,
    const char *text)
{
	struct journal_rec	*r;
	char			*data;

	assert_true(b->n < MAXRECS);
	if (text != NULL)
		xasprintf(&data, "{\"seq\":%lld,\"ts\":%lld,\"username\":\"%s\","
		    "\"text\":\"%s\"}", (long long)seq, (long long)ts, actor,
		    text);
	else
		xasprintf(&data, "{\"seq\":%lld,\"ts\":%lld,\"username\":\"%s\"}",
		    (long long)seq, (long long)ts, actor);
	r = &b->recs[b->n];
	r->seq = seq;
	r->ts = ts;
	r->type = type;
	r->action = action;
	r->resource = resource;
	r->actor = actor;
	r->data = data;
	b->strs[b->n++] = data;
}

static void
add(struct tbatch *b, int64_t seq, const char *type, const char *action,
    const char *resource, const char *actor, const char *text)
{
	add_ts(b, seq, TS0 + seq * 1000, type, action, resource, actor, text);
}

static void
submit(struct fx *fx, struct tbatch *b)
{
	journal_submit(fx->j, b, b->recs, b->n);
}

static void
on_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct fx	*fx = arg;

	fx->timed_out = 1;
	event_base_loopbreak(fx->base);
}

/* Run the loop until n done callbacks in all have run. */
static void
wait_done(struct fx *fx, int n)
{
	struct event	*tmo;
	struct timeval	 tv = { 10, 0 };

	tmo = evtimer_new(fx->base, on_timeout, fx);
	evtimer_add(tmo, &tv);
	while (fx->done.n < n && !fx->timed_out)
		event_base_loop(fx->base, EVLOOP_ONCE);
	event_free(tmo);
	assert_false(fx->timed_out);
	assert_false(fx->done.offthread);
}

/* A condition wait_until() polls for. */
struct until {
	struct fx	*fx;
	int		(*cond)(struct fx *, void *);
	void		*arg;
	int		 met;
};

static void
on_tick(evutil_socket_t fd, short events, void *arg)
{
	struct until	*u = arg;

	if (u->cond(u->fx, u->arg)) {
		u->met = 1;
		event_base_loopbreak(u->fx->base);
	}
}

/*
 * Run the loop until cond holds, for what the writer does without a done
 * callback (retention, checkpoints): it is checked every 5 ms, 10 s at most.
 */
static void
wait_until(struct fx *fx, int (*cond)(struct fx *, void *), void *arg,
    const char *what)
{
	struct until	 u = { fx, cond, arg, 0 };
	struct event	*tick, *tmo;
	struct timeval	 every = { 0, 5000 }, limit = { 10, 0 };

	if (cond(fx, arg))
		return;
	tmo = evtimer_new(fx->base, on_timeout, fx);
	tick = event_new(fx->base, -1, EV_PERSIST, on_tick, &u);
	evtimer_add(tmo, &limit);
	evtimer_add(tick, &every);
	while (!u.met && !fx->timed_out)
		event_base_loop(fx->base, EVLOOP_ONCE);
	event_free(tick);
	event_free(tmo);
	if (!u.met)
		fail_msg("timed out waiting until %s", what);
	assert_false(fx->done.offthread);
}

/* Submit one batch and wait for its callback; returns ok. */
static int
commit(struct fx *fx, struct tbatch *b)
{
	int	n = fx->done.n;

	submit(fx, b);
	wait_done(fx, n + 1);
	assert_int_equal(fx->done.ids[n], b->id);
	return (fx->done.ok[n]);
}

/* Append to *text, a string from malloc. */
static void appendf(char **, const char *, ...) printflike(2, 3);

static void
appendf(char **text, const char *fmt, ...)
{
	char	*more, *tmp;
	va_list	 ap;

	va_start(ap, fmt);
	xvasprintf(&more, fmt, ap);
	va_end(ap);
	xasprintf(&tmp, "%s%s", *text, more);
	free(more);
	free(*text);
	*text = tmp;
}

/* Rows of a query as "a|b\n" text (NULL as "-"); caller frees. */
struct dump {
	char	*text;
};

static int
dump_row(int ncols, const char *const *values, void *arg)
{
	struct dump	*d = arg;
	int		 i;

	for (i = 0; i < ncols; i++)
		appendf(&d->text, "%s%s", values[i] != NULL ? values[i] : "-",
		    i + 1 < ncols ? "|" : "\n");
	return (0);
}

static char *
dump(struct journal *j, const char *sql)
{
	struct dump	 d;
	char		*cause = NULL;

	d.text = xstrdup("");
	if (journal_query(j, sql, dump_row, &d, &cause) == -1)
		fail_msg("%s: %s", sql, cause);
	return (d.text);
}

/* Assert a query's rows equal text. */
static void
assert_rows(struct journal *j, const char *sql, const char *want)
{
	char	*got = dump(j, sql);

	if (strcmp(got, want) != 0) {
		print_error("%s\n--- got\n%s--- want\n%s", sql, got, want);
		free(got);
		fail();
	}
	free(got);
}

static int64_t
count(struct journal *j, const char *sql)
{
	char	*s = dump(j, sql);
	int64_t	 n = strtoll(s, NULL, 10);

	free(s);
	return (n);
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

/* Fill a journal: two channels, joins, parts and messages. */
static int64_t
populate(struct fx *fx)
{
	struct tbatch	*b = new_batch(fx);

	add(b, 1, "channel", "CREATE", "g", "alice", NULL);
	add(b, 2, "user", "JOIN", "g", "alice", NULL);
	add(b, 3, "user", "JOIN", "g", "bob", NULL);
	add(b, 4, "message", "CREATE", "g", "alice", "one");
	add(b, 5, "message", "CREATE", "g", "bob", "two");
	add(b, 6, "channel", "CREATE", "h", "bob", NULL);
	add(b, 7, "user", "JOIN", "h", "bob", NULL);
	add(b, 8, "user", "JOIN", "h", "alice", NULL);
	add(b, 9, "message", "CREATE", "h", "bob", "three");
	add(b, 10, "user", "PART", "g", "bob", NULL);
	add(b, 11, "message", "CREATE", "g", "alice", "four");
	add(b, 12, "message", "CREATE", "h", "alice", "five");
	add(b, 13, "user", "JOIN", "g", "carol", NULL);
	add(b, 14, "message", "CREATE", "g", "carol", "six");
	assert_true(commit(fx, b));
	return (14);
}

/* A snapshot of populate()'s journal starts so: its head and channels. */
#define POPULATED_CHANNELS						\
	"BEGIN 14\n"							\
	"CHANNEL g alice 1\n"						\
	"CHANNEL h bob 6\n"

/* The whole snapshot for alice, with the last 2 messages of a channel. */
#define POPULATED_ALICE_2						\
	POPULATED_CHANNELS						\
	"SUB g 2\n"							\
	"SUB h 8\n"							\
	"MEMBER g alice 2\n"						\
	"MEMBER g carol 13\n"						\
	"MEMBER h bob 7\n"						\
	"MEMBER h alice 8\n"						\
	"MESSAGE g {\"seq\":11,\"ts\":1764000011000,"			\
	"\"username\":\"alice\",\"text\":\"four\"}\n"			\
	"MESSAGE g {\"seq\":14,\"ts\":1764000014000,"			\
	"\"username\":\"carol\",\"text\":\"six\"}\n"			\
	"MESSAGE h {\"seq\":9,\"ts\":1764000009000,"			\
	"\"username\":\"bob\",\"text\":\"three\"}\n"			\
	"MESSAGE h {\"seq\":12,\"ts\":1764000012000,"			\
	"\"username\":\"alice\",\"text\":\"five\"}\n"

struct loaded {
	char	*text;
};

static void
load_channel(const char *name, const char *creator, int64_t seq, void *arg)
{
	struct loaded	*l = arg;

	appendf(&l->text, "channel %s %s %lld\n", name, creator,
	    (long long)seq);
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
	struct journal_state_cb	 cbs = { load_channel, load_member, NULL };
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
	    "g|alice|1|1764000001000\nh|bob|6|1764000006000\n");

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
	assert_rows(fx->j, "SELECT * FROM channels", "g|alice|1|1000\n");

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

/* Collects records as "seq type action resource actor" lines. */
struct recs {
	char	*text;
	int	 stop_after;
	int	 n;
};

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

/* Snapshot callbacks append lines to one text. */
static void
snap_line(void *arg, const char *fmt, ...)
{
	struct recs	*c = arg;
	char		*line;
	va_list		 ap;

	va_start(ap, fmt);
	xvasprintf(&line, fmt, ap);
	va_end(ap);
	appendf(&c->text, "%s\n", line);
	free(line);
	c->n++;
}

static int
snap_begin(int64_t seq, void *arg)
{
	snap_line(arg, "BEGIN %lld", (long long)seq);
	return (0);
}

static int
snap_channel(const char *name, const char *creator, int64_t seq, void *arg)
{
	snap_line(arg, "CHANNEL %s %s %lld", name, creator, (long long)seq);
	return (0);
}

static int
snap_sub(const char *channel, int64_t seq, void *arg)
{
	snap_line(arg, "SUB %s %lld", channel, (long long)seq);
	return (0);
}

static int
snap_member(const char *channel, const char *user, int64_t seq, void *arg)
{
	snap_line(arg, "MEMBER %s %s %lld", channel, user, (long long)seq);
	return (0);
}

static int
snap_message(const struct journal_rec *r, void *arg)
{
	struct recs	*c = arg;

	snap_line(arg, "MESSAGE %s %s", r->resource, r->data);
	return (c->stop_after != 0 && c->n >= c->stop_after);
}

static char *
snapshot(struct journal *j, const char *user, size_t nmessages,
    int stop_after, int64_t *seq)
{
	struct journal_snapshot_cb	 cbs = { snap_begin, snap_channel,
	    snap_sub, snap_member, snap_message, NULL };
	struct recs			 c = { xstrdup(""), stop_after, 0 };
	char				*cause = NULL;

	cbs.arg = &c;
	if (journal_snapshot(j, user, nmessages, &cbs, seq, &cause) != 0)
		fail_msg("snapshot: %s", cause);
	return (c.text);
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
cur_channel(const char *name, const char *creator, int64_t seq, void *arg)
{
	snap_channel(name, creator, seq, &((struct cur *)arg)->r);
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
	s = journal_snap_open(j, user, nmessages, seq, &cause);
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
	assert_null(journal_snap_open(a, "alice", 2, &seq, &cause));
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

/* The journal's meta value for key, "" if it has none; caller frees. */
static char *
meta(struct journal *j, const char *key)
{
	char	sql[128], *v;

	snprintf(sql, sizeof sql, "SELECT value FROM meta WHERE key = '%s'",
	    key);
	v = dump(j, sql);
	v[strcspn(v, "\n")] = '\0';
	return (v);
}

static void
assert_meta(struct journal *j, const char *key, const char *want)
{
	char	*got = meta(j, key);

	if (strcmp(got, want) != 0) {
		print_error("meta %s: got '%s', want '%s'\n", key, got, want);
		free(got);
		fail();
	}
	free(got);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(t_migrate),
		T(t_newer_refused),
		T(t_golden_schema),
		T(t_epoch_stable),
		T(t_writer_order),
		T(t_stop_drains),
		T(t_state_tables),
		T(t_views),
		T(t_head_survives_prune),
		T(t_bad_batch),
#ifdef WSCHAT_DEBUG
		T(t_fault_injection),
		T(t_fault_prune),
#endif
		T(t_retention),
		T(t_reads),
		T(t_snapshot),
		T(t_snap_cursor),
		T(t_snap_cursor_consistent),
		T(t_run_state),
#ifdef WSCHAT_DEBUG
		T(t_crash_new_epoch),
		T(t_crash_full_sync),
		T(t_crash_unknown_boot),
		T(t_run_state_faults),
#endif
		T(t_admin),
		T(t_check_problems),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
