/*
 * cmd-auth.c: AUTH <token> makes the connection the account the token
 * opens: CONFIRM AUTH <name>. The token is checked in memory (its SHA-256
 * against the loaded tokens), never with SQL. A failure costs the source
 * address one from its bucket; an empty bucket refuses even a good token.
 */
#include "config.h"

#include <string.h>

#include "wschatd.h"

static enum cmd_retval
cmd_auth_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	unsigned char	 raw[ACCOUNT_TOKEN_RAW], hash[ACCOUNT_HASH_LEN];
	struct token	*t = NULL;
	struct account	*a;
	int64_t		 ttl;

	if (ident_limited(c, NULL)) {
		reply_error(c, PROTO_ERR_RATELIMITED, "too many failed logins; "
		    "try again later");
		return (CMD_NORMAL);
	}
	if (account_token_parse(cc->cc_line.argv[0], raw) == 0) {
		account_token_hash(raw, hash);
		t = account_token_find(hash);
		explicit_bzero(raw, sizeof raw);
	}
	if (t != NULL) {
		a = t->t_acct;
		ttl = (a->a_registered ? config.token_ttl : config.guest_ttl) *
		    1000;
		if (a->a_disabled || clock_wall_ms() - t->t_used > ttl)
			t = NULL;
	}
	explicit_bzero(cc->cc_line.argv[0], strlen(cc->cc_line.argv[0]));
	if (t == NULL) {
		ident_failed(c, NULL);
		reply_error(c, PROTO_ERR_BADLOGIN, "invalid or expired token");
		return (CMD_NORMAL);
	}
	/* Nothing to wait for unless the last use had to be stored. */
	if (ident_switch(c, t->t_acct, t, ACCOUNT_VIA_AUTH))
		reply_commit(c, "CONFIRM AUTH %s", t->t_acct->a_name);
	else
		reply_send(c, "CONFIRM AUTH %s", t->t_acct->a_name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_auth_entry = {
	.name = "AUTH",
	.lower = 1,
	.upper = 1,
	.flags = 0,
	.usage = "AUTH <token>",
	.missing = "AUTH requires token argument",
	.exec = cmd_auth_exec
};
