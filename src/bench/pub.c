/*
 * pub.c: the publishers. The text of each message (its send time, its
 * publisher and number, padding to --size), the record of what became of
 * it, the closed loop's windows, the open loop's schedule (a message is
 * sent when due, stamped with when it was due), and completion: a message
 * is done once confirmed and delivered to every subscriber.
 */
#include "config.h"

#include <sys/time.h>

#include <stdint.h>
#include <string.h>

#include <event2/event.h>

#include "bench.h"

#define PREFILL_WINDOW	32	/* replay: MSGs in flight per publisher */

/* Decimal digits of v into out; returns the length. */
static size_t
u64_dec(char *out, uint64_t v)
{
	char	tmp[24];
	size_t	n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return (n);
}

/*
 * The text of message n of publisher p, sent at ts (ns): "<ts> <p>.<n>",
 * then " xxx..." up to opts.size bytes (at least one x if any padding).
 */
size_t
pub_text(char *out, int64_t ts, int p, int64_t n)
{
	size_t	len, k;

	len = u64_dec(out, (uint64_t)ts);
	out[len++] = ' ';
	len += u64_dec(out + len, (uint64_t)p);
	out[len++] = '.';
	len += u64_dec(out + len, (uint64_t)n);
	if (opts.size > len) {
		out[len++] = ' ';
		k = opts.size > len ? opts.size - len : 1;
		memcpy(out + len, run.pad, k);
		len += k;
	}
	return (len);
}

/* Grow a publisher's record to hold message n. */
void
pub_reserve(struct pubrec *pr, int64_t n)
{
	size_t	cap = pr->pr_cap, old = pr->pr_cap;

	if ((size_t)n < cap)
		return;
	if (cap == 0)
		cap = 1024;
	while (cap <= (size_t)n)
		cap *= 2;
	pr->pr_seq = xreallocarray(pr->pr_seq, cap, sizeof *pr->pr_seq);
	pr->pr_ts = xreallocarray(pr->pr_ts, cap, sizeof *pr->pr_ts);
	pr->pr_cnt = xreallocarray(pr->pr_cnt, cap, sizeof *pr->pr_cnt);
	memset(pr->pr_seq + old, 0, (cap - old) * sizeof *pr->pr_seq);
	memset(pr->pr_ts + old, 0, (cap - old) * sizeof *pr->pr_ts);
	memset(pr->pr_cnt + old, 0, (cap - old) * sizeof *pr->pr_cnt);
	pr->pr_cap = cap;
}

/* Send message n+1 of a publisher, stamped with ts (ns). */
static void
pub_send(struct conn *c, int64_t ts)
{
	struct pubrec	*pr = &run.recs[c->c_id];
	int64_t		 n = ++c->c_sent;
	size_t		 len, off;

	pub_reserve(pr, n);
	pr->pr_ts[n] = ts;
	memcpy(run.line, "MSG ", 4);
	off = 4;
	memcpy(run.line + off, run.chan, strlen(run.chan));
	off += strlen(run.chan);
	run.line[off++] = ' ';
	len = pub_text(run.line + off, ts, c->c_id, n);
	conn_text(c, run.line, off + len);
	conn_expect(c, EXP_MSG);
	run.total_sent++;
}

/* May this publisher send another message now? */
static int
pub_may_send(struct conn *c)
{
	if (!run.publishing || run.stop || run.aborting || c->c_state != CS_OPEN)
		return (0);
	if (run.prefilling)
		return (c->c_sent < run.prefill_n[c->c_id]);
	if (opts.messages > 0 && c->c_sent - run.prefill_n[c->c_id] >=
	    opts.messages)
		return (0);
	return (1);
}

/* Closed loop: keep --window messages outstanding. */
void
pub_pump(struct conn *c)
{
	int	window = run.prefilling ? PREFILL_WINDOW : opts.window;

	if (opts.rate > 0 && !run.prefilling)
		return;
	while (pub_may_send(c) && c->c_sent - c->c_done < window)
		pub_send(c, clock_mono_ns());
}

/* Completion moves in order: a message is done when confirmed and everywhere. */
void
pub_advance(int p)
{
	struct pubrec	*pr = &run.recs[p];
	struct conn	*c = run.pubs[p];

	while (c->c_done < c->c_confirmed && (size_t)(c->c_done + 1) < pr->pr_cap &&
	    pr->pr_cnt[c->c_done + 1] >= run.need)
		c->c_done++;
	pub_pump(c);
	run_check();
}

/*
 * Arm an open loop's timer for the earliest of the next messages (each
 * publisher's message k is due at t0 + k/per), or at most 1 ms away. A
 * message is sent when it is due, not on the next tick of a fixed clock,
 * so its latency is the server's and not a tick's rounding.
 */
int64_t
pub_tick_arm(struct event *ev, int64_t now, int64_t next)
{
	struct timeval	tv;
	int64_t		delay;

	if (next > now + 1000000)
		next = now + 1000000;
	delay = next > now ? next - now : 0;
	tv.tv_sec = (time_t)(delay / 1000000000);
	tv.tv_usec = (suseconds_t)((delay % 1000000000 + 999) / 1000);
	evtimer_add(ev, &tv);
	return (next);
}

/* The scheduled time of message k of a publisher sending per msgs/s. */
int64_t
pub_tick_due(int64_t t0, double per, int64_t k)
{
	return (t0 + (int64_t)((double)k / per * 1e9));
}

/* Open loop: send what the schedule says is due, then wait for the next. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	double		 per = opts.rate / run.npubs;
	int64_t		 now = clock_mono_ns(), next = INT64_MAX, k;
	int		 i;

	/* Firing late means this loop was busy: the bench's own stall. */
	if (run.tick_at != 0 && now - run.tick_at > run.tick_late_max &&
	    !run.stop)
		run.tick_late_max = now - run.tick_at;
	for (i = 0; i < run.npubs; i++) {
		struct conn	*c = run.pubs[i];

		/* Message k carries its scheduled time. */
		k = c->c_sent - run.prefill_n[i];
		for (; pub_may_send(c) && pub_tick_due(run.t0, per, k) <= now;
		    k++)
			pub_send(c, pub_tick_due(run.t0, per, k));
		if (pub_tick_due(run.t0, per, k) < next)
			next = pub_tick_due(run.t0, per, k);
	}
	run.tick_at = pub_tick_arm(run.tick_ev, now, next);
}

/* Publishing begins: the open loop's timer, or every closed-loop window. */
void
pub_start(void)
{
	int	i;

	if (opts.rate > 0) {
		run.tick_ev = evtimer_new(run.base, tick_cb, NULL);
		tick_cb(-1, 0, NULL);
		return;
	}
	for (i = 0; i < run.npubs; i++)
		pub_pump(run.pubs[i]);
}
