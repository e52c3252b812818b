/*
 * client.c: one WebSocket connection after the upgrade. Bytes come in,
 * frames are decoded by the codec, text messages become command lines for
 * the dispatcher, and replies and events go out as frames.
 *
 * A connection moves OPEN -> CLOSING -> DEAD, all in this file.
 * client_close() is the one way a connection ends: it queues the close
 * frame, logs the reason once and counts it. A connection is never freed
 * inside its own callback: teardown marks it dead and the free runs from a
 * deferred event once no batch holds a reference.
 *
 * Streams (RESUME's replay, SNAPSHOT) live here too: one helper sends a
 * command's pages at the loop's lowest priority as the output drains,
 * holds the live events meanwhile and ends the stream exactly once.
 */
#include "config.h"

#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

#include <event2/bufferevent_struct.h>

struct clients		 clients = TAILQ_HEAD_INITIALIZER(clients);
unsigned int		 clients_count;
uint64_t		 client_stats_closed[3];

static struct event_base *client_base;
static struct event	*client_sweep_ev;
static uint64_t		 client_ids;
static unsigned int	 client_objects;	/* allocated, not yet freed */
static char		*client_linebuf;
static size_t		 client_linecap;

#define CLIENT_CLOSE_WAIT_MS	2000	/* for the peer's close echo */

/* A command streaming its output in pages (RESUME, SNAPSHOT). */
struct client_stream {
	struct event	*cs_ev;		/* the next turn, at the lowest priority */
	client_stream_page_cb cs_page;
	void		(*cs_free)(void *);
	void		*cs_arg;	/* the command's state */
	int		 cs_done;	/* the last line is out */
};

/*
 * stream_rate is a token bucket shared by every stream: a line costs one
 * credit. The bucket holds CLIENT_STREAM_BURST_MS of the rate, and a turn
 * waits for CLIENT_STREAM_QUANTUM credits (or a full bucket, if smaller),
 * so a paced stream sends pages, not single lines.
 */
#define CLIENT_STREAM_BURST_MS	10
#define CLIENT_STREAM_QUANTUM	256

static double	client_stream_credit;
static int64_t	client_stream_refilled;	/* when credit was last added, us */

static void	client_read_cb(struct bufferevent *, void *);
static void	client_write_cb(struct bufferevent *, void *);
static void	client_event_cb(struct bufferevent *, short, void *);
static void	client_teardown(struct client *, const char *);
static void	client_closecb(struct evhttp_connection *, void *);
static void	client_stream_gone(struct client *);
static void	client_stream_turn(struct client_stream *);

/* Who a connection is, for log lines. */
static const char *
client_who(struct client *c)
{
	static char	buf[160];

	snprintf(buf, sizeof buf, "client %llu (%s%s%s)",
	    (unsigned long long)c->c_id, c->c_addr,
	    c->c_user != NULL ? " " : "",
	    c->c_user != NULL ? c->c_user->u_name : "");
	return (buf);
}

/*
 * Input waits unparsed behind a stream or a parked command, so a PONG in
 * it is not seen, and a long replay would end in a ping timeout. New input
 * is a sign of life too.
 */
static void
client_sweep_held(struct client *c, int64_t now)
{
	size_t	len;

	if (c->c_stream == NULL && c->c_parked == NULL)
		return;
	len = evbuffer_get_length(bufferevent_get_input(c->c_bev));
	/* Not reading at all (client_hold_input): we do not listen. */
	if (len != c->c_held_inlen ||
	    (bufferevent_get_enabled(c->c_bev) & EV_READ) == 0) {
		c->c_held_inlen = len;
		c->c_last_rx = now;
		c->c_pinged = 0;
	}
}

/*
 * Input waits behind a stream or a parked command. Read at most about a
 * message and a line ahead of it, and leave the rest in TCP, or a client
 * could fill our memory during a long (paced) replay. (libevent's read
 * watermark would do it, but in 2.1 it kept this loop spinning.)
 */
