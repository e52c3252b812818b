/*
 * check.c: the checker of every line a connection receives. HELLO must
 * name one epoch. Each reply must answer the oldest command still
 * unanswered, as that command expects. Each EVENT must parse, and its
 * message must be one a publisher sent: seqs strictly increase on every
 * subscriber, every message reaches every subscriber exactly once and in
 * order, with one seq everywhere. Any deviation is a run error. Also
 * what is still missing, when a phase times out.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static const char *expect_names[] = { "NICK", "SUBEVENT", "CREATE", "SUB",
    "MSG", "PING", "RESUME", "REGISTER", "LOGIN" };

/* Parse an unsigned decimal that spans exactly [s, s+len). */
int
check_decimal(const char *s, size_t len, int64_t *v)
{
	uint64_t	x = 0;
	size_t		i;

	if (len == 0 || len > 18)
		return (-1);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = (int64_t)x;
	return (0);
}

/* Split a received text into ts, p and n; -1 if it is not ours. */
static int
text_parse(const char *s, size_t len, int64_t *ts, int64_t *p, int64_t *n)
{
	const char	*e = s + len, *a, *dot, *sp;

	if ((sp = memchr(s, ' ', len)) == NULL)
		return (-1);
	if (check_decimal(s, (size_t)(sp - s), ts) == -1)
		return (-1);
	a = sp + 1;
	if ((dot = memchr(a, '.', (size_t)(e - a))) == NULL)
		return (-1);
	if (check_decimal(a, (size_t)(dot - a), p) == -1)
		return (-1);
	a = dot + 1;
	if ((sp = memchr(a, ' ', (size_t)(e - a))) == NULL)
		sp = e;
	return (check_decimal(a, (size_t)(sp - a), n));
}

/* A message event on a subscriber (or a ceiling receiver). */
static void
check_event(struct conn *c, const char *s, size_t len)
{
	struct evjson	 ev;
	struct pubrec	*pr;
	struct conn	*pub;
	const char	*why;
	int64_t		 ts, p, n, sent, *last, now;
	size_t		 tlen;

	if (c->c_role == ROLE_PUB || c->c_role == ROLE_IDLE) {
		run_error("%s: an event it did not ask for: %s", c->c_name,
		    run_shorten(s, len));
		return;
	}
	if (len < run.ev_prefixlen ||
	    memcmp(s, run.ev_prefix, run.ev_prefixlen) != 0) {
		run_error("%s: unexpected event: %s", c->c_name,
		    run_shorten(s, len));
		return;
	}
	memset(&ev, 0, sizeof ev);
	if ((why = js_event(s + run.ev_prefixlen, len - run.ev_prefixlen,
	    &ev)) != NULL) {
		run_error("%s: %s: %s", c->c_name, why, run_shorten(s, len));
		return;
	}
	if (text_parse(ev.text, ev.textlen, &ts, &p, &n) == -1 ||
	    p >= run.npubs || n < 1) {
		run_error("%s: a message we did not send: %s", c->c_name,
		    run_shorten(s, len));
		return;
	}
	now = clock_mono_ns();
	if (ev.seq <= c->c_last_seq)
		run_error("%s: seq %" PRId64 " after %" PRId64 " (not increasing)",
		    c->c_name, ev.seq, c->c_last_seq);
	c->c_last_seq = ev.seq;

	if (c->c_role == ROLE_RECV)
		sent = ceiling_sent((int)p);
	else {
		pub = run.pubs[p];
		sent = pub->c_sent;
	}
	last = &c->c_last_n[p];
	if (n > sent) {
		run_error("%s: message %" PRId64 ".%" PRId64 " was never sent",
		    c->c_name, p, n);
		return;
	}
	if (n <= *last) {
		run_error("%s: message %" PRId64 ".%" PRId64 " again or out of "
		    "order (after %" PRId64 ")", c->c_name, p, n, *last);
		return;
	}
	if (n != *last + 1)
		run_error("%s: messages %" PRId64 ".%" PRId64 "..%" PRId64
		    " missing", c->c_name, p, *last + 1, n - 1);
	*last = n;

	pr = &run.recs[p];
	pub_reserve(pr, n);
	if (c->c_role != ROLE_RECV) {
		if (pr->pr_seq[n] == 0)
			pr->pr_seq[n] = ev.seq;
		else if (pr->pr_seq[n] != ev.seq)
			run_error("%s: message %" PRId64 ".%" PRId64 " has seq %"
			    PRId64 ", elsewhere %" PRId64, c->c_name, p, n,
			    ev.seq, pr->pr_seq[n]);
	}
	if (ev.userlen != run.pubnamelen[p] ||
	    memcmp(ev.user, run.pubnames[p], ev.userlen) != 0)
		run_error("%s: message %" PRId64 ".%" PRId64 " from \"%s\"",
		    c->c_name, p, n, run_shorten(ev.user, ev.userlen));
	tlen = pub_text(run.text2, ts, (int)p, n);
	if (tlen != ev.textlen || memcmp(run.text2, ev.text, tlen) != 0)
		run_error("%s: message %" PRId64 ".%" PRId64 " text changed: %s",
		    c->c_name, p, n, run_shorten(ev.text, ev.textlen));

	if (c->c_role == ROLE_STALL || c->c_role == ROLE_RESUMER) {
		/* Checked, but no part of the fan-out's counts or latency. */
		c->c_received++;
		if (c->c_replaying)
			c->c_replayed++;
		if (c->c_role == ROLE_STALL) {
			run.stall_received++;
			stall_check(c);
		} else if (run.phase == PH_DRAIN)
			run_check();
		return;
	}
	hist_add(&run.lat, now - ts);
	if (opts.scenario == SC_LOGIN) {
		/* Did this delivery overlap the burst of logins? */
		if (run.login_t0 != 0 && now >= run.login_t0 &&
		    (run.login_t1 == 0 || ts < run.login_t1))
			hist_add(&run.lat_login, now - ts);
		else
			hist_add(&run.lat_quiet, now - ts);
	}
	if (opts.scenario == SC_REPLAY) {
		/* Did this delivery overlap the replay? */
		if (run.replay_t0 != 0 && now >= run.replay_t0 &&
		    (run.replay_t1 == 0 || ts < run.replay_t1))
			hist_add(&run.lat_replay, now - ts);
		else
			hist_add(&run.lat_quiet, now - ts);
	}
	if (c->c_replaying)
		c->c_replayed++;
	c->c_received++;
	run.total_deliveries++;
	run.t_last_delivery = now;
	if (++pr->pr_cnt[n] == (uint32_t)run.nsubs) {
		if (c->c_role == ROLE_RECV)
			ceiling_advance((int)p);
		else
			pub_advance((int)p);
	}
}

