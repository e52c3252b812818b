/*
 * state.c: the chat state in memory and its indexes: users by name,
 * channels by name and the two-way user<->channel membership lists. Each
 * index has one mutator, so both directions always change together.
 *
 * A user lives while it has a connection or a membership: memberships
 * belong to the account and outlive the connections (one account may be on
 * several at once); a name with neither is forgotten, so passing names do
 * not accumulate. Who may take a name is account.c's business; the intent
 * index lives in intent.c.
 *
 * Parted members and deleted channels linger as "ghosts" until the batch
 * that parted or deleted them has been fanned out: an event is delivered
 * by membership at its own seq, not at commit time (state_member_at).
 *
 * A channel carries its access: private or public, and two lists of
 * names, the invited and the banned. They are names, not users, because a
 * user object lives only while it is connected or a member. The lists are
 * short in practice and walked linearly, on SUB and on INVITE/BAN only.
 */
#include "config.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

struct channels		 state_channels = TAILQ_HEAD_INITIALIZER(state_channels);
size_t			 state_nchannels;

static struct channels	 state_dead_channels =
			     TAILQ_HEAD_INITIALIZER(state_dead_channels);
static struct members	 state_ghosts = TAILQ_HEAD_INITIALIZER(state_ghosts);
static void		*state_users;		/* tsearch tree of struct user */
static void		*state_chantree;	/* tsearch tree of live channels */
static size_t		 state_users_n;

static void		 state_user_forget(struct user *);

/* How many live channels each name created (max_channels_owned). */
struct state_owner {
	char		*o_name;
	size_t		 o_n;
};
static void		*state_owners;	/* tsearch tree of struct state_owner */


/* Order users by name for the tree. */
static int
state_user_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct user *)a)->u_name,
	    ((const struct user *)b)->u_name));
}

/* Order channels by name for the tree. */
static int
state_chan_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct channel *)a)->ch_name,
	    ((const struct channel *)b)->ch_name));
}

/* Order owners by name for the tree. */
static int
state_owner_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct state_owner *)a)->o_name,
	    ((const struct state_owner *)b)->o_name));
}

/* One more (add > 0) or one fewer live channel created by name. */
static void
state_owner_count(const char *name, int add)
{
	struct state_owner	 key, *o;
	void			*node;

	key.o_name = (char *)name;
	if ((node = tfind(&key, &state_owners, state_owner_cmp)) != NULL)
		o = *(struct state_owner **)node;
	else if (add > 0) {
		o = xcalloc(1, sizeof *o);
		o->o_name = xstrdup(name);
		if (tsearch(o, &state_owners, state_owner_cmp) == NULL)
			fatalx("%s: tsearch", __func__);
	} else
		fatalx("%s: %s owns no channel", __func__, name);
	if (add > 0) {
		o->o_n++;
		return;
	}
	if (--o->o_n == 0) {
		tdelete(o, &state_owners, state_owner_cmp);
		free(o->o_name);
		free(o);
	}
}

/* How many live channels name created. */
size_t
state_channels_owned(const char *name)
{
	struct state_owner	 key;
	void			*node;

	key.o_name = (char *)name;
	node = tfind(&key, &state_owners, state_owner_cmp);
	return (node == NULL ? 0 : (*(struct state_owner **)node)->o_n);
}

/* A user by name, or NULL. */
struct user *
state_user_find(const char *name)
{
	struct user	 key;
	void		*node;

	key.u_name = (char *)name;
	node = tfind(&key, &state_users, state_user_cmp);
	return (node == NULL ? NULL : *(struct user **)node);
}

/* A user by name, created on first use. */
struct user *
state_user_get(const char *name)
{
	struct user	*u;

	if ((u = state_user_find(name)) != NULL)
		return (u);
	u = xcalloc(1, sizeof *u);
	u->u_name = xstrdup(name);
	TAILQ_INIT(&u->u_members);
	TAILQ_INIT(&u->u_clients);
	if (tsearch(u, &state_users, state_user_cmp) == NULL)
		fatalx("%s: tsearch", __func__);
	state_users_n++;
	return (u);
}

/* How many users the server knows. */
size_t
state_nusers(void)
{
	return (state_users_n);
}

/* Bind a connection to a user (leaving the one it had); a user has many. */
void
state_user_attach(struct user *u, struct client *c)
{
	if (c->c_user == u)
		return;
	if (c->c_user != NULL)
		state_user_detach(c);
	TAILQ_INSERT_TAIL(&u->u_clients, c, c_uentry);
	u->u_nclients++;
	c->c_user = u;
}

