/*
 * cmd-ban.c: BAN <channel> <user>, by the owner or an admin (CMD_OWNER).
 * A member is parted first ("reason":"banned"), then EVENT channel BAN; a
 * banned name's SUB is FORBIDDEN until UNBAN, and a ban takes back an
 * invite. The name need not be a member, or even known.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_ban_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct channel	*ch = cc->cc_chan;
	const char	*name = cc->cc_line.argv[1];
	struct user	*u;
	struct member	*m;

	if (!proto_valid_name(name, config.max_name)) {
		reply_error(c, PROTO_ERR_BADARGS, "invalid user name: use 1 to "
		    "%lld of A-Z a-z 0-9 _ - .", config.max_name);
		return (CMD_NORMAL);
	}
	if (state_access_find(ch, STATE_BAN, name)) {
		reply_error(c, PROTO_ERR_BADARGS, "%s is banned from %s already",
		    name, ch->ch_name);
		return (CMD_NORMAL);
	}
	if ((u = state_user_find(name)) != NULL &&
	    (m = state_member_find(u, ch)) != NULL)
		wevent_kick(m, c->c_user, "banned", NULL);
	wevent_access(ch, "BAN", name, c->c_user);
	reply_commit(c, "CONFIRM BAN %s %s", ch->ch_name, name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_ban_entry = {
	.name = "BAN",
	.lower = 2,
	.upper = 2,
	.flags = CMD_NEEDNAME | CMD_CHANNEL | CMD_OWNER | CMD_WRITE,
	.usage = "BAN <channel> <user>",
	.missing = "BAN requires channel and user arguments",
	.exec = cmd_ban_exec
};
