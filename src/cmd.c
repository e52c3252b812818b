/*
 * cmd.c: the command table and the dispatcher, and what the connection
 * layer calls up to (struct client_ops). Every generic check is made here
 * once (line length, unknown verb, syntax, arity, identity, the channel
 * and membership an entry names, and when a read may run), so the cmd-*.c
 * handlers hold only their own logic. A command's cost in the rate limit
 * is charged here too, once, when it is about to run.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "wschatd.h"

struct journal	*cmd_journal;		/* what reads read */

extern const struct cmd_entry cmd_auth_entry;
extern const struct cmd_entry cmd_ban_entry;
extern const struct cmd_entry cmd_create_entry;
extern const struct cmd_entry cmd_delete_entry;
extern const struct cmd_entry cmd_history_entry;
extern const struct cmd_entry cmd_invite_entry;
extern const struct cmd_entry cmd_kick_entry;
extern const struct cmd_entry cmd_list_entry;
extern const struct cmd_entry cmd_lsevents_entry;
extern const struct cmd_entry cmd_login_entry;
extern const struct cmd_entry cmd_logout_entry;
extern const struct cmd_entry cmd_lssubs_entry;
extern const struct cmd_entry cmd_msg_entry;
extern const struct cmd_entry cmd_nick_entry;
extern const struct cmd_entry cmd_passwd_entry;
extern const struct cmd_entry cmd_ping_entry;
extern const struct cmd_entry cmd_register_entry;
extern const struct cmd_entry cmd_resume_entry;
extern const struct cmd_entry cmd_snapshot_entry;
extern const struct cmd_entry cmd_sub_entry;
extern const struct cmd_entry cmd_subevent_entry;
extern const struct cmd_entry cmd_unban_entry;
extern const struct cmd_entry cmd_unsub_entry;
extern const struct cmd_entry cmd_unsubevent_entry;

/* The table: one row per cmd-*.c file, NULL-terminated. */
const struct cmd_entry *cmd_table[] = {
	&cmd_auth_entry,
	&cmd_ban_entry,
	&cmd_create_entry,
	&cmd_delete_entry,
	&cmd_history_entry,
	&cmd_invite_entry,
	&cmd_kick_entry,
	&cmd_list_entry,
	&cmd_lsevents_entry,
	&cmd_login_entry,
	&cmd_logout_entry,
	&cmd_lssubs_entry,
	&cmd_msg_entry,
	&cmd_nick_entry,
	&cmd_passwd_entry,
	&cmd_ping_entry,
	&cmd_register_entry,
	&cmd_resume_entry,
	&cmd_snapshot_entry,
	&cmd_sub_entry,
	&cmd_subevent_entry,
	&cmd_unban_entry,
	&cmd_unsub_entry,
	&cmd_unsubevent_entry,
	NULL
};

/* Look a verb up (verbs are upper case on the wire). */
const struct cmd_entry *
cmd_find(const char *verb)
{
	const struct cmd_entry	**e;

	for (e = cmd_table; *e != NULL; e++) {
		if (strcmp((*e)->name, verb) == 0)
			return (*e);
	}
	return (NULL);
}

/* Quote an unknown verb safely into an error: printable, bounded. */
static void
cmd_unknown(struct client *c, const char *verb)
{
	char	quoted[33];
	size_t	n;

	for (n = 0; n < sizeof quoted - 1 && verb[n] != '\0'; n++)
		quoted[n] = (verb[n] > 0x20 && verb[n] < 0x7f) ? verb[n] : '?';
	quoted[n] = '\0';
	reply_error(c, PROTO_ERR_UNKNOWN, "unknown command: %s", quoted);
}

/* Arity, from the entry: the usage line, or its own words when too few. */
static int
cmd_arity(struct client *c, const struct cmd_entry *e, int argc)
{
	if (argc < e->lower && e->missing != NULL)
		reply_error(c, PROTO_ERR_BADARGS, "%s", e->missing);
	else if (argc < e->lower || argc > e->upper)
		reply_error(c, PROTO_ERR_BADARGS, "usage: %s", e->usage);
	else
		return (0);
	return (-1);
}

/*
 * The targets an entry declares, found once: an event type, a channel that
 * must exist for this user, the user's membership of it, and the right to
 * run the channel (its owner or an admin). A private channel the user may
 * not see gets exactly the error of a channel that does not exist, so its
 * existence does not leak. -1 once the error is sent.
 */
