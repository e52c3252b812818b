/*
 * cmd-subevent.c: SUBEVENT <type> adds an intent: the connection receives events of that type.
 * Intents belong to the connection and die with it.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_subevent_exec(struct cmd_call *cc)
{
	intent_add(cc->cc_client, cc->cc_type);
	reply_send(cc->cc_client, "CONFIRM SUBEVENT %s", intent_name(cc->cc_type));
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_subevent_entry = {
	.name = "SUBEVENT",
	.lower = 1,
	.upper = 1,
	.flags = CMD_EVTYPE,
	.usage = "SUBEVENT <channel|user|message>",
	.missing = "SUBEVENT requires event type argument",
	.exec = cmd_subevent_exec
};
