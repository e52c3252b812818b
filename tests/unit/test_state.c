/*
 * test_state.c: the two-way indexes of state.c. Random sequences of
 * attach, detach, create, delete, join, part, intent changes and reaps run
 * against a small universe, and after every step both state_check() and a
 * plain model (who is in which channel, who holds which intent, which
 * ghosts remain) must agree with the real structures. Then the ghost rules
 * (state_member_at, state_reap) and state_reset / state_clear one by one.
 */
#include "config.h"

#include "testutil.h"


#define NUSERS		10
#define NCHANS		6
#define NCLIENTS	6
#define NSEEDS		20
#define NSTEPS		3000
#define MAXRECS		4096

/* --- fake connections ---------------------------------------------------- */

static struct client	fakes[NCLIENTS];

/* Zeroed connections with ids, in the clients list state_check walks. */
static void
fakes_init(void)
{
	int	k;

	memset(fakes, 0, sizeof fakes);
	for (k = 0; k < NCLIENTS; k++) {
		fakes[k].c_id = 100 + k;
		fakes[k].c_state = CLIENT_OPEN;
		TAILQ_INSERT_TAIL(&clients, &fakes[k], c_entry);
	}
}

/* What a teardown does to the indexes, then out of the clients list. */
static void
fakes_free(void)
{
	int	k;

	for (k = 0; k < NCLIENTS; k++) {
		intent_clear(&fakes[k]);
		state_user_detach(&fakes[k]);
		TAILQ_REMOVE(&clients, &fakes[k], c_entry);
	}
}

static int
setup(void **state UNUSED)
{
	fakes_init();
	return (0);
}

static int
teardown(void **state UNUSED)
{
	fakes_free();
	state_clear();
	return (0);
}

/* --- the model ----------------------------------------------------------- */

/* One membership, in join order; parted != 0 makes it a ghost. */
struct rec {
	int		 u;
	struct channel	*ch;
	struct member	*m;
	int64_t		 joined;
	int64_t		 parted;
};

/* A deleted channel not yet reaped. */
struct dead {
	struct channel	*ch;
	char		 name[8];
	int64_t		 deleted;
};

static struct {
	struct user	*user[NUSERS];		/* NULL until first used */
	int		 holders[NUSERS];	/* how many connections */
	int		 cuser[NCLIENTS];	/* user index, or -1 */
	unsigned int	 intents[NCLIENTS];
	int		 ilist[INTENT_MAX][NCLIENTS];	/* in the order added */
	int		 icount[INTENT_MAX];
	struct channel	*chan[NCHANS];		/* live, or NULL */
	struct channel	*order[NCHANS];		/* live, in creation order */
	int		 norder;
	struct rec	 recs[MAXRECS];
	int		 nrecs;
	struct dead	 dead[MAXRECS];
	int		 ndead;
	int64_t		 seq;			/* the last seq used */
	size_t		 nusers;
} M;

static uint64_t		 rng;
static unsigned int	 cur_seed;
static int		 cur_step;
static char		 cur_op[128];

static void
model_init(void)
{
	int	i;

	memset(&M, 0, sizeof M);
	for (i = 0; i < NUSERS; i++)
		M.holders[i] = 0;
	for (i = 0; i < NCLIENTS; i++)
		M.cuser[i] = -1;
}

/* xorshift64*: the same sequence everywhere, for a given seed. */
static uint32_t
rnd(uint32_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return ((uint32_t)((rng * 2685821657736338717ULL) >> 32) % n);
}

static void
mismatch(const char *fmt, ...) printflike(1, 2);

/* A model mismatch: say where (seed, step, operation) and fail. */
static void
mismatch(const char *fmt, ...)
{
	char	msg[256];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fail_msg("seed %u step %d after %s: %s", cur_seed, cur_step, cur_op,
	    msg);
}

#define CHECK(cond, ...) do {						\
	if (!(cond))							\
		mismatch(__VA_ARGS__);					\
} while (0)

static const char *
uname_of(int u)
{
	static const char *names[NUSERS] = {
		"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"
	};

	return (names[u]);
}

static const char *
cname_of(int i)
{
	static const char *names[NCHANS] = { "c0", "c1", "c2", "c3", "c4", "c5" };

	return (names[i]);
}

/* The live membership record of user u in channel ch, or NULL. */
static struct rec *
model_live(int u, struct channel *ch)
{
	int	r;

	for (r = 0; r < M.nrecs; r++) {
		if (M.recs[r].u == u && M.recs[r].ch == ch &&
		    M.recs[r].parted == 0)
			return (&M.recs[r]);
	}
	return (NULL);
}

/* The channel's live index, or -1. */
static int
model_chan_index(struct channel *ch)
{
	int	i;

	for (i = 0; i < NCHANS; i++) {
		if (M.chan[i] == ch)
			return (i);
	}
	return (-1);
}