static int
cmd_targets(struct cmd_call *cc, const struct cmd_entry *e)
{
	struct client	*c = cc->cc_client;
	const char	*arg = cc->cc_line.argv[0];

	if ((e->flags & CMD_EVTYPE) &&
	    (cc->cc_type = intent_parse(arg)) == -1) {
		reply_error(c, PROTO_ERR_BADARGS, "Unsupported event type: %s",
		    arg);
		return (-1);
	}
	if ((e->flags & (CMD_CHANNEL | CMD_MEMBER | CMD_OWNER)) == 0)
		return (0);
	if ((cc->cc_chan = state_channel_find(arg)) == NULL ||
	    !state_channel_visible(cc->cc_chan, c->c_user)) {
		cc->cc_chan = NULL;
		reply_error(c, PROTO_ERR_NOSUCHCHANNEL, "no channel %s", arg);
		return (-1);
	}
	if ((e->flags & CMD_OWNER) &&
	    !state_channel_owner(cc->cc_chan, c->c_user)) {
		reply_error(c, PROTO_ERR_FORBIDDEN, "only %s, who owns %s, or "
		    "an admin may %s there", cc->cc_chan->ch_creator, arg,
		    e->name);
		return (-1);
	}
	if ((e->flags & CMD_MEMBER) && (cc->cc_member =
	    state_member_find(c->c_user, cc->cc_chan)) == NULL) {
		reply_error(c, PROTO_ERR_NOTMEMBER, "not subscribed to %s; "
		    "SUB %s first", arg, arg);
		return (-1);
	}
	return (0);
}

/*
 * Run one command line from a client: always exactly one reply, or
 * CLIENT_LINE_HOLD when it must wait its turn. Every generic check is
 * here, once: line length, syntax, unknown verb, arity, identity, and the
 * targets the entry declares. A command that reads state (CMD_READ) waits
 * until every earlier reply of the connection is out, so that it sees
 * every earlier write that committed and none that failed.
 */
enum client_line_result
cmd_dispatch(struct client *c, char *line, size_t len)
{
	const struct cmd_entry	*e;
	struct cmd_call		 cc;
	const char		*cause;

	memset(&cc, 0, sizeof cc);
	cc.cc_client = c;
	len = proto_trim(line, len);
	if (len > (size_t)config.max_line) {
		reply_error(c, PROTO_ERR_TOOLONG, "line is %zu bytes, max_line "
		    "is %lld", len, config.max_line);
		return (CLIENT_LINE_DONE);
	}
	if (proto_verb(line, len, &cc.cc_line, &cause) != 0) {
		reply_error(c, PROTO_ERR_BADARGS, "%s", cause);
		return (CLIENT_LINE_DONE);
	}
	if ((e = cmd_find(cc.cc_line.verb)) == NULL) {
		cmd_unknown(c, cc.cc_line.verb);
		return (CLIENT_LINE_DONE);
	}
	if ((e->flags & CMD_READ) && reply_waits(c))
		return (CLIENT_LINE_HOLD);
	if (proto_args(&cc.cc_line, (e->flags & CMD_REST) ? e->upper : 0,
	    &cause) != 0) {
		reply_error(c, PROTO_ERR_BADARGS, "%s", cause);
		return (CLIENT_LINE_DONE);
	}
	if (cmd_arity(c, e, cc.cc_line.argc) != 0)
		return (CLIENT_LINE_DONE);
	if ((e->flags & CMD_NEEDNAME) && c->c_user == NULL) {
		reply_error(c, PROTO_ERR_NOTIDENTIFIED, "%s needs an identity: "
		    "send NICK, REGISTER, LOGIN or AUTH first", e->name);
		return (CLIENT_LINE_DONE);
	}
	if (cmd_targets(&cc, e) != 0)
		return (CLIENT_LINE_DONE);
	/* A broken log refuses every write: say so now, and change nothing
	 * (no event applied, failed and reloaded for each refused line). */
	if ((e->flags & CMD_WRITE) && batch_broken() != NULL) {
		reply_error(c, PROTO_ERR_INTERNAL, "the journal refuses writes "
		    "until it is restored; nothing was changed");
		return (CLIENT_LINE_DONE);
	}
	/* Its message took one token; an expensive command takes the rest. */
	if (e->cost > 1 && client_rate_charge(c, e->cost - 1) != 0)
		return (CLIENT_LINE_DONE);
	e->exec(&cc);
	return (CLIENT_LINE_DONE);
}

/* More commands than rate_limit allows: refused, in words. */
static void
cmd_refused(struct client *c)
{
	reply_error(c, PROTO_ERR_RATELIMITED, "more than %lld commands per "
	    "second; slow down", config.rate_limit);
}

/* The connection left OPEN: nothing more goes out to it. */
static void
cmd_closing(struct client *c)
{
	intent_clear(c);
	stream_closing(c);
	ident_anonymous(c);	/* its account's sessions no longer count it */
}

/* The connection is gone (closing ran already): its user lets go. */
static void
cmd_gone(struct client *c)
{
	stream_gone(c);
	ident_anonymous(c);
}

/* What the connection layer calls up to: the protocol, from above. */
static const struct client_ops cmd_client_ops = {
	.opened = reply_hello,
	.line = cmd_dispatch,
	.refused = cmd_refused,
	.drained = stream_drained,
	.closing = cmd_closing,
	.gone = cmd_gone
};

/* Commands read this journal; connections speak the protocol from now on. */
void
cmd_init(struct event_base *base, struct journal *j)
{
	cmd_journal = j;
	stream_init(base);
	reply_init();
	client_init(base, &cmd_client_ops);
}
