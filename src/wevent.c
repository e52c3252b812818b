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

static void	wevent_committed(uint64_t, int64_t);
static void	wevent_failed(uint64_t, const char *);

static const struct batch_listener wevent_listener = {
	wevent_committed, wevent_failed
};

static int64_t	wevent_seq = 1;

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
	r->type = intent_name(ev->ev_type);
	r->action = ev->ev_action;
	r->resource = ev->ev_resource;
	r->actor = ev->ev_actor;
	r->data = ev->ev_data;
	r->priv = ev->ev_priv;
}

/*
 * Assign the next seq, build the event once (JSON: seq, ts, username and
 * then extra strings as key, value pairs up to a NULL key; a NULL value
 * leaves its key out), mark it private if its channel is, and queue it
 * for the journal.
 */
static struct wevent *
wevent_emit(int type, struct channel *ch, const char *action,
    const char *resource, const char *actor, ...)
{
	struct wevent		*ev;
	struct journal_rec	 rec;
	json_t			*o;
	va_list			 ap;
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
	va_start(ap, actor);
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (value != NULL &&
		    json_object_set_new(o, key, json_string(value)) != 0)
			fatalx("%s: %s is not UTF-8", __func__, key);
	}
	va_end(ap);
	if ((ev->ev_data = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("%s: json_dumps", __func__);
	json_decref(o);
	wevent_frame(ev, intent_name(type));
	wevent_record(ev, &rec);
	ev->ev_batch = batch_add(&rec);
	TAILQ_INSERT_TAIL(&wevent_pending, ev, ev_entry);
	return (ev);
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
		c = m->m_user->u_client;
		if (c != NULL && wevent_wanted(c, INTENT_MESSAGE, ev->ev_priv,
		    state_member_at(m, ev->ev_seq), ev->ev_actor))
			stream_deliver(c, ev->ev_seq, ev->ev_frame,
			    ev->ev_framelen);
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
	if (wevent_load() != 0)
		fatalx("journal: cannot reload state after a failed commit");
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

/* Load channels and memberships from the journal's state tables. */
int
wevent_load(void)
{
	struct journal_state_cb	 cb = {
		.channel = wevent_load_channel,
		.member = wevent_load_member,
		.access = wevent_load_access,
		.arg = NULL
	};
	char			*cause;

	state_reset();
	if (journal_load_state(wevent_journal, &cb, &cause) != 0) {
		log_warnx("journal: loading state: %s", cause);
		free(cause);
		return (-1);
	}
	wevent_seq = journal_head(wevent_journal) + 1;
	return (0);
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