/* A channel's member list, both ways, against the records. */
static void
check_channel_side(struct channel *ch, const char *name)
{
	struct member	*m;
	size_t		 live = 0;
	int		 r = 0;

	TAILQ_FOREACH(m, &ch->ch_members, m_centry) {
		while (r < M.nrecs && M.recs[r].ch != ch)
			r++;
		CHECK(r < M.nrecs, "%s lists a member the model lacks", name);
		CHECK(m == M.recs[r].m, "%s: member %d out of order", name, r);
		CHECK(m->m_chan == ch && m->m_user == M.user[M.recs[r].u],
		    "%s: member points elsewhere", name);
		CHECK(m->m_joined == M.recs[r].joined &&
		    m->m_parted == M.recs[r].parted,
		    "%s: %s joined %lld parted %lld, want %lld %lld", name,
		    uname_of(M.recs[r].u), (long long)m->m_joined,
		    (long long)m->m_parted, (long long)M.recs[r].joined,
		    (long long)M.recs[r].parted);
		if (M.recs[r].parted == 0)
			live++;
		r++;
	}
	while (r < M.nrecs && M.recs[r].ch != ch)
		r++;
	CHECK(r == M.nrecs, "%s lacks %s's membership", name,
	    r < M.nrecs ? uname_of(M.recs[r].u) : "");
	CHECK(ch->ch_nmembers == live, "%s: ch_nmembers %zu, want %zu", name,
	    ch->ch_nmembers, live);
}

