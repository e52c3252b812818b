/*
 * cmd-create.c: CREATE <channel> [public|private] makes a channel owned by
 * its creator. A private one shows only to its owner, members, invited
 * names and admins (state_channel_visible).
 */
#include "config.h"

#include <string.h>

#include "wschatd.h"

extern const struct cmd_entry cmd_create_entry;

static enum cmd_retval
cmd_create_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct proto_line *pl = &cc->cc_line;
	const char	*name = pl->argv[0];
	const char	*mode = pl->argc > 1 ? pl->argv[1] : "public";
	int		 priv;

	if (!proto_valid_name(name, config.max_name)) {
		reply_error(c, PROTO_ERR_BADARGS, "invalid channel name: use 1 to "
		    "%lld of A-Z a-z 0-9 _ - .", config.max_name);
		return (CMD_NORMAL);
	}
	if (strcmp(mode, "public") == 0)
		priv = 0;
	else if (strcmp(mode, "private") == 0)
		priv = 1;
	else {
		/* A wrong mode word is a wrong form: the usage says it. */
		reply_error(c, PROTO_ERR_BADARGS, "usage: %s",
		    cmd_create_entry.usage);
		return (CMD_NORMAL);
	}
	/* Names are one namespace: a private name is taken too. */
	if (state_channel_find(name) != NULL) {
		reply_error(c, PROTO_ERR_CHANNELEXISTS, "%s exists", name);
		return (CMD_NORMAL);
	}
	if (state_nchannels >= (size_t)config.max_channels) {
		reply_error(c, PROTO_ERR_LIMIT, "max_channels (%lld) reached",
		    config.max_channels);
		return (CMD_NORMAL);
	}
	if (config.max_channels_owned != 0 &&
	    state_channels_owned(c->c_user->u_name) >=
	    (size_t)config.max_channels_owned) {
		reply_error(c, PROTO_ERR_LIMIT, "max_channels_owned (%lld) "
		    "reached: you created that many channels; DELETE one first",
		    config.max_channels_owned);
		return (CMD_NORMAL);
	}
	if (quota_take_create(c->c_quota) != 0) {
		reply_error(c, PROTO_ERR_LIMIT, "max_creates_per_hour (%lld) "
		    "reached for your address; try again later",
		    config.max_creates_per_hour);
		return (CMD_NORMAL);
	}
	wevent_create(name, c->c_user, priv);
	reply_commit(c, "CONFIRM CREATE %s", name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_create_entry = {
	.name = "CREATE",
	.lower = 1,
	.upper = 2,
	.flags = CMD_NEEDNAME | CMD_WRITE,
	.usage = "CREATE <channel> [public|private]",
	.missing = "CREATE requires channel argument",
	.exec = cmd_create_exec
};
