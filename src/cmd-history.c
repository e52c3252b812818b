/*
 * cmd-history.c: HISTORY <channel> [BEFORE <seq>] [LIMIT <n>] pages back
 * through a channel's messages, newest first, for its members. Only this
 * channel's: the messages of an older, deleted channel of the same name
 * (seq before this one's CREATE) are not its history.
 *
 * A reply can be history_max messages of max_line bytes, far more than
 * max_output, so it streams in pages (stream_start) like SNAPSHOT: each
 * page is one short read of the messages before the last one sent, and
 * the next waits for the client's output to drain. Messages below a seq
 * never change, so the pages add up to the one read they replace.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

#define HISTORY_PAGE	128	/* messages per read, at most */

struct cmd_history_ctx {
	struct client	*c;
	char		*channel;
	int64_t		 created;	/* the channel's CREATE seq */
	int64_t		 before;	/* the next page is below this seq */
	size_t		 left;		/* messages still wanted */
	size_t		 n;		/* messages sent */
	size_t		 page;		/* ... in this page */
	int		 stop;		/* the page must end */
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
	if (r->seq <= ctx->created) {
		ctx->left = 0;
		return (1);
	}
	client_sendf(ctx->c, "HISTORY %s %s", ctx->channel, r->data);
	ctx->before = r->seq;
	ctx->n++;
	ctx->page++;
	ctx->left--;
	return (ctx->stop = stream_line(ctx->c));
}

/* Free the reply's state. */
static void
cmd_history_free(void *arg)
{
	struct cmd_history_ctx	*ctx = arg;

	free(ctx->channel);
	free(ctx);
}

/* One page of messages; CONFIRM HISTORY ends the reply. */
static enum stream_next
cmd_history_page(struct client *c, void *arg)
{
	struct cmd_history_ctx	*ctx = arg;
	size_t			 want = ctx->left;
	char			*cause;

	if (want > HISTORY_PAGE)
		want = HISTORY_PAGE;
	ctx->page = 0;
	ctx->stop = 0;
	if (want > 0 && journal_history(cmd_journal, ctx->channel,
	    ctx->before, want, cmd_history_row, ctx, &cause) == -1) {
		log_warnx("history %s: %s", ctx->channel, cause);
		free(cause);
		if (ctx->n == 0)
			reply_error(c, PROTO_ERR_INTERNAL, "history is "
			    "unavailable");
		else {
			/* Lines are out: no reply can take their place. */
			client_close(c, WS_CLOSE_INTERNAL, "history read "
			    "failed");
		}
		return (STREAM_DONE);
	}
	if (c->c_state != CLIENT_OPEN)
		return (STREAM_DONE);
	/* A page cut short by the stream, not by the journal: more. */
	if (ctx->left > 0 && (ctx->stop || ctx->page == want))
		return (STREAM_MORE);
	client_sendf(c, "CONFIRM HISTORY %s %zu", ctx->channel, ctx->n);
	return (STREAM_DONE);
}

static enum cmd_retval
cmd_history_exec(struct cmd_call *cc)
{
	struct client		*c = cc->cc_client;
	struct proto_line	*pl = &cc->cc_line;
	struct channel		*ch = cc->cc_chan;
	struct cmd_history_ctx	*ctx;
	int64_t			 before = -1, limit = config.history_max, v;
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
	/* No seq is below 0: BEFORE 0 is an empty page, never the newest. */
	if (before == 0) {
		reply_send(c, "CONFIRM HISTORY %s 0", ch->ch_name);
		return (CMD_NORMAL);
	}
	ctx = xcalloc(1, sizeof *ctx);
	ctx->c = c;
	ctx->channel = xstrdup(ch->ch_name);
	ctx->created = ch->ch_created;
	ctx->before = before == -1 ? 0 : before;	/* 0: the newest */
	ctx->left = (size_t)limit;
	/* Live events are not part of it: they wait, and none is dropped. */
	stream_start(c, c->c_live_after, cmd_history_page, cmd_history_free,
	    ctx);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_history_entry = {
	.name = "HISTORY",
	.lower = 1,
	.upper = 5,
	.flags = CMD_NEEDNAME | CMD_MEMBER | CMD_READ,
	.usage = "HISTORY <channel> [BEFORE <seq>] [LIMIT <n>]",
	.missing = "HISTORY requires channel argument",
	.cost = 5,		/* up to history_max rows */
	.exec = cmd_history_exec
};