/* Everything the model knows, against the real structures. */
static void
check_model(void)
{
	struct channel	*ch;
	struct member	*m;
	struct client	*c;
	struct user	*u;
	struct rec	*rec;
	size_t		 live, nusers = 0, n;
	int		 i, k, r, t, seen[NCLIENTS];

	state_check();

	/* Users and their connections. */
	for (i = 0; i < NUSERS; i++) {
		u = state_user_find(uname_of(i));
		CHECK(u == M.user[i], "state_user_find(%s) %p, want %p",
		    uname_of(i), (void *)u, (void *)M.user[i]);
		if (u == NULL)
			continue;
		nusers++;
		CHECK(strcmp(u->u_name, uname_of(i)) == 0, "user %s named %s",
		    uname_of(i), u->u_name);
		CHECK(u->u_nclients == (size_t)M.holders[i],
		    "%s held by %zu connections, want %d", uname_of(i),
		    u->u_nclients, M.holders[i]);
		n = 0;
		TAILQ_FOREACH(c, &u->u_clients, c_uentry) {
			CHECK(c->c_user == u, "%s lists a connection of another "
			    "user", uname_of(i));
			n++;
		}
		CHECK(n == (size_t)M.holders[i], "%s lists %zu connections",
		    uname_of(i), n);
	}
	CHECK(state_nusers() == nusers, "state_nusers %zu, want %zu",
	    state_nusers(), nusers);
	for (k = 0; k < NCLIENTS; k++) {
		CHECK(fakes[k].c_user == (M.cuser[k] < 0 ? NULL :
		    M.user[M.cuser[k]]), "connection %d has the wrong user", k);
		CHECK(fakes[k].c_intents == M.intents[k],
		    "connection %d intents %#x, want %#x", k,
		    fakes[k].c_intents, M.intents[k]);
	}

	/* Live channels: by name, in creation order, counted. */
	for (i = 0; i < NCHANS; i++) {
		ch = state_channel_find(cname_of(i));
		CHECK(ch == M.chan[i], "state_channel_find(%s) %p, want %p",
		    cname_of(i), (void *)ch, (void *)M.chan[i]);
	}
	CHECK(state_nchannels == (size_t)M.norder, "state_nchannels %zu, want %d",
	    state_nchannels, M.norder);
	i = 0;
	TAILQ_FOREACH(ch, &state_channels, ch_entry) {
		CHECK(i < M.norder, "more live channels than the model");
		CHECK(ch == M.order[i], "live channel %d is %s, out of order",
		    i, ch->ch_name);
		CHECK(ch->ch_deleted == 0, "live %s has ch_deleted", ch->ch_name);
		i++;
	}
	CHECK(i == M.norder, "%d live channels listed, want %d", i, M.norder);

	/* Each user's side: every record, ghosts included, in join order. */
	for (i = 0; i < NUSERS; i++) {
		if ((u = M.user[i]) == NULL)
			continue;
		r = 0;
		live = 0;
		TAILQ_FOREACH(m, &u->u_members, m_uentry) {
			while (r < M.nrecs && M.recs[r].u != i)
				r++;
			CHECK(r < M.nrecs, "%s lists a membership the model "
			    "lacks (in %s)", uname_of(i), m->m_chan->ch_name);
			CHECK(m == M.recs[r].m, "%s: membership %d out of order",
			    uname_of(i), r);
			CHECK(m->m_user == u && m->m_chan == M.recs[r].ch,
			    "%s: membership points elsewhere", uname_of(i));
			CHECK(m->m_joined == M.recs[r].joined &&
			    m->m_parted == M.recs[r].parted,
			    "%s in %s: joined %lld parted %lld, want %lld %lld",
			    uname_of(i), m->m_chan->ch_name, (long long)m->m_joined,
			    (long long)m->m_parted, (long long)M.recs[r].joined,
			    (long long)M.recs[r].parted);
			if (M.recs[r].parted == 0)
				live++;
			r++;
		}
		while (r < M.nrecs && M.recs[r].u != i)
			r++;
		CHECK(r == M.nrecs, "%s lacks a membership (joined %lld)",
		    uname_of(i), r < M.nrecs ? (long long)M.recs[r].joined : 0LL);
		CHECK(u->u_nchannels == live, "%s: u_nchannels %zu, want %zu",
		    uname_of(i), u->u_nchannels, live);

		/* state_member_find: the live membership, never a ghost. */
		for (k = 0; k < NCHANS; k++) {
			if (M.chan[k] == NULL)
				continue;
			rec = model_live(i, M.chan[k]);
			m = state_member_find(u, M.chan[k]);
			CHECK(m == (rec == NULL ? NULL : rec->m),
			    "state_member_find(%s, %s) %p, want %p", uname_of(i),
			    cname_of(k), (void *)m,
			    rec == NULL ? NULL : (void *)rec->m);
		}
	}

	/* Each channel's side, live and deleted-but-unreaped. */
	for (i = 0; i < M.norder; i++)
		check_channel_side(M.order[i], M.order[i]->ch_name);
	for (i = 0; i < M.ndead; i++) {
		ch = M.dead[i].ch;
		CHECK(strcmp(ch->ch_name, M.dead[i].name) == 0,
		    "deleted channel renamed");
		CHECK(ch->ch_deleted == M.dead[i].deleted,
		    "deleted %s: ch_deleted %lld, want %lld", M.dead[i].name,
		    (long long)ch->ch_deleted, (long long)M.dead[i].deleted);
		CHECK(ch->ch_nmembers == 0, "deleted %s has live members",
		    M.dead[i].name);
		CHECK(state_channel_find(M.dead[i].name) != ch,
		    "deleted %s still found by name", M.dead[i].name);
		check_channel_side(ch, M.dead[i].name);
	}
	/* Every record's channel is one the model still has. */
	for (r = 0; r < M.nrecs; r++) {
		ch = M.recs[r].ch;
		if (model_chan_index(ch) >= 0)
			continue;
		for (i = 0; i < M.ndead && M.dead[i].ch != ch; i++)
			;
		CHECK(i < M.ndead, "model: record in an unknown channel");
	}

	/* The intent index, walked. */
	for (t = 0; t < INTENT_MAX; t++) {
		CHECK(intent_count(t) == (size_t)M.icount[t],
		    "intent_count(%s) %zu, want %d", intent_name(t),
		    intent_count(t), M.icount[t]);
		memset(seen, 0, sizeof seen);
		n = 0;
		for (c = intent_first(t); c != NULL; c = intent_next(c, t)) {
			CHECK(n < (size_t)M.icount[t], "%s list longer than %d",
			    intent_name(t), M.icount[t]);
			k = (int)(c - fakes);
			CHECK(k >= 0 && k < NCLIENTS, "%s list has a stranger",
			    intent_name(t));
			CHECK(!seen[k], "connection %d twice in %s", k,
			    intent_name(t));
			CHECK(M.intents[k] & (1U << t),
			    "connection %d in %s without the intent", k,
			    intent_name(t));
			seen[k] = 1;
			n++;
		}
		CHECK(n == (size_t)M.icount[t], "%s list has %zu, want %d",
		    intent_name(t), n, M.icount[t]);
	}
}

/* --- operations, on both the state and the model ---------------------- */

static struct user *
model_user(int u)
{
	if (M.user[u] == NULL) {
		M.user[u] = state_user_get(uname_of(u));
		M.nusers++;
	}
	CHECK(state_user_get(uname_of(u)) == M.user[u], "state_user_get(%s) "
	    "made a second user", uname_of(u));
	return (M.user[u]);
}

/* As the state does: a user with no connection and no membership goes. */
static void
model_forget(void)
{
	int	u, r;

	for (u = 0; u < NUSERS; u++) {
		if (M.user[u] == NULL || M.holders[u] > 0)
			continue;
		for (r = 0; r < M.nrecs && M.recs[r].u != u; r++)
			;
		if (r < M.nrecs)
			continue;
		M.user[u] = NULL;
		M.nusers--;
	}
}

