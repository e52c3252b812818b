/*
 * cmd-resume.c: RESUME <seq> [<epoch>] replays, from the journal, exactly
 * the events this connection would have received live since <seq> with its
 * current name and intents, membership taken as it was at each event.
 * Live events are held meanwhile and follow the replay with no gap and no
 * duplicate. When the journal cannot do that exactly, a snapshot is sent.
 *
 * The replay streams in pages (stream_start), waiting for the
 * client's output to drain between them, so a long replay never stalls
 * other clients.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

#define RESUME_PAGE	512

struct resume {
	struct client	*r_client;
	int64_t		 r_next;	/* replay events after this seq */
	int64_t		 r_upto;	/* ... up to and including this one */
	int64_t		 r_count;
	char		**r_chans;	/* the user's channels at r_next */
	size_t		 r_nchans;
};

/* Is the user a member of this channel at the current replay point? */
static ssize_t
resume_chan_index(struct resume *r, const char *ch)
{
	size_t	i;

	for (i = 0; i < r->r_nchans; i++) {
		if (strcmp(r->r_chans[i], ch) == 0)
			return ((ssize_t)i);
	}
	return (-1);
}

/* Add or remove a channel from the replay's membership set. */
static void
resume_chan_set(struct resume *r, const char *ch, int member)
{
	ssize_t	i = resume_chan_index(r, ch);

	if (member && i == -1) {
		r->r_chans = xreallocarray(r->r_chans, r->r_nchans + 1,
		    sizeof *r->r_chans);
		r->r_chans[r->r_nchans++] = xstrdup(ch);
	} else if (!member && i != -1) {
		free(r->r_chans[i]);
		r->r_chans[i] = r->r_chans[--r->r_nchans];
	}
}

/* Walking the user's JOIN/PART backwards undoes them to the cursor. */
static int
resume_undo(const struct journal_rec *rec, void *arg)
{
	struct resume	*r = arg;

	if (rec->seq > r->r_upto)
		return (0);
	if (strcmp(rec->action, "JOIN") == 0)
		resume_chan_set(r, rec->resource, 0);
	else if (strcmp(rec->action, "PART") == 0)
		resume_chan_set(r, rec->resource, 1);
	return (0);
}

/* One journaled event: send it if this connection would have seen it. */
static int
resume_event(const struct journal_rec *rec, void *arg)
{
	struct resume	*r = arg;
	struct client	*c = r->r_client;
	struct wevent	*ev;
	int		 type, want;

	r->r_next = rec->seq;
	if ((type = intent_parse(rec->type)) == -1)
		return (0);
	/*
	 * Membership as it was at this event: before its own JOIN or PART
	 * (the actor gets those anyway). It decides a message, and any
	 * event of a private channel.
	 */
	want = wevent_wanted(c, type, rec->priv,
	    (type == INTENT_MESSAGE || rec->priv) &&
	    resume_chan_index(r, rec->resource) != -1, rec->actor);
	if (type == INTENT_USER && rec->actor != NULL &&
	    strcmp(rec->actor, c->c_user->u_name) == 0) {
		if (strcmp(rec->action, "JOIN") == 0)
			resume_chan_set(r, rec->resource, 1);
		else if (strcmp(rec->action, "PART") == 0)
			resume_chan_set(r, rec->resource, 0);
	}
	/* Already delivered live before the RESUME arrived. */
	if (stream_delivered(c, rec->seq))
		want = 0;
	if (!want)
		return (0);
	ev = wevent_build(rec->seq, rec->ts, rec->type, rec->action,
	    rec->resource, rec->actor, rec->data);
	if (ev == NULL)
		return (0);
	client_send_frame(c, ev->ev_frame, ev->ev_framelen);
	wevent_free(ev);
	r->r_count++;
	/* A page ends early once half of max_output is queued. */
	return (stream_line(c));
}

/* Free the replay state. */
static void
resume_free(void *arg)
{
	struct resume	*r = arg;
	size_t		 i;

	for (i = 0; i < r->r_nchans; i++)
		free(r->r_chans[i]);
	free(r->r_chans);
	free(r);
}

