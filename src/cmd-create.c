/*
 * cmd-create.c: CREATE <channel> makes a channel owned by its creator.
 */
#include "config.h"

#include <string.h>

#include "wschatd.h"

/* How many existing channels this user created (max_channels_owned). */
static long long
cmd_create_owned(const struct user *u)
{
	struct channel	*ch;
	long long	 n = 0;

	TAILQ_FOREACH(ch, &state_channels, ch_entry) {
		if (strcmp(ch->ch_creator, u->u_name) == 0)
			n++;
	}
	return (n);
}

static enum cmd_retval
cmd_create_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct proto_line *pl = &cc->cc_line;
	const char	*name = pl->argv[0];

	if (!proto_valid_name(name, config.max_name)) {
		reply_error(c, PROTO_ERR_BADARGS, "invalid channel name: use 1 to "
		    "%lld of A-Z a-z 0-9 _ - .", config.max_name);
		return (CMD_NORMAL);
	}
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
	    cmd_create_owned(c->c_user) >= config.max_channels_owned) {
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
	wevent_create(name, c->c_user);
	reply_commit(c, "CONFIRM CREATE %s", name);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_create_entry = {
	.name = "CREATE",
	.lower = 1,
	.upper = 1,
	.flags = CMD_NEEDNAME,
	.usage = "CREATE <channel>",
	.missing = "CREATE requires channel argument",
	.exec = cmd_create_exec
};
