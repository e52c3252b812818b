/*
 * cmd-delete.c: DELETE <channel>, by its creator only. Every member is
 * parted first (EVENT user PART ... "reason":"deleted"), then the channel
 * goes (EVENT channel DELETE), so a journal replay sees each step.
 */
#include "config.h"

#include <string.h>

#include "wschatd.h"

static enum cmd_retval
cmd_delete_exec(struct client *c, struct proto_line *pl)
{
	const char	*name = pl->argv[0];
	struct channel	*ch;

	if ((ch = cmd_channel(c, name)) == NULL)
		return (CMD_NORMAL);
	if (strcmp(ch->ch_creator, c->c_user->u_name) != 0) {
		client_error(c, PROTO_ERR_FORBIDDEN, "only %s, who created %s, may "
		    "delete it", ch->ch_creator, name);
		return (CMD_NORMAL);
	}
	wevent_delete(ch, c->c_user);
	client_reply_commit(c, "CONFIRM DELETE %s", name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_delete_entry = {
	.name = "DELETE",
	.lower = 1,
	.upper = 1,
	.flags = CMD_NEEDNAME,
	.usage = "DELETE <channel>",
	.missing = "DELETE requires channel argument",
	.exec = cmd_delete_exec
};