static void
op_attach(int u, int k)
{
	struct user	*usr = model_user(u);

	state_user_attach(usr, &fakes[k]);
	if (M.cuser[k] == u)
		return;
	if (M.cuser[k] >= 0)
		M.holders[M.cuser[k]]--;
	M.cuser[k] = u;
	M.holders[u]++;
	model_forget();
}

static void
op_detach(int k)
{
	state_user_detach(&fakes[k]);
	if (M.cuser[k] >= 0)
		M.holders[M.cuser[k]]--;
	M.cuser[k] = -1;
	model_forget();
}

static void
op_channel_add(int i, int creator)
{
	struct channel	*ch;

	if (M.chan[i] != NULL)
		return;
	ch = state_channel_add(cname_of(i), uname_of(creator), ++M.seq);
	CHECK(ch != NULL, "state_channel_add(%s) NULL", cname_of(i));
	CHECK(strcmp(ch->ch_name, cname_of(i)) == 0 &&
	    strcmp(ch->ch_creator, uname_of(creator)) == 0 &&
	    ch->ch_created == M.seq && ch->ch_deleted == 0,
	    "state_channel_add(%s) fields", cname_of(i));
	M.chan[i] = ch;
	M.order[M.norder++] = ch;
}

static void
op_member_del_rec(struct rec *rec)
{
	rec->parted = ++M.seq;
	state_member_del(rec->m, rec->parted);
}

/* As DELETE does: part every member, then delete the channel. */
static void
op_channel_del(int i)
{
	struct channel	*ch = M.chan[i];
	int		 r, j;

	if (ch == NULL)
		return;
	for (r = 0; r < M.nrecs; r++) {
		if (M.recs[r].ch == ch && M.recs[r].parted == 0)
			op_member_del_rec(&M.recs[r]);
	}
	state_channel_del(ch, ++M.seq);
	if (M.ndead == MAXRECS)
		fail_msg("model: too many dead channels");
	M.dead[M.ndead].ch = ch;
	snprintf(M.dead[M.ndead].name, sizeof M.dead[M.ndead].name, "%s",
	    cname_of(i));
	M.dead[M.ndead].deleted = M.seq;
	M.ndead++;
	M.chan[i] = NULL;
	for (j = 0; j < M.norder && M.order[j] != ch; j++)
		;
	memmove(&M.order[j], &M.order[j + 1],
	    (M.norder - j - 1) * sizeof M.order[0]);
	M.norder--;
}

static void
op_member_add(int u, int i)
{
	struct user	*usr;
	struct rec	*rec;

	if (M.chan[i] == NULL || model_live(u, M.chan[i]) != NULL)
		return;
	usr = model_user(u);
	if (M.nrecs == MAXRECS)
		fail_msg("model: too many memberships");
	rec = &M.recs[M.nrecs++];
	rec->u = u;
	rec->ch = M.chan[i];
	rec->joined = ++M.seq;
	rec->parted = 0;
	rec->m = state_member_add(usr, M.chan[i], rec->joined);
	CHECK(rec->m != NULL && rec->m->m_user == usr &&
	    rec->m->m_chan == M.chan[i] && rec->m->m_joined == rec->joined &&
	    rec->m->m_parted == 0, "state_member_add(%s, %s) fields",
	    uname_of(u), cname_of(i));
}

static void
op_member_del(int u, int i)
{
	struct rec	*rec;

	if (M.chan[i] == NULL || (rec = model_live(u, M.chan[i])) == NULL)
		return;
	CHECK(state_member_find(M.user[u], M.chan[i]) == rec->m,
	    "state_member_find(%s, %s) before UNSUB", uname_of(u), cname_of(i));
	op_member_del_rec(rec);
}

static void
op_intent_add(int k, int t)
{
	intent_add(&fakes[k], t);
	if (M.intents[k] & (1U << t))
		return;
	M.intents[k] |= 1U << t;
	M.ilist[t][M.icount[t]++] = k;
}

static void
op_intent_del(int k, int t)
{
	int	j;

	intent_del(&fakes[k], t);
	if (!(M.intents[k] & (1U << t)))
		return;
	M.intents[k] &= ~(1U << t);
	for (j = 0; M.ilist[t][j] != k; j++)
		;
	memmove(&M.ilist[t][j], &M.ilist[t][j + 1],
	    (M.icount[t] - j - 1) * sizeof M.ilist[t][0]);
	M.icount[t]--;
}

static void
op_intent_clear(int k)
{
	int	t;

	intent_clear(&fakes[k]);
	for (t = 0; t < INTENT_MAX; t++) {
		if (M.intents[k] & (1U << t)) {
			/* Reuse the model's del; the real one is a no-op now. */
			op_intent_del(k, t);
		}
	}
}