/* Unbind a connection from its user; the user and memberships stay. */
void
state_user_detach(struct client *c)
{
	struct user	*u = c->c_user;

	if (u == NULL)
		return;
	TAILQ_REMOVE(&u->u_clients, c, c_uentry);
	u->u_nclients--;
	c->c_user = NULL;
	state_user_forget(u);
}

/* A user with no connection and no membership (not even a parted one) goes. */
static void
state_user_forget(struct user *u)
{
	if (!TAILQ_EMPTY(&u->u_clients) || !TAILQ_EMPTY(&u->u_members))
		return;
	if (tdelete(u, &state_users, state_user_cmp) == NULL)
		fatalx("%s: %s not in tree", __func__, u->u_name);
	state_users_n--;
	free(u->u_name);
	free(u);
}

/* A live channel by name, or NULL. */
struct channel *
state_channel_find(const char *name)
{
	struct channel	 key;
	void		*node;

	key.ch_name = (char *)name;
	node = tfind(&key, &state_chantree, state_chan_cmp);
	return (node == NULL ? NULL : *(struct channel **)node);
}

/* Create a channel at seq. The caller checked it does not exist. */
struct channel *
state_channel_add(const char *name, const char *creator, int64_t seq)
{
	struct channel	*ch;

	if (state_channel_find(name) != NULL)
		fatalx("%s: %s exists", __func__, name);
	ch = xcalloc(1, sizeof *ch);
	ch->ch_name = xstrdup(name);
	ch->ch_creator = xstrdup(creator);
	ch->ch_created = seq;
	TAILQ_INIT(&ch->ch_members);
	if (tsearch(ch, &state_chantree, state_chan_cmp) == NULL)
		fatalx("%s: tsearch", __func__);
	TAILQ_INSERT_TAIL(&state_channels, ch, ch_entry);
	state_nchannels++;
	state_owner_count(creator, 1);
	return (ch);
}

/* The channel exists for u: the one rule (see wschatd.h). */
int
state_channel_visible(const struct channel *ch, const struct user *u)
{
	if (!ch->ch_private)
		return (1);
	if (u == NULL)
		return (0);
	if (state_channel_owner(ch, u))
		return (1);
	return (state_member_find((struct user *)u, (struct channel *)ch) !=
	    NULL || state_access_find(ch, STATE_INVITE, u->u_name));
}

/* The channel's owner, or a server admin. */
int
state_channel_owner(const struct channel *ch, const struct user *u)
{
	return (u != NULL && (u->u_admin ||
	    strcmp(ch->ch_creator, u->u_name) == 0));
}

/* Is name on the channel's invite or ban list? */
int
state_access_find(const struct channel *ch, enum state_access kind,
    const char *name)
{
	size_t	i;

	for (i = 0; i < ch->ch_naccess[kind]; i++) {
		if (strcmp(ch->ch_access[kind][i], name) == 0)
			return (1);
	}
	return (0);
}

/* Put name on a list (once). */
void
state_access_add(struct channel *ch, enum state_access kind, const char *name)
{
	if (state_access_find(ch, kind, name))
		return;
	ch->ch_access[kind] = xreallocarray(ch->ch_access[kind],
	    ch->ch_naccess[kind] + 1, sizeof *ch->ch_access[kind]);
	ch->ch_access[kind][ch->ch_naccess[kind]++] = xstrdup(name);
}

/* Take name off a list, if it is there. */
void
state_access_del(struct channel *ch, enum state_access kind, const char *name)
{
	size_t	i;

	for (i = 0; i < ch->ch_naccess[kind]; i++) {
		if (strcmp(ch->ch_access[kind][i], name) == 0) {
			free(ch->ch_access[kind][i]);
			ch->ch_access[kind][i] =
			    ch->ch_access[kind][--ch->ch_naccess[kind]];
			return;
		}
	}
}

/* Delete a channel at seq; its members must have been parted already. */
void
state_channel_del(struct channel *ch, int64_t seq)
{
	struct member	*m;

	TAILQ_FOREACH(m, &ch->ch_members, m_centry) {
		if (m->m_parted == 0)
			fatalx("%s: %s still has member %s", __func__,
			    ch->ch_name, m->m_user->u_name);
	}
	if (tdelete(ch, &state_chantree, state_chan_cmp) == NULL)
		fatalx("%s: %s not in tree", __func__, ch->ch_name);
	TAILQ_REMOVE(&state_channels, ch, ch_entry);
	state_nchannels--;
	state_owner_count(ch->ch_creator, -1);
	ch->ch_deleted = seq;
	TAILQ_INSERT_TAIL(&state_dead_channels, ch, ch_entry);
}

