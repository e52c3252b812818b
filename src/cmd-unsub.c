/*
 * cmd-unsub.c: UNSUB <channel> parts the user from a channel.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_unsub_exec(struct client *c, struct proto_line *pl)
{
	const char	*name = pl->argv[0];
	struct channel	*ch;
	struct member	*m;

	if ((ch = cmd_channel(c, name)) == NULL)
		return (CMD_NORMAL);
	if ((m = state_member_find(c->c_user, ch)) == NULL) {
		client_error(c, PROTO_ERR_NOTMEMBER, "not subscribed to %s", name);
		return (CMD_NORMAL);
	}
	wevent_part(m, NULL);
	client_reply_commit(c, "CONFIRM UNSUB %s", name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_unsub_entry = {
	.name = "UNSUB",
	.lower = 1,
	.upper = 1,
	.flags = CMD_NEEDNAME,
	.usage = "UNSUB <channel>",
	.missing = "UNSUB requires channel argument",
	.exec = cmd_unsub_exec
};
