/*
 * cmd-invite.c: INVITE <channel> <user>, by the owner of a private channel
 * or an admin: the name may then SUB, and sees the channel until it joins
 * (the invite is used up), is banned, or the channel is deleted. The
 * dispatcher checks the channel and the right (CMD_OWNER); a private
 * channel the sender may not see is NOSUCHCHANNEL, as if it did not exist.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_invite_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct channel	*ch = cc->cc_chan;
	const char	*name = cc->cc_line.argv[1];
	struct user	*u;

	if (!proto_valid_name(name, config.max_name)) {
		reply_error(c, PROTO_ERR_BADARGS, "invalid user name: use 1 to "
		    "%lld of A-Z a-z 0-9 _ - .", config.max_name);
		return (CMD_NORMAL);
	}
	if (!ch->ch_private) {
		reply_error(c, PROTO_ERR_BADARGS, "%s is public: anyone may SUB",
		    ch->ch_name);
		return (CMD_NORMAL);
	}
	if (state_access_find(ch, STATE_BAN, name)) {
		reply_error(c, PROTO_ERR_BADARGS, "%s is banned from %s; UNBAN "
		    "first", name, ch->ch_name);
		return (CMD_NORMAL);
	}
	if ((u = state_user_find(name)) != NULL &&
	    state_member_find(u, ch) != NULL) {
		reply_error(c, PROTO_ERR_BADARGS, "%s is a member of %s", name,
		    ch->ch_name);
		return (CMD_NORMAL);
	}
	if (state_access_find(ch, STATE_INVITE, name)) {
		reply_error(c, PROTO_ERR_BADARGS, "%s is invited to %s already",
		    name, ch->ch_name);
		return (CMD_NORMAL);
	}
	wevent_access(ch, "INVITE", name, c->c_user);
	reply_commit(c, "CONFIRM INVITE %s %s", ch->ch_name, name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_invite_entry = {
	.name = "INVITE",
	.lower = 2,
	.upper = 2,
	.flags = CMD_NEEDNAME | CMD_CHANNEL | CMD_OWNER | CMD_WRITE,
	.usage = "INVITE <channel> <user>",
	.missing = "INVITE requires channel and user arguments",
	.exec = cmd_invite_exec
};