/* The live membership of a user in a channel, or NULL. */
struct member *
state_member_find(struct user *u, struct channel *ch)
{
	struct member	*m;

	/* Walk the shorter side. */
	if (u->u_nchannels <= ch->ch_nmembers) {
		TAILQ_FOREACH(m, &u->u_members, m_uentry) {
			if (m->m_chan == ch && m->m_parted == 0)
				return (m);
		}
	} else {
		TAILQ_FOREACH(m, &ch->ch_members, m_centry) {
			if (m->m_user == u && m->m_parted == 0)
				return (m);
		}
	}
	return (NULL);
}

/* Join a user to a channel at seq: both lists change together. */
struct member *
state_member_add(struct user *u, struct channel *ch, int64_t seq)
{
	struct member	*m;

	if (state_member_find(u, ch) != NULL)
		fatalx("%s: %s already in %s", __func__, u->u_name, ch->ch_name);
	m = xcalloc(1, sizeof *m);
	m->m_user = u;
	m->m_chan = ch;
	m->m_joined = seq;
	TAILQ_INSERT_TAIL(&u->u_members, m, m_uentry);
	TAILQ_INSERT_TAIL(&ch->ch_members, m, m_centry);
	u->u_nchannels++;
	ch->ch_nmembers++;
	return (m);
}

/* Part a member at seq; it stays linked as a ghost until reaped. */
void
state_member_del(struct member *m, int64_t seq)
{
	if (m->m_parted != 0)
		fatalx("%s: %s already parted %s", __func__, m->m_user->u_name,
		    m->m_chan->ch_name);
	m->m_parted = seq;
	m->m_user->u_nchannels--;
	m->m_chan->ch_nmembers--;
	TAILQ_INSERT_TAIL(&state_ghosts, m, m_gentry);
}

/* Was this a membership at the moment of event seq? */
int
state_member_at(const struct member *m, int64_t seq)
{
	return (m->m_joined < seq && (m->m_parted == 0 || seq < m->m_parted));
}

/* Was u in ch at seq? Parted members count until they are reaped. */
int
state_member_was(const struct user *u, const struct channel *ch, int64_t seq)
{
	const struct member	*m;

	TAILQ_FOREACH(m, &u->u_members, m_uentry) {
		if (m->m_chan == ch && state_member_at(m, seq))
			return (1);
	}
	return (0);
}

/* Unlink and free one membership from both sides. */
static void
state_member_free(struct member *m)
{
	struct user	*u = m->m_user;

	TAILQ_REMOVE(&u->u_members, m, m_uentry);
	TAILQ_REMOVE(&m->m_chan->ch_members, m, m_centry);
	free(m);
	state_user_forget(u);
}

/* Free one channel object. */
static void
state_channel_free(struct channel *ch)
{
	size_t	k, i;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < ch->ch_naccess[k]; i++)
			free(ch->ch_access[k][i]);
		free(ch->ch_access[k]);
	}
	free(ch->ch_name);
	free(ch->ch_creator);
	free(ch);
}

/* Free ghosts whose events up to seq have all been fanned out. */
void
state_reap(int64_t seq)
{
	struct member	*m, *mn;
	struct channel	*ch, *chn;

	TAILQ_FOREACH_SAFE(m, &state_ghosts, m_gentry, mn) {
		if (m->m_parted <= seq) {
			TAILQ_REMOVE(&state_ghosts, m, m_gentry);
			state_member_free(m);
		}
	}
	TAILQ_FOREACH_SAFE(ch, &state_dead_channels, ch_entry, chn) {
		if (ch->ch_deleted <= seq && TAILQ_EMPTY(&ch->ch_members)) {
			TAILQ_REMOVE(&state_dead_channels, ch, ch_entry);
			state_channel_free(ch);
		}
	}
}

