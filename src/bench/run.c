/*
 * run.c: the run. Its setup (the scenario's connections and the shared
 * scratch), its loop, and its phases from connecting to the close
 * handshake, each with a timeout that says what is missing; the stall
 * watch while publishing; and its errors, any one of which makes the exit
 * status non-zero.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/time.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bench.h"

struct run	 run;

static const char *phase_names[] = { "setup", "join", "hold", "run", "drain",
    "barrier", "close", "done" };

static uint64_t	 rng_state;

static void	 barrier_start(void);

/*
 * An event base whose timers use the precise monotonic clock. By default
 * libevent 2.1 reads CLOCK_MONOTONIC_COARSE, which ticks every jiffy
 * (4 ms here): the open loop's send timer then fires up to 4 ms late, and
 * that lateness, not the server's, shows up in every latency.
 */
struct event_base *
run_base_new(void)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if ((cfg = event_config_new()) == NULL)
		fatalx("event_config_new");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	if ((base = event_base_new_with_config(cfg)) == NULL)
		fatalx("event_base_new");
	event_config_free(cfg);
	return (base);
}

/* xorshift64*: mask keys and handshake keys need no cryptography here. */
uint64_t
run_random(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (rng_state * 0x2545f4914f6cdd1dULL);
}

/* A printable copy of a received line for an error message. */
const char *
run_shorten(const char *s, size_t len)
{
	static char	buf[200];
	size_t		i, n = len < sizeof buf - 4 ? len : sizeof buf - 4;

	for (i = 0; i < n; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (n < len)
		memcpy(buf + n, "...", 4);
	else
		buf[n] = '\0';
	return (buf);
}

/* Record an error; the run goes on unless the caller aborts it. */
void
run_error(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	run.errors++;
	if (run.errors <= BENCH_MAX_ERRORS || opts.verbose)
		fprintf(stderr, "wschat-bench: error: %s\n", s);
	if (run.nerror_text < BENCH_MAX_ERRORS)
		run.error_text[run.nerror_text++] = s;
	else
		free(s);
}

/* Messages confirmed in the measured run (the replay's prefill excluded). */
uint64_t
run_live_confirmed(void)
{
	return (run.total_confirmed - run.base_confirmed);
}

/* Stop the run now: the report says why. */
void
run_abort(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	run_vabort(NULL, fmt, ap);
	va_end(ap);
}

/* As run_abort(), for what went wrong on connection who (or NULL). */
void
run_vabort(const char *who, const char *fmt, va_list ap)
{
	char	*s, *why;

	if (run.aborting)
		return;
	xvasprintf(&s, fmt, ap);
	if (who != NULL) {
		xasprintf(&why, "%s (%s): %s", who, phase_names[run.phase], s);
		free(s);
	} else
		why = s;
	run_error("aborted: %s", why);
	run.abort_reason = why;
	run.aborting = 1;
	run.phase = PH_DONE;
	event_base_loopbreak(run.base);
}

/* Closed loop: a lost event freezes a window; do not wait for --duration. */
static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t	 progress;
	int64_t		 now = clock_mono_ns();
	int64_t		 q;
	long		 rss;
	char		*m;

	/* The server's peak RSS (and send queues), to the end of the run. */
	if (opts.server_pid > 0 && (rss = proc_rss_kb(opts.server_pid)) >
	    run.srv_rss_peak)
		run.srv_rss_peak = rss;
	if (run.nstall > 0 && (q = proc_send_queues()) > run.srv_sndq_peak)
		run.srv_sndq_peak = q;
	if (run.phase != PH_RUN)
		return;
	progress = run.total_deliveries + run.total_confirmed + run.total_sent;
	if (progress != run.watch_progress) {
		run.watch_progress = progress;
		run.watch_at = now;
		return;
	}
	if ((double)(now - run.watch_at) / 1e9 < opts.drain)
		return;
	m = check_missing();
	run_abort("stalled for %.1f s: %s", opts.drain, m);
	free(m);
}

