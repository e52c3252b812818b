/*
 * conn.c: one WebSocket client connection, as any client must behave. The
 * TCP connect (from 127.0.0.x when asked), the HTTP upgrade and its
 * checks, masked frames out (fragmented with --fragment), frames in
 * through the shared codec in client role, pings answered, the setup
 * commands of the connection's role, the close handshake and the end.
 * What the lines say is check.c's business.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bench.h"

#define BENCH_MAX_MESSAGE	(16 * 1024 * 1024)	/* server frames we accept */
#define BENCH_HTTP_MAX		8192			/* handshake response cap */
#define BENCH_READ_MAX		(256 * 1024)		/* bufferevent single read */

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT	24
#endif

/* Queue one frame: masked with a fresh key, as a client must. */
static void
conn_frame(struct conn *c, int opcode, int fin, const void *data, size_t len)
{
	struct evbuffer		*out = bufferevent_get_output(c->c_bev);
	struct evbuffer_iovec	 v;
	unsigned char		 mask[4], *p;
	uint64_t		 r = run_random();
	size_t			 hl;

	memcpy(mask, &r, 4);
	if (evbuffer_reserve_space(out, (ev_ssize_t)(WS_MAX_HEADER + len), &v, 1)
	    < 1 || v.iov_len < WS_MAX_HEADER + len)
		fatalx("%s: evbuffer_reserve_space", __func__);
	p = v.iov_base;
	hl = ws_header(p, opcode, fin, len, mask);
	if (len > 0) {
		memcpy(p + hl, data, len);
		ws_mask(p + hl, len, mask, 0);
	}
	v.iov_len = hl + len;
	if (evbuffer_commit_space(out, &v, 1) != 0)
		fatalx("%s: evbuffer_commit_space", __func__);
}

/* Queue one text message, fragmented if --fragment asks for it. */
void
conn_text(struct conn *c, const char *text, size_t len)
{
	size_t	off = 0, n;
	int	op = WS_OP_TEXT;

	do {
		n = len - off;
		if (opts.fragment > 0 && n > opts.fragment)
			n = opts.fragment;
		conn_frame(c, op, off + n == len, text + off, n);
		off += n;
		op = WS_OP_CONT;
	} while (off < len);
}

/* Push the reply a command will get. */
void
conn_expect(struct conn *c, enum expect what)
{
	size_t	i, ncap;

	if (c->c_exp_len == c->c_exp_cap) {
		ncap = c->c_exp_cap == 0 ? 8 : c->c_exp_cap * 2;
		c->c_exp = xrealloc(c->c_exp, ncap);
		/* Unwrap the ring into the bigger buffer. */
		for (i = 0; i < c->c_exp_head; i++)
			c->c_exp[c->c_exp_cap + i] = c->c_exp[i];
		if (c->c_exp_head > 0) {
			memmove(c->c_exp, c->c_exp + c->c_exp_head, c->c_exp_len);
			c->c_exp_head = 0;
		}
		c->c_exp_cap = ncap;
	}
	c->c_exp[(c->c_exp_head + c->c_exp_len) % c->c_exp_cap] = (unsigned char)what;
	c->c_exp_len++;
}

/* Send a command line and remember the reply it is due. */
void
conn_command(struct conn *c, enum expect what, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = xvasprintf(&s, fmt, ap);
	va_end(ap);
	conn_text(c, s, (size_t)n);
	conn_expect(c, what);
	free(s);
}

/* Start the close handshake: our close frame, then wait for the echo. */
void
conn_close(struct conn *c, uint16_t code, const char *reason)
{
	unsigned char	payload[WS_MAX_CONTROL];
	size_t		plen;

	plen = ws_close_payload(payload, code, reason);
	conn_frame(c, WS_OP_CLOSE, 1, payload, plen);
	c->c_state = CS_CLOSING;
}

/* The deferred free of a connection's socket (a reconnect reuses c). */
static void
conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	bufferevent_free(arg);
}

/* Let go of the socket, outside any of its callbacks. */
static void
conn_drop_bev(struct conn *c)
{
	if (c->c_bev == NULL)
		return;
	bufferevent_disable(c->c_bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->c_bev, NULL, NULL, NULL, NULL);
	if (event_base_once(run.base, -1, EV_TIMEOUT, conn_free_cb, c->c_bev,
	    NULL) != 0)
		fatalx("%s: event_base_once", __func__);
	c->c_bev = NULL;
}

