/*
 * cmd-lsevents.c: LSEVENTS names the connection's intents.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_lsevents_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	char	words[64];
	size_t	len = 0;
	int	i, n = 0;

	words[0] = '\0';
	for (i = 0; i < INTENT_MAX; i++) {
		if (c->c_intents & (1U << i)) {
			len += snprintf(words + len, sizeof words - len, " %s",
			    intent_name(i));
			n++;
		}
	}
	reply_send(c, "LSEVENTS %d%s", n, words);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_lsevents_entry = {
	.name = "LSEVENTS",
	.lower = 0,
	.upper = 0,
	.flags = 0,
	.usage = "LSEVENTS",
	.missing = NULL,
	.exec = cmd_lsevents_exec
};