/* What is still missing, for a timeout message. */
static void
phase_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t	 missing = 0, unconfirmed = 0, expect;
	int	 i, short_subs = 0;
	char	*m;

	switch (run.phase) {
	case PH_SETUP:
	case PH_JOIN:
		if (run.replay_state == RS_PREFILL || run.replay_state == RS_LEAVING) {
			run_abort("timed out filling the journal: %" PRIu64 " of %"
			    PRId64 " confirmed", run.total_confirmed,
			    opts.replay_events);
			break;
		}
		run_abort("timed out connecting: %d of %d ready, %d in flight",
		    run.ready, run.nconns, run.inflight);
		break;
	case PH_RUN:
		if (opts.scenario == SC_LOGIN) {
			run_abort("the logins did not finish within %.1f s of "
			    "the end of publishing: %d of %d", opts.drain,
			    run.logins_done, run.nlogins);
			break;
		}
		run_abort("the replay did not finish within %.1f s of the end of "
		    "publishing: %" PRId64 " events replayed so far",
		    opts.drain, run.resumer != NULL ? run.resumer->c_replayed : 0);
		break;
	case PH_DRAIN:
		for (i = 0; i < run.npubs && run.pubs != NULL; i++)
			unconfirmed += run.pubs[i]->c_sent - run.pubs[i]->c_confirmed;
		expect = (int64_t)run_live_confirmed();
		if (opts.scenario == SC_CEILING) {
			expect = 0;
			for (i = 0; i < run.npubs; i++)
				expect += ceiling_sent(i);
		}
		for (i = 0; i < run.nsubs; i++) {
			if ((int64_t)run.subs[i]->c_received < expect) {
				short_subs++;
				missing += expect - (int64_t)run.subs[i]->c_received;
			}
		}
		if (run.resumer != NULL && run.resumer->c_received !=
		    run.total_confirmed)
			run_error("the resumer has %" PRIu64 " of %" PRIu64
			    " messages", run.resumer->c_received,
			    run.total_confirmed);
		m = check_missing();
		run_abort("drain timed out after %.1f s: %" PRId64 " MSGs "
		    "unconfirmed; %d subscribers short of %" PRId64 " deliveries "
		    "in all; %d reconnecting; %s", opts.drain, unconfirmed,
		    short_subs, missing, run.reconnecting, m);
		free(m);
		break;
	case PH_BARRIER:
		run_abort("timed out waiting for %d PONGs and %d stalled "
		    "subscribers", run.pings_out, run.stall_unsettled);
		break;
	case PH_CLOSE:
		run_abort("timed out waiting for %d closes",
		    run.nconns - run.dead);
		break;
	default:
		run_abort("timed out in phase %s", phase_names[run.phase]);
		break;
	}
}

/* (Re)arm the timeout of the current phase. */
void
run_timeout(double sec)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)sec;
	tv.tv_usec = (suseconds_t)((sec - (double)tv.tv_sec) * 1e6);
	evtimer_add(run.phase_ev, &tv);
}

/* Publishing time is over. */
static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	if (run.phase != PH_RUN)
		return;
	if ((opts.scenario == SC_REPLAY && run.replay_state != RS_DONE) ||
	    (opts.scenario == SC_LOGIN && run.login_state != 2)) {
		/* Keep the fan-out going until RESUMED, for at most --drain. */
		run.stop_pending = 1;
		run_timeout(opts.drain);
		return;
	}
	run.stop = 1;
	run_check();
}

/* Everyone is connected and set up: start measuring and publishing. */
static void
run_start(void)
{
	struct timeval	tv;
	int		i;

	run.phase = PH_RUN;
	run.t_connected = clock_mono_ns();
	evtimer_del(run.phase_ev);
	if (opts.strace != NULL)
		proc_strace_start();
	if (run.aborting)
		return;
	proc_sample(&run.srv_cpu0, &run.srv_rss0, &run.ru0);
	run.t0 = clock_mono_ns();
	run.publishing = 1;
	tv.tv_sec = (time_t)opts.duration;
	tv.tv_usec = (suseconds_t)((opts.duration - (double)tv.tv_sec) * 1e6);
	evtimer_add(run.stop_ev, &tv);
	run.watch_at = run.t0;
	tv.tv_sec = 0;
	tv.tv_usec = 100000;
	run.watch_ev = event_new(run.base, -1, EV_PERSIST, watch_cb, NULL);
	event_add(run.watch_ev, &tv);
	for (i = 0; i < run.nsubs; i++)
		resume_schedule(run.subs[i]);
	if (opts.scenario == SC_REPLAY)
		resume_replay_start();
	if (opts.scenario == SC_LOGIN)
		login_start();
	pub_start();
}