/* Drop ghosts parted at or before s, and channels deleted at or before s. */
static void
op_reap(int64_t s)
{
	int	r, w, i;

	state_reap(s);
	for (r = w = 0; r < M.nrecs; r++) {
		if (M.recs[r].parted != 0 && M.recs[r].parted <= s)
			continue;
		M.recs[w++] = M.recs[r];
	}
	M.nrecs = w;
	model_forget();
	for (i = w = 0; i < M.ndead; i++) {
		if (M.dead[i].deleted <= s)
			continue;
		M.dead[w++] = M.dead[i];
	}
	M.ndead = w;
}

/* One random operation; its description goes to cur_op. */
static void
step(void)
{
	int	u = (int)rnd(NUSERS), i = (int)rnd(NCHANS);
	int	k = (int)rnd(NCLIENTS), t = (int)rnd(INTENT_MAX);
	int64_t	s;

	switch (rnd(20)) {
	case 0: case 1:
		snprintf(cur_op, sizeof cur_op, "attach %s to %d", uname_of(u), k);
		op_attach(u, k);
		break;
	case 2:
		snprintf(cur_op, sizeof cur_op, "detach %d", k);
		op_detach(k);
		break;
	case 3: case 4:
		snprintf(cur_op, sizeof cur_op, "create %s", cname_of(i));
		op_channel_add(i, u);
		break;
	case 5:
		snprintf(cur_op, sizeof cur_op, "delete %s", cname_of(i));
		op_channel_del(i);
		break;
	case 6: case 7: case 8: case 9:
		snprintf(cur_op, sizeof cur_op, "join %s %s", uname_of(u), cname_of(i));
		op_member_add(u, i);
		break;
	case 10: case 11: case 12:
		snprintf(cur_op, sizeof cur_op, "part %s %s", uname_of(u), cname_of(i));
		op_member_del(u, i);
		break;
	case 13: case 14:
		snprintf(cur_op, sizeof cur_op, "intent add %d %s", k,
		    intent_name(t));
		op_intent_add(k, t);
		break;
	case 15:
		snprintf(cur_op, sizeof cur_op, "intent del %d %s", k,
		    intent_name(t));
		op_intent_del(k, t);
		break;
	case 16:
		snprintf(cur_op, sizeof cur_op, "intent clear %d", k);
		op_intent_clear(k);
		break;
	case 17:
		/* A disconnect: intents go, the user is freed, memberships stay. */
		snprintf(cur_op, sizeof cur_op, "disconnect %d", k);
		op_intent_clear(k);
		op_detach(k);
		break;
	default:
		/* Reap behind the head: a batch fanned out up to some seq. */
		s = M.seq - (int64_t)rnd(8);
		snprintf(cur_op, sizeof cur_op, "reap %lld", (long long)s);
		op_reap(s);
		break;
	}
}

/* Random sequences: state_check and the model after every step. */
static void
t_random(void **state UNUSED)
{
	unsigned int	seeds[NSEEDS];
	int		n, k;

	seeds[0] = 0x5eed;
	for (n = 1; n < NSEEDS; n++)
		seeds[n] = n * 7919 + 1;
	for (n = 0; n < NSEEDS; n++) {
		cur_seed = seeds[n];
		rng = 0x9e3779b97f4a7c15ULL ^ cur_seed;
		model_init();
		snprintf(cur_op, sizeof cur_op, "start");
		cur_step = 0;
		check_model();
		for (cur_step = 1; cur_step <= NSTEPS; cur_step++) {
			step();
			check_model();
		}
		/* All fanned out: every ghost goes. */
		snprintf(cur_op, sizeof cur_op, "final reap");
		op_reap(M.seq);
		check_model();
		assert_int_equal(M.ndead, 0);

		/* As shutdown does. */
		for (k = 0; k < NCLIENTS; k++) {
			op_intent_clear(k);
			op_detach(k);
		}
		state_clear();
		assert_int_equal(state_nusers(), 0);
		assert_int_equal(state_nchannels, 0);
		assert_true(TAILQ_EMPTY(&state_channels));
		state_check();
	}
}

/* joined < seq < parted: the member saw events strictly between. */
static void
t_member_at(void **state UNUSED)
{
	struct user	*u = state_user_get("alice");
	struct channel	*ch = state_channel_add("general", "alice", 5);
	struct member	*m;

	m = state_member_add(u, ch, 10);
	assert_false(state_member_at(m, 9));
	assert_false(state_member_at(m, 10));	/* its own JOIN */
	assert_true(state_member_at(m, 11));
	assert_true(state_member_at(m, 1000000));
	state_member_del(m, 20);
	assert_false(state_member_at(m, 10));
	assert_true(state_member_at(m, 11));
	assert_true(state_member_at(m, 19));
	assert_false(state_member_at(m, 20));	/* its own PART */
	assert_false(state_member_at(m, 21));
	state_check();
}

/*
 * Who a channel exists for: everyone if public; if private, its owner, an
 * admin, a member (not a parted one) and an invited name; nobody
 * anonymous. The invite and ban lists hold a name once and let it go.
 */
