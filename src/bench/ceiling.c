/*
 * ceiling.c: the ceiling scenario's raw fan-out server, a thread with its
 * own event base. It frames the events wschatd would send and writes them
 * to the receivers with no WebSocket or protocol work, and the receivers
 * check them with the same code as wschatd's: what this machine can do at
 * best. The state is private to this file; the main loop reads it only
 * through the accessors at the end.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "bench.h"

struct ceiling {
	pthread_t	 cl_thread;
	int		 cl_started;
	struct event_base *cl_base;
	int		 cl_lfd;
	int		 cl_wake[2];	/* main -> thread */
	int		 cl_note[2];	/* thread -> main */
	struct event	*cl_note_ev;	/* main side */
	struct event	*cl_wake_ev;	/* thread side */
	struct event	*cl_accept_ev;
	struct event	*cl_stop_ev;
	struct event	*cl_again_ev;	/* the next pass of ceiling_produce */
	struct event	*cl_tick_ev;	/* open loop (--rate): next due message */
	int64_t		 cl_deadline;	/* ns: stop producing */
	int		 cl_nfds;
	int		*cl_fds;
	struct evbuffer	**cl_out;
	struct event	**cl_wev;
	int64_t		 cl_seq;
	char		*cl_line;	/* scratch for one EVENT line */
	size_t		 cl_linecap;
	unsigned char	*cl_frame;
	char		*cl_text;
	atomic_int	 cl_waiting;	/* the thread waits for window space */
	atomic_int	 cl_quit;
	atomic_int	 cl_stopped;	/* done producing */
	atomic_int	 cl_failed;
	atomic_llong	*cl_sent;	/* per publisher, written by the thread */
	atomic_llong	*cl_done;	/* per publisher, written by main */
	int64_t		*cl_limit;	/* per publisher: this pass sends up to */
	atomic_llong	 cl_t0;		/* ns when producing started */
	atomic_llong	 cl_t1;		/* ns when producing stopped */
	double		 cl_cpu;	/* thread CPU seconds while producing */
	int64_t		 cl_writes;	/* write syscalls */
	char		 cl_error[256];
};

/*
 * The thread owns its event base and the accepted sockets; main owns the
 * receiving connections. They share only atomics (messages sent and
 * completed per publisher, and flags) and two pipes to wake each other.
 */
static struct ceiling	 ceiling;

static void	 ceiling_stop_cb(evutil_socket_t, short, void *);

/* Tell the main loop something changed (stopped, failed). */
static void
ceiling_note(void)
{
	if (write(ceiling.cl_note[1], "n", 1) == -1 && errno != EAGAIN)
		fatal("%s: write", __func__);
}

/* Write what is queued for receiver i; wait for EV_WRITE if it is full. */
static void
ceiling_flush(int i)
{
	struct ceiling	*cl = &ceiling;
	int		 n;

	while (evbuffer_get_length(cl->cl_out[i]) > 0) {
		n = evbuffer_write(cl->cl_out[i], cl->cl_fds[i]);
		cl->cl_writes++;
		if (n > 0)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			event_add(cl->cl_wev[i], NULL);
			return;
		}
		snprintf(cl->cl_error, sizeof cl->cl_error, "ceiling: write: %s",
		    n == 0 ? "closed" : strerror(errno));
		atomic_store(&cl->cl_failed, 1);
		ceiling_note();
		event_base_loopbreak(cl->cl_base);
		return;
	}
	event_del(cl->cl_wev[i]);
}

static void
ceiling_write_cb(evutil_socket_t fd, short what, void *arg)
{
	ceiling_flush((int)(intptr_t)arg);
}

/*
 * Frame message n of publisher p, sent at ts, exactly as wschatd would,
 * and fan it out.
 */