/* Connections: idle for the duration, then measure. */
static void
hold_cb(evutil_socket_t fd, short what, void *arg)
{
	proc_sample(&run.srv_cpu1, &run.srv_rss1, &run.ru1);
	run.t_end = clock_mono_ns();
	barrier_start();
}

/*
 * The last two phases do one thing to every open connection, then wait
 * for the answers: 10 s and a millisecond per connection at most.
 */
static void
run_each_open(enum phase phase, void (*fn)(struct conn *))
{
	int	i;

	run.phase = phase;
	for (i = 0; i < run.nconns; i++)
		if (run.conns[i].c_state == CS_OPEN)
			fn(&run.conns[i]);
	run_timeout(10 + run.nconns / 1000.0);
	run_check();
}

/* A PONG proves nothing is queued in front of it; the stalled read again. */
static void
barrier_one(struct conn *c)
{
	if (c->c_role == ROLE_STALL) {
		/* The rest, then the server's close. */
		bufferevent_enable(c->c_bev, EV_READ);
		stall_check(c);
		return;
	}
	conn_command(c, EXP_PING, "PING b%d", c->c_idx);
	c->c_ping_out = 1;
	run.pings_out++;
}

/* Close with 1000; the phase ends with the echoes. */
static void
close_one(struct conn *c)
{
	conn_close(c, WS_CLOSE_NORMAL, "bench done");
}

/* PING every connection. */
static void
barrier_start(void)
{
	run_each_open(PH_BARRIER, barrier_one);
}

/* Close every connection and wait for the echoes. */
static void
close_start(void)
{
	run_each_open(PH_CLOSE, close_one);
}

/* Move to the next phase when the current one is complete. */
void
run_check(void)
{
	if (run.aborting)
		return;
	if (opts.scenario == SC_CEILING) {
		ceiling_check();
		return;
	}
	switch (run.phase) {
	case PH_SETUP:
		break;
	case PH_JOIN:
		if (opts.scenario == SC_REPLAY && run.replay_state < RS_JOINING) {
			resume_setup_check();
			break;
		}
		if (run.ready < run.nconns)
			break;
		if (opts.scenario == SC_CONNECTIONS) {
			struct timeval	tv;

			run.t_connected = clock_mono_ns();
			evtimer_del(run.phase_ev);
			/* srv_cpu0 and srv_rss0 are from before the first connect. */
			proc_sample(&run.srv_cpu_conn, &run.srv_rss_conn,
			    &run.ru0);
			run.phase = PH_HOLD;
			tv.tv_sec = (time_t)opts.duration;
			tv.tv_usec = (suseconds_t)((opts.duration -
			    (double)tv.tv_sec) * 1e6);
			run.hold_ev = evtimer_new(run.base, hold_cb, NULL);
			evtimer_add(run.hold_ev, &tv);
		} else if (opts.scenario != SC_CEILING)
			run_start();
		break;
	case PH_HOLD:
		break;
	case PH_RUN:
		if (opts.messages > 0 && !run.stop) {
			int	i, all = 1;

			for (i = 0; i < run.npubs && all; i++)
				if (run.pubs[i]->c_sent - run.prefill_n[i] <
				    opts.messages)
					all = 0;
			if (all)
				run.stop = 1;
		}
		if (!run.stop)
			break;
		run.phase = PH_DRAIN;
		run.t_stop = clock_mono_ns();
		if (run.tick_ev != NULL)
			event_del(run.tick_ev);
		run_timeout(opts.drain);
		/* FALLTHROUGH */
	case PH_DRAIN:
		if (!check_drained())
			break;
		run.t_end = clock_mono_ns();
		proc_sample(&run.srv_cpu1, &run.srv_rss1, &run.ru1);
		proc_strace_stop();
		barrier_start();
		break;
	case PH_BARRIER:
		if (run.pings_out == 0 && run.stall_unsettled == 0)
			close_start();
		break;
	case PH_CLOSE:
		if (run.dead == run.nconns) {
			run.phase = PH_DONE;
			evtimer_del(run.phase_ev);
			event_base_loopbreak(run.base);
		}
		break;
	case PH_DONE:
		break;
	}
}