/* Forget every channel and membership (ghosts too); users stay. */
void
state_reset(void)
{
	struct channel	*ch;
	struct member	*m;

	while ((m = TAILQ_FIRST(&state_ghosts)) != NULL) {
		TAILQ_REMOVE(&state_ghosts, m, m_gentry);
		state_member_free(m);
	}
	while ((ch = TAILQ_FIRST(&state_channels)) != NULL) {
		while ((m = TAILQ_FIRST(&ch->ch_members)) != NULL) {
			m->m_user->u_nchannels--;
			state_member_free(m);
		}
		tdelete(ch, &state_chantree, state_chan_cmp);
		TAILQ_REMOVE(&state_channels, ch, ch_entry);
		state_owner_count(ch->ch_creator, -1);
		state_channel_free(ch);
	}
	while ((ch = TAILQ_FIRST(&state_dead_channels)) != NULL) {
		TAILQ_REMOVE(&state_dead_channels, ch, ch_entry);
		state_channel_free(ch);
	}
	state_nchannels = 0;
}

/* tdestroy callback for users. */
static void
state_user_free(void *p)
{
	struct user	*u = p;

	free(u->u_name);
	free(u);
}

/* Forget everything (shutdown, tests). Connections must be gone. */
void
state_clear(void)
{
	state_reset();
	tdestroy(state_users, state_user_free);
	state_users = NULL;
	state_users_n = 0;
}

/* twalk_r callback: check one user's side of the membership index. */
static void
state_check_user(const void *node, VISIT v, void *arg)
{
	const struct user	*u = *(struct user * const *)node;
	const struct member	*m, *m2;
	const struct client	*c;
	size_t			 live = 0, *n = arg;

	if (v != postorder && v != leaf)
		return;
	(*n)++;
	TAILQ_FOREACH(m, &u->u_members, m_uentry) {
		if (m->m_user != u)
			fatalx("state: member of %s points at %s", u->u_name,
			    m->m_user->u_name);
		TAILQ_FOREACH(m2, &m->m_chan->ch_members, m_centry) {
			if (m2 == m)
				break;
		}
		if (m2 == NULL)
			fatalx("state: %s in %s missing from the channel side",
			    u->u_name, m->m_chan->ch_name);
		if (m->m_parted == 0)
			live++;
	}
	if (live != u->u_nchannels)
		fatalx("state: %s has %zu live channels, counted %zu", u->u_name,
		    live, u->u_nchannels);
	live = 0;
	TAILQ_FOREACH(c, &u->u_clients, c_uentry) {
		if (c->c_user != u)
			fatalx("state: %s's connection points elsewhere",
			    u->u_name);
		live++;
	}
	if (live != u->u_nclients)
		fatalx("state: %s has %zu connections, counted %zu", u->u_name,
		    u->u_nclients, live);
}

/* Check every two-way index; fatal on a mismatch. */
void
state_check(void)
{
	struct channel	*ch, *ch2;
	struct member	*m, *m2;
	size_t		 n, live, users = 0;

	n = 0;
	TAILQ_FOREACH(ch, &state_channels, ch_entry) {
		n++;
		if (state_channel_find(ch->ch_name) != ch)
			fatalx("state: channel %s not indexed", ch->ch_name);
		live = 0;
		TAILQ_FOREACH(m, &ch->ch_members, m_centry) {
			if (m->m_chan != ch)
				fatalx("state: member list of %s is crossed",
				    ch->ch_name);
			TAILQ_FOREACH(m2, &m->m_user->u_members, m_uentry) {
				if (m2 == m)
					break;
			}
			if (m2 == NULL)
				fatalx("state: %s in %s missing from the user side",
				    m->m_user->u_name, ch->ch_name);
			if (m->m_parted == 0)
				live++;
		}
		if (live != ch->ch_nmembers)
			fatalx("state: %s has %zu live members, counted %zu",
			    ch->ch_name, live, ch->ch_nmembers);
	}
	if (n != state_nchannels)
		fatalx("state: %zu channels, counted %zu", n, state_nchannels);
	TAILQ_FOREACH(ch, &state_channels, ch_entry) {
		n = 0;
		TAILQ_FOREACH(ch2, &state_channels, ch_entry) {
			if (strcmp(ch2->ch_creator, ch->ch_creator) == 0)
				n++;
		}
		if (n != state_channels_owned(ch->ch_creator))
			fatalx("state: %s created %zu channels, counted %zu",
			    ch->ch_creator, n,
			    state_channels_owned(ch->ch_creator));
	}
	twalk_r(state_users, state_check_user, &users);
	if (users != state_users_n)
		fatalx("state: %zu users, counted %zu", users, state_users_n);

	intent_check();
}
