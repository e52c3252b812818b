/*
 * cmd-logout.c: LOGOUT revokes the token this connection identified with
 * and makes it anonymous again. Other connections that hold the token are
 * closed (1008 token revoked); a guest with no token left is released,
 * parting its channels ("released") before CONFIRM LOGOUT.
 */
#include "config.h"

#include "wschatd.h"

static enum cmd_retval
cmd_logout_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct token	*t = c->c_token;

	if (c->c_user == NULL) {
		reply_error(c, PROTO_ERR_FORBIDDEN, "not logged in");
		return (CMD_NORMAL);
	}
	ident_anonymous(c);
	if (t != NULL)
		ident_revoke(t, WS_CLOSE_POLICY, "token revoked", "released");
	reply_commit(c, "CONFIRM LOGOUT");
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_logout_entry = {
	.name = "LOGOUT",
	.lower = 0,
	.upper = 0,
	.flags = CMD_WRITE,
	.usage = "LOGOUT",
	.missing = NULL,
	.exec = cmd_logout_exec
};
