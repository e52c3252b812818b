/*
 * cmd-sub.c: SUB <channel> joins the user (not the connection) to a channel.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_sub_exec(struct client *c, struct proto_line *pl)
{
	const char	*name = pl->argv[0];
	struct channel	*ch;

	if ((ch = cmd_channel(c, name)) == NULL)
		return (CMD_NORMAL);
	if (state_member_find(c->c_user, ch) != NULL) {
		client_error(c, PROTO_ERR_BADARGS, "already subscribed to %s", name);
		return (CMD_NORMAL);
	}
	wevent_join(c->c_user, ch);
	client_reply_commit(c, "CONFIRM SUB %s", name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_sub_entry = {
	.name = "SUB",
	.lower = 1,
	.upper = 1,
	.flags = CMD_NEEDNAME,
	.usage = "SUB <channel>",
	.missing = "SUB requires channel argument",
	.exec = cmd_sub_exec
};
