/*
 * cmd-list.c: LIST names every channel that exists for the user, in
 * creation order: a private one only for whom state_channel_visible says.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_list_exec(struct cmd_call *cc)
{
	struct evbuffer	*words = evbuffer_new();
	struct channel	*ch;
	size_t		 n = 0;

	if (words == NULL)
		fatalx("%s: evbuffer_new", __func__);
	TAILQ_FOREACH(ch, &state_channels, ch_entry) {
		if (!state_channel_visible(ch, cc->cc_client->c_user))
			continue;
		evbuffer_add_printf(words, " %s", ch->ch_name);
		n++;
	}
	reply_send(cc->cc_client, "LIST %zu%.*s", n,
	    (int)evbuffer_get_length(words),
	    (const char *)evbuffer_pullup(words, -1));
	evbuffer_free(words);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_list_entry = {
	.name = "LIST",
	.lower = 0,
	.upper = 0,
	.flags = CMD_READ,
	.usage = "LIST",
	.missing = NULL,
	.exec = cmd_list_exec
};