/* The end of a connection; freed from a deferred event, never in its cb. */
void
conn_dead(struct conn *c, int clean)
{
	if (c->c_state == CS_DEAD)
		return;
	c->c_state = CS_DEAD;
	run.dead++;
	if (clean)
		run.closed_ok++;
	if (c->c_inflight) {
		c->c_inflight = 0;
		run.inflight--;
	}
	if (c->c_timer != NULL)
		evtimer_del(c->c_timer);
	conn_drop_bev(c);
}

/* A connection failed: an error, and the run cannot be trusted further. */
void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list	ap;

	if (c->c_state == CS_DEAD)
		return;
	conn_dead(c, 0);
	va_start(ap, fmt);
	run_vabort(c->c_name, fmt, ap);
	va_end(ap);
}

/* Start the next connections while fewer than --concurrency are in flight. */
void
conn_launch(void)
{
	while (!run.aborting && run.launch_next < run.launch_end &&
	    run.inflight < opts.concurrency) {
		struct conn	*c = &run.conns[run.launch_next++];

		c->c_inflight = 1;
		run.inflight++;
		conn_start(c);
	}
}

/* The connection finished its handshake or its setup commands. */
void
conn_ready(struct conn *c)
{
	if (c->c_ready)
		return;
	c->c_ready = 1;
	run.ready++;
	/* Subscribed: from now on the kernel's buffers fill, then wschatd's. */
	if (c->c_role == ROLE_STALL)
		bufferevent_disable(c->c_bev, EV_READ);
	if (run.phase == PH_SETUP && c->c_idx == 0) {
		run.phase = PH_JOIN;
		/* replay: subscribers join after the journal is filled. */
		run.launch_end = opts.scenario == SC_REPLAY ? run.npubs + 1 :
		    run.nconns;
		conn_launch();
	}
	run_check();
}

/* The upgrade is done and HELLO arrived: send this role's setup. */
void
conn_open(struct conn *c)
{
	c->c_state = CS_OPEN;
	if (c->c_inflight) {
		c->c_inflight = 0;
		run.inflight--;
	}
	if (c->c_reconnecting) {
		/* One write, as PROTOCOL.md asks: nothing live slips before it. */
		conn_command(c, EXP_NICK, "AUTH %s", c->c_token);
		conn_command(c, EXP_SUBEVENT, "SUBEVENT message");
		conn_command(c, EXP_RESUME, "RESUME %" PRId64 " %s", c->c_last_seq,
		    run.epoch);
		if (c->c_role == ROLE_RESUMER)
			run.replay_t_cmd = clock_mono_ns();
		return;
	}
	hist_add(&run.conn_lat, clock_mono_ns() - run.conn_t[c->c_idx]);
	conn_launch();

	switch (c->c_role) {
	case ROLE_IDLE:
	case ROLE_RECV:
		conn_ready(c);
		return;
	case ROLE_SUB:
	case ROLE_STALL:
	case ROLE_RESUMER:
		conn_command(c, EXP_NICK, "NICK %s", c->c_name);
		conn_command(c, EXP_SUBEVENT, "SUBEVENT message");
		conn_command(c, EXP_SUB, "SUB %s", run.chan);
		c->c_setup_left = 3;
		break;
	case ROLE_LOGIN:
		/* Registering costs one Argon2id hash: before the run. */
		conn_command(c, EXP_REGISTER, "REGISTER %s %s", c->c_name,
		    login_password());
		c->c_setup_left = 1;
		break;
	case ROLE_PUB:
		conn_command(c, EXP_NICK, "NICK %s", c->c_name);
		c->c_setup_left = 2;
		if (c->c_idx == 0) {
			conn_command(c, EXP_CREATE, "CREATE %s", run.chan);
			c->c_setup_left++;
		}
		conn_command(c, EXP_SUB, "SUB %s", run.chan);
		break;
	}
}