static void
ceiling_emit(int p, int64_t n, int64_t ts)
{
	struct ceiling	*cl = &ceiling;
	struct timespec	 wall;
	size_t		 tlen, hl;
	int		 len, i;

	clock_gettime(CLOCK_REALTIME, &wall);
	tlen = pub_text(cl->cl_text, ts, p, n);
	cl->cl_text[tlen] = '\0';
	len = snprintf(cl->cl_line, cl->cl_linecap,
	    "%s{\"seq\":%" PRId64 ",\"ts\":%" PRId64 ",\"username\":\"%s\","
	    "\"text\":\"%s\"}", run.ev_prefix, ++cl->cl_seq,
	    (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000,
	    run.pubnames[p], cl->cl_text);
	if (len < 0 || (size_t)len >= cl->cl_linecap)
		fatalx("%s: line too long", __func__);
	hl = ws_header(cl->cl_frame, WS_OP_TEXT, 1, (uint64_t)len, NULL);
	memcpy(cl->cl_frame + hl, cl->cl_line, (size_t)len);
	/* Counted as sent before any byte of it can be read. */
	atomic_store(&cl->cl_sent[p], n);
	for (i = 0; i < cl->cl_nfds; i++) {
		evbuffer_add(cl->cl_out[i], cl->cl_frame, hl + (size_t)len);
		if (opts.ceiling_per_message)
			ceiling_flush(i);
	}
}

/* Messages the windows allow now, over all publishers. */
static int64_t
ceiling_room(void)
{
	struct ceiling	*cl = &ceiling;
	int64_t		 sent, room = 0, r;
	int		 p;

	for (p = 0; p < run.npubs; p++) {
		sent = atomic_load(&cl->cl_sent[p]);
		r = atomic_load(&cl->cl_done[p]) + opts.window - sent;
		if (opts.messages > 0 && opts.messages - sent < r)
			r = opts.messages - sent;
		if (r > 0)
			room += r;
	}
	return (room);
}

/* With --messages, the last few may never add up to a batch. */
static int
ceiling_last(int64_t room)
{
	int64_t	left = 0;
	int	p;

	if (opts.messages == 0)
		return (0);
	for (p = 0; p < run.npubs; p++)
		left += opts.messages - atomic_load(&ceiling.cl_sent[p]);
	return (room > 0 && room >= left);
}

/*
 * Send while windows allow, as the server fans out a committed batch, then
 * flush; one pass per loop iteration so timers and EV_WRITE get their turn.
 */
static void
ceiling_produce(void)
{
	struct ceiling	*cl = &ceiling;
	struct timeval	 zero = { 0, 0 };
	int64_t		 sent, room;
	int		 p, progress, i;

	if (atomic_load(&cl->cl_stopped))
		return;
	if (clock_mono_ns() >= cl->cl_deadline) {
		ceiling_stop_cb(-1, 0, NULL);
		return;
	}
	/*
	 * Hysteresis: wait for --ceiling-batch free messages (or the last
	 * ones), so writes carry batches as big as the server's group commit
	 * makes them (all outstanding, at S = 1000); refilling on every
	 * completion halved deliveries per write and per CPU-second.
	 */
	room = ceiling_room();
	if (room < opts.ceiling_batch && !ceiling_last(room)) {
		atomic_store(&cl->cl_waiting, 1);
		if (ceiling_room() == room)
			return;
		/* Something completed meanwhile: look again next pass. */
		evtimer_add(cl->cl_again_ev, &zero);
		return;
	}
	room = 0;
	/* At most one window per publisher: interleaved, as they would be. */
	for (p = 0; p < run.npubs; p++)
		cl->cl_limit[p] = atomic_load(&cl->cl_done[p]) + opts.window;
	do {
		progress = 0;
		for (p = 0; p < run.npubs; p++) {
			sent = atomic_load(&cl->cl_sent[p]);
			if (opts.messages > 0 && sent >= opts.messages)
				continue;
			if (sent >= cl->cl_limit[p])
				continue;
			ceiling_emit(p, sent + 1, clock_mono_ns());
			progress = 1;
		}
	} while (progress);
	if (!opts.ceiling_per_message)
		for (i = 0; i < cl->cl_nfds; i++)
			ceiling_flush(i);

	/* All sent? */
	if (opts.messages > 0) {
		for (p = 0; p < run.npubs; p++)
			if (atomic_load(&cl->cl_sent[p]) < opts.messages)
				break;
		if (p == run.npubs) {
			atomic_store(&cl->cl_t1, clock_mono_ns());
			atomic_store(&cl->cl_stopped, 1);
			ceiling_note();
			return;
		}
	}
	/* Wait for main to complete something; recheck so as not to miss it. */
	atomic_store(&cl->cl_waiting, 1);
	room = ceiling_room();
	if (room >= opts.ceiling_batch || (room > 0 && ceiling_last(room))) {
		/* Not event_active: that would run again before timers and I/O. */
		evtimer_add(cl->cl_again_ev, &zero);
	}
}

/*
 * Open loop: what the schedule says is due, stamped with its scheduled
 * time (as tick_cb does for wschatd), then one write per receiver, as
 * wschatd writes once per loop pass; then wait for the next due message.
 */
static void
ceiling_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ceiling	*cl = &ceiling;
	double		 per = opts.rate / run.npubs;
	int64_t		 now = clock_mono_ns(), t0 = atomic_load(&cl->cl_t0), k;
	int64_t		 next = INT64_MAX;
	int		 p, i, any = 0;

	if (atomic_load(&cl->cl_stopped))
		return;
	if (now >= cl->cl_deadline) {
		ceiling_stop_cb(-1, 0, NULL);
		return;
	}
	for (p = 0; p < run.npubs; p++) {
		for (k = atomic_load(&cl->cl_sent[p]);
		    pub_tick_due(t0, per, k) <= now &&
		    (opts.messages == 0 || k < opts.messages); k++, any = 1)
			ceiling_emit(p, k + 1, pub_tick_due(t0, per, k));
		if (pub_tick_due(t0, per, k) < next)
			next = pub_tick_due(t0, per, k);
	}
	if (any)
		for (i = 0; i < cl->cl_nfds; i++)
			ceiling_flush(i);
	pub_tick_arm(cl->cl_tick_ev, now, next);
}