/* Lay out the connections of the scenario and the shared scratch. */
void
run_setup(void)
{
	struct rlimit	 rl;
	uint64_t	 r;
	int		 i, n;

	rng_state = (uint64_t)clock_mono_ns() ^ ((uint64_t)getpid() << 32) ^
	    0x9e3779b97f4a7c15ULL;
	if (rng_state == 0)
		rng_state = 1;
	r = run_random();
	snprintf(run.runid, sizeof run.runid, "%08x", (unsigned)(r >> 32));
	snprintf(run.chan, sizeof run.chan, "bench-%s", run.runid);
	xasprintf(&run.ev_prefix, "EVENT message CREATE %s ", run.chan);
	run.ev_prefixlen = strlen(run.ev_prefix);
	xasprintf(&run.confirm_prefix, "CONFIRM MSG %s ", run.chan);
	run.confirm_prefixlen = strlen(run.confirm_prefix);

	switch (opts.scenario) {
	case SC_FANOUT:
	case SC_RESUME:
	case SC_REPLAY:
	case SC_LOGIN:
		run.npubs = opts.publishers;
		run.nsubs = opts.subscribers;
		run.nstall = opts.stalled;
		run.nlogins = opts.scenario == SC_LOGIN ? opts.logins : 0;
		run.nconns = run.npubs + run.nsubs + run.nstall + run.nlogins +
		    (opts.scenario == SC_REPLAY ? 1 : 0);
		break;
	case SC_INGEST:
		run.npubs = opts.publishers;
		run.nconns = run.npubs;
		break;
	case SC_CONNECTIONS:
		run.nconns = opts.connections;
		break;
	case SC_CEILING:
		run.npubs = opts.publishers;	/* virtual: the thread */
		run.nsubs = opts.subscribers;
		run.nconns = run.nsubs;
		break;
	}
	/*
	 * One source address per 10000 connections: 19900 from 127.0.0.1
	 * alone connected at 3.7k/s with a 1 s p99 (connect()'s port search
	 * in a nearly full 28k-port ephemeral range); from two, 23k/s, 70 ms.
	 */
	if (opts.source_addrs == 0)
		opts.source_addrs = 1 + run.nconns / 10000;

	/* Every connection is a descriptor: take all the system allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)run.nconns * (opts.scenario == SC_CEILING ?
	    2 : 1) + 64) {
		fprintf(stderr, "wschat-bench: %d connections need more than the "
		    "%llu descriptors RLIMIT_NOFILE allows\n", run.nconns,
		    (unsigned long long)rl.rlim_cur);
		exit(2);
	}

	run.conns = xcalloc((size_t)run.nconns, sizeof *run.conns);
	run.conn_t = xcalloc((size_t)run.nconns, sizeof *run.conn_t);
	if (run.npubs > 0 && opts.scenario != SC_CEILING)
		run.pubs = xcalloc((size_t)run.npubs, sizeof *run.pubs);
	if (run.nsubs > 0)
		run.subs = xcalloc((size_t)run.nsubs, sizeof *run.subs);
	if (run.nstall > 0)
		run.stall = xcalloc((size_t)run.nstall, sizeof *run.stall);
	if (run.nlogins > 0)
		run.logins = xcalloc((size_t)run.nlogins, sizeof *run.logins);
	run.stall_unsettled = run.nstall;
	run.need = (uint32_t)run.nsubs;
	run.prefill_n = xcalloc((size_t)run.npubs + 1, sizeof *run.prefill_n);
	run.recs = xcalloc((size_t)(run.npubs > 0 ? run.npubs : 1), sizeof *run.recs);
	/* Per publisher: subscribers, stalled ones and the resumer. */
	run.last_n = xcalloc(((size_t)run.nsubs + (size_t)run.nstall + 1) *
	    (size_t)run.npubs + 1, sizeof *run.last_n);
	run.pubnames = xcalloc((size_t)run.npubs + 1, sizeof *run.pubnames);
	run.pubnamelen = xcalloc((size_t)run.npubs + 1, sizeof *run.pubnamelen);
	for (i = 0; i < run.npubs; i++) {
		xasprintf(&run.pubnames[i], "%s-p%d", run.runid, i);
		run.pubnamelen[i] = strlen(run.pubnames[i]);
	}
	for (i = 0; i < run.nconns; i++) {
		struct conn	*c = &run.conns[i];

		c->c_idx = i;
		if (opts.scenario == SC_CONNECTIONS) {
			c->c_role = ROLE_IDLE;
			c->c_id = i;
			snprintf(c->c_name, sizeof c->c_name, "%s-c%d", run.runid, i);
		} else if (opts.scenario != SC_CEILING && i < run.npubs) {
			c->c_role = ROLE_PUB;
			c->c_id = i;
			snprintf(c->c_name, sizeof c->c_name, "%s", run.pubnames[i]);
			run.pubs[i] = c;
		} else if (opts.scenario == SC_REPLAY && i == run.npubs) {
			c->c_role = ROLE_RESUMER;
			c->c_id = 0;
			snprintf(c->c_name, sizeof c->c_name, "%s-resumer",
			    run.runid);
			c->c_last_n = run.last_n + ((size_t)run.nsubs +
			    (size_t)run.nstall) * (size_t)run.npubs;
			run.resumer = c;
		} else if (i >= run.npubs && i < run.npubs + run.nlogins) {
			n = i - run.npubs;
			c->c_role = ROLE_LOGIN;
			c->c_id = n;
			snprintf(c->c_name, sizeof c->c_name, "%s-l%d", run.runid, n);
			run.logins[n] = c;
		} else if (i >= run.nconns - run.nstall) {
			n = i - (run.nconns - run.nstall);
			c->c_role = ROLE_STALL;
			c->c_id = n;
			snprintf(c->c_name, sizeof c->c_name, "%s-z%d", run.runid, n);
			c->c_last_n = run.last_n + ((size_t)run.nsubs + (size_t)n) *
			    (size_t)run.npubs;
			run.stall[n] = c;
		} else {
			n = opts.scenario == SC_CEILING ? i : i - run.npubs -
			    run.nlogins - (opts.scenario == SC_REPLAY ? 1 : 0);
			c->c_role = opts.scenario == SC_CEILING ? ROLE_RECV : ROLE_SUB;
			c->c_id = n;
			snprintf(c->c_name, sizeof c->c_name, "%s-%c%d", run.runid,
			    opts.scenario == SC_CEILING ? 'r' : 's', n);
			c->c_last_n = run.last_n + (size_t)n * (size_t)run.npubs;
			run.subs[n] = c;
		}
	}

	run.textcap = opts.size + 64;
	run.pad = xmalloc(opts.size + 2);
	memset(run.pad, 'x', opts.size + 2);
	run.text2 = xmalloc(run.textcap);
	run.line = xmalloc(run.textcap + strlen(run.chan) + 16);
	js_init(opts.size + 64);
	hist_init(&run.lat);
	hist_init(&run.rtt);
	hist_init(&run.conn_lat);
	hist_init(&run.resume_lat);
	hist_init(&run.lat_quiet);
	hist_init(&run.lat_replay);
	hist_init(&run.login_lat);
	hist_init(&run.lat_login);
	run.srv_cpu0 = run.srv_cpu1 = -1;
	run.srv_loop_cpu[0] = run.srv_loop_cpu[1] = -1;
	run.busy[0] = run.busy[1] = -1;
	run.srv_syscr[0] = run.srv_syscr[1] = run.srv_syscw[0] = run.srv_syscw[1] = -1;
}