/* Read and check the HTTP 101 response; 1 done, 0 need more, -1 failed. */
static int
conn_handshake(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->c_bev);
	struct evbuffer_ptr	 pos;
	char			 accept[WS_ACCEPT_LEN + 1], *h, *line, *next;
	char			*name, *value, *vend;
	int			 upgrade = 0, connection = 0, acc = 0, first = 1;
	size_t			 hlen;

	pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (pos.pos < 0) {
		if (evbuffer_get_length(in) > BENCH_HTTP_MAX) {
			conn_fail(c, "handshake: response too long");
			return (-1);
		}
		return (0);
	}
	hlen = (size_t)pos.pos + 4;
	h = xstrndup((char *)evbuffer_pullup(in, (ev_ssize_t)hlen), hlen);
	evbuffer_drain(in, hlen);
	ws_accept_key(c->c_key, accept);

	for (line = h; line != NULL && *line != '\0'; line = next) {
		if ((next = strstr(line, "\r\n")) != NULL) {
			*next = '\0';
			next += 2;
		}
		if (*line == '\0')
			break;
		if (first) {
			first = 0;
			if (strncmp(line, "HTTP/1.1 101 ", 13) != 0 &&
			    strcmp(line, "HTTP/1.1 101") != 0) {
				conn_fail(c, "handshake refused: %s",
				    run_shorten(line, strlen(line)));
				free(h);
				return (-1);
			}
			continue;
		}
		if ((value = strchr(line, ':')) == NULL)
			continue;
		name = line;
		*value++ = '\0';
		value += strspn(value, " \t");
		vend = value + strlen(value);
		while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
			*--vend = '\0';
		if (strcasecmp(name, "Upgrade") == 0 &&
		    strcasecmp(value, "websocket") == 0)
			upgrade = 1;
		else if (strcasecmp(name, "Connection") == 0 &&
		    strcasestr(value, "upgrade") != NULL)
			connection = 1;
		else if (strcasecmp(name, "Sec-WebSocket-Accept") == 0 &&
		    strcmp(value, accept) == 0)
			acc = 1;
	}
	free(h);
	if (!upgrade || !connection || !acc) {
		conn_fail(c, "handshake: 101 without a valid %s",
		    !upgrade ? "Upgrade" : !connection ? "Connection" :
		    "Sec-WebSocket-Accept");
		return (-1);
	}
	return (1);
}

/* A control frame from the server. */
static void
conn_control(struct conn *c)
{
	struct ws_parser	*p = &c->c_parser;

	switch (p->out_opcode) {
	case WS_OP_PING:
		if (c->c_state != CS_CLOSING)
			conn_frame(c, WS_OP_PONG, 1, p->out_data, p->out_len);
		break;
	case WS_OP_PONG:
		break;		/* we never ping at the frame level */
	case WS_OP_CLOSE:
		c->c_close_got = 1;
		c->c_close_code = p->close_code;
		if (c->c_state == CS_CLOSING) {
			if (p->close_code != WS_CLOSE_NORMAL)
				run_error("%s: our close 1000 was echoed as %u",
				    c->c_name, p->close_code);
			break;	/* EOF follows */
		}
		if (c->c_role == ROLE_STALL) {
			stall_closed(c, p->close_code);
			break;
		}
		conn_fail(c, "the server closed: %u %s", p->close_code,
		    run_shorten(p->close_reason != NULL ? p->close_reason : "",
		    p->close_reason_len));
		break;
	}
}

/* Bytes arrived: the 101 first, then frames. */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	enum ws_result	 r;

	if (c->c_state == CS_HANDSHAKE) {
		if (conn_handshake(c) <= 0)
			return;
		c->c_state = CS_HELLO;
	}
	while (c->c_state != CS_DEAD && !c->c_close_got &&
	    (r = ws_evbuffer_parse(&c->c_parser, in)) != WS_NEED_MORE) {
		if (r == WS_ERROR) {
			conn_fail(c, "bad frame from the server: %s",
			    c->c_parser.close_reason);
			return;
		}
		if (r == WS_CONTROL)
			conn_control(c);
		else if (c->c_parser.out_opcode != WS_OP_TEXT) {
			conn_fail(c, "a binary message from the server");
			return;
		} else
			check_line(c, (const char *)c->c_parser.out_data,
			    c->c_parser.out_len);
	}
	if (c->c_state != CS_DEAD && c->c_close_got &&
	    evbuffer_get_length(in) > 0)
		evbuffer_drain(in, evbuffer_get_length(in));
}

