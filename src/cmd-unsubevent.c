/*
 * cmd-unsubevent.c: UNSUBEVENT <type> drops an intent.
 * Intents belong to the connection and die with it.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_unsubevent_exec(struct client *c, struct proto_line *pl)
{
	int	type;

	if ((type = intent_parse(pl->argv[0])) == -1) {
		client_error(c, PROTO_ERR_BADARGS, "Unsupported event type: %s",
		    pl->argv[0]);
		return (CMD_NORMAL);
	}
	intent_del(c, type);
	client_reply(c, "CONFIRM UNSUBEVENT %s", intent_name(type));
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_unsubevent_entry = {
	.name = "UNSUBEVENT",
	.lower = 1,
	.upper = 1,
	.flags = 0,
	.usage = "UNSUBEVENT <channel|user|message>",
	.missing = "UNSUBEVENT requires event type argument",
	.exec = cmd_unsubevent_exec
};
