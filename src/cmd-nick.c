/*
 * cmd-nick.c: NICK <name> makes a guest account of a free name and makes
 * the connection it: CONFIRM NICK <name> <token>, once the account and
 * its token are in the journal. The token brings the guest back (AUTH).
 * A name with an account, registered or a guest that has not expired, is
 * taken. No password, no hashing: NICK stays one cheap journaled change.
 */
#include "config.h"

#include <string.h>

#include "wschatd.h"

static enum cmd_retval
cmd_nick_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	const char	*name = cc->cc_line.argv[0];
	char		 tok[ACCOUNT_TOKEN_LEN + 1];
	unsigned char	 hash[ACCOUNT_HASH_LEN];
	struct account	*a;

	if (!config.guests) {
		reply_error(c, PROTO_ERR_FORBIDDEN, "guests are not allowed "
		    "here: REGISTER or LOGIN");
		return (CMD_NORMAL);
	}
	if (!proto_valid_name(name, config.max_name)) {
		reply_error(c, PROTO_ERR_BADARGS, "invalid name: use 1 to %lld of "
		    "A-Z a-z 0-9 _ - .", config.max_name);
		return (CMD_NORMAL);
	}
	if (account_find(name) != NULL) {
		reply_error(c, PROTO_ERR_NAMEINUSE, "%s is taken", name);
		return (CMD_NORMAL);
	}
	account_token_new(tok, hash);
	a = wevent_guest(name, hash);
	ident_switch(c, a, TAILQ_FIRST(&a->a_tokens), ACCOUNT_VIA_NICK);
	reply_commit(c, "CONFIRM NICK %s %s", name, tok);
	explicit_bzero(tok, sizeof tok);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_nick_entry = {
	.name = "NICK",
	.lower = 1,
	.upper = 1,
	.flags = CMD_WRITE,
	.usage = "NICK <name>",
	.missing = "NICK requires name argument",
	.exec = cmd_nick_exec
};
