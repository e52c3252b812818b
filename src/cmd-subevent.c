/*
 * cmd-subevent.c: SUBEVENT <type> adds an intent: the connection receives events of that type.
 * Intents belong to the connection and die with it.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_subevent_exec(struct client *c, struct proto_line *pl)
{
	int	type;

	if ((type = intent_parse(pl->argv[0])) == -1) {
		client_error(c, PROTO_ERR_BADARGS, "Unsupported event type: %s",
		    pl->argv[0]);
		return (CMD_NORMAL);
	}
	intent_add(c, type);
	client_reply(c, "CONFIRM SUBEVENT %s", intent_name(type));
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_subevent_entry = {
	.name = "SUBEVENT",
	.lower = 1,
	.upper = 1,
	.flags = 0,
	.usage = "SUBEVENT <channel|user|message>",
	.missing = "SUBEVENT requires event type argument",
	.exec = cmd_subevent_exec
};
