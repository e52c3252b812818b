/*
 * cmd-msg.c: MSG <channel> <text> posts to a channel the user has joined.
 * The text is the rest of the line; the reply carries the event's seq.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_msg_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;

	reply_commit(c, "CONFIRM MSG %s %lld", cc->cc_chan->ch_name,
	    (long long)wevent_message(c->c_user, cc->cc_chan,
	    cc->cc_line.argv[1]));
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_msg_entry = {
	.name = "MSG",
	.lower = 2,
	.upper = 2,
	.flags = CMD_NEEDNAME | CMD_REST | CMD_MEMBER | CMD_WRITE,
	.usage = "MSG <channel> <text>",
	.missing = "MSG requires channel and text arguments",
	.exec = cmd_msg_exec
};
