/*
 * cmd-create.c: CREATE <channel> makes a channel owned by its creator.
 */
#include "config.h"

#include "wschatd.h"

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