static void
t_channel_access(void **state UNUSED)
{
	struct user	*alice = state_user_get("alice");
	struct user	*bob = state_user_get("bob");
	struct user	*carol = state_user_get("carol");
	struct channel	*pub = state_channel_add("pub", "alice", 1);
	struct channel	*ch = state_channel_add("secret", "alice", 2);
	struct member	*m;

	ch->ch_private = 1;
	assert_true(state_channel_visible(pub, NULL));
	assert_true(state_channel_visible(pub, bob));
	assert_false(state_channel_visible(ch, NULL));
	assert_true(state_channel_visible(ch, alice));
	assert_false(state_channel_visible(ch, bob));
	assert_true(state_channel_owner(ch, alice));
	assert_false(state_channel_owner(ch, bob));
	assert_false(state_channel_owner(ch, NULL));

	bob->u_admin = 1;
	assert_true(state_channel_visible(ch, bob));
	assert_true(state_channel_owner(ch, bob));
	assert_true(state_channel_owner(pub, bob));
	bob->u_admin = 0;

	state_access_add(ch, STATE_INVITE, "carol");
	state_access_add(ch, STATE_INVITE, "carol");
	assert_int_equal(ch->ch_naccess[STATE_INVITE], 1);
	assert_true(state_channel_visible(ch, carol));
	assert_false(state_channel_owner(ch, carol));
	state_access_del(ch, STATE_INVITE, "carol");
	assert_false(state_channel_visible(ch, carol));
	assert_int_equal(ch->ch_naccess[STATE_INVITE], 0);

	m = state_member_add(carol, ch, 5);
	assert_true(state_channel_visible(ch, carol));
	assert_false(state_member_was(carol, ch, 5));
	assert_true(state_member_was(carol, ch, 6));
	state_member_del(m, 8);
	assert_false(state_channel_visible(ch, carol));
	assert_true(state_member_was(carol, ch, 7));	/* a ghost still */
	assert_false(state_member_was(carol, ch, 8));
	assert_false(state_member_was(bob, ch, 7));

	state_access_add(pub, STATE_BAN, "bob");
	assert_true(state_access_find(pub, STATE_BAN, "bob"));
	assert_false(state_access_find(pub, STATE_INVITE, "bob"));
	assert_false(state_access_find(ch, STATE_BAN, "bob"));
	state_access_del(pub, STATE_BAN, "nobody");
	assert_int_equal(pub->ch_naccess[STATE_BAN], 1);
	state_check();
}

/* A parted member stays linked on both sides until reaped at its seq. */
static void
t_ghost_member(void **state UNUSED)
{
	struct user	*u = state_user_get("alice");
	struct channel	*ch = state_channel_add("general", "alice", 1);
	struct member	*m, *m2;

	m = state_member_add(u, ch, 2);
	assert_ptr_equal(state_member_find(u, ch), m);
	state_member_del(m, 5);
	state_check();

	/* Not a member any more, but still walkable from both sides. */
	assert_null(state_member_find(u, ch));
	assert_int_equal(u->u_nchannels, 0);
	assert_int_equal(ch->ch_nmembers, 0);
	assert_ptr_equal(TAILQ_FIRST(&u->u_members), m);
	assert_ptr_equal(TAILQ_FIRST(&ch->ch_members), m);
	assert_int_equal(m->m_parted, 5);
	assert_true(state_member_at(m, 3));

	/* Rejoin while the ghost lingers: a new membership beside it. */
	m2 = state_member_add(u, ch, 6);
	assert_ptr_not_equal(m2, m);
	assert_ptr_equal(state_member_find(u, ch), m2);
	assert_int_equal(u->u_nchannels, 1);
	assert_int_equal(ch->ch_nmembers, 1);
	state_check();

	state_reap(4);
	assert_ptr_equal(TAILQ_FIRST(&u->u_members), m);
	assert_ptr_equal(TAILQ_FIRST(&ch->ch_members), m);
	state_reap(5);
	assert_ptr_equal(TAILQ_FIRST(&u->u_members), m2);
	assert_ptr_equal(TAILQ_LAST(&u->u_members, members), m2);
	assert_ptr_equal(TAILQ_FIRST(&ch->ch_members), m2);
	assert_ptr_equal(TAILQ_LAST(&ch->ch_members, members), m2);
	state_check();

	/* A live member is never reaped. */
	state_reap(1000);
	assert_ptr_equal(state_member_find(u, ch), m2);
	assert_int_equal(u->u_nchannels, 1);
	state_check();
}

