/*
 * resume.c: RESUME under load. In the resume scenario every subscriber
 * closes and comes back with RESUME, about every --reconnect-ms; in the
 * replay scenario one client leaves, --replay-events messages fill the
 * journal behind it, and it comes back across all of them during the
 * fan-out. Either way the replay is checked like live events, and
 * RESUMED must count what it replayed.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"

static void	 reconnect_cb(evutil_socket_t, short, void *);

/* Schedule this subscriber's next disconnect, about --reconnect-ms away. */
void
resume_schedule(struct conn *c)
{
	struct timeval	tv;
	double		ms;

	if (opts.scenario != SC_RESUME || run.stop || run.aborting)
		return;
	if (c->c_timer == NULL)
		c->c_timer = evtimer_new(run.base, reconnect_cb, c);
	ms = opts.reconnect_ms * (0.5 + (double)(run_random() >> 11) /
	    9007199254740992.0);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms - (double)tv.tv_sec * 1000) * 1000);
	evtimer_add(c->c_timer, &tv);
}

/* Close with 1000; after the echo and EOF, conn_event_cb reconnects. */
static void
reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	if (run.phase != PH_RUN || run.stop || run.aborting ||
	    c->c_state != CS_OPEN)
		return;
	conn_close(c, WS_CLOSE_NORMAL, "back soon");
	c->c_reconnecting = 1;
	c->c_gone_at = clock_mono_ns();
	run.reconnecting++;
	run.reconnects++;
}

/* RESUMED <head> <count>: the replay is complete; check its count. */
void
resume_done(struct conn *c, const char *s, size_t len)
{
	const char	*sp;
	int64_t		 head, count;

	if (len < 8 || memcmp(s, "RESUMED ", 8) != 0 ||
	    (sp = memchr(s + 8, ' ', len - 8)) == NULL ||
	    check_decimal(s + 8, (size_t)(sp - s - 8), &head) == -1 ||
	    check_decimal(sp + 1, (size_t)(s + len - sp - 1), &count) == -1) {
		run_error("%s: RESUME answered with: %s", c->c_name,
		    run_shorten(s, len));
		run_abort("RESUME did not replay (a snapshot cannot be checked)");
		return;
	}
	if (count != c->c_replayed)
		run_error("%s: RESUMED says %" PRId64 " events, %" PRId64
		    " arrived", c->c_name, count, c->c_replayed);
	if (head < c->c_last_seq)
		run_error("%s: RESUMED head %" PRId64 " is before seq %" PRId64
		    " already received", c->c_name, head, c->c_last_seq);
	hist_add(&run.resume_lat, clock_mono_ns() - c->c_gone_at);
	run.replayed += (uint64_t)c->c_replayed;
	c->c_replaying = 0;
	c->c_reconnecting = 0;
	run.reconnecting--;
	if (c->c_role == ROLE_RESUMER) {
		run.replay_t1 = clock_mono_ns();
		run.replay_stall[1] = proc_healthz_stall(run.replay_t0);
		run.replay_count = count;
		run.replay_state = RS_DONE;
		if (run.stop_pending)
			run.stop = 1;
	}
	resume_schedule(c);
	run_check();
}

/* The resumer left: fill the journal with --replay-events messages. */
void
resume_prefill(void)
{
	int64_t	per = opts.replay_events / run.npubs;
	int	i, extra = (int)(opts.replay_events % run.npubs);

	run.replay_state = RS_PREFILL;
	run.prefilling = 1;
	run.publishing = 1;
	run.need = 0;		/* done when confirmed: nobody subscribes yet */
	run.prefill_t0 = clock_mono_ns();
	for (i = 0; i < run.npubs; i++)
		run.prefill_n[i] = per + (i < extra ? 1 : 0);
	run_timeout(30 + (double)opts.replay_events / 5000.0);
	for (i = 0; i < run.npubs; i++)
		pub_pump(run.pubs[i]);
	run_check();
}

/* Setup of the replay scenario, step by step; called from run_check. */
void
resume_setup_check(void)
{
	struct conn	*c = run.resumer;
	int		 i, p;

	switch (run.replay_state) {
	case RS_INIT:
		/* Publishers and the resumer are set up: it leaves. */
		if (run.ready < run.npubs + 1)
			return;
		conn_close(c, WS_CLOSE_NORMAL, "back later");
		run.replay_state = RS_LEAVING;
		return;
	case RS_PREFILL:
		for (i = 0; i < run.npubs; i++)
			if (run.pubs[i]->c_confirmed < run.prefill_n[i])
				return;
		run.prefill_t1 = clock_mono_ns();
		run.prefilling = 0;
		run.publishing = 0;
		run.need = (uint32_t)run.nsubs;
		run.base_confirmed = run.total_confirmed;
		/* The fan-out's subscribers start after the prefill. */
		for (i = 0; i < run.nsubs; i++)
			for (p = 0; p < run.npubs; p++)
				run.subs[i]->c_last_n[p] = run.pubs[p]->c_sent;
		run.replay_state = RS_JOINING;
		run.launch_end = run.nconns;
		run_timeout(30 + run.nconns / 200.0);
		conn_launch();
		return;
	default:
		return;
	}
}

/* --replay-at seconds into the run: the resumer comes back with RESUME. */
static void
replay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = run.resumer;

	if (run.phase != PH_RUN || run.aborting)
		return;
	run.replay_state = RS_REPLAYING;
	run.replay_stall[0] = proc_healthz_stall(run.t0 + 1000000000);
	run.replay_t0 = clock_mono_ns();
	c->c_reconnecting = 1;
	c->c_gone_at = run.replay_t0;
	run.reconnecting++;
	run.reconnects++;
	conn_start(c);
}

/* The run began: the resumer comes back --replay-at seconds into it. */
void
resume_replay_start(void)
{
	struct timeval	tv;

	run.replay_state = RS_WAIT;
	tv.tv_sec = (time_t)opts.replay_at;
	tv.tv_usec = (suseconds_t)((opts.replay_at - (double)tv.tv_sec) * 1e6);
	run.replay_ev = evtimer_new(run.base, replay_cb, NULL);
	evtimer_add(run.replay_ev, &tv);
}
