/*
 * cmd-nick.c: NICK <name> sets the connection's user. A name held by
 * another live connection is refused; memberships belong to the name.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_nick_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct proto_line *pl = &cc->cc_line;
	const char	*name = pl->argv[0];
	struct user	*u;

	if (!proto_valid_name(name, config.max_name)) {
		reply_error(c, PROTO_ERR_BADARGS, "invalid name: use 1 to %lld of "
		    "A-Z a-z 0-9 _ - .", config.max_name);
		return (CMD_NORMAL);
	}
	u = state_user_find(name);
	if (u != NULL && u->u_client != NULL && u->u_client != c) {
		reply_error(c, PROTO_ERR_NAMEINUSE, "%s is in use", name);
		return (CMD_NORMAL);
	}
	if (u == NULL)
		u = state_user_get(name);
	state_user_attach(u, c);
	client_identified(c);
	reply_send(c, "CONFIRM NICK %s", name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_nick_entry = {
	.name = "NICK",
	.lower = 1,
	.upper = 1,
	.flags = 0,
	.usage = "NICK <name>",
	.missing = "NICK requires name argument",
	.exec = cmd_nick_exec
};
