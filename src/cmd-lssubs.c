/*
 * cmd-lssubs.c: LSSUBS names the user's channels, in the order joined.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_lssubs_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct evbuffer	*words = evbuffer_new();
	struct member	*m;

	if (words == NULL)
		fatalx("%s: evbuffer_new", __func__);
	TAILQ_FOREACH(m, &c->c_user->u_members, m_uentry) {
		if (m->m_parted == 0)
			evbuffer_add_printf(words, " %s", m->m_chan->ch_name);
	}
	reply_send(c, "LSSUBS %zu%.*s", c->c_user->u_nchannels,
	    (int)evbuffer_get_length(words),
	    (const char *)evbuffer_pullup(words, -1));
	evbuffer_free(words);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_lssubs_entry = {
	.name = "LSSUBS",
	.lower = 0,
	.upper = 0,
	.flags = CMD_NEEDNAME | CMD_READ,
	.usage = "LSSUBS",
	.missing = NULL,
	.exec = cmd_lssubs_exec
};
