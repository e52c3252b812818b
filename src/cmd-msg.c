/*
 * cmd-msg.c: MSG <channel> <text> posts to a channel the user has joined.
 * The text is the rest of the line; the reply carries the event's seq.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_msg_exec(struct client *c, struct proto_line *pl)
{
	const char	*name = pl->argv[0];
	struct channel	*ch;

	if ((ch = cmd_channel(c, name)) == NULL)
		return (CMD_NORMAL);
	if (state_member_find(c->c_user, ch) == NULL) {
		client_error(c, PROTO_ERR_NOTMEMBER, "SUB %s before posting to it",
		    name);
		return (CMD_NORMAL);
	}
	client_reply_commit(c, "CONFIRM MSG %s %lld", name,
	    (long long)wevent_message(c->c_user, ch, pl->argv[1]));
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_msg_entry = {
	.name = "MSG",
	.lower = 2,
	.upper = 2,
	.flags = CMD_NEEDNAME | CMD_REST,
	.usage = "MSG <channel> <text>",
	.missing = "MSG requires channel and text arguments",
	.exec = cmd_msg_exec
};
