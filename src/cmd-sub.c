/*
 * cmd-sub.c: SUB <channel> joins the user (not the connection) to a channel.
 * A private channel exists only for those invited (and its owner and
 * admins: the dispatcher's lookup); a banned name may not join.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_sub_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct channel	*ch = cc->cc_chan;
	const char	*name = ch->ch_name;

	if (state_member_find(c->c_user, ch) != NULL) {
		reply_error(c, PROTO_ERR_BADARGS, "already subscribed to %s", name);
		return (CMD_NORMAL);
	}
	if (state_access_find(ch, STATE_BAN, c->c_user->u_name)) {
		reply_error(c, PROTO_ERR_FORBIDDEN, "you are banned from %s",
		    name);
		return (CMD_NORMAL);
	}
	if (config.max_channels_joined != 0 &&
	    c->c_user->u_nchannels >= (size_t)config.max_channels_joined) {
		reply_error(c, PROTO_ERR_LIMIT, "max_channels_joined (%lld) "
		    "reached: UNSUB from a channel first",
		    config.max_channels_joined);
		return (CMD_NORMAL);
	}
	wevent_join(c->c_user, ch);
	reply_commit(c, "CONFIRM SUB %s", name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_sub_entry = {
	.name = "SUB",
	.lower = 1,
	.upper = 1,
	.flags = CMD_NEEDNAME | CMD_CHANNEL | CMD_WRITE,
	.usage = "SUB <channel>",
	.missing = "SUB requires channel argument",
	.exec = cmd_sub_exec
};
