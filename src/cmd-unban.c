/*
 * cmd-unban.c: UNBAN <channel> <user>, by the owner or an admin
 * (CMD_OWNER): the name may SUB again (a private channel needs a new
 * INVITE, since the ban took the old one back).
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_unban_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct channel	*ch = cc->cc_chan;
	const char	*name = cc->cc_line.argv[1];

	if (!state_access_find(ch, STATE_BAN, name)) {
		reply_error(c, PROTO_ERR_BADARGS, "%s is not banned from %s",
		    proto_valid_name(name, config.max_name) ? name : "that user",
		    ch->ch_name);
		return (CMD_NORMAL);
	}
	wevent_access(ch, "UNBAN", name, c->c_user);
	reply_commit(c, "CONFIRM UNBAN %s %s", ch->ch_name, name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_unban_entry = {
	.name = "UNBAN",
	.lower = 2,
	.upper = 2,
	.flags = CMD_NEEDNAME | CMD_CHANNEL | CMD_OWNER | CMD_WRITE,
	.usage = "UNBAN <channel> <user>",
	.missing = "UNBAN requires channel and user arguments",
	.exec = cmd_unban_exec
};
