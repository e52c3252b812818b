/*
 * cmd-unsub.c: UNSUB <channel> parts the user from a channel.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_unsub_exec(struct cmd_call *cc)
{
	const char	*name = cc->cc_chan->ch_name;

	wevent_part(cc->cc_member, NULL);
	reply_commit(cc->cc_client, "CONFIRM UNSUB %s", name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_unsub_entry = {
	.name = "UNSUB",
	.lower = 1,
	.upper = 1,
	.flags = CMD_NEEDNAME | CMD_MEMBER | CMD_WRITE,
	.usage = "UNSUB <channel>",
	.missing = "UNSUB requires channel argument",
	.exec = cmd_unsub_exec
};
