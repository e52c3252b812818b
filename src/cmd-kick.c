/*
 * cmd-kick.c: KICK <channel> <user> [<text>], by the owner or an admin
 * (CMD_OWNER): the member is parted with "reason":"kicked", "by" and the
 * text, if any. It may SUB again (unless the channel is private: its
 * invite was used up when it joined).
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_kick_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct proto_line *pl = &cc->cc_line;
	struct channel	*ch = cc->cc_chan;
	const char	*name = pl->argv[1];
	struct user	*u;
	struct member	*m = NULL;

	if ((u = state_user_find(name)) != NULL)
		m = state_member_find(u, ch);
	if (m == NULL) {
		reply_error(c, PROTO_ERR_NOTMEMBER, "%s is not a member of %s",
		    proto_valid_name(name, config.max_name) ? name : "that user",
		    ch->ch_name);
		return (CMD_NORMAL);
	}
	wevent_kick(m, c->c_user, "kicked", pl->argc > 2 ? pl->argv[2] : NULL);
	reply_commit(c, "CONFIRM KICK %s %s", ch->ch_name, name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_kick_entry = {
	.name = "KICK",
	.lower = 2,
	.upper = 3,
	.flags = CMD_NEEDNAME | CMD_REST | CMD_CHANNEL | CMD_OWNER | CMD_WRITE,
	.usage = "KICK <channel> <user> [<text>]",
	.missing = "KICK requires channel and user arguments",
	.exec = cmd_kick_exec
};
