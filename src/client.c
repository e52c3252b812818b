/*
 * client.c: one WebSocket connection after the upgrade, as bytes and
 * frames. Bytes come in, the codec decodes frames, and each complete text
 * message goes up to the line callback that the layer above registered
 * (struct client_ops); frames go out with an output cap. This file knows
 * nothing of the protocol's commands, replies or events.
 *
 * A connection moves OPEN -> CLOSING -> DEAD. client_end() is the one way
 * out of OPEN (our close, the peer's close, a lost socket): it logs the
 * reason once, counts it once and tells the layer above. client_teardown()
 * is the one way into DEAD. A connection is never freed inside its own
 * callback: teardown drops our reference and the last reference schedules
 * the free as a deferred event.
 *
 * Input can be held: while held (a stream runs, or a command waits for
 * its turn) frames stay unparsed, at most about a message and a line ahead
 * in our buffer and the rest in TCP. A line the layer above could not run
 * yet is kept and run again when the hold ends.
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
static const struct client_ops *client_ops;
static struct event	*client_sweep_ev;
static uint64_t		 client_ids;
static unsigned int	 client_objects;	/* allocated, not yet freed */
static char		*client_linebuf;
static size_t		 client_linecap;

#define CLIENT_CLOSE_WAIT_MS	2000	/* for the peer's close echo */

/* Which counter of client_stats_closed a close lands in (/healthz). */
enum client_close_kind {
	CLIENT_CLOSED_NORMAL,
	CLIENT_CLOSED_ERROR,
	CLIENT_CLOSED_SLOW
};

static void	client_read_cb(struct bufferevent *, void *);
static void	client_write_cb(struct bufferevent *, void *);
static void	client_event_cb(struct bufferevent *, short, void *);
static void	client_teardown(struct client *, const char *);
static void	client_closecb(struct evhttp_connection *, void *);
static void	client_heldline(struct client *);

/* Who a connection is, for log lines. */
const char *
client_who(struct client *c)
{
	static char	buf[160];

	snprintf(buf, sizeof buf, "client %llu (%s%s%s)",
	    (unsigned long long)c->c_id, c->c_addr,
	    c->c_user != NULL ? " " : "",
	    c->c_user != NULL ? c->c_user->u_name : "");
	return (buf);
}

/* Is input held (a stream, or a line waiting for its turn)? */
static int
client_held(struct client *c)
{
	return (c->c_holds > 0 || c->c_heldline != NULL);
}

/*
 * Held input waits unparsed, so a PONG in it is not seen, and a long
 * replay would end in a ping timeout. New input is a sign of life too,
 * and so is input we do not read (client_hold_input), but only while our
 * output moves: empty, or drained since the last sweep. A client that
 * sends and never reads is not alive, and must not keep what it holds.
 */
static void
client_sweep_held(struct client *c, int64_t now)
{
	size_t	len;
	int	moves;

	moves = client_output_len(c) == 0 || c->c_drains != c->c_held_drains;
	c->c_held_drains = c->c_drains;
	if (!client_held(c))
		return;
	len = evbuffer_get_length(bufferevent_get_input(c->c_bev));
	if (moves && (len != c->c_held_inlen ||
	    (bufferevent_get_enabled(c->c_bev) & EV_READ) == 0)) {
		c->c_last_rx = now;
		c->c_pinged = 0;
	}
	c->c_held_inlen = len;
}

/*
 * Read at most about a message and a line ahead of held input, and leave
 * the rest in TCP, or a client could fill our memory during a long (paced)
 * replay. (libevent's read watermark would do it, but in 2.1 it kept this
 * loop spinning.)
 */
static void
client_hold_input(struct client *c)
{
	size_t	len = evbuffer_get_length(bufferevent_get_input(c->c_bev));

	if (len >= (size_t)(config.max_message + config.max_line))
		bufferevent_disable(c->c_bev, EV_READ);
}

/* Build a control frame (ping, pong, close) into frame; returns its size. */
static size_t
client_control_frame(unsigned char *frame, int opcode, const void *payload,
    size_t len)
{
	size_t	hlen;

	hlen = ws_header(frame, opcode, 1, len, NULL);
	if (len > 0)
		memcpy(frame + hlen, payload, len);
	return (hlen + len);
}

