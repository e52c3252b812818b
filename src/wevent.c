/*
 * wevent.c: the one path every state change takes. An event gets the next
 * seq, its JSON and its wire frame are built once, its state change is
 * applied at that seq, and its record joins the open batch for the log.
 * The event waits here until its batch commits; then it is fanned out by
 * walking an index (intent -> connections, channel -> members), never all
 * clients. If the commit fails, the events are dropped and the state is
 * loaded again from the journal. Loading the state at start is here too.
 *
 * wevent_wanted() is the one rule for who receives an event: live fan-out
 * and RESUME's replay both ask it. An event of a private channel is marked
 * so in its record (journal column private), so a replay knows it without
 * the channel, which may be gone by then.
 *
 * Account events (type 'account') take the same path, so that a name is
 * taken or freed in the log's order, but no connection receives them:
 * they have no intent. Their JSON names the account only; the password or
 * token hash a change brings rides in the record (ev_secret, ev_token) to
 * the journal's accounts and tokens tables and never into an event.
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "wschatd.h"

TAILQ_HEAD(wevents, wevent);
static struct wevents	 wevent_pending = TAILQ_HEAD_INITIALIZER(wevent_pending);
static struct journal	*wevent_journal;
static void		(*wevent_loaded)(void);	/* the layer above's hook */

static void	wevent_committed(uint64_t, int64_t);
static void	wevent_failed(uint64_t, const char *);

static const struct batch_listener wevent_listener = {
	wevent_committed, wevent_failed
};

static int64_t	wevent_seq = 1;
static int64_t	wevent_request_id;	/* for the next account event */

/* The journal's name of an event type. */
static const char *
wevent_type_name(int type)
{
	return (type == WEVENT_ACCOUNT ? "account" : intent_name(type));
}

/* Build the frame: one text frame holding the EVENT line. */
static void
wevent_frame(struct wevent *ev, const char *type)
{
	char	*line;
	int	 len;

	len = xasprintf(&line, "EVENT %s %s %s %s", type, ev->ev_action,
	    ev->ev_resource, ev->ev_data);
	ev->ev_frame = xmalloc(WS_MAX_HEADER + len);
	ev->ev_hdrlen = ws_header(ev->ev_frame, WS_OP_TEXT, 1, len, NULL);
	memcpy(ev->ev_frame + ev->ev_hdrlen, line, len);
	ev->ev_framelen = ev->ev_hdrlen + len;
	free(line);
}

/* Allocate an event with its strings. */
static struct wevent *
wevent_new(int64_t seq, int64_t ts, int type, const char *action,
    const char *resource, const char *actor)
{
	struct wevent	*ev;

	ev = xcalloc(1, sizeof *ev);
	ev->ev_seq = seq;
	ev->ev_ts = ts;
	ev->ev_type = type;
	ev->ev_action = xstrdup(action);
	ev->ev_resource = xstrdup(resource);
	ev->ev_actor = actor != NULL ? xstrdup(actor) : NULL;
	return (ev);
}

/* The event as the log stores it (the strings stay the event's). */
static void
wevent_record(const struct wevent *ev, struct journal_rec *r)
{
	r->seq = ev->ev_seq;
	r->ts = ev->ev_ts;
	r->type = wevent_type_name(ev->ev_type);
	r->action = ev->ev_action;
	r->resource = ev->ev_resource;
	r->actor = ev->ev_actor;
	r->data = ev->ev_data;
	r->priv = ev->ev_priv;
	r->secret = ev->ev_secret;
	r->token = ev->ev_token;
	r->request = ev->ev_request;
}

/* Queue a built event's record for the journal and keep it until then. */
static struct wevent *
wevent_queue(struct wevent *ev)
{
	struct journal_rec	 rec;

	if (ev->ev_type == WEVENT_ACCOUNT && wevent_request_id > 0) {
		ev->ev_request = wevent_request_id;
		wevent_request_id = 0;
	}
	memset(&rec, 0, sizeof rec);
	wevent_record(ev, &rec);
	ev->ev_batch = batch_add(&rec);
	TAILQ_INSERT_TAIL(&wevent_pending, ev, ev_entry);
	return (ev);
}

/*
 * Assign the next seq, build the event once (JSON: seq, ts, username and
 * then extra strings as key, value pairs up to a NULL key; a NULL value
 * leaves its key out) and mark it private if its channel is; the caller
 * queues it for the journal (wevent_queue).
 */
