/*
 * cmd-history.c: HISTORY <channel> [BEFORE <seq>] [LIMIT <n>] pages back
 * through a channel's messages, newest first, for its members. Only this
 * channel's: the messages of an older, deleted channel of the same name
 * (seq before this one's CREATE) are not its history.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

struct cmd_history_ctx {
	struct client	*c;
	const char	*channel;
	int64_t		 created;	/* the channel's CREATE seq */
	size_t		 n;
};

/* Parse a non-negative decimal; -1 if it is not one. */
static int64_t
cmd_history_number(const char *s)
{
	char		*end;
	long long	 v;

	if (*s < '0' || *s > '9')
		return (-1);
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < 0)
		return (-1);
	return (v);
}

/* One message row: a HISTORY line. */
static int
cmd_history_row(const struct journal_rec *r, void *arg)
{
	struct cmd_history_ctx	*ctx = arg;

	/* Newest first: everything from here on is an older channel's. */
	if (r->seq <= ctx->created)
		return (1);
	reply_send(ctx->c, "HISTORY %s %s", ctx->channel, r->data);
	ctx->n++;
	return (0);
}

static enum cmd_retval
cmd_history_exec(struct cmd_call *cc)
{
	struct client		*c = cc->cc_client;
	struct proto_line	*pl = &cc->cc_line;
	struct channel		*ch = cc->cc_chan;
	struct cmd_history_ctx	 ctx;
	int64_t			 before = -1, limit = config.history_max, v;
	char			*cause;
	int			 i;

	if (pl->argc % 2 != 1) {
		reply_error(c, PROTO_ERR_BADARGS, "usage: %s",
		    "HISTORY <channel> [BEFORE <seq>] [LIMIT <n>]");
		return (CMD_NORMAL);
	}
	for (i = 1; i < pl->argc; i += 2) {
		if ((v = cmd_history_number(pl->argv[i + 1])) == -1) {
			reply_error(c, PROTO_ERR_BADARGS, "%s needs a number, not %s",
			    pl->argv[i], pl->argv[i + 1]);
			return (CMD_NORMAL);
		}
		if (strcmp(pl->argv[i], "BEFORE") == 0)
			before = v;
		else if (strcmp(pl->argv[i], "LIMIT") == 0) {
			if (v < 1 || v > config.history_max) {
				reply_error(c, PROTO_ERR_BADARGS, "LIMIT must be "
				    "1 to %lld", config.history_max);
				return (CMD_NORMAL);
			}
			limit = v;
		} else {
			reply_error(c, PROTO_ERR_BADARGS, "unknown option %s; use "
			    "BEFORE or LIMIT", pl->argv[i]);
			return (CMD_NORMAL);
		}
	}
	ctx.c = c;
	ctx.channel = ch->ch_name;
	ctx.created = ch->ch_created;
	ctx.n = 0;
	/* No seq is below 0: BEFORE 0 is an empty page, never the newest. */
	if (before == 0) {
		reply_send(c, "CONFIRM HISTORY %s 0", ch->ch_name);
		return (CMD_NORMAL);
	}
	if (journal_history(cmd_journal, ch->ch_name, before == -1 ? 0 :
	    before, limit, cmd_history_row, &ctx, &cause) == -1) {
		log_warnx("history %s: %s", ch->ch_name, cause);
		free(cause);
		reply_error(c, PROTO_ERR_INTERNAL, "history is unavailable");
		return (CMD_NORMAL);
	}
	reply_send(c, "CONFIRM HISTORY %s %zu", ch->ch_name, ctx.n);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_history_entry = {
	.name = "HISTORY",
	.lower = 1,
	.upper = 5,
	.flags = CMD_NEEDNAME | CMD_MEMBER | CMD_READ,
	.usage = "HISTORY <channel> [BEFORE <seq>] [LIMIT <n>]",
	.missing = "HISTORY requires channel argument",
	.exec = cmd_history_exec
};