/*
 * The connection has a user now (NICK): it no longer counts against
 * max_unidentified_per_address. The sweep calls it too, for any other way
 * a connection may come to have a user.
 */
void
client_identified(struct client *c)
{
	if (c->c_unidentified && c->c_user != NULL) {
		c->c_unidentified = 0;
		c->c_quota->q_unidentified--;
	}
}

/* Once a second: keepalive pings, dead peers, stuck closes, no NICK. */
static void
client_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c, *next;
	int64_t		 now = clock_mono_ms();
	unsigned char	 frame[WS_MAX_HEADER];

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
		client_identified(c);
		if (c->c_user == NULL && config.unidentified_timeout != 0 &&
		    now - c->c_last_cmd >= config.unidentified_timeout * 1000) {
			client_close(c, WS_CLOSE_POLICY, "no NICK and no command "
			    "within unidentified_timeout");
			continue;
		}
		/* Never close a silent peer before it was pinged at least once. */
		if (now - c->c_last_rx >= config.ping_timeout * 1000 &&
		    (c->c_pinged || config.ping_interval == 0)) {
			client_close(c, WS_CLOSE_POLICY, "ping timeout");
			continue;
		}
		if (config.ping_interval > 0 && !c->c_pinged &&
		    now - c->c_last_rx >= config.ping_interval * 1000) {
			client_send_frame(c, frame,
			    client_control_frame(frame, WS_OP_PING, NULL, 0));
			c->c_pinged = 1;
		}
	}
}

