/*
 * journal-test.h: what the journal's unit tests share. A fixture with a
 * journal in a temporary directory and an event base for its writer;
 * batches built as the loop builds them; waits for the writer's done
 * callbacks, and for what it does without one (wait_until); queries as
 * text; a populated journal and the snapshot it gives; meta values.
 * Include it after "config.h"; it brings testutil.h.
 */
#ifndef JOURNAL_TEST_H
#define JOURNAL_TEST_H

#include <dirent.h>
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

/* One test's journal, its directory, the loop and what was submitted. */
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
static inline int
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
static inline int
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
static inline struct journal *
open_journal(struct fx *fx)
{
	char	*cause = NULL;

	fx->j = journal_open(fx->path, JOURNAL_SYNC_NORMAL, &cause);
	if (fx->j == NULL)
		fail_msg("journal_open: %s", cause);
	return (fx->j);
}

/* Close and open the journal again, as a restart does. */
static inline void
reopen(struct fx *fx)
{
	journal_close(fx->j);
	fx->j = NULL;
	open_journal(fx);
}

/* The done callback: record the order and where it ran. */
static inline void
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

/* Start the writer, with on_done() for the callbacks. */
static inline void
start(struct fx *fx)
{
	char	*cause = NULL;

	if (journal_start(fx->j, fx->base, on_done, fx, &cause) != 0)
		fail_msg("journal_start: %s", cause);
}

/* A new empty batch, freed with the fixture. */
static inline struct tbatch *
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
static inline void
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

/* Add a record stamped one second per seq after TS0. */
static inline void
add(struct tbatch *b, int64_t seq, const char *type, const char *action,
    const char *resource, const char *actor, const char *text)
{
	add_ts(b, seq, TS0 + seq * 1000, type, action, resource, actor, text);
}

/* Hand a batch to the writer. */
static inline void
submit(struct fx *fx, struct tbatch *b)
{
	journal_submit(fx->j, b, b->recs, b->n);
}

/* A wait ran out: stop the loop. */
static inline void
on_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct fx	*fx = arg;

	fx->timed_out = 1;
	event_base_loopbreak(fx->base);
}

/* Run the loop until n done callbacks in all have run. */
static inline void
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

static inline void
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
static inline void
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
static inline int
commit(struct fx *fx, struct tbatch *b)
{
	int	n = fx->done.n;

	submit(fx, b);
	wait_done(fx, n + 1);
	assert_int_equal(fx->done.ids[n], b->id);
	return (fx->done.ok[n]);
}

/* Append to *text, a string from malloc. */
static inline void appendf(char **, const char *, ...) printflike(2, 3);

static inline void
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

static inline int
dump_row(int ncols, const char *const *values, void *arg)
{
	struct dump	*d = arg;
	int		 i;

	for (i = 0; i < ncols; i++)
		appendf(&d->text, "%s%s", values[i] != NULL ? values[i] : "-",
		    i + 1 < ncols ? "|" : "\n");
	return (0);
}

static inline char *
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
static inline void
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

/* The first integer a query returns. */
static inline int64_t
count(struct journal *j, const char *sql)
{
	char	*s = dump(j, sql);
	int64_t	 n = strtoll(s, NULL, 10);

	free(s);
	return (n);
}

/* Fill a journal: two channels, joins, parts and messages. */
static inline int64_t
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

/* Collects records as "seq type action resource actor" lines. */
struct recs {
	char	*text;
	int	 stop_after;
	int	 n;
};

/* Snapshot callbacks append lines to one text. */
static inline void
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

/* The snapshot callbacks, one line each. */
static inline int
snap_begin(int64_t seq, void *arg)
{
	snap_line(arg, "BEGIN %lld", (long long)seq);
	return (0);
}

static inline int
snap_channel(const char *name, const char *creator, int64_t seq, int priv,
    void *arg)
{
	snap_line(arg, "CHANNEL %s %s %lld%s", name, creator, (long long)seq,
	    priv ? " private" : "");
	return (0);
}

static inline int
snap_sub(const char *channel, int64_t seq, void *arg)
{
	snap_line(arg, "SUB %s %lld", channel, (long long)seq);
	return (0);
}

static inline int
snap_member(const char *channel, const char *user, int64_t seq, void *arg)
{
	snap_line(arg, "MEMBER %s %s %lld", channel, user, (long long)seq);
	return (0);
}

static inline int
snap_message(const struct journal_rec *r, void *arg)
{
	struct recs	*c = arg;

	snap_line(arg, "MESSAGE %s %s", r->resource, r->data);
	return (c->stop_after != 0 && c->n >= c->stop_after);
}

/* A whole journal_snapshot() as text. */
static inline char *
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

/* The journal's meta value for key, "" if it has none; caller frees. */
static inline char *
meta(struct journal *j, const char *key)
{
	char	sql[128], *v;

	snprintf(sql, sizeof sql, "SELECT value FROM meta WHERE key = '%s'",
	    key);
	v = dump(j, sql);
	v[strcspn(v, "\n")] = '\0';
	return (v);
}

/* Assert the journal's meta value for key. */
static inline void
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

#endif /* JOURNAL_TEST_H */
