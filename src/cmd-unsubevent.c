/*
 * cmd-unsubevent.c: UNSUBEVENT <type> drops an intent.
 * Intents belong to the connection and die with it.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_unsubevent_exec(struct cmd_call *cc)
{
	intent_del(cc->cc_client, cc->cc_type);
	reply_send(cc->cc_client, "CONFIRM UNSUBEVENT %s", intent_name(cc->cc_type));
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_unsubevent_entry = {
	.name = "UNSUBEVENT",
	.lower = 1,
	.upper = 1,
	.flags = CMD_EVTYPE,
	.usage = "UNSUBEVENT <channel|user|message>",
	.missing = "UNSUBEVENT requires event type argument",
	.exec = cmd_unsubevent_exec
};