/* Connected, EOF or an error. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->c_role == ROLE_RECV) {
			conn_open(c);
			return;
		}
		c->c_state = CS_HANDSHAKE;
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "GET %s HTTP/1.1\r\n"
		    "Host: %s\r\n"
		    "Upgrade: websocket\r\n"
		    "Connection: Upgrade\r\n"
		    "Sec-WebSocket-Key: %s\r\n"
		    "Sec-WebSocket-Version: 13\r\n"
		    "User-Agent: wschat-bench/" PACKAGE_VERSION "\r\n"
		    "\r\n", opts.path, opts.hostport, c->c_key);
		return;
	}
	if (c->c_state == CS_CLOSING && c->c_close_got && (what & BEV_EVENT_EOF)) {
		if (c->c_role == ROLE_RESUMER && run.replay_state == RS_LEAVING) {
			/* Gone: now the events it will have to catch up on. */
			conn_drop_bev(c);
			c->c_close_got = 0;
			c->c_state = CS_NEW;
			resume_prefill();
			return;
		}
		if (c->c_reconnecting) {
			/* The server has let go of the name: come back. */
			conn_drop_bev(c);
			c->c_close_got = 0;
			c->c_state = CS_NEW;
			conn_start(c);
			return;
		}
		conn_dead(c, 1);
		run_check();
		return;
	}
	if (c->c_role == ROLE_RECV && run.phase == PH_DONE) {
		conn_dead(c, 1);
		return;
	}
	if (c->c_role == ROLE_STALL && c->c_state == CS_OPEN) {
		stall_lost(c, what);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		conn_fail(c, "%s: %s", c->c_state == CS_CONNECTING ? "connect" :
		    "socket error", evutil_socket_error_to_string(
		    evutil_socket_geterror(bufferevent_getfd(bev))));
	else
		conn_fail(c, "the server hung up (%s)", c->c_state == CS_CLOSING ?
		    "before echoing our close" : "without a close frame");
}

/* Open the TCP connection (from 127.0.0.x if asked) and start talking. */
void
conn_start(struct conn *c)
{
	struct sockaddr_in	 src;
	evutil_socket_t		 fd;
	unsigned char		 key[16];
	uint64_t		 r1 = run_random(), r2 = run_random();
	int			 one = 1;

	memcpy(key, &r1, 8);
	memcpy(key + 8, &r2, 8);
	EVP_EncodeBlock((unsigned char *)c->c_key, key, 16);

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))
	    == -1) {
		conn_fail(c, "socket: %s", strerror(errno));
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* Before connect, so the window is small from the start. */
	if (c->c_role == ROLE_STALL && opts.stall_rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opts.stall_rcvbuf,
		    sizeof opts.stall_rcvbuf);
	if (opts.source_addrs > 1) {
		/* Each source address has its own ephemeral ports. */
		memset(&src, 0, sizeof src);
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f000001 +
		    (uint32_t)(c->c_idx % opts.source_addrs));
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof one);
		if (bind(fd, (struct sockaddr *)&src, sizeof src) == -1) {
			close(fd);
			conn_fail(c, "bind %s: %s", inet_ntoa(src.sin_addr),
			    strerror(errno));
			return;
		}
	}
	c->c_bev = bufferevent_socket_new(run.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->c_bev == NULL)
		fatalx("%s: bufferevent_socket_new", __func__);
	bufferevent_set_max_single_read(c->c_bev, BENCH_READ_MAX);
	bufferevent_setcb(c->c_bev, conn_read_cb, NULL, conn_event_cb, c);
	bufferevent_enable(c->c_bev, EV_READ | EV_WRITE);
	ws_parser_free(&c->c_parser);	/* a reconnect: the old one's buffer */
	ws_parser_init(&c->c_parser, WS_ROLE_CLIENT, BENCH_MAX_MESSAGE,
	    BENCH_MAX_MESSAGE);
	c->c_state = CS_CONNECTING;
	run.conn_t[c->c_idx] = clock_mono_ns();
	if (run.t_start == 0)
		run.t_start = run.conn_t[c->c_idx];
	if (bufferevent_socket_connect(c->c_bev, (struct sockaddr *)&opts.addr,
	    sizeof opts.addr) != 0)
		conn_fail(c, "connect: %s", strerror(errno));
}