static void
ceiling_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	char	buf[256];

	while (read(fd, buf, sizeof buf) > 0)
		;
	if (atomic_load(&ceiling.cl_quit)) {
		event_base_loopbreak(ceiling.cl_base);
		return;
	}
	if (opts.rate == 0)
		ceiling_produce();
}

static void
ceiling_again_cb(evutil_socket_t fd, short what, void *arg)
{
	ceiling_produce();
}

static void
ceiling_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	if (atomic_load(&ceiling.cl_stopped))
		return;
	atomic_store(&ceiling.cl_t1, clock_mono_ns());
	atomic_store(&ceiling.cl_stopped, 1);
	ceiling_note();
}

/* Accept the receivers; when all are in, start the clock and produce. */
static void
ceiling_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct ceiling	*cl = &ceiling;
	struct timeval	 tv;
	int		 fd, one = 1, i;

	while (cl->cl_nfds < run.nsubs) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			snprintf(cl->cl_error, sizeof cl->cl_error,
			    "ceiling: accept: %s", strerror(errno));
			atomic_store(&cl->cl_failed, 1);
			ceiling_note();
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		i = cl->cl_nfds++;
		cl->cl_fds[i] = fd;
		cl->cl_out[i] = evbuffer_new();
		cl->cl_wev[i] = event_new(cl->cl_base, fd, EV_WRITE | EV_PERSIST,
		    ceiling_write_cb, (void *)(intptr_t)i);
		if (cl->cl_out[i] == NULL || cl->cl_wev[i] == NULL)
			fatalx("%s: out of memory", __func__);
	}
	event_del(cl->cl_accept_ev);
	tv.tv_sec = (time_t)opts.duration;
	tv.tv_usec = (suseconds_t)((opts.duration - (double)tv.tv_sec) * 1e6);
	evtimer_add(cl->cl_stop_ev, &tv);
	atomic_store(&cl->cl_t0, clock_mono_ns());
	cl->cl_deadline = atomic_load(&cl->cl_t0) + (int64_t)(opts.duration * 1e9);
	if (opts.rate > 0) {
		ceiling_tick_cb(-1, 0, NULL);
		return;
	}
	ceiling_produce();
}