static void
client_hold_input(struct client *c)
{
	size_t	len = evbuffer_get_length(bufferevent_get_input(c->c_bev));

	if (len >= (size_t)(config.max_message + config.max_line))
		bufferevent_disable(c->c_bev, EV_READ);
}

/* Once a second: keepalive pings, dead peers, stuck closes. */
static void
client_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c, *next;
	int64_t		 now = clock_mono_ms();
	unsigned char	 frame[WS_MAX_HEADER];
	size_t		 n;

	for (c = TAILQ_FIRST(&clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		if (c->c_state == CLIENT_CLOSING) {
			if (now >= c->c_close_at)
				client_teardown(c, "close timed out");
			continue;
		}
		if (c->c_state != CLIENT_OPEN)
			continue;
		client_sweep_held(c, now);
		/* Never close a silent peer before it was pinged at least once. */
		if (now - c->c_last_rx >= config.ping_timeout * 1000 &&
		    (c->c_pinged || config.ping_interval == 0)) {
			client_close(c, WS_CLOSE_POLICY, "ping timeout");
			continue;
		}
		if (config.ping_interval > 0 && !c->c_pinged &&
		    now - c->c_last_rx >= config.ping_interval * 1000) {
			n = ws_header(frame, WS_OP_PING, 1, 0, NULL);
			client_send_frame(c, frame, n);
			c->c_pinged = 1;
		}
	}
}

/* Start the once-a-second sweep. */
void
client_init(struct event_base *base)
{
	struct timeval	tv = { 1, 0 };

	client_base = base;
	client_sweep_ev = event_new(base, -1, EV_PERSIST, client_sweep_cb, NULL);
	if (client_sweep_ev == NULL)
		fatalx("%s: event_new", __func__);
	event_add(client_sweep_ev, &tv);
}

/* Stop the sweep and free shared buffers. */
void
client_shutdown(void)
{
	if (client_sweep_ev != NULL)
		event_free(client_sweep_ev);
	client_sweep_ev = NULL;
	free(client_linebuf);
	client_linebuf = NULL;
	client_linecap = 0;
}

/* Take over an upgraded HTTP connection. */
void
client_new(struct evhttp_connection *evcon, struct bufferevent *bev,
    const char *addr)
{
	struct client	*c;

	c = xcalloc(1, sizeof *c);
	client_objects++;
	c->c_id = ++client_ids;
	c->c_state = CLIENT_OPEN;
	c->c_refs = 1;
	c->c_evcon = evcon;
	c->c_bev = bev;
	snprintf(c->c_addr, sizeof c->c_addr, "%s", addr);
	ws_parser_init(&c->c_parser, WS_ROLE_SERVER, config.max_frame,
	    config.max_message);
	c->c_tokens = config.rate_burst;
	c->c_tokens_at = c->c_last_rx = clock_mono_ms();
	TAILQ_INSERT_TAIL(&clients, c, c_entry);
	clients_count++;

	evhttp_connection_set_closecb(evcon, client_closecb, c);
	bufferevent_setcb(bev, client_read_cb, client_write_cb, client_event_cb, c);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	/*
	 * After enabling: enabling re-adds the events with the timeouts evhttp
	 * set (handshake_timeout), which would drop a listening client that
	 * stays quiet that long. Keepalive is ours (the sweep's pings).
	 */
	bufferevent_set_timeouts(bev, NULL, NULL);
	log_debug("%s: connected", client_who(c));

	client_sendf(c, "HELLO %s %s %lld", WSCHAT_VERSION,
	    journal_epoch(wschatd_journal), (long long)batch_committed());

	/* Frames pipelined behind the request are already buffered. */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		bufferevent_trigger(bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
}

/* Take a reference (a batch holds one per deferred reply). */
void
client_ref(struct client *c)
{
	c->c_refs++;
}

/* The deferred free: runs outside any callback of the connection. */
static void
client_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client		*c = arg;
	struct evhttp_connection *evcon = c->c_evcon;

	ws_parser_free(&c->c_parser);
	free(c->c_parked);
	if (c->c_held != NULL)
		evbuffer_free(c->c_held);
	if (evcon != NULL) {
		c->c_evcon = NULL;
		evhttp_connection_set_closecb(evcon, NULL, NULL);
		bufferevent_setcb(c->c_bev, NULL, NULL, NULL, NULL);
		http_session_free(evcon);
	}
	free(c);
	client_objects--;
}