/* A deleted channel stays readable through its ghosts until reaped. */
static void
t_ghost_channel(void **state UNUSED)
{
	struct user	*a = state_user_get("alice"), *b = state_user_get("bob");
	struct channel	*ch, *ch2;
	struct member	*ma, *mb;

	ch = state_channel_add("general", "alice", 1);
	ma = state_member_add(a, ch, 2);
	mb = state_member_add(b, ch, 3);
	/* DELETE: part everyone, then the channel. */
	state_member_del(ma, 6);
	state_member_del(mb, 7);
	state_channel_del(ch, 8);
	state_check();
	assert_null(state_channel_find("general"));
	assert_int_equal(state_nchannels, 0);
	assert_true(TAILQ_EMPTY(&state_channels));
	assert_int_equal(a->u_nchannels, 0);

	/* Events up to 8 may still be fanned out: all of it is readable. */
	assert_ptr_equal(TAILQ_FIRST(&a->u_members), ma);
	assert_ptr_equal(ma->m_chan, ch);
	assert_string_equal(ch->ch_name, "general");
	assert_int_equal(ch->ch_deleted, 8);
	assert_true(state_member_at(mb, 5));

	/* The name is free again at once. */
	ch2 = state_channel_add("general", "bob", 9);
	assert_ptr_not_equal(ch2, ch);
	assert_ptr_equal(state_channel_find("general"), ch2);
	assert_int_equal(state_nchannels, 1);
	state_check();

	/* Up to 6: alice's ghost goes, bob's and the channel stay. */
	state_reap(6);
	/* alice had nothing else (no connection): her name is forgotten. */
	assert_null(state_user_find("alice"));
	assert_ptr_equal(TAILQ_FIRST(&b->u_members), mb);
	assert_ptr_equal(mb->m_chan, ch);
	assert_string_equal(mb->m_chan->ch_name, "general");
	assert_ptr_equal(TAILQ_FIRST(&ch->ch_members), mb);
	state_check();

	/* Up to 7: bob's ghost goes; the channel (deleted at 8) stays. */
	state_reap(7);
	assert_null(state_user_find("bob"));
	assert_true(TAILQ_EMPTY(&ch->ch_members));
	assert_int_equal(ch->ch_deleted, 8);
	assert_string_equal(ch->ch_name, "general");

	/* Up to 8: the channel is freed (valgrind checks it is not leaked). */
	state_reap(8);
	assert_ptr_equal(state_channel_find("general"), ch2);
	assert_int_equal(ch2->ch_deleted, 0);
	state_check();
}

/* A connection holds one user; a user may have many connections. */
static void
t_attach(void **state UNUSED)
{
	struct user	*a = state_user_get("alice"), *b = state_user_get("bob");
	struct channel	*ch;

	assert_ptr_equal(state_user_get("alice"), a);
	assert_int_equal(state_nusers(), 2);
	state_user_attach(a, &fakes[0]);
	state_user_attach(a, &fakes[0]);
	assert_int_equal(a->u_nclients, 1);
	state_user_attach(a, &fakes[1]);
	assert_int_equal(a->u_nclients, 2);
	assert_ptr_equal(fakes[1].c_user, a);
	state_check();
	state_user_detach(&fakes[1]);
	assert_int_equal(a->u_nclients, 1);
	assert_ptr_equal(TAILQ_FIRST(&a->u_clients), &fakes[0]);
	/* Switching names frees the old one; its membership keeps it known. */
	ch = state_channel_add("room", "alice", 1);
	state_member_add(a, ch, 2);
	state_user_attach(b, &fakes[0]);
	assert_true(TAILQ_EMPTY(&a->u_clients));
	assert_ptr_equal(TAILQ_FIRST(&b->u_clients), &fakes[0]);
	assert_ptr_equal(state_user_find("alice"), a);
	state_user_attach(a, &fakes[1]);
	state_check();
	/* A name with no connection and no membership is forgotten. */
	state_user_detach(&fakes[0]);
	assert_null(fakes[0].c_user);
	assert_null(state_user_find("bob"));
	assert_int_equal(state_nusers(), 1);
	state_user_detach(&fakes[0]);	/* twice is harmless */
	state_check();
	/* A member outlives its connection. */
	state_user_detach(&fakes[1]);
	assert_ptr_equal(state_user_find("alice"), a);
	assert_true(TAILQ_EMPTY(&a->u_clients));
	state_check();
}