static double
thread_cpu(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void *
ceiling_main(void *arg)
{
	struct ceiling	*cl = &ceiling;
	double		 cpu0 = thread_cpu();

	event_base_dispatch(cl->cl_base);
	cl->cl_cpu = thread_cpu() - cpu0;
	return (NULL);
}

/* Main side: the thread stopped producing or failed. */
static void
ceiling_note_cb(evutil_socket_t fd, short what, void *arg)
{
	char	buf[256];

	while (read(fd, buf, sizeof buf) > 0)
		;
	if (atomic_load(&ceiling.cl_failed)) {
		run_abort("%s", ceiling.cl_error);
		return;
	}
	run_check();
}

/* Listen on 127.0.0.1:0 and start the thread; receivers connect there. */
void
ceiling_start(void)
{
	struct ceiling		*cl = &ceiling;
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof sin;
	int			 i;

	cl->cl_lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cl->cl_lfd == -1)
		fatal("socket");
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(cl->cl_lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(cl->cl_lfd, 4096) == -1 ||
	    getsockname(cl->cl_lfd, (struct sockaddr *)&sin, &slen) == -1)
		fatal("ceiling listener");
	opts.addr = sin;

	if (pipe2(cl->cl_wake, O_NONBLOCK | O_CLOEXEC) == -1 ||
	    pipe2(cl->cl_note, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe2");
	cl->cl_sent = xcalloc((size_t)run.npubs, sizeof *cl->cl_sent);
	cl->cl_done = xcalloc((size_t)run.npubs, sizeof *cl->cl_done);
	cl->cl_limit = xcalloc((size_t)run.npubs, sizeof *cl->cl_limit);
	for (i = 0; i < run.npubs; i++) {
		atomic_init(&cl->cl_sent[i], 0);
		atomic_init(&cl->cl_done[i], 0);
	}
	cl->cl_fds = xcalloc((size_t)run.nsubs, sizeof *cl->cl_fds);
	cl->cl_out = xcalloc((size_t)run.nsubs, sizeof *cl->cl_out);
	cl->cl_wev = xcalloc((size_t)run.nsubs, sizeof *cl->cl_wev);
	cl->cl_linecap = opts.size + 512;
	cl->cl_line = xmalloc(cl->cl_linecap);
	cl->cl_text = xmalloc(run.textcap);
	cl->cl_frame = xmalloc(cl->cl_linecap + WS_MAX_HEADER);

	cl->cl_base = run_base_new();
	cl->cl_accept_ev = event_new(cl->cl_base, cl->cl_lfd, EV_READ | EV_PERSIST,
	    ceiling_accept_cb, NULL);
	cl->cl_wake_ev = event_new(cl->cl_base, cl->cl_wake[0], EV_READ | EV_PERSIST,
	    ceiling_wake_cb, NULL);
	cl->cl_stop_ev = evtimer_new(cl->cl_base, ceiling_stop_cb, NULL);
	cl->cl_again_ev = evtimer_new(cl->cl_base, ceiling_again_cb, NULL);
	cl->cl_tick_ev = evtimer_new(cl->cl_base, ceiling_tick_cb, NULL);
	event_add(cl->cl_accept_ev, NULL);
	event_add(cl->cl_wake_ev, NULL);
	cl->cl_note_ev = event_new(run.base, cl->cl_note[0], EV_READ | EV_PERSIST,
	    ceiling_note_cb, NULL);
	event_add(cl->cl_note_ev, NULL);
	if (pthread_create(&cl->cl_thread, NULL, ceiling_main, NULL) != 0)
		fatalx("pthread_create");
	cl->cl_started = 1;
}

/* Stop the thread and close its sockets. */
void
ceiling_finish(void)
{
	struct ceiling	*cl = &ceiling;
	int		 i;

	if (!cl->cl_started)
		return;
	atomic_store(&cl->cl_quit, 1);
	if (write(cl->cl_wake[1], "q", 1) == -1)
		fatal("%s: write", __func__);
	pthread_join(cl->cl_thread, NULL);
	cl->cl_started = 0;
	for (i = 0; i < cl->cl_nfds; i++) {
		event_free(cl->cl_wev[i]);
		evbuffer_free(cl->cl_out[i]);
		close(cl->cl_fds[i]);
	}
}

/* The ceiling's phases: receivers connected, producing, drained. */
void
ceiling_check(void)
{
	int64_t	total = 0;
	int	i;

	switch (run.phase) {
	case PH_JOIN:
		if (run.ready < run.nconns)
			break;
		evtimer_del(run.phase_ev);
		run.t_connected = clock_mono_ns();
		proc_sample(NULL, NULL, &run.ru0);
		run.phase = PH_RUN;
		/* FALLTHROUGH */
	case PH_RUN:
		if (!atomic_load(&ceiling.cl_stopped))
			break;
		run.phase = PH_DRAIN;
		run_timeout(opts.drain);
		/* FALLTHROUGH */
	case PH_DRAIN:
		for (i = 0; i < run.npubs; i++)
			total += atomic_load(&ceiling.cl_sent[i]);
		if (run.total_deliveries != (uint64_t)run.nsubs * (uint64_t)total)
			break;
		run.t_end = clock_mono_ns();
		proc_sample(NULL, NULL, &run.ru1);
		run.total_sent = run.total_confirmed = (uint64_t)total;
		run.phase = PH_DONE;
		evtimer_del(run.phase_ev);
		event_base_loopbreak(run.base);
		break;
	default:
		break;
	}
}

/* Completion moves in order, as in pub_advance(); wake a waiting thread. */
void
ceiling_advance(int p)
{
	struct pubrec	*pr = &run.recs[p];
	int64_t		 done, limit;

	limit = atomic_load(&ceiling.cl_sent[p]);
	done = atomic_load(&ceiling.cl_done[p]);
	while (done < limit && (size_t)(done + 1) < pr->pr_cap &&
	    pr->pr_cnt[done + 1] >= (uint32_t)run.nsubs)
		done++;
	atomic_store(&ceiling.cl_done[p], done);
	if (atomic_exchange(&ceiling.cl_waiting, 0) &&
	    write(ceiling.cl_wake[1], "w", 1) == -1 && errno != EAGAIN)
		fatal("%s: write", __func__);
	run_check();
}

/* Messages of publisher p sent so far (the thread counts them). */
int64_t
ceiling_sent(int p)
{
	return (atomic_load(&ceiling.cl_sent[p]));
}

/* Messages of publisher p every receiver has. */
int64_t
ceiling_done(int p)
{
	return (atomic_load(&ceiling.cl_done[p]));
}

/* When the thread began producing, ns. */
int64_t
ceiling_t0(void)
{
	return (atomic_load(&ceiling.cl_t0));
}

/* The thread's CPU seconds while producing (after ceiling_finish). */
double
ceiling_cpu(void)
{
	return (ceiling.cl_cpu);
}

/* The thread's write syscalls (after ceiling_finish). */
int64_t
ceiling_writes(void)
{
	return (ceiling.cl_writes);
}
