/*
 * cmd-passwd.c: PASSWD <password> sets a registered account's password,
 * from a connection that proved it knows the old one (LOGIN, or REGISTER
 * on this connection), and revokes every other token of the account: the
 * account's other connections close with 1008 token revoked.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

struct cmd_passwd {
	struct client	*p_client;
	unsigned char	 p_hash[ACCOUNT_HASH_LEN];	/* its token, checked again */
};

/* May this connection change its password? */
static int
cmd_passwd_allowed(struct client *c)
{
	return (c->c_user != NULL && c->c_token != NULL &&
	    c->c_token->t_acct->a_registered &&
	    (c->c_via == ACCOUNT_VIA_LOGIN || c->c_via == ACCOUNT_VIA_REGISTER));
}

/* The hash is back (on the loop thread). */
static void
cmd_passwd_done(int result, const char *pwhash, void *arg)
{
	struct cmd_passwd	*p = arg;
	struct client		*c = p->p_client;
	struct account		*a;

	if (result == AUTH_CANCELLED)
		goto out;
	if (result != AUTH_OK) {
		reply_error(c, PROTO_ERR_INTERNAL, "cannot hash the password");
		goto out;
	}
	if (!cmd_passwd_allowed(c) ||
	    account_token_find(p->p_hash) != c->c_token) {
		reply_error(c, PROTO_ERR_FORBIDDEN, "PASSWD needs a LOGIN with "
		    "the password");
		goto out;
	}
	a = c->c_token->t_acct;
	ident_close_account(a, c, "token revoked");
	wevent_passwd(a, pwhash, c->c_token);
	reply_commit(c, "CONFIRM PASSWD");
out:
	free(p);
}

static enum cmd_retval
cmd_passwd_exec(struct cmd_call *cc)
{
	struct client		*c = cc->cc_client;
	char			*pw = cc->cc_line.argv[0];
	struct cmd_passwd	*p;

	if (!cmd_passwd_allowed(c)) {
		reply_error(c, PROTO_ERR_FORBIDDEN, "PASSWD needs a LOGIN with "
		    "the password");
		goto out;
	}
	if (!ident_password_ok(pw)) {
		reply_error(c, PROTO_ERR_BADARGS, "a password is %lld to 256 "
		    "bytes of UTF-8", config.password_min);
		goto out;
	}
	p = xcalloc(1, sizeof *p);
	p->p_client = c;
	memcpy(p->p_hash, c->c_token->t_hash, sizeof p->p_hash);
	ident_password(c, 0, NULL, pw, cmd_passwd_done, p);
out:
	explicit_bzero(pw, strlen(pw));
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_passwd_entry = {
	.name = "PASSWD",
	.lower = 1,
	.upper = 1,
	.flags = CMD_REST | CMD_WRITE,
	.usage = "PASSWD <password>",
	.missing = "PASSWD requires password argument",
	.cost = 25,		/* a password hash on the auth pool */
	.exec = cmd_passwd_exec
};