/* Connect, run the scenario's phases to the end (or an abort), measure. */
void
run_loop(void)
{
	run.base = run_base_new();
	run.phase_ev = evtimer_new(run.base, phase_timeout_cb, NULL);
	run.stop_ev = evtimer_new(run.base, stop_cb, NULL);
	if (opts.server_pid > 0)
		proc_sample(&run.srv_cpu0, &run.srv_rss0, NULL);

	switch (opts.scenario) {
	case SC_FANOUT:
	case SC_RESUME:
	case SC_REPLAY:
	case SC_LOGIN:
	case SC_INGEST:
		run.phase = PH_SETUP;
		run.launch_end = 1;		/* the creator first */
		break;
	case SC_CEILING:
		ceiling_start();
		/* FALLTHROUGH */
	case SC_CONNECTIONS:
		run.phase = PH_JOIN;
		run.launch_end = run.nconns;
		break;
	}
	run_timeout(30 + run.nconns / 200.0);
	conn_launch();
	if (!run.aborting)
		event_base_dispatch(run.base);
	proc_strace_stop();		/* if the run was aborted */
	ceiling_finish();
	if (run.t_end == 0) {
		/* Aborted: the numbers so far, up to now. */
		run.t_end = clock_mono_ns();
		proc_sample(&run.srv_cpu1, &run.srv_rss1, &run.ru1);
	}
}
