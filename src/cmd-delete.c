/*
 * cmd-delete.c: DELETE <channel>, by its owner or an admin only (CMD_OWNER,
 * checked by the dispatcher like every channel right). Every member is
 * parted first (EVENT user PART ... "reason":"deleted"), then the channel
 * goes (EVENT channel DELETE), so a journal replay sees each step.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_delete_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct channel	*ch = cc->cc_chan;
	const char	*name = ch->ch_name;

	wevent_delete(ch, c->c_user);
	reply_commit(c, "CONFIRM DELETE %s", name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_delete_entry = {
	.name = "DELETE",
	.lower = 1,
	.upper = 1,
	.flags = CMD_NEEDNAME | CMD_CHANNEL | CMD_OWNER | CMD_WRITE,
	.usage = "DELETE <channel>",
	.missing = "DELETE requires channel argument",
	.exec = cmd_delete_exec
};