static struct wevent *
wevent_vbuild(int type, struct channel *ch, const char *action,
    const char *resource, const char *actor, va_list ap)
{
	struct wevent		*ev;
	json_t			*o;
	const char		*key, *value;

	ev = wevent_new(wevent_seq++, clock_wall_ms(), type, action, resource,
	    actor);
	ev->ev_chan = ch;
	ev->ev_priv = ch != NULL && ch->ch_private;
	o = json_object();
	if (o == NULL)
		fatalx("%s: json_object", __func__);
	json_object_set_new(o, "seq", json_integer(ev->ev_seq));
	json_object_set_new(o, "ts", json_integer(ev->ev_ts));
	if (actor != NULL)
		json_object_set_new(o, "username", json_string(actor));
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (value != NULL &&
		    json_object_set_new(o, key, json_string(value)) != 0)
			fatalx("%s: %s is not UTF-8", __func__, key);
	}
	if ((ev->ev_data = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("%s: json_dumps", __func__);
	json_decref(o);
	if (type != WEVENT_ACCOUNT)
		wevent_frame(ev, intent_name(type));
	return (ev);
}

/* Build an event (wevent_vbuild's arguments), not queued yet. */
static struct wevent *
wevent_build_new(int type, struct channel *ch, const char *action,
    const char *resource, const char *actor, ...)
{
	struct wevent	*ev;
	va_list		 ap;

	va_start(ap, actor);
	ev = wevent_vbuild(type, ch, action, resource, actor, ap);
	va_end(ap);
	return (ev);
}

/* Build an event (wevent_vbuild's arguments) and queue it. */
static struct wevent *
wevent_emit(int type, struct channel *ch, const char *action,
    const char *resource, const char *actor, ...)
{
	struct wevent	*ev;
	va_list		 ap;

	va_start(ap, actor);
	ev = wevent_vbuild(type, ch, action, resource, actor, ap);
	va_end(ap);
	return (wevent_queue(ev));
}

/* An event as the journal stored it (replay, snapshot, history). */
struct wevent *
wevent_build(int64_t seq, int64_t ts, const char *type, const char *action,
    const char *resource, const char *actor, const char *data)
{
	struct wevent	*ev;
	int		 t;

	if ((t = intent_parse(type)) == -1)
		return (NULL);
	ev = wevent_new(seq, ts, t, action, resource, actor);
	ev->ev_data = xstrdup(data);
	wevent_frame(ev, type);
	return (ev);
}

/* Release an event. */
void
wevent_free(struct wevent *ev)
{
	if (ev == NULL)
		return;
	free(ev->ev_action);
	free(ev->ev_resource);
	free(ev->ev_actor);
	free(ev->ev_data);	/* json_dumps uses malloc by default */
	free(ev->ev_frame);
	if (ev->ev_secret != NULL)
		explicit_bzero(ev->ev_secret, strlen(ev->ev_secret));
	free(ev->ev_secret);
	free(ev->ev_token);
	free(ev);
}

/*
 * Does this connection receive an event of this type? It must hold the
 * intent, and for a message its user must have been a member of the
 * channel at the event's seq (member, which the caller knows: live from
 * the state, on replay from the journal). An event of a private channel
 * goes only to a member as of the event, to its actor (who joined, left,
 * was kicked, invited or banned, or created the channel) and to admins.
 * The one rule: live fan-out and RESUME's replay both ask it, so a replay
 * is exactly what was missed.
 */
int
wevent_wanted(const struct client *c, int type, int priv, int member,
    const char *actor)
{
	const struct user	*u = c->c_user;

	if (type < 0 || type >= INTENT_MAX)	/* account events: nobody */
		return (0);
	if (!(c->c_intents & (1U << type)))
		return (0);
	if (type == INTENT_MESSAGE)
		return (member);
	if (!priv || member)
		return (1);
	return (u != NULL && (u->u_admin ||
	    (actor != NULL && strcmp(actor, u->u_name) == 0)));
}

/* Live delivery: by intent for channel/user, by membership for messages. */
static void
wevent_fanout(const struct wevent *ev)
{
	struct client	*c, *next;
	struct member	*m;
	int		 member;

	if (ev->ev_type == WEVENT_ACCOUNT)
		return;
	if (ev->ev_type != INTENT_MESSAGE) {
		for (c = intent_first(ev->ev_type); c != NULL; c = next) {
			next = intent_next(c, ev->ev_type);
			/* Membership matters only to a private channel's. */
			member = ev->ev_priv && c->c_user != NULL &&
			    state_member_was(c->c_user, ev->ev_chan, ev->ev_seq);
			if (wevent_wanted(c, ev->ev_type, ev->ev_priv, member,
			    ev->ev_actor))
				stream_deliver(c, ev->ev_seq, ev->ev_frame,
				    ev->ev_framelen);
		}
		return;
	}
	if (ev->ev_chan == NULL)
		fatalx("%s: message event %lld has no channel", __func__,
		    (long long)ev->ev_seq);
	TAILQ_FOREACH(m, &ev->ev_chan->ch_members, m_centry) {
		TAILQ_FOREACH(c, &m->m_user->u_clients, c_uentry) {
			if (wevent_wanted(c, INTENT_MESSAGE, ev->ev_priv,
			    state_member_at(m, ev->ev_seq), ev->ev_actor))
				stream_deliver(c, ev->ev_seq, ev->ev_frame,
				    ev->ev_framelen);
		}
	}
}

/* A batch committed: its events go out, in seq order. */
static void
wevent_committed(uint64_t id, int64_t head)
{
	struct wevent	*ev;

	while ((ev = TAILQ_FIRST(&wevent_pending)) != NULL &&
	    ev->ev_batch <= id) {
		TAILQ_REMOVE(&wevent_pending, ev, ev_entry);
		wevent_fanout(ev);
		wevent_free(ev);
	}
	state_reap(head);
}

/* Batches failed: their events never happened; memory follows the journal. */
static void
wevent_failed(uint64_t upto, const char *cause)
{
	struct wevent	*ev;

	while ((ev = TAILQ_FIRST(&wevent_pending)) != NULL &&
	    ev->ev_batch <= upto) {
		TAILQ_REMOVE(&wevent_pending, ev, ev_entry);
		wevent_free(ev);
	}
	if (wevent_load() == 0)
		return;
	/* A journal gone bad refuses every write: serve what reads still can. */
	if (journal_broken(wevent_journal) == NULL)
		fatalx("journal: cannot reload state after a failed commit");
	log_warnx("journal: state not reloaded after a failed commit: the "
	    "journal is broken");
}

/* journal_load_state callbacks: rebuild channels and memberships. */
static void
wevent_load_channel(const char *name, const char *creator, int64_t seq,
    int priv, void *arg)
{
	state_channel_add(name, creator, seq)->ch_private = priv;
}

static void
wevent_load_access(const char *channel, int kind, const char *user,
    void *arg)
{
	struct channel	*ch;

	if ((ch = state_channel_find(channel)) == NULL) {
		log_warnx("journal: %s of %s in missing channel %s",
		    kind == STATE_BAN ? "ban" : "invite", user, channel);
		return;
	}
	state_access_add(ch, kind == STATE_BAN ? STATE_BAN : STATE_INVITE,
	    user);
}

static void
wevent_load_member(const char *channel, const char *user, int64_t seq,
    void *arg)
{
	struct channel	*ch;

	if ((ch = state_channel_find(channel)) == NULL) {
		log_warnx("journal: membership of %s in missing channel %s",
		    user, channel);
		return;
	}
	state_member_add(state_user_get(user), ch, seq);
}

static void
wevent_load_account(const char *name, int registered, const char *pwhash,
    int admin, int disabled, void *arg)
{
	struct account	*a;
	struct user	*u;

	a = account_add(name, registered, registered ? pwhash : NULL);
	a->a_admin = admin;
	a->a_disabled = disabled;
	if ((u = state_user_find(name)) != NULL)
		u->u_admin = admin;
}

static void
wevent_load_token(const char *hex, const char *name, int64_t used, void *arg)
{
	unsigned char	 hash[ACCOUNT_HASH_LEN];
	struct account	*a;

	if ((a = account_find(name)) == NULL ||
	    account_hex_parse(hex, hash, sizeof hash) != 0) {
		log_warnx("journal: a token of %s is broken or has no account",
		    name);
		return;
	}
	account_token_add(a, hash, used);
}

/* Load channels, memberships, accounts and tokens from the journal. */
int
wevent_load(void)
{
	struct journal_state_cb	 cb = {
		.channel = wevent_load_channel,
		.member = wevent_load_member,
		.access = wevent_load_access,
		.account = wevent_load_account,
		.token = wevent_load_token,
		.arg = NULL
	};
	char			*cause;

	state_reset();
	account_clear();
	if (journal_load_state(wevent_journal, &cb, &cause) != 0) {
		log_warnx("journal: loading state: %s", cause);
		free(cause);
		return (-1);
	}
	wevent_seq = journal_head(wevent_journal) + 1;
	if (wevent_loaded != NULL)
		wevent_loaded();
	return (0);
}

/* Who hears of a load: identities find their tokens again (ident.c). */
void
wevent_on_load(void (*cb)(void))
{
	wevent_loaded = cb;
}

/* Events come from this journal's state and commit through the batches. */
void
wevent_init(struct journal *j)
{
	wevent_journal = j;
	batch_listen(&wevent_listener);
}

/* Drop events whose batch never completed (exit). */
void
wevent_shutdown(void)
{
	struct wevent	*ev;

	while ((ev = TAILQ_FIRST(&wevent_pending)) != NULL) {
		TAILQ_REMOVE(&wevent_pending, ev, ev_entry);
		wevent_free(ev);
	}
}

/*
 * The state changes. Each emits its event and changes the state at that
 * event's seq together, so the journal and memory cannot drift apart.
 */

/* A channel is created by a user, public or private. */
struct channel *
wevent_create(const char *name, struct user *by, int priv)
{
	struct channel	*ch;

	/* At the seq the event takes next, so that the event is scoped. */
	ch = state_channel_add(name, by->u_name, wevent_seq);
	ch->ch_private = priv != 0;
	wevent_emit(INTENT_CHANNEL, ch, "CREATE", name, by->u_name,
	    "visibility", priv ? "private" : NULL, NULL);
	return (ch);
}

/* A user joins a channel; an invite is used up. */
void
wevent_join(struct user *u, struct channel *ch)
{
	struct wevent	*ev;

	ev = wevent_emit(INTENT_USER, ch, "JOIN", ch->ch_name, u->u_name, NULL);
	state_member_add(u, ch, ev->ev_seq);
	state_access_del(ch, STATE_INVITE, u->u_name);
}

/* A member leaves; reason (or NULL) goes into the event's JSON. */
void
wevent_part(struct member *m, const char *reason)
{
	struct wevent	*ev;

	ev = wevent_emit(INTENT_USER, m->m_chan, "PART", m->m_chan->ch_name,
	    m->m_user->u_name, "reason", reason, NULL);
	state_member_del(m, ev->ev_seq);
}

/* A member is parted by someone else (kicked, banned), with their name. */
void
wevent_kick(struct member *m, struct user *by, const char *why,
    const char *text)
{
	struct wevent	*ev;

	ev = wevent_emit(INTENT_USER, m->m_chan, "PART", m->m_chan->ch_name,
	    m->m_user->u_name, "reason", why, "by", by->u_name, "text", text,
	    NULL);
	state_member_del(m, ev->ev_seq);
}

/* An invite, ban or unban of target: the lists change at the event's seq. */
void
wevent_access(struct channel *ch, const char *action, const char *target,
    struct user *by)
{
	wevent_emit(INTENT_CHANNEL, ch, action, ch->ch_name, target, "by",
	    by->u_name, NULL);
	if (strcmp(action, "INVITE") == 0)
		state_access_add(ch, STATE_INVITE, target);
	else if (strcmp(action, "BAN") == 0) {
		state_access_del(ch, STATE_INVITE, target);
		state_access_add(ch, STATE_BAN, target);
	} else if (strcmp(action, "UNBAN") == 0)
		state_access_del(ch, STATE_BAN, target);
	else
		fatalx("%s: unknown action %s", __func__, action);
}

/* A channel is deleted: every member parts first, then the channel goes. */
void
wevent_delete(struct channel *ch, struct user *by)
{
	struct wevent	*ev;
	struct member	*m;

	TAILQ_FOREACH(m, &ch->ch_members, m_centry) {
		if (m->m_parted == 0)
			wevent_part(m, "deleted");
	}
	ev = wevent_emit(INTENT_CHANNEL, ch, "DELETE", ch->ch_name, by->u_name,
	    NULL);
	state_channel_del(ch, ev->ev_seq);
}

/* A user posts to a channel; returns the message's seq. */
int64_t
wevent_message(struct user *u, struct channel *ch, const char *text)
{
	struct wevent	*ev;

	ev = wevent_emit(INTENT_MESSAGE, ch, "CREATE", ch->ch_name, u->u_name,
	    "text", text, NULL);
	return (ev->ev_seq);
}

/*
 * Account events. Each changes account.c's state at its seq, like the
 * others; the hashes go to the record only.
 */

/* An account event with its JSON ({"seq","ts","username"[,"kind"]}). */
static struct wevent *
wevent_account(const char *action, const char *name, const char *kind,
    const char *secret, const char *tokhex)
{
	struct wevent	*ev;

	ev = wevent_build_new(WEVENT_ACCOUNT, NULL, action, name, name,
	    "kind", kind, NULL);
	ev->ev_secret = secret != NULL ? xstrdup(secret) : NULL;
	ev->ev_token = tokhex != NULL ? xstrdup(tokhex) : NULL;
	return (ev);
}

/* A free name becomes a guest account, with its first token. */
struct account *
wevent_guest(const char *name, const unsigned char *tokhash)
{
	struct wevent	*ev;
	struct account	*a;
	struct token	*t;

	a = account_add(name, 0, NULL);
	t = account_token_add(a, tokhash, clock_wall_ms());
	ev = wevent_account("GUEST", name, "guest", NULL, t->t_hex);
	wevent_queue(ev);
	return (a);
}

/* A free name, or the caller's guest, becomes a registered account. */
struct account *
wevent_register(const char *name, const char *pwhash,
    const unsigned char *tokhash)
{
	struct wevent	*ev;
	struct account	*a;
	struct token	*t;

	if ((a = account_find(name)) == NULL)
		a = account_add(name, 1, pwhash);
	else
		account_set_password(a, pwhash);
	t = tokhash != NULL ? account_token_add(a, tokhash, clock_wall_ms()) :
	    NULL;
	ev = wevent_account("REGISTER", name, "registered", pwhash,
	    t != NULL ? t->t_hex : NULL);
	wevent_queue(ev);
	return (a);
}

/* A new token for an account (LOGIN). */
struct token *
wevent_token(struct account *a, const unsigned char *tokhash)
{
	struct token	*t;

	t = account_token_add(a, tokhash, clock_wall_ms());
	wevent_queue(wevent_account("TOKEN", a->a_name, NULL, NULL, t->t_hex));
	return (t);
}

/* Store a token's last use (coarsely: ident.c decides when). */
void
wevent_touch(struct token *t)
{
	struct wevent	*ev;

	ev = wevent_account("TOUCH", t->t_acct->a_name, NULL, NULL, t->t_hex);
	t->t_stored = ev->ev_ts;
	wevent_queue(ev);
}

/* A token ends; no connection may still hold it. */
void
wevent_revoke(struct token *t)
{
	wevent_queue(wevent_account("REVOKE", t->t_acct->a_name, NULL, NULL,
	    t->t_hex));
	account_token_del(t);
}

/* A new password; every token but keep (which may be NULL) ends. */
void
wevent_passwd(struct account *a, const char *pwhash, struct token *keep)
{
	struct token	*t, *tn;

	account_set_password(a, pwhash);
	wevent_queue(wevent_account("PASSWD", a->a_name, NULL, pwhash,
	    keep != NULL ? keep->t_hex : NULL));
	TAILQ_FOREACH_SAFE(t, &a->a_tokens, t_entry, tn) {
		if (t != keep)
			account_token_del(t);
	}
}

/* A guest lets its name go: it parts every channel first, with reason. */
void
wevent_release(struct account *a, const char *reason)
{
	struct user	*u;
	struct member	*m, *mn;

	if ((u = state_user_find(a->a_name)) != NULL) {
		TAILQ_FOREACH_SAFE(m, &u->u_members, m_uentry, mn) {
			if (m->m_parted == 0)
				wevent_part(m, reason);
		}
	}
	wevent_queue(wevent_account("RELEASE", a->a_name, NULL, NULL, NULL));
	account_del(a);
}

/* ADMIN, UNADMIN, DISABLE or ENABLE, from a wschatctl request. */
void
wevent_account_flag(struct account *a, const char *action)
{
	struct user	*u;

	wevent_queue(wevent_account(action, a->a_name, NULL, NULL, NULL));
	if (strcmp(action, "ADMIN") == 0 || strcmp(action, "UNADMIN") == 0) {
		a->a_admin = action[0] == 'A';
		if ((u = state_user_find(a->a_name)) != NULL)
			u->u_admin = a->a_admin;
	} else
		a->a_disabled = action[0] == 'D';
}

/* The next account event also marks wschatctl requests up to id done. */
void
wevent_request(int64_t id)
{
	wevent_request_id = id;
}
