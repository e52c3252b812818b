/*
 * cmd-login.c: LOGIN <name> <password> makes the connection a registered
 * account: CONFIRM LOGIN <name> <token>, with a new token. The verify
 * runs on the worker pool (auth.c) while the connection's later lines
 * wait; an unknown name is verified against the dummy hash, so both
 * failures take the same time and get the same words. Failures cost the
 * address and the name one from their buckets; an empty bucket refuses
 * before any password is looked at.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

struct cmd_login {
	struct client	*l_client;
	char		*l_name;
	char		*l_pwhash;	/* what was verified against, or NULL */
};

/* The verify is back (on the loop thread). */
static void
cmd_login_done(int result, const char *unused, void *arg)
{
	struct cmd_login	*l = arg;
	struct client		*c = l->l_client;
	struct account		*a;
	struct token		*t;
	char			 tok[ACCOUNT_TOKEN_LEN + 1];
	unsigned char		 hash[ACCOUNT_HASH_LEN];

	if (result == AUTH_CANCELLED)
		goto out;
	a = account_find(l->l_name);
	/* The account must still be the one whose hash matched. */
	if (result != AUTH_OK || a == NULL || !a->a_registered ||
	    a->a_disabled || a->a_pwhash == NULL || l->l_pwhash == NULL ||
	    strcmp(a->a_pwhash, l->l_pwhash) != 0) {
		ident_failed(c, l->l_name);
		reply_error(c, PROTO_ERR_BADLOGIN, "invalid name or password");
		goto out;
	}
	account_token_new(tok, hash);
	t = wevent_token(a, hash);
	ident_switch(c, a, t, ACCOUNT_VIA_LOGIN);
	reply_commit(c, "CONFIRM LOGIN %s %s", a->a_name, tok);
	explicit_bzero(tok, sizeof tok);
out:
	free(l->l_name);
	free(l->l_pwhash);
	free(l);
}

static enum cmd_retval
cmd_login_exec(struct cmd_call *cc)
{
	struct client		*c = cc->cc_client;
	const char		*name = cc->cc_line.argv[0];
	char			*pw = cc->cc_line.argv[1];
	struct account		*a;
	struct cmd_login	*l;

	if (ident_limited(c, name)) {
		reply_error(c, PROTO_ERR_RATELIMITED, "too many failed logins; "
		    "try again later");
		goto out;
	}
	a = account_find(name);
	l = xcalloc(1, sizeof *l);
	l->l_client = c;
	l->l_name = xstrdup(name);
	if (a != NULL && a->a_registered && a->a_pwhash != NULL)
		l->l_pwhash = xstrdup(a->a_pwhash);
	ident_password(c, 1, l->l_pwhash, pw, cmd_login_done, l);
out:
	explicit_bzero(pw, strlen(pw));
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_login_entry = {
	.name = "LOGIN",
	.lower = 2,
	.upper = 2,
	.flags = CMD_REST | CMD_WRITE,
	.usage = "LOGIN <name> <password>",
	.missing = "LOGIN requires name and password arguments",
	.cost = 25,		/* a password verify on the auth pool */
	.exec = cmd_login_exec
};