/* A reply: it must answer the oldest command still unanswered. */
static void
check_reply(struct conn *c, const char *s, size_t len)
{
	enum expect	 what;
	char		*want = NULL;
	int64_t		 seq, n, now;
	struct pubrec	*pr;
	int		 ok;

	if (c->c_exp_len == 0) {
		run_error("%s: a reply to nothing: %s", c->c_name,
		    run_shorten(s, len));
		return;
	}
	what = (enum expect)c->c_exp[c->c_exp_head];
	c->c_exp_head = (c->c_exp_head + 1) % c->c_exp_cap;
	c->c_exp_len--;

	switch (what) {
	case EXP_MSG:
		ok = len > run.confirm_prefixlen &&
		    memcmp(s, run.confirm_prefix, run.confirm_prefixlen) == 0 &&
		    check_decimal(s + run.confirm_prefixlen, len -
		    run.confirm_prefixlen, &seq) == 0;
		if (!ok) {
			run_error("%s: MSG answered with: %s", c->c_name,
			    run_shorten(s, len));
			if (len >= 6 && memcmp(s, "ERROR ", 6) == 0)
				run_abort("the server refused a MSG");
			return;
		}
		now = clock_mono_ns();
		n = ++c->c_confirmed;
		if (seq <= c->c_confirm_seq)
			run_error("%s: CONFIRM MSG seq %" PRId64 " after %" PRId64,
			    c->c_name, seq, c->c_confirm_seq);
		c->c_confirm_seq = seq;
		pr = &run.recs[c->c_id];
		if (pr->pr_seq[n] == 0)
			pr->pr_seq[n] = seq;
		else if (pr->pr_seq[n] != seq)
			run_error("%s: CONFIRM MSG seq %" PRId64 " for message %d.%"
			    PRId64 ", but subscribers got seq %" PRId64, c->c_name,
			    seq, c->c_id, n, pr->pr_seq[n]);
		if (!run.prefilling)
			hist_add(&run.rtt, now - pr->pr_ts[n]);
		run.total_confirmed++;
		run.t_last_confirm = now;
		pub_advance(c->c_id);
		return;
	case EXP_NICK:
		/* A guest comes back with the token its NICK was given. */
		if (c->c_reconnecting) {
			xasprintf(&want, "CONFIRM AUTH %s", c->c_name);
			break;
		}
		xasprintf(&want, "CONFIRM NICK %s ", c->c_name);
		if (len == strlen(want) + 43 &&
		    memcmp(want, s, strlen(want)) == 0) {
			memcpy(c->c_token, s + strlen(want), 43);
			c->c_token[43] = '\0';
			free(want);
			want = xstrndup(s, len);
		}
		break;
	case EXP_SUBEVENT:
		want = xstrdup("CONFIRM SUBEVENT message");
		break;
	case EXP_CREATE:
		xasprintf(&want, "CONFIRM CREATE %s", run.chan);
		break;
	case EXP_SUB:
		xasprintf(&want, "CONFIRM SUB %s", run.chan);
		break;
	case EXP_PING:
		xasprintf(&want, "PONG b%d", c->c_idx);
		break;
	case EXP_RESUME:
		resume_done(c, s, len);
		return;
	case EXP_REGISTER:
		xasprintf(&want, "CONFIRM REGISTER %s ", c->c_name);
		if (len == strlen(want) + 43 &&
		    memcmp(want, s, strlen(want)) == 0) {
			free(want);
			want = xstrndup(s, len);
		}
		break;
	case EXP_LOGIN:
		login_done(c, s, len);
		return;
	}
	if (strlen(want) != len || memcmp(want, s, len) != 0) {
		run_error("%s: %s answered with: %s", c->c_name,
		    expect_names[what], run_shorten(s, len));
		free(want);
		run_abort("a command failed");
		return;
	}
	free(want);
	if (what == EXP_SUBEVENT && c->c_reconnecting) {
		/* Until RESUMED, what arrives is the replay: live is held. */
		c->c_replaying = 1;
		c->c_replayed = 0;
	}
	if (what == EXP_PING) {
		c->c_ping_out = 0;
		run.pings_out--;
		run_check();
	} else if (c->c_setup_left > 0 && --c->c_setup_left == 0)
		conn_ready(c);
}

