/*
 * cmd-ping.c: PING [token] answers PONG [token]: an application-level
 * round trip that also proves every earlier reply and event was sent.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_ping_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct proto_line *pl = &cc->cc_line;

	if (pl->argc == 0)
		reply_send(c, "PONG");
	else
		reply_send(c, "PONG %s", pl->argv[0]);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_ping_entry = {
	.name = "PING",
	.lower = 0,
	.upper = 1,
	.flags = 0,
	.usage = "PING [<token>]",
	.missing = NULL,
	.exec = cmd_ping_exec
};