/* Send one page of the replay; RESUMED ends it. */
static enum stream_next
resume_page(struct client *c, void *arg)
{
	struct resume	*r = arg;
	char		*cause;
	int64_t		 before;

	/* Retention may not take events this replay still has to send. */
	if (r->r_next + 1 < journal_first(cmd_journal)) {
		client_close(c, WS_CLOSE_TRY_AGAIN, "replay overtaken by journal "
		    "pruning; reconnect and resume again");
		return (STREAM_DONE);
	}
	before = r->r_next;
	if (r->r_next < r->r_upto && journal_events(cmd_journal, r->r_next,
	    r->r_upto, RESUME_PAGE, resume_event, r, &cause) == -1) {
		log_warnx("resume: %s", cause);
		free(cause);
		client_close(c, WS_CLOSE_INTERNAL, "journal read failed");
		return (STREAM_DONE);
	}
	if (c->c_state != CLIENT_OPEN)
		return (STREAM_DONE);
	if (r->r_next >= r->r_upto) {
		client_sendf(c, "RESUMED %lld %lld", (long long)r->r_upto,
		    (long long)r->r_count);
		return (STREAM_DONE);
	}
	if (r->r_next == before) {
		log_warnx("resume: no events after %lld up to %lld",
		    (long long)before, (long long)r->r_upto);
		client_close(c, WS_CLOSE_INTERNAL, "journal replay incomplete");
		return (STREAM_DONE);
	}
	return (STREAM_MORE);
}

/* Parse a cursor: a non-negative decimal. */
static int
resume_parse_seq(const char *s, int64_t *seq)
{
	char		*end;
	long long	 v;

	if (*s < '0' || *s > '9' || strlen(s) > 18)
		return (-1);
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return (-1);
	*seq = v;
	return (0);
}

/* Why the cursor cannot be replayed exactly, or NULL if it can. */
static const char *
resume_refusal(int64_t seq, const char *epoch, int64_t head)
{
	if (epoch != NULL && strcmp(epoch, batch_epoch()) != 0)
		return ("another epoch");
	if (seq > head)
		return ("a cursor from the future");
	if (seq + 1 < journal_first(cmd_journal) && seq < head)
		return ("events already pruned");
	if (head - seq > config.resume_max_events)
		return ("more than resume_max_events behind");
	return (NULL);
}

static enum cmd_retval
cmd_resume_exec(struct cmd_call *cc)
{
	struct client	*c = cc->cc_client;
	struct proto_line *pl = &cc->cc_line;
	struct resume	*r;
	struct member	*m;
	const char	*epoch = pl->argc > 1 ? pl->argv[1] : NULL, *why;
	int64_t		 seq, head = batch_committed();
	char		*cause;

	if (resume_parse_seq(pl->argv[0], &seq) != 0) {
		reply_error(c, PROTO_ERR_BADARGS, "RESUME needs a sequence number, "
		    "not %s", pl->argv[0]);
		return (CMD_NORMAL);
	}
	if ((why = resume_refusal(seq, epoch, head)) != NULL) {
		log_debug("resume from %lld: %s: sending a snapshot",
		    (long long)seq, why);
		cmd_snapshot_send(c);
		return (CMD_NORMAL);
	}

	r = xcalloc(1, sizeof *r);
	r->r_client = c;
	r->r_next = seq;
	r->r_upto = head;
	/* Membership at head, from memory (ghosts still cover parted ones)... */
	TAILQ_FOREACH(m, &c->c_user->u_members, m_uentry) {
		if (m->m_joined <= head && (m->m_parted == 0 || m->m_parted > head))
			resume_chan_set(r, m->m_chan->ch_name, 1);
	}
	/* ... then back to the cursor by undoing the user's JOIN/PART. */
	if (journal_user_events_desc(cmd_journal, c->c_user->u_name, seq,
	    resume_undo, r, &cause) == -1) {
		log_warnx("resume: %s", cause);
		free(cause);
		reply_error(c, PROTO_ERR_INTERNAL, "journal read failed");
		resume_free(r);
		return (CMD_NORMAL);
	}
	stream_start(c, head, resume_page, resume_free, r);
	return (CMD_NORMAL);
}

const struct cmd_entry cmd_resume_entry = {
	.name = "RESUME",
	.lower = 1,
	.upper = 2,
	.flags = CMD_NEEDNAME | CMD_READ,
	.usage = "RESUME <seq> [<epoch>]",
	.missing = "RESUME requires seq argument",
	.exec = cmd_resume_exec
};