/* One text message from the server: one line. */
void
check_line(struct conn *c, const char *s, size_t len)
{
	/* One trailing newline is tolerated, as the server tolerates ours. */
	if (len > 0 && s[len - 1] == '\n') {
		len--;
		if (len > 0 && s[len - 1] == '\r')
			len--;
	}
	if (c->c_state == CS_HELLO) {
		const char	*ep, *sp;

		if (len < 14 || memcmp(s, "HELLO wschatd/", 14) != 0 ||
		    (ep = memchr(s + 14, ' ', len - 14)) == NULL ||
		    (sp = memchr(ep + 1, ' ', (size_t)(s + len - ep - 1))) == NULL ||
		    sp == ep + 1 || (size_t)(sp - ep - 1) >= sizeof run.epoch) {
			conn_fail(c, "expected HELLO, got: %s",
			    run_shorten(s, len));
			return;
		}
		if (c->c_role == ROLE_RESUMER && !c->c_reconnecting &&
		    check_decimal(sp + 1, (size_t)(s + len - sp - 1),
		    &c->c_last_seq) == -1) {
			/* Its cursor: the head when it first connected. */
			conn_fail(c, "HELLO without a head: %s",
			    run_shorten(s, len));
			return;
		}
		if (run.epoch[0] == '\0')
			memcpy(run.epoch, ep + 1, (size_t)(sp - ep - 1));
		else if (strncmp(run.epoch, ep + 1, (size_t)(sp - ep - 1)) != 0 ||
		    run.epoch[sp - ep - 1] != '\0')
			run_error("%s: HELLO with another epoch: %s", c->c_name,
			    run_shorten(s, len));
		conn_open(c);
		return;
	}
	if (len >= 6 && memcmp(s, "EVENT ", 6) == 0)
		check_event(c, s, len);
	else
		check_reply(c, s, len);
}

/* The oldest incomplete message of any publisher and who lacks it. */
char *
check_missing(void)
{
	char	*s = NULL;
	int64_t		 sent, done, confirmed, n;
	uint32_t	 have;
	int		 p;

	for (p = 0; p < run.npubs; p++) {
		if (opts.scenario == SC_CEILING) {
			sent = confirmed = ceiling_sent(p);
			done = ceiling_done(p);
		} else {
			sent = run.pubs[p]->c_sent;
			confirmed = run.pubs[p]->c_confirmed;
			done = run.pubs[p]->c_done;
		}
		if (run.nsubs == 0 && confirmed < sent) {
			xasprintf(&s, "MSG %d.%" PRId64 " not confirmed", p,
			    confirmed + 1);
			return (s);
		}
		if (done >= confirmed)
			continue;
		/* Gaps were reported as they happened; counts name the message. */
		n = done + 1;
		have = (size_t)n < run.recs[p].pr_cap ? run.recs[p].pr_cnt[n] : 0;
		xasprintf(&s, "message %d.%" PRId64 " (seq %" PRId64 ") reached %u "
		    "of %d subscribers", p, n, (size_t)n < run.recs[p].pr_cap ?
		    run.recs[p].pr_seq[n] : 0, have, run.nsubs);
		return (s);
	}
	return (xstrdup("nothing identified"));
}

/* Has every publisher's message reached every subscriber? */
int
check_drained(void)
{
	int	i;

	for (i = 0; i < run.npubs; i++)
		if (run.pubs[i]->c_confirmed != run.pubs[i]->c_sent)
			return (0);
	/* The resumer: every message, the prefill's and the run's. */
	if (run.resumer != NULL && run.resumer->c_received != run.total_confirmed)
		return (0);
	return (run.reconnecting == 0 && run.total_deliveries ==
	    (uint64_t)run.nsubs * run_live_confirmed());
}
