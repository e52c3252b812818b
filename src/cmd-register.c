/*
 * cmd-register.c: REGISTER <name> <password> makes a registered account
 * (or upgrades the connection's own guest, which keeps its memberships
 * and tokens) and makes the connection it: CONFIRM REGISTER <name>
 * <token>. The password is hashed on the worker pool (auth.c) while the
 * connection's later lines wait; the name is checked again when the hash
 * is back, since another command may have taken it meanwhile.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

struct cmd_register {
	struct client	*r_client;
	char		*r_name;
};

/* Is a the connection's own guest (which it may upgrade)? */
static int
cmd_register_own(struct client *c, struct account *a)
{
	return (!a->a_registered && c->c_token != NULL &&
	    c->c_token->t_acct == a);
}

/* The hash is back (on the loop thread). */
static void
cmd_register_done(int result, const char *pwhash, void *arg)
{
	struct cmd_register	*r = arg;
	struct client		*c = r->r_client;
	struct account		*a;
	char			 tok[ACCOUNT_TOKEN_LEN + 1];
	unsigned char		 hash[ACCOUNT_HASH_LEN];

	if (result == AUTH_CANCELLED)
		goto out;
	if (result != AUTH_OK) {
		reply_error(c, PROTO_ERR_INTERNAL, "cannot hash the password");
		goto out;
	}
	if ((a = account_find(r->r_name)) != NULL && !cmd_register_own(c, a)) {
		reply_error(c, PROTO_ERR_NAMEINUSE, "%s is taken", r->r_name);
		goto out;
	}
	if (config.registration == CONFIG_REGISTRATION_CLOSED) {
		reply_error(c, PROTO_ERR_FORBIDDEN, "registration is closed");
		goto out;
	}
	account_token_new(tok, hash);
	a = wevent_register(r->r_name, pwhash, hash);
	ident_switch(c, a, account_token_find(hash), ACCOUNT_VIA_REGISTER);
	reply_commit(c, "CONFIRM REGISTER %s %s", r->r_name, tok);
	explicit_bzero(tok, sizeof tok);
out:
	free(r->r_name);
	free(r);
}

static enum cmd_retval
cmd_register_exec(struct cmd_call *cc)
{
	struct client		*c = cc->cc_client;
	const char		*name = cc->cc_line.argv[0];
	char			*pw = cc->cc_line.argv[1];
	struct account		*a;
	struct cmd_register	*r;

	if (config.registration == CONFIG_REGISTRATION_CLOSED) {
		reply_error(c, PROTO_ERR_FORBIDDEN, "registration is closed");
		goto out;
	}
	if (!proto_valid_name(name, config.max_name)) {
		reply_error(c, PROTO_ERR_BADARGS, "invalid name: use 1 to %lld of "
		    "A-Z a-z 0-9 _ - .", config.max_name);
		goto out;
	}
	if (!ident_password_ok(pw)) {
		reply_error(c, PROTO_ERR_BADARGS, "a password is %lld to 256 "
		    "bytes of UTF-8", config.password_min);
		goto out;
	}
	if ((a = account_find(name)) != NULL && !cmd_register_own(c, a)) {
		reply_error(c, PROTO_ERR_NAMEINUSE, "%s is taken", name);
		goto out;
	}
	r = xcalloc(1, sizeof *r);
	r->r_client = c;
	r->r_name = xstrdup(name);
	ident_password(c, 0, NULL, pw, cmd_register_done, r);
out:
	explicit_bzero(pw, strlen(pw));
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_register_entry = {
	.name = "REGISTER",
	.lower = 2,
	.upper = 2,
	.flags = CMD_REST | CMD_WRITE,
	.usage = "REGISTER <name> <password>",
	.missing = "REGISTER requires name and password arguments",
	.cost = 25,		/* a password hash on the auth pool */
	.exec = cmd_register_exec
};