/* state_reset forgets channels and memberships; connected users stay. */
static void
t_reset(void **state UNUSED)
{
	struct user	*a = state_user_get("alice"), *b = state_user_get("bob");
	struct channel	*c1, *c2, *c3;
	struct member	*m;

	state_user_attach(a, &fakes[0]);
	intent_add(&fakes[0], INTENT_MESSAGE);
	c1 = state_channel_add("one", "alice", 1);
	c2 = state_channel_add("two", "bob", 2);
	c3 = state_channel_add("three", "bob", 3);
	state_member_add(a, c1, 4);
	state_member_add(b, c1, 5);
	m = state_member_add(a, c2, 6);
	state_member_add(b, c3, 7);
	state_member_del(m, 8);			/* a ghost in a live channel */
	m = TAILQ_LAST(&b->u_members, members);
	state_member_del(m, 9);
	state_channel_del(c3, 10);		/* a deleted channel with a ghost */
	state_check();

	state_reset();
	state_check();
	/* The connected user stays; bob, with nothing left, is forgotten. */
	assert_int_equal(state_nusers(), 1);
	assert_ptr_equal(state_user_find("alice"), a);
	assert_null(state_user_find("bob"));
	assert_true(TAILQ_EMPTY(&a->u_members));
	assert_int_equal(a->u_nchannels, 0);
	assert_int_equal(state_nchannels, 0);
	assert_true(TAILQ_EMPTY(&state_channels));
	assert_null(state_channel_find("one"));
	assert_null(state_channel_find("two"));
	assert_null(state_channel_find("three"));
	/* Connections are not state_reset's business. */
	assert_ptr_equal(TAILQ_FIRST(&a->u_clients), &fakes[0]);
	assert_int_equal(intent_count(INTENT_MESSAGE), 1);

	/* And it builds up again (as a journal reload does). */
	c1 = state_channel_add("one", "alice", 1);
	state_member_add(a, c1, 2);
	assert_int_equal(a->u_nchannels, 1);
	state_check();
	state_reap(100);
	state_reset();
	state_reset();
	state_check();
}

/* state_clear forgets everything; valgrind --leak-check=full checks it. */
static void
t_clear(void **state UNUSED)
{
	struct user	*u;
	struct channel	*ch;
	struct member	*m;
	char		 name[16];
	int		 i, j;

	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "chan%d", i);
		state_channel_add(name, "nobody", i + 1);
	}
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof name, "user%d", i);
		u = state_user_get(name);
		j = 0;
		TAILQ_FOREACH(ch, &state_channels, ch_entry) {
			if ((i + j++) % 3 == 0)
				state_member_add(u, ch, 100 + i);
		}
	}
	/* Some ghosts and a deleted channel left unreaped. */
	u = state_user_find("user0");
	m = TAILQ_FIRST(&u->u_members);
	state_member_del(m, 200);
	ch = state_channel_find("chan7");
	TAILQ_FOREACH(m, &ch->ch_members, m_centry) {
		if (m->m_parted == 0)
			state_member_del(m, 201);
	}
	state_channel_del(ch, 202);
	state_check();

	state_clear();
	assert_int_equal(state_nusers(), 0);
	assert_int_equal(state_nchannels, 0);
	assert_null(state_user_find("user0"));
	assert_null(state_channel_find("chan0"));
	state_check();
	/* Usable again afterwards. */
	u = state_user_get("user0");
	state_member_add(u, state_channel_add("chan0", "user0", 1), 2);
	state_check();
}

/* Intents: the bitmask and the list change together; add is idempotent. */
static void
t_intents(void **state UNUSED)
{
	struct client	*c;
	int		 t, n;

	assert_int_equal(intent_parse("channel"), INTENT_CHANNEL);
	assert_int_equal(intent_parse("user"), INTENT_USER);
	assert_int_equal(intent_parse("message"), INTENT_MESSAGE);
	assert_int_equal(intent_parse("bogus"), -1);
	assert_int_equal(intent_parse("Channel"), -1);
	assert_int_equal(intent_parse(""), -1);
	for (t = 0; t < INTENT_MAX; t++)
		assert_int_equal(intent_parse(intent_name(t)), t);

	intent_add(&fakes[0], INTENT_USER);
	intent_add(&fakes[0], INTENT_USER);
	intent_add(&fakes[2], INTENT_USER);
	assert_int_equal(intent_count(INTENT_USER), 2);
	assert_int_equal(fakes[0].c_intents, 1U << INTENT_USER);
	n = 0;
	for (c = intent_first(INTENT_USER); c != NULL;
	    c = intent_next(c, INTENT_USER)) {
		assert_true(c == &fakes[0] || c == &fakes[2]);
		n++;
	}
	assert_int_equal(n, 2);
	intent_del(&fakes[1], INTENT_USER);	/* not held: no-op */
	assert_int_equal(intent_count(INTENT_USER), 2);
	intent_clear(&fakes[0]);
	assert_int_equal(fakes[0].c_intents, 0);
	assert_int_equal(intent_count(INTENT_USER), 1);
	assert_ptr_equal(intent_first(INTENT_USER), &fakes[2]);
	assert_null(intent_next(&fakes[2], INTENT_USER));
	state_check();
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(t_member_at, setup, teardown),
		cmocka_unit_test_setup_teardown(t_channel_access, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_ghost_member, setup, teardown),
		cmocka_unit_test_setup_teardown(t_ghost_channel, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_attach, setup, teardown),
		cmocka_unit_test_setup_teardown(t_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(t_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(t_intents, setup, teardown),
		cmocka_unit_test_setup_teardown(t_random, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