/* Run deferred work until every connection object is freed (exit). */
void
client_reap_all(struct event_base *base)
{
	int	i;

	for (i = 0; i < 100 && client_objects > 0; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	if (client_objects > 0)
		log_warnx("exit: %u connection objects not freed", client_objects);
}

/* Drop a reference; the last one schedules the free. */
void
client_unref(struct client *c)
{
	if (--c->c_refs > 0)
		return;
	if (c->c_state != CLIENT_DEAD)
		fatalx("%s: last reference to a live client", __func__);
	if (event_base_once(client_base, -1, EV_TIMEOUT, client_free_cb, c,
	    NULL) != 0)
		fatalx("%s: event_base_once", __func__);
}

/*
 * A streaming command learns that its connection is closing, so it can
 * release its cursor and reference: its page runs again, from its own
 * event (never from inside its page: a slow-consumer close while it
 * writes), sees the connection is no longer open and ends the stream.
 * Every way out of CLIENT_OPEN calls this, a dropped connection included
 * (client_teardown), so no stream waits for a write callback that will
 * never come.
 */
static void
client_stream_gone(struct client *c)
{
	if (c->c_stream != NULL)
		event_active(c->c_stream->cs_ev, EV_TIMEOUT, 0);
}

/* Leave every index and give up our reference: the connection is gone. */
static void
client_teardown(struct client *c, const char *why)
{
	if (c->c_state == CLIENT_DEAD)
		return;
	log_debug("%s: torn down: %s", client_who(c), why);
	if (c->c_state == CLIENT_OPEN)
		client_stats_closed[1]++;
	c->c_state = CLIENT_DEAD;
	client_stream_gone(c);
	intent_clear(c);
	state_user_detach(c);
	TAILQ_REMOVE(&clients, c, c_entry);
	clients_count--;
	if (c->c_evcon != NULL)
		bufferevent_disable(c->c_bev, EV_READ | EV_WRITE);
	client_unref(c);
}

/* evhttp is freeing the connection under us (evhttp_free at shutdown). */
static void
client_closecb(struct evhttp_connection *evcon, void *arg)
{
	struct client	*c = arg;

	c->c_evcon = NULL;
	client_teardown(c, "connection freed");
}

/* The one way a connection ends: close frame, log line, counter. */
void
client_close(struct client *c, uint16_t code, const char *reason)
{
	unsigned char	frame[WS_MAX_HEADER + WS_MAX_CONTROL];
	unsigned char	payload[WS_MAX_CONTROL];
	size_t		plen, hlen;

	if (c->c_state != CLIENT_OPEN)
		return;
	if (code == WS_CLOSE_TRY_AGAIN || code == WS_CLOSE_POLICY)
		log_warnx("%s: closing: %u %s", client_who(c), code, reason);
	else
		log_info("%s: closing: %u %s", client_who(c), code, reason);
	client_stats_closed[code == WS_CLOSE_NORMAL || code == WS_CLOSE_GOING_AWAY ?
	    0 : code == WS_CLOSE_TRY_AGAIN ? 2 : 1]++;

	plen = ws_close_payload(payload, code, reason);
	hlen = ws_header(frame, WS_OP_CLOSE, 1, plen, NULL);
	memcpy(frame + hlen, payload, plen);
	c->c_state = CLIENT_CLOSING;
	c->c_close_at = clock_mono_ms() + CLIENT_CLOSE_WAIT_MS;
	c->c_close_sent = 1;
	intent_clear(c);
	if (c->c_held != NULL)
		evbuffer_drain(c->c_held, evbuffer_get_length(c->c_held));
	/* The close frame goes out even past max_output: it is small. */
	evbuffer_add(bufferevent_get_output(c->c_bev), frame, hlen + plen);
	client_stream_gone(c);
}

/* Close every connection (shutdown). */
void
client_close_all(uint16_t code, const char *reason)
{
	struct client	*c, *next;

	for (c = TAILQ_FIRST(&clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		client_close(c, code, reason);
	}
}

/*
 * Last chance at exit: write what each socket takes without blocking. The
 * bufferevent keeps its output frozen, so peek at it and writev directly.
 */
void
client_flush_all(void)
{
	struct client	*c;
	struct evbuffer	*out;
	struct evbuffer_iovec v[64];
	int		 n;

	TAILQ_FOREACH(c, &clients, c_entry) {
		if (c->c_evcon == NULL)
			continue;
		out = bufferevent_get_output(c->c_bev);
		if ((n = evbuffer_peek(out, -1, NULL, v, 64)) <= 0)
			continue;
		if (n > 64)
			n = 64;
		if (writev(bufferevent_getfd(c->c_bev), (struct iovec *)v, n) < 0)
			log_debug("%s: final flush: %s", client_who(c),
			    strerror(errno));
	}
}

/* Bytes waiting to be written to the peer. */
size_t
client_output_len(struct client *c)
{
	return (evbuffer_get_length(bufferevent_get_output(c->c_bev)));
}

/*
 * Write in this loop pass instead of the next: make the bufferevent's write
 * event active now. With the epoll changelist, the event_add that queueing
 * output caused and the event_del after the write drained it cancel out,
 * so a delivery costs one writev and no epoll_ctl.
 */
static void
client_kick(struct client *c)
{
	struct event	*ev = &c->c_bev->ev_write;

	if (!event_pending(ev, EV_WRITE, NULL))
		return;		/* writing is not enabled: nothing to kick */
	event_active(ev, EV_WRITE, 1);
}

/* Queue a prebuilt frame, enforcing max_output. */
int
client_send_frame(struct client *c, const void *frame, size_t len)
{
	struct evbuffer	*out;

	if (c->c_state != CLIENT_OPEN)
		return (-1);
	out = bufferevent_get_output(c->c_bev);
	if (evbuffer_get_length(out) + len > (size_t)config.max_output) {
		client_close(c, WS_CLOSE_TRY_AGAIN,
		    "slow consumer: output buffer over max_output");
		return (-1);
	}
	evbuffer_add(out, frame, len);
	client_kick(c);
	return (0);
}

/* Queue one text message. */
int
client_send(struct client *c, const char *text, size_t len)
{
	unsigned char	hdr[WS_MAX_HEADER];
	struct evbuffer	*out;
	size_t		 hlen;

	if (c->c_state != CLIENT_OPEN)
		return (-1);
	out = bufferevent_get_output(c->c_bev);
	hlen = ws_header(hdr, WS_OP_TEXT, 1, len, NULL);
	if (evbuffer_get_length(out) + hlen + len > (size_t)config.max_output) {
		client_close(c, WS_CLOSE_TRY_AGAIN,
		    "slow consumer: output buffer over max_output");
		return (-1);
	}
	evbuffer_add(out, hdr, hlen);
	evbuffer_add(out, text, len);
	client_kick(c);
	return (0);
}

/* Queue one formatted text message. */
int
client_sendf(struct client *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n, rv;

	va_start(ap, fmt);
	n = xvasprintf(&s, fmt, ap);
	va_end(ap);
	rv = client_send(c, s, n);
	free(s);
	return (rv);
}

/* Reply now, or behind this connection's replies still waiting on a commit. */
void
client_reply(struct client *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = xvasprintf(&s, fmt, ap);
	va_end(ap);
	if (c->c_deferred > 0) {
		batch_defer_reply(c, s, NULL);
		return;
	}
	client_send(c, s, n);
	free(s);
}

/* A reply that waits for the commit of the event this command emitted. */
void
client_reply_commit(struct client *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	batch_defer_reply(c, s, xstrdup("ERROR INTERNAL journal write failed"));
}

/* An ERROR reply with a code from the table. */
void
client_error(struct client *c, enum proto_error e, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	client_reply(c, "ERROR %s %s", proto_error_name(e), msg);
	free(msg);
}

/* Deliver a live event (skipping what a replay or snapshot already covered). */
void
client_deliver(struct client *c, const struct wevent *ev)
{
	if (c->c_state != CLIENT_OPEN || ev->ev_seq <= c->c_live_after)
		return;
	if (c->c_stream != NULL) {
		if (c->c_held == NULL)
			c->c_held = evbuffer_new();
		if (evbuffer_get_length(c->c_held) + ev->ev_framelen >
		    (size_t)config.max_output) {
			client_close(c, WS_CLOSE_TRY_AGAIN,
			    "slow consumer: held events over max_output");
			return;
		}
		evbuffer_add(c->c_held, ev->ev_frame, ev->ev_framelen);
		return;
	}
	if (client_send_frame(c, ev->ev_frame, ev->ev_framelen) != 0)
		return;
	if (c->c_first_seq == 0)
		c->c_first_seq = ev->ev_seq;
	c->c_last_seq = ev->ev_seq;
}

/* Has a page queued enough for this turn? Nonzero also if the client is gone. */
static int
client_stream_full(struct client *c)
{
	return (c->c_state != CLIENT_OPEN ||
	    client_output_len(c) > (size_t)config.max_output / 2);
}

/* The bucket's size: BURST_MS of the rate, and at least one line. */
static double
client_stream_bucket(void)
{
	double	size = (double)config.stream_rate * CLIENT_STREAM_BURST_MS /
	    1000;

	return (size < 1 ? 1 : size);
}

/* Add the credit earned since the last refill; a new bucket starts full. */
static void
client_stream_refill(void)
{
	int64_t	now = clock_mono_us();

	if (client_stream_refilled == 0)
		client_stream_credit = client_stream_bucket();
	else {
		client_stream_credit += (double)(now - client_stream_refilled) *
		    (double)config.stream_rate / 1e6;
	}
	if (client_stream_credit > client_stream_bucket())
		client_stream_credit = client_stream_bucket();
	client_stream_refilled = now;
}

/*
 * Microseconds until streams may take another turn under stream_rate: 0
 * once a quantum of credit (or a full bucket) is there.
 */
static int64_t
client_stream_wait_us(void)
{
	double	need = CLIENT_STREAM_QUANTUM;

	if (config.stream_rate == 0)
		return (0);
	client_stream_refill();
	if (need > client_stream_bucket())
		need = client_stream_bucket();
	if (client_stream_credit >= need)
		return (0);
	return ((int64_t)((need - client_stream_credit) * 1e6 /
	    (double)config.stream_rate) + 1);
}

/*
 * A page sent one line: count it against stream_rate. Nonzero means the
 * page must end now: the client is gone, half of max_output is queued, or
 * the streams' credit is spent.
 */
int
client_stream_line(struct client *c)
{
	if (config.stream_rate != 0 && --client_stream_credit < 1)
		return (1);
	return (client_stream_full(c));
}

/*
 * Schedule the stream's next turn: once the credit allows, and always on a
 * later pass of the loop, after it polled for I/O, so that a stream (even
 * one whose pages send nothing, like a replay of events the client does not
 * want) never runs page after page in one pass while clients wait.
 */
static void
client_stream_turn(struct client_stream *cs)
{
	struct timeval	tv;
	int64_t		us = cs->cs_done ? 0 : client_stream_wait_us();

	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	if (event_add(cs->cs_ev, &tv) != 0)
		fatalx("%s: event_add", __func__);
}

/*
 * The stream is over, however it ended: release the command's state (its
 * journal cursor first of all), the held live events and the input behind
 * it, and our reference. Runs from a turn (or the first page), never
 * inside a page: the command or event that runs the turn holds a reference.
 */
static void
client_stream_finish(struct client *c)
{
	struct client_stream	*cs = c->c_stream;
	struct evbuffer		*out;
	size_t			 n;

	c->c_stream = NULL;
	cs->cs_free(cs->cs_arg);
	event_free(cs->cs_ev);
	free(cs);

	if (c->c_state == CLIENT_OPEN && c->c_held != NULL &&
	    (n = evbuffer_get_length(c->c_held)) > 0) {
		out = bufferevent_get_output(c->c_bev);
		if (evbuffer_get_length(out) + n > (size_t)config.max_output) {
			client_close(c, WS_CLOSE_TRY_AGAIN,
			    "slow consumer: output buffer over max_output");
		} else {
			evbuffer_add_buffer(out, c->c_held);
		}
	}
	client_resume_input(c);
	client_unref(c);
}

/*
 * The live events held during the stream follow its last line. While they
 * do not fit behind what is still queued, wait for the output to drain:
 * once it is empty they go out, or, if they alone exceed max_output, the
 * end of the stream closes the client.
 */
static int
client_stream_held_waits(struct client *c)
{
	size_t	held = c->c_held != NULL ? evbuffer_get_length(c->c_held) : 0;
	size_t	out = client_output_len(c);

	return (held > 0 && out > 0 && out + held > (size_t)config.max_output);
}

/*
 * One turn of a stream: a page if there is room, then the next turn, or a
 * wait for client_write_cb to say the output drained. Pages run from an
 * event at the lowest priority, like the batch flush: a long stream then
 * takes turns with group commit instead of keeping every commit (and so
 * every other client's events) waiting.
 */
static void
client_stream_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client		*c = arg;
	struct client_stream	*cs = c->c_stream;

	if (c->c_state != CLIENT_OPEN) {
		client_stream_finish(c);
		return;
	}
	if (!cs->cs_done) {
		if (client_stream_full(c))
			return;	/* client_write_cb wakes us when drained */
		if (client_stream_wait_us() > 0) {
			client_stream_turn(cs);	/* woken early: wait for credit */
			return;
		}
		if (cs->cs_page(c, cs->cs_arg) == CLIENT_STREAM_DONE)
			cs->cs_done = 1;
		else if (c->c_state == CLIENT_OPEN) {
			if (!client_stream_full(c))
				client_stream_turn(cs);
			return;	/* or client_write_cb wakes us when drained */
		}
	}
	if (c->c_state == CLIENT_OPEN && client_stream_held_waits(c))
		return;		/* client_write_cb wakes us when drained */
	client_stream_finish(c);
}

/*
 * Start streaming a command's output in pages: live events after
 * live_after are held, and input waits, until the stream ends. page sends
 * one page and says what comes next; free releases arg when the stream
 * ends, which it does exactly once, also when the connection goes away.
 * The first page is sent at once; later ones on later turns.
 */
void
client_stream_start(struct client *c, int64_t live_after,
    client_stream_page_cb page, void (*freecb)(void *), void *arg)
{
	struct client_stream	*cs;

	if (c->c_stream != NULL)
		fatalx("%s: %s already streams", __func__, client_who(c));
	cs = xcalloc(1, sizeof *cs);
	cs->cs_page = page;
	cs->cs_free = freecb;
	cs->cs_arg = arg;
	cs->cs_ev = event_new(client_base, -1, 0, client_stream_cb, c);
	if (cs->cs_ev == NULL || event_priority_set(cs->cs_ev, 2) != 0)
		fatalx("%s: event_new", __func__);
	client_ref(c);
	c->c_stream = cs;
	c->c_live_after = live_after;
	/*
	 * The first page now, from the command: as a turn at the lowest
	 * priority it waited behind every busy client, and a RESUME's reply
	 * with it (close->RESUMED p99 3.4-3.9 ms before, 4-15 ms with the
	 * turn, at 500k deliveries/s). Input is held already, and the stream
	 * may even end here: its callbacks defer everything they trigger.
	 */
	client_stream_cb(-1, EV_TIMEOUT, c);
}

/* Keep a barrier command until the replies before it have been sent. */
void
client_park(struct client *c, const char *line, size_t len)
{
	if (c->c_parked != NULL)
		fatalx("%s: %s already has a parked command", __func__,
		    client_who(c));
	c->c_parked = xstrndup(line, len);
}

/* Run the parked command now that its turn has come. */
void
client_unpark(struct client *c)
{
	char	*line = c->c_parked;

	c->c_parked = NULL;
	if (c->c_state == CLIENT_OPEN)
		cmd_dispatch(c, line, strlen(line));
	free(line);
	client_resume_input(c);
}

/* Process input held back by a stream or a parked command. */
void
client_resume_input(struct client *c)
{
	if (c->c_state == CLIENT_DEAD || c->c_evcon == NULL)
		return;
	/* Only client_hold_input stops reading an open connection. */
	if ((bufferevent_get_enabled(c->c_bev) & EV_READ) == 0)
		bufferevent_enable(c->c_bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(c->c_bev)) > 0)
		bufferevent_trigger(c->c_bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
}

/* Token bucket: 0 if the command may run. */
static int
client_rate_ok(struct client *c)
{
	int64_t	now;

	if (config.rate_limit == 0)
		return (0);
	now = clock_mono_ms();
	c->c_tokens += (double)(now - c->c_tokens_at) * config.rate_limit / 1000.0;
	c->c_tokens_at = now;
	if (c->c_tokens > config.rate_burst)
		c->c_tokens = config.rate_burst;
	if (c->c_tokens >= 1.0) {
		c->c_tokens -= 1.0;
		c->c_strikes = 0;
		return (0);
	}
	return (-1);
}

/* A complete text message: one command line. */
static void
client_message(struct client *c, const unsigned char *data, size_t len)
{
	if (client_rate_ok(c) != 0) {
		if (++c->c_strikes >= config.rate_strikes) {
			client_close(c, WS_CLOSE_POLICY, "rate limit exceeded");
			return;
		}
		client_error(c, PROTO_ERR_RATELIMITED,
		    "more than %lld commands per second; slow down",
		    config.rate_limit);
		return;
	}
	if (len + 1 > client_linecap) {
		client_linecap = len + 1 < 256 ? 256 : len + 1;
		client_linebuf = xrealloc(client_linebuf, client_linecap);
	}
	memcpy(client_linebuf, data, len);
	client_linebuf[len] = '\0';
	cmd_dispatch(c, client_linebuf, len);
}

/* A control frame: ping, pong or close. */
static void
client_control(struct client *c)
{
	struct ws_parser	*p = &c->c_parser;
	unsigned char		 frame[WS_MAX_HEADER + WS_MAX_CONTROL];
	unsigned char		 payload[WS_MAX_CONTROL];
	size_t			 n, plen;
	char			 reason[WS_MAX_CONTROL + 1];

	switch (p->out_opcode) {
	case WS_OP_PING:
		if (c->c_state != CLIENT_OPEN)
			return;
		n = ws_header(frame, WS_OP_PONG, 1, p->out_len, NULL);
		memcpy(frame + n, p->out_data, p->out_len);
		client_send_frame(c, frame, n + p->out_len);
		break;
	case WS_OP_PONG:
		c->c_pinged = 0;
		break;
	case WS_OP_CLOSE:
		c->c_close_got = 1;
		if (c->c_state != CLIENT_OPEN)
			break;	/* the echo of our close: write_cb finishes */
		n = p->close_reason_len < WS_MAX_CONTROL ? p->close_reason_len :
		    WS_MAX_CONTROL;
		memcpy(reason, p->close_reason, n);
		reason[n] = '\0';
		log_debug("%s: peer closed: %u %s", client_who(c), p->close_code,
		    reason);
		/* Echo the peer's code (RFC 6455 5.5.1), then close. */
		plen = ws_close_payload(payload, p->close_code == WS_CLOSE_NO_STATUS ?
		    WS_CLOSE_NORMAL : p->close_code, "bye");
		n = ws_header(frame, WS_OP_CLOSE, 1, plen, NULL);
		memcpy(frame + n, payload, plen);
		client_stats_closed[0]++;
		c->c_state = CLIENT_CLOSING;
		c->c_close_sent = 1;
		c->c_close_at = clock_mono_ms() + CLIENT_CLOSE_WAIT_MS;
		intent_clear(c);
		evbuffer_add(bufferevent_get_output(c->c_bev), frame, n + plen);
		client_stream_gone(c);
		break;
	}
}

/* Bytes arrived: decode every complete frame. */
static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	unsigned char	*p;
	size_t		 avail, used;

	client_ref(c);
	while (c->c_state != CLIENT_DEAD && !c->c_close_got) {
		/* A stream or a parked command holds the rest of the input. */
		if (c->c_state == CLIENT_OPEN &&
		    (c->c_stream != NULL || c->c_parked != NULL)) {
			client_hold_input(c);
			break;
		}
		if ((avail = evbuffer_get_contiguous_space(in)) == 0)
			break;
		p = evbuffer_pullup(in, avail);
		switch (ws_parse(&c->c_parser, p, avail, &used)) {
		case WS_NEED_MORE:
			evbuffer_drain(in, used);
			continue;
		case WS_MESSAGE:
			evbuffer_drain(in, used);
			c->c_last_rx = clock_mono_ms();
			c->c_pinged = 0;
			if (c->c_state != CLIENT_OPEN)
				continue;	/* closing: data is discarded */
			if (c->c_parser.out_opcode == WS_OP_BINARY)
				client_close(c, WS_CLOSE_UNSUPPORTED,
				    "binary messages are not supported");
			else
				client_message(c, c->c_parser.out_data,
				    c->c_parser.out_len);
			continue;
		case WS_CONTROL:
			evbuffer_drain(in, used);
			c->c_last_rx = clock_mono_ms();
			c->c_pinged = 0;
			client_control(c);
			continue;
		case WS_ERROR:
			/* Fail the connection (RFC 6455 7.1.7): no echo awaited. */
			evbuffer_drain(in, evbuffer_get_length(in));
			client_close(c, c->c_parser.close_code,
			    c->c_parser.close_reason);
			c->c_close_got = 1;
			break;
		}
		break;
	}
	if (c->c_state == CLIENT_CLOSING && c->c_close_got &&
	    client_output_len(c) == 0)
		client_teardown(c, "closed");
	client_unref(c);
}

/* Output drained: a stream can go on, a closing connection can finish. */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;

	if (c->c_state == CLIENT_OPEN && c->c_stream != NULL)
		client_stream_turn(c->c_stream);
	if (c->c_state != CLIENT_CLOSING)
		return;
	/* We answered the peer's close, or the peer answered ours. */
	if (c->c_close_got)
		client_teardown(c, "closed");
}

/* EOF or a socket error. */
static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client	*c = arg;

	if (c->c_state == CLIENT_OPEN) {
		log_info("%s: connection lost%s", client_who(c),
		    (what & BEV_EVENT_EOF) ? "" : " (socket error)");
	}
	client_teardown(c, (what & BEV_EVENT_EOF) ? "eof" : "socket error");
}