/* Start the once-a-second sweep; ops is the layer above. */
void
client_init(struct event_base *base, const struct client_ops *ops)
{
	struct timeval	tv = { 1, 0 };

	client_base = base;
	client_ops = ops;
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

/* Take over an upgraded HTTP connection, and its address's quota. */
struct client *
client_new(struct evhttp_connection *evcon, struct bufferevent *bev,
    const char *addr, struct quota *quota)
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
	c->c_tokens_at = c->c_last_rx = c->c_last_cmd = clock_mono_ms();
	c->c_quota = quota;
	c->c_unidentified = 1;
	quota->q_unidentified++;
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
	client_ops->opened(c);

	/* Frames pipelined behind the request are already buffered. */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		bufferevent_trigger(bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
	return (c);
}

/* Take a reference (anything that outlives a callback holds one). */
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
	free(c->c_heldline);
	if (evcon != NULL) {
		c->c_evcon = NULL;
		evhttp_connection_set_closecb(evcon, NULL, NULL);
		bufferevent_setcb(c->c_bev, NULL, NULL, NULL, NULL);
		evhttp_connection_free(evcon);
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
 * The one way out of CLIENT_OPEN: log the reason once, count it once, and
 * queue our close frame (code 0: the socket is gone, no frame). The layer
 * above hears of it at once, so it stops sending and releases what it
 * holds for the connection.
 */
static void
client_end(struct client *c, uint16_t code, const char *reason,
    enum client_close_kind kind)
{
	unsigned char	frame[WS_MAX_HEADER + WS_MAX_CONTROL];
	unsigned char	payload[WS_MAX_CONTROL];

	if (c->c_state != CLIENT_OPEN)
		return;
	if (code == 0)
		log_info("%s: %s", client_who(c), reason);
	else if (code == WS_CLOSE_TRY_AGAIN || code == WS_CLOSE_POLICY)
		log_warnx("%s: closing: %u %s", client_who(c), code, reason);
	else
		log_info("%s: closing: %u %s", client_who(c), code, reason);
	client_stats_closed[kind]++;
	c->c_state = CLIENT_CLOSING;
	c->c_close_at = clock_mono_ms() + CLIENT_CLOSE_WAIT_MS;
	/* The close frame goes out even past max_output: it is small. */
	if (code != 0) {
		evbuffer_add(bufferevent_get_output(c->c_bev), frame,
		    client_control_frame(frame, WS_OP_CLOSE, payload,
		    ws_close_payload(payload, code, reason)));
	}
	client_ops->closing(c);
}

/* Leave every index and give up our reference: the connection is gone. */
static void
client_teardown(struct client *c, const char *why)
{
	if (c->c_state == CLIENT_DEAD)
		return;
	client_end(c, 0, why, CLIENT_CLOSED_ERROR);
	log_debug("%s: torn down: %s", client_who(c), why);
	c->c_state = CLIENT_DEAD;
	client_ops->gone(c);
	TAILQ_REMOVE(&clients, c, c_entry);
	clients_count--;
	if (c->c_unidentified)
		c->c_quota->q_unidentified--;
	c->c_unidentified = 0;
	quota_release(c->c_quota);
	c->c_quota = NULL;
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

/* We end the connection: close frame, log line, counter. */
void
client_close(struct client *c, uint16_t code, const char *reason)
{
	enum client_close_kind	kind = CLIENT_CLOSED_ERROR;

	if (code == WS_CLOSE_NORMAL || code == WS_CLOSE_GOING_AWAY)
		kind = CLIENT_CLOSED_NORMAL;
	else if (code == WS_CLOSE_TRY_AGAIN)
		kind = CLIENT_CLOSED_SLOW;
	client_end(c, code, reason, kind);
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

/* Would len more bytes fit under max_output? If not, close as slow. */
static int
client_room(struct client *c, size_t len, const char *what)
{
	if (client_output_len(c) + len <= (size_t)config.max_output)
		return (1);
	client_close(c, WS_CLOSE_TRY_AGAIN, what);
	return (0);
}

/* Queue a prebuilt frame, enforcing max_output. */
int
client_send_frame(struct client *c, const void *frame, size_t len)
{
	if (c->c_state != CLIENT_OPEN)
		return (-1);
	if (!client_room(c, len, "slow consumer: output buffer over max_output"))
		return (-1);
	evbuffer_add(bufferevent_get_output(c->c_bev), frame, len);
	client_kick(c);
	return (0);
}

/* Queue prebuilt frames from a buffer (emptying it), enforcing max_output. */
int
client_send_buffer(struct client *c, struct evbuffer *frames,
    const char *what)
{
	if (c->c_state != CLIENT_OPEN)
		return (-1);
	if (!client_room(c, evbuffer_get_length(frames), what))
		return (-1);
	evbuffer_add_buffer(bufferevent_get_output(c->c_bev), frames);
	client_kick(c);
	return (0);
}

/* Queue one text message. */
int
client_send(struct client *c, const char *text, size_t len)
{
	unsigned char	hdr[WS_MAX_HEADER];
	size_t		hlen;

	if (c->c_state != CLIENT_OPEN)
		return (-1);
	hlen = ws_header(hdr, WS_OP_TEXT, 1, len, NULL);
	if (!client_room(c, hlen + len,
	    "slow consumer: output buffer over max_output"))
		return (-1);
	evbuffer_add(bufferevent_get_output(c->c_bev), hdr, hlen);
	evbuffer_add(bufferevent_get_output(c->c_bev), text, len);
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

/* Hold input: frames wait unparsed until every hold is released. */
void
client_hold(struct client *c)
{
	c->c_holds++;
}

/* Release a hold; the last one lets input go on. */
void
client_unhold(struct client *c)
{
	if (c->c_holds == 0)
		fatalx("%s: %s is not held", __func__, client_who(c));
	c->c_holds--;
	client_resume(c);
}

/* The deferred turn of a held line: run it, then the input behind it. */
static void
client_heldline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c = arg;

	if (c->c_state == CLIENT_OPEN && c->c_holds == 0 &&
	    c->c_heldline != NULL)
		client_heldline(c);
	if (c->c_state != CLIENT_DEAD && c->c_evcon != NULL)
		client_read_cb(c->c_bev, c);
	client_unref(c);
}

/*
 * Input goes on, unless something still holds it: a held line first, then
 * the rest, from a deferred event (never from inside the caller, which may
 * be a commit's listener).
 */
void
client_resume(struct client *c)
{
	if (c->c_holds > 0 || c->c_state == CLIENT_DEAD || c->c_evcon == NULL)
		return;
	/* Only client_hold_input stops reading an open connection. */
	if ((bufferevent_get_enabled(c->c_bev) & EV_READ) == 0)
		bufferevent_enable(c->c_bev, EV_READ);
	if (c->c_heldline != NULL) {
		client_ref(c);
		if (event_base_once(client_base, -1, EV_TIMEOUT,
		    client_heldline_cb, c, NULL) != 0)
			fatalx("%s: event_base_once", __func__);
	} else if (evbuffer_get_length(bufferevent_get_input(c->c_bev)) > 0)
		bufferevent_trigger(c->c_bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
}

/* Token bucket: take n tokens if they are there; 0 if they were. */
static int
client_rate_ok(struct client *c, double n)
{
	int64_t	now;

	if (config.rate_limit == 0)
		return (0);
	now = clock_mono_ms();
	c->c_tokens += (double)(now - c->c_tokens_at) * config.rate_limit / 1000.0;
	c->c_tokens_at = now;
	if (c->c_tokens > config.rate_burst)
		c->c_tokens = config.rate_burst;
	if (c->c_tokens >= n) {
		c->c_tokens -= n;
		c->c_strikes = 0;
		return (0);
	}
	return (-1);
}

/*
 * Charge a command n tokens of the rate limit (one was taken when its
 * message arrived; an expensive command costs more). Short of them it is
 * refused, in words, or after rate_strikes refusals the connection is
 * closed; -1 then.
 */
int
client_rate_charge(struct client *c, double n)
{
	if (client_rate_ok(c, n) == 0)
		return (0);
	if (++c->c_strikes >= config.rate_strikes)
		client_close(c, WS_CLOSE_POLICY, "rate limit exceeded");
	else
		client_ops->refused(c);
	return (-1);
}

/*
 * Hand one line up. The layer above may say it cannot run yet (HOLD):
 * then it is kept, input stops, and it runs again when the holds end.
 */
static void
client_line(struct client *c, const char *data, size_t len)
{
	if (len + 1 > client_linecap) {
		client_linecap = len + 1 < 256 ? 256 : len + 1;
		client_linebuf = xrealloc(client_linebuf, client_linecap);
	}
	memcpy(client_linebuf, data, len);
	client_linebuf[len] = '\0';
	if (client_ops->line(c, client_linebuf, len) == CLIENT_LINE_HOLD) {
		if (c->c_heldline != NULL)
			fatalx("%s: %s holds a line already", __func__,
			    client_who(c));
		c->c_heldline = xstrndup(data, len);
		c->c_heldlen = len;
	}
}

/* Run the held line again, now that nothing holds input. */
static void
client_heldline(struct client *c)
{
	char	*line = c->c_heldline;
	size_t	 len = c->c_heldlen;

	c->c_heldline = NULL;
	client_line(c, line, len);
	free(line);
}

/* A complete text message: one command line, if the rate allows. */
static void
client_message(struct client *c, const unsigned char *data, size_t len)
{
	c->c_last_cmd = c->c_last_rx;	/* read as the frame arrived */
	if (client_rate_charge(c, 1) != 0)
		return;
	client_line(c, (const char *)data, len);
}

/* A control frame: ping, pong or close. */
static void
client_control(struct client *c)
{
	struct ws_parser	*p = &c->c_parser;
	unsigned char		 frame[WS_MAX_HEADER + WS_MAX_CONTROL];
	char			 reason[WS_MAX_CONTROL + 1];
	size_t			 n;

	switch (p->out_opcode) {
	case WS_OP_PING:
		client_send_frame(c, frame, client_control_frame(frame,
		    WS_OP_PONG, p->out_data, p->out_len));
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
		if (n > 0)	/* an empty close has no reason at all (NULL) */
			memcpy(reason, p->close_reason, n);
		reason[n] = '\0';
		log_debug("%s: peer closed: %u %s", client_who(c), p->close_code,
		    log_safe(reason));
		/* Echo the peer's code (RFC 6455 5.5.1), then close. */
		client_end(c, p->close_code == WS_CLOSE_NO_STATUS ?
		    WS_CLOSE_NORMAL : p->close_code, "bye", CLIENT_CLOSED_NORMAL);
		break;
	}
}

/* Bytes arrived: decode every complete frame, unless input is held. */
static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	unsigned char	*p;
	size_t		 avail, used;

	client_ref(c);
	while (c->c_state != CLIENT_DEAD && !c->c_close_got) {
		if (c->c_state == CLIENT_OPEN && client_held(c)) {
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

/* Output drained: the layer above may send more; a close can finish. */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;

	c->c_drains++;
	if (c->c_state == CLIENT_OPEN)
		client_ops->drained(c);
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

	client_teardown(c, (what & BEV_EVENT_EOF) ? "connection lost" :
	    "connection lost (socket error)");
}
