/*
 * http.c: the front door. evhttp answers HTTP on one port: /healthz, and
 * GET /ws, which is validated as an RFC 6455 opening handshake and handed
 * to client.c. Every other path is a file of the web client (www.c).
 * It owns the listening socket, how fast it accepts, and the options of
 * accepted sockets.
 *
 * Every accepted socket counts from accept (struct http_conn) until it is
 * upgraded or freed: against max_connections together with the WebSockets,
 * against max_handshakes, and against its address's quota. Each has an
 * absolute deadline, handshake_timeout after accept, however slowly it
 * sends. evhttp 2.1 tells us of a connection only through the bufferevent
 * we make for it (http_bevcb); evhttp wires that bufferevent to its
 * connection before the accept callback returns, and the end of the
 * accept batch adopts each new one (http_adopt): its evhttp connection,
 * its peer, its quota, the refusals and the deadline. When descriptors run
 * out, accepting pauses with a back-off instead of spinning on EMFILE.
 *
 * The hand-off (libevent 2.1 has no WebSocket API): we write the 101
 * ourselves onto the connection's bufferevent and take the bufferevent's
 * callbacks over. The evhttp connection stays the owner of the socket for
 * the whole session, and client.c frees it with the connection. This is
 * the one place a libevent 2.2 build would swap in evws.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "wschatd.h"

#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#define HTTP_BACKLOG	4096	/* the kernel caps it at somaxconn */
#define HTTP_SPARE_FDS	64	/* the journal, the log, /healthz requests */

static struct evhttp		*http_server;
static struct evhttp_bound_socket *http_socket;
static char			 http_addr[128];
static struct event		*http_accept_ev;	/* ends an accept batch */
static struct event		*http_adopt_ev;		/* adopts what was accepted */
static long long		 http_accepts;		/* in this batch */
static int			 http_accept_paused;	/* listener disabled */
static int			 http_sndbuf;		/* last the kernel gave */
static int			 http_draining;		/* shutting down: no upgrades */
static long long		 http_maxconns;		/* max_connections, as descriptors allow */

/* One accepted socket until it is upgraded or freed. */
struct http_conn {
	struct bufferevent	*hc_bev;
	struct evhttp_connection *hc_evcon;	/* NULL until adopted */
	struct quota		*hc_quota;	/* NULL until adopted */
	struct event		*hc_deadline;
	TAILQ_ENTRY(http_conn)	 hc_entry;
};
TAILQ_HEAD(http_conns, http_conn);
static struct http_conns	 http_conns = TAILQ_HEAD_INITIALIZER(http_conns);
static struct http_conns	 http_new = TAILQ_HEAD_INITIALIZER(http_new);
static unsigned int		 http_npending;	/* on either list */

/*
 * A kind of refusal, logged once when it starts and once when it ends (a
 * connection is accepted again), never once per socket.
 */
struct http_episode {
	const char	*he_what;
	uint64_t	 he_count;	/* refused in this episode; 0: none */
	int64_t		 he_since;
	int64_t		 he_last;	/* ms of the last refusal */
};
#define HTTP_EPISODE_QUIET_MS	10000	/* no refusal this long: it is over */
static struct http_episode	 http_ep_full = {
    .he_what = "max_connections reached" };
static struct http_episode	 http_ep_handshakes = {
    .he_what = "max_handshakes reached" };
static struct http_episode	 http_ep_address = {
    .he_what = "max_connections_per_address reached" };
static struct http_episode	 http_ep_unidentified = {
    .he_what = "max_unidentified_per_address reached" };
static struct http_episode	*http_episodes[] = { &http_ep_full,
    &http_ep_handshakes, &http_ep_address, &http_ep_unidentified };

#define HTTP_BACKOFF_MIN_MS	50	/* first pause after EMFILE */
#define HTTP_BACKOFF_MAX_MS	1000
static struct event		*http_backoff_ev;
static int			 http_fd_paused;	/* out of descriptors */
static int			 http_fd_episode;	/* logged, not yet over */
static int			 http_fd_pass_err;	/* EMFILE in this accept pass */
static int64_t			 http_fd_since, http_fd_last;
static long			 http_fd_backoff_ms;
static uint64_t			 http_fd_errors;

static void	http_listener_update(void);

/* Does a comma-separated header value contain this token? */
static int
http_has_token(const char *value, const char *token)
{
	size_t		 tlen = strlen(token);
	const char	*p = value;

	if (value == NULL)
		return (0);
	while (*p != '\0') {
		const char	*end;
		size_t		 n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		end = p;
		while (*end != '\0' && *end != ',')
			end++;
		n = end - p;
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == tlen && strncasecmp(p, token, tlen) == 0)
			return (1);
		p = end;
	}
	return (0);
}

/* Send a short plain-text answer with a status. */
static void
http_reply(struct evhttp_request *req, int code, const char *reason,
    const char *body)
{
	struct evbuffer	*buf = evbuffer_new();

	if (buf == NULL)
		fatalx("%s: evbuffer_new", __func__);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add_printf(buf, "%s\n", body);
	evhttp_send_reply(req, code, reason, buf);
	evbuffer_free(buf);
}

/* Count a refusal of this kind; the first of an episode is logged. */
static void
http_refusal(struct http_episode *he, const char *addr)
{
	he->he_last = clock_mono_ms();
	if (he->he_count++ == 0) {
		he->he_since = he->he_last;
		log_warnx("refusing connections: %s (first from %s; one line "
		    "when it ends)", he->he_what, addr);
	}
}

/*
 * A connection was accepted: a refusal episode with no refusal for
 * HTTP_EPISODE_QUIET_MS is over (so refusals mixed with accepts cost a
 * line per episode, not two per refusal).
 */
static void
http_refusals_end(void)
{
	struct http_episode	*he;
	size_t			 i;
	int64_t			 now = clock_mono_ms();

	for (i = 0; i < sizeof http_episodes / sizeof http_episodes[0]; i++) {
		he = http_episodes[i];
		if (he->he_count == 0 ||
		    now - he->he_last < HTTP_EPISODE_QUIET_MS)
			continue;
		log_warnx("accepting connections again: %llu refused in %lld "
		    "ms (%s)", (unsigned long long)he->he_count,
		    (long long)(he->he_last - he->he_since), he->he_what);
		he->he_count = 0;
	}
}

/*
 * The journal's part of /healthz: "journal":{"broken":why or null,
 * "last_commit":{"ok":..,"age_ms":..,"error":..} or null}, and the status:
 * "broken" (writes refused until a restart), "failing" (the last commit
 * failed), else "ok". The caller frees the JSON.
 */
static json_t *
http_json_text(const char *s)
{
	json_t	*j;

	if (s == NULL)
		return (json_null());
	return ((j = json_string(s)) != NULL ? j : json_string("(not UTF-8)"));
}

static char *
http_healthz_journal(const char **status)
{
	struct batch_health	 bh;
	json_t			*o, *last = json_null();
	char			*s;

	batch_health(&bh);
	*status = bh.bh_broken != NULL ? "broken" : bh.bh_last == 0 ?
	    "failing" : "ok";
	if (bh.bh_last != -1)
		last = json_pack("{s:b,s:I,s:o}", "ok", bh.bh_last,
		    "age_ms", (json_int_t)bh.bh_age_ms, "error",
		    http_json_text(bh.bh_cause));
	o = json_pack("{s:o,s:o}", "broken", http_json_text(bh.bh_broken),
	    "last_commit", last != NULL ? last : json_null());
	if (o == NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("%s: json", __func__);
	json_decref(o);
	return (s);
}

/*
 * ?stall_since=S (a CLOCK_MONOTONIC second): also the longest loop stall
 * since then, so a benchmark can name the window it cares about. -1 when
 * absent or not a number.
 */
static int64_t
http_healthz_since(struct evhttp_request *req)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*q, *v;
	struct evkeyvalq	 args;
	long long		 n = -1;
	char			*end;

	if (uri == NULL || (q = evhttp_uri_get_query(uri)) == NULL)
		return (-1);
	TAILQ_INIT(&args);
	if (evhttp_parse_query_str(q, &args) == 0 &&
	    (v = evhttp_find_header(&args, "stall_since")) != NULL) {
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || n < 0)
			n = -1;
	}
	evhttp_clear_headers(&args);
	return ((int64_t)n);
}

/* GET /healthz: liveness, the journal's state and a few numbers. */
static void
http_healthz(struct evhttp_request *req)
{
	struct evbuffer	*buf = evbuffer_new();
	const char	*status;
	char		*journal;
	int64_t		 since;

	if (buf == NULL)
		fatalx("%s: evbuffer_new", __func__);
	journal = http_healthz_journal(&status);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evbuffer_add_printf(buf, "{\"status\":\"%s\",\"version\":\"%s\","
	    "\"connections\":%u,\"channels\":%zu,\"users\":%zu,"
	    "\"head\":%lld,\"epoch\":\"%s\",\"loop_stall_max_us\":%lld,",
	    status, WSCHAT_VERSION, clients_count, state_nchannels,
	    state_nusers(), (long long)batch_committed(), batch_epoch(),
	    (long long)clock_stall_max_us());
	if ((since = http_healthz_since(req)) >= 0)
		evbuffer_add_printf(buf, "\"loop_stall_since_us\":%lld,",
		    (long long)clock_stall_since_us(since));
	evbuffer_add_printf(buf, "\"closed\":{\"normal\":%llu,\"error\":%llu,\"slow\":%llu},"
	    "\"journal\":%s}\n",
	    (unsigned long long)client_stats_closed[0],
	    (unsigned long long)client_stats_closed[1],
	    (unsigned long long)client_stats_closed[2], journal);
	free(journal);
	if (strcmp(status, "ok") == 0)
		evhttp_send_reply(req, HTTP_OK, "OK", buf);
	else
		evhttp_send_reply(req, 503, "Service Unavailable", buf);
	evbuffer_free(buf);
}

/* Refuse an upgrade with 426 and the version we speak. */
static void
http_upgrade_required(struct evhttp_request *req, const char *why)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Sec-WebSocket-Version", "13");
	evhttp_add_header(h, "Upgrade", "websocket");
	http_reply(req, 426, "Upgrade Required", why);
}

/*
 * Fix the kernel send buffer of an upgraded socket (send_buffer). Linux
 * autotunes it up to tcp_wmem's maximum (4 MiB), and a subscriber that
 * stops reading then holds that much kernel memory, and costs everyone the
 * copying, before max_output starts to count. Only after the upgrade: the
 * HTTP exchange before it is small. What the kernel really gave (doubled,
 * capped by net.core.wmem_max) is logged whenever it changes.
 */
static void
http_send_buffer(evutil_socket_t fd)
{
	int		size = (int)config.send_buffer;
	socklen_t	len = sizeof size;

	if (size == 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0) {
		log_warn("SO_SNDBUF %d", size);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) != 0) {
		log_warn("getsockopt SO_SNDBUF");
		return;
	}
	if (size == http_sndbuf)
		return;
	http_sndbuf = size;
	if (size < config.send_buffer)
		log_warnx("send_buffer %lld: the kernel gives sockets only %d "
		    "bytes (net.core.wmem_max)", config.send_buffer, size);
	else
		log_info("send_buffer %lld: the kernel gives sockets %d bytes",
		    config.send_buffer, size);
}

/* Forget an accepted socket (upgraded, refused or freed by evhttp). */
static void
http_conn_free(struct http_conn *hc)
{
	if (hc->hc_evcon != NULL) {
		evhttp_connection_set_closecb(hc->hc_evcon, NULL, NULL);
		TAILQ_REMOVE(&http_conns, hc, hc_entry);
	} else
		TAILQ_REMOVE(&http_new, hc, hc_entry);
	if (hc->hc_quota != NULL) {
		hc->hc_quota->q_pending--;
		quota_release(hc->hc_quota);
	}
	if (hc->hc_deadline != NULL)
		event_free(hc->hc_deadline);
	http_npending--;
	free(hc);
	/* A descriptor and a slot are free: a paused listener may go on. */
	http_listener_update();
}

/* evhttp frees the connection (reply sent, peer gone, evhttp_free). */
static void
http_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	http_conn_free(arg);
}

/* handshake_timeout after accept: the connection has had its time. */
static void
http_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn		*hc = arg;
	struct evhttp_connection	*evcon = hc->hc_evcon;

	log_debug("%s: no WebSocket handshake within handshake_timeout (%lld "
	    "s): closed", hc->hc_quota->q_addr, config.handshake_timeout);
	/* Its closecb (http_conn_closed) frees hc. */
	evhttp_connection_free(evcon);
}

/*
 * Refuse an accepted connection before reading its request: a short HTTP
 * answer written straight to the socket, what it already sent drained (so
 * that closing sends FIN, not RST, and the answer arrives), then closed.
 */
static void
http_refuse(struct http_conn *hc, int code, const char *reason,
    const char *body)
{
	evutil_socket_t	 fd = bufferevent_getfd(hc->hc_bev);
	char		 buf[512];
	int		 len, i;

	len = snprintf(buf, sizeof buf, "HTTP/1.1 %d %s\r\nContent-Type: "
	    "text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s\n", code, reason, strlen(body) + 1,
	    body);
	if (send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) != len)
		log_debug("%s: refusal not sent: %s", hc->hc_quota->q_addr,
		    strerror(errno));
	for (i = 0; i < 4 && recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0; i++)
		;
	evbuffer_drain(bufferevent_get_input(hc->hc_bev), (size_t)-1);
	evhttp_connection_free(hc->hc_evcon);	/* http_conn_closed frees hc */
}

/*
 * Take over the sockets accepted in this batch: learn each one's evhttp
 * connection (the argument evhttp gave its bufferevent's callbacks) and
 * peer, count it against its address, refuse what is over a limit, and
 * start the deadline of the rest.
 */
static void
http_adopt(void)
{
	struct http_conn		*hc;
	struct evhttp_connection	*evcon;
	struct timeval			 tv;
	char				*peer;
	ev_uint16_t			 port;
	void				*arg;
	unsigned long long		 total;

	while ((hc = TAILQ_FIRST(&http_new)) != NULL) {
		bufferevent_getcb(hc->hc_bev, NULL, NULL, NULL, &arg);
		if ((evcon = arg) == NULL)
			fatalx("%s: a bufferevent without its connection",
			    __func__);
		TAILQ_REMOVE(&http_new, hc, hc_entry);
		hc->hc_evcon = evcon;
		TAILQ_INSERT_TAIL(&http_conns, hc, hc_entry);
		evhttp_connection_set_closecb(evcon, http_conn_closed, hc);
		evhttp_connection_get_peer(evcon, &peer, &port);
		hc->hc_quota = quota_acquire(peer != NULL ? peer : "?");
		hc->hc_quota->q_pending++;

		total = http_npending + (unsigned long long)clients_count;
		if (total > (unsigned long long)http_maxconns) {
			http_refusal(&http_ep_full, hc->hc_quota->q_addr);
			http_refuse(hc, 503, "Service Unavailable",
			    "too many connections");
			continue;
		}
		if (http_npending > (unsigned long long)config.max_handshakes) {
			http_refusal(&http_ep_handshakes, hc->hc_quota->q_addr);
			http_refuse(hc, 503, "Service Unavailable",
			    "too many handshakes in progress");
			continue;
		}
		if (config.max_connections_per_address != 0 &&
		    hc->hc_quota->q_conns >
		    (unsigned long long)config.max_connections_per_address) {
			http_refusal(&http_ep_address, hc->hc_quota->q_addr);
			http_refuse(hc, 429, "Too Many Requests",
			    "too many connections from your address");
			continue;
		}
		http_refusals_end();
		hc->hc_deadline = evtimer_new(bufferevent_get_base(hc->hc_bev),
		    http_deadline_cb, hc);
		if (hc->hc_deadline == NULL)
			fatalx("%s: evtimer_new", __func__);
		tv.tv_sec = config.handshake_timeout;
		tv.tv_usec = 0;
		evtimer_add(hc->hc_deadline, &tv);
	}
}

/* The accepted socket behind an evhttp connection, or NULL. */
static struct http_conn *
http_conn_find(struct evhttp_connection *evcon)
{
	struct http_conn	*hc;

	TAILQ_FOREACH(hc, &http_conns, hc_entry) {
		if (hc->hc_evcon == evcon)
			return (hc);
	}
	return (NULL);
}

/* GET /ws: validate the opening handshake and hand the socket over. */
static void
http_ws(struct evhttp_request *req)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent	*bev;
	struct http_conn	*hc;
	struct quota		*quota;
	const char		*key, *version, *origin;
	char			 accept[WS_ACCEPT_LEN + 1], addr[64];
	char			*peer;
	ev_uint16_t		 port;
	int			 one = 1, rc;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET");
		http_reply(req, 405, "Method Not Allowed", "use GET to upgrade");
		return;
	}
	if (req->major != 1 || req->minor < 1) {
		http_reply(req, HTTP_BADREQUEST, "Bad Request",
		    "WebSocket needs HTTP/1.1");
		return;
	}
	if (!http_has_token(evhttp_find_header(h, "Upgrade"), "websocket") ||
	    !http_has_token(evhttp_find_header(h, "Connection"), "Upgrade")) {
		http_upgrade_required(req, "expected Upgrade: websocket and "
		    "Connection: Upgrade");
		return;
	}
	version = evhttp_find_header(h, "Sec-WebSocket-Version");
	if (version == NULL || strcmp(version, "13") != 0) {
		http_upgrade_required(req, "unsupported Sec-WebSocket-Version");
		return;
	}
	key = evhttp_find_header(h, "Sec-WebSocket-Key");
	if (key == NULL || !ws_key_valid(key)) {
		http_reply(req, HTTP_BADREQUEST, "Bad Request",
		    "Sec-WebSocket-Key must be base64 of 16 bytes");
		return;
	}
	origin = evhttp_find_header(h, "Origin");
	if ((rc = origin_allowed(config.origins, origin,
	    evhttp_find_header(h, "Host"))) != 1) {
		log_info("refused %sOrigin %s", rc == -1 ? "malformed " : "",
		    log_safe(origin));
		http_reply(req, 403, "Forbidden", rc == -1 ? "malformed origin" :
		    "origin not allowed");
		return;
	}
	if (http_draining) {
		http_reply(req, 503, "Service Unavailable", "shutting down");
		return;
	}
	if ((hc = http_conn_find(evcon)) == NULL)
		fatalx("%s: an upgrade of a connection never accepted", __func__);
	if (config.max_unidentified_per_address != 0 &&
	    hc->hc_quota->q_unidentified >=
	    (unsigned long long)config.max_unidentified_per_address) {
		http_refusal(&http_ep_unidentified, hc->hc_quota->q_addr);
		http_reply(req, 429, "Too Many Requests", "too many WebSockets "
		    "without NICK from your address");
		return;
	}

	/* From here on the request is never answered through evhttp again. */
	ws_accept_key(key, accept);
	bev = evhttp_connection_get_bufferevent(evcon);
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	evhttp_connection_get_peer(evcon, &peer, &port);
	snprintf(addr, sizeof addr, "%s:%u", peer != NULL ? peer : "?", port);
	/* The request lives as long as the session: drop what it no longer needs. */
	evhttp_clear_headers(h);
	/*
	 * We coalesce writes ourselves (one writev per connection per loop
	 * pass); Nagle would only hold the next small frame back until the
	 * peer's delayed ACK, up to 40 ms, for a subscriber that never talks.
	 */
	if (setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof one) != 0)
		log_warn("TCP_NODELAY");
	http_send_buffer(bufferevent_getfd(bev));
	/* The connection is the client's now, with its quota. */
	quota = hc->hc_quota;
	quota->q_pending--;
	hc->hc_quota = NULL;
	http_conn_free(hc);
	client_new(evcon, bev, addr, quota);
}

/* Every request lands here: route by path. */
static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);

	if (path != NULL && strcmp(path, "/ws") == 0) {
		http_ws(req);
		return;
	}
	if (path != NULL && strcmp(path, "/healthz") == 0) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(req),
			    "Allow", "GET, HEAD");
			http_reply(req, 405, "Method Not Allowed", "use GET");
			return;
		}
		http_healthz(req);
		return;
	}
	www_request(req, path);
}

/* Split "addr:port" or "[v6]:port". */
static int
http_parse_listen(const char *listen, char *host, size_t hostlen,
    ev_uint16_t *port, char **cause)
{
	const char	*colon, *h = listen;
	size_t		 n;
	char		*end;
	long		 p;

	if (*listen == '[') {
		const char	*rb = strchr(listen, ']');

		if (rb == NULL || rb[1] != ':')
			goto bad;
		h = listen + 1;
		n = rb - h;
		colon = rb + 1;
	} else {
		if ((colon = strrchr(listen, ':')) == NULL)
			goto bad;
		n = colon - listen;
	}
	if (n == 0 || n >= hostlen)
		goto bad;
	memcpy(host, h, n);
	host[n] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
		goto bad;
	*port = (ev_uint16_t)p;
	return (0);
bad:
	xasprintf(cause, "listen: '%s' is not address:port", listen);
	return (-1);
}

/*
 * A listening socket with a deep accept queue: evhttp's own bind uses a
 * backlog of 128, which drops SYNs (and costs clients a 1 s retransmit)
 * when thousands connect at once.
 */
static evutil_socket_t
http_listen_socket(const char *host, ev_uint16_t port, char **cause)
{
	struct evutil_addrinfo	 hints, *ai = NULL;
	evutil_socket_t		 fd;
	char			 service[8];
	int			 rc, on = 1;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST;
	snprintf(service, sizeof service, "%u", port);
	if ((rc = evutil_getaddrinfo(host, service, &hints, &ai)) != 0) {
		xasprintf(cause, "listen: %s: %s", host, evutil_gai_strerror(rc));
		return (-1);
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
	    evutil_make_socket_nonblocking(fd) != 0 ||
	    evutil_make_socket_closeonexec(fd) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, HTTP_BACKLOG) != 0) {
		xasprintf(cause, "cannot listen on %s:%u: %s", host, port,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		evutil_freeaddrinfo(ai);
		return (-1);
	}
	evutil_freeaddrinfo(ai);
	return (fd);
}

/*
 * Accepting in batches. libevent 2.1's listener accepts until the queue is
 * empty in one callback, so a burst of thousands of connections stalls
 * the loop for tens of milliseconds. evhttp calls the bufferevent callback
 * once per accepted connection, and the listener stops its accept loop
 * when that callback disabled it. So after accept_batch accepts the
 * listener is disabled, and the end of the batch, an event at the lowest
 * priority (as batch.c's flush), enables it again once the clients that
 * were ready have had their turn.
 */
static struct bufferevent *
http_bevcb(struct event_base *base, void *arg)
{
	struct http_conn	*hc;
	struct bufferevent	*bev;

	if (http_accepts++ == 0)
		event_active(http_accept_ev, EV_TIMEOUT, 0);
	if (TAILQ_EMPTY(&http_new))
		event_active(http_adopt_ev, EV_TIMEOUT, 0);
	if (config.accept_batch != 0 && http_accepts >= config.accept_batch &&
	    !http_accept_paused && http_socket != NULL) {
		log_debug("accept_batch: %lld accepted in this pass, the rest "
		    "wait for the next", http_accepts);
		http_accept_paused = 1;
		http_listener_update();
	}
	/*
	 * What evhttp itself does without this callback (2.1.12,
	 * evhttp_connection_base_bufferevent_new): no BEV_OPT_CLOSE_ON_FREE,
	 * evhttp_connection_free() shuts down and closes the socket.
	 */
	if ((bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		return (NULL);
	hc = xcalloc(1, sizeof *hc);
	hc->hc_bev = bev;
	TAILQ_INSERT_TAIL(&http_new, hc, hc_entry);
	http_npending++;
	return (bev);
}

/*
 * Adopt what the listener accepted, at the highest priority: after the
 * listener's callback (evhttp has wired each connection by then), before
 * any of the new connections' own events (default priority) can run.
 */
static void
http_adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	http_adopt();
	/* Accepts worked, and the listener's pass ended without EMFILE. */
	if (http_fd_episode && !http_fd_pass_err) {
		log_warnx("accept: descriptors available again after %lld ms "
		    "(%llu failed accepts)",
		    (long long)(clock_mono_ms() - http_fd_since),
		    (unsigned long long)http_fd_errors);
		http_fd_episode = 0;
	}
	http_fd_pass_err = 0;
}

/* The end of an accept batch: accept again. */
static void
http_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	http_accepts = 0;
	if (!http_accept_paused)
		return;
	http_accept_paused = 0;
	http_listener_update();
}

/*
 * Listen or not: not within an accept batch that is full, not while
 * descriptors are short (the back-off runs), not after shutdown started.
 */
static void
http_listener_update(void)
{
	struct evconnlistener	*lev;
	int			 want;

	if (http_socket == NULL)
		return;
	lev = evhttp_bound_socket_get_listener(http_socket);
	want = !http_accept_paused && !http_fd_paused;
	if (want && evconnlistener_enable(lev) != 0)
		log_warnx("%s: cannot enable the listener", __func__);
	else if (!want)
		evconnlistener_disable(lev);
}

/* The back-off after EMFILE is over: try accepting again. */
static void
http_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	http_fd_paused = 0;
	http_listener_update();
}

/*
 * accept() failed (libevent retries EAGAIN, EINTR and ECONNABORTED
 * itself). Out of descriptors or memory, the connection stays in the
 * kernel's queue and the listener stays readable: accepting again at once
 * would spin. So pause, for longer while it goes on, and log once per
 * episode; the episode ends with a pass of the listener that accepted
 * and did not fail (http_adopt_cb).
 */
static void
http_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	int		 err = EVUTIL_SOCKET_ERROR();
	struct timeval	 tv;
	int64_t		 now = clock_mono_ms();

	if (!http_fd_episode) {
		log_warnx("accept: %s: pausing accepts (%u connections, "
		    "max_connections %lld as descriptors allow); one line when "
		    "it ends", strerror(err), http_npending + clients_count,
		    http_maxconns);
		http_fd_episode = 1;
		http_fd_since = now;
		http_fd_errors = 0;
		http_fd_backoff_ms = HTTP_BACKOFF_MIN_MS;
	} else if (now - http_fd_last < 2 * http_fd_backoff_ms &&
	    http_fd_backoff_ms < HTTP_BACKOFF_MAX_MS)
		http_fd_backoff_ms *= 2;
	http_fd_last = now;
	http_fd_errors++;
	http_fd_pass_err = 1;
	http_fd_paused = 1;
	http_listener_update();
	tv.tv_sec = http_fd_backoff_ms / 1000;
	tv.tv_usec = (http_fd_backoff_ms % 1000) * 1000;
	evtimer_add(http_backoff_ev, &tv);
}

/*
 * Grow the process's descriptor table to max_connections now, once. Linux
 * doubles it as descriptors pass 256, 512, 1024, ..., and in a process
 * with threads (the journal writer) each doubling waits for an RCU grace
 * period: accept4() took ~10 ms at each of those, in the middle of a burst
 * of connections. The table only ever grows, so a descriptor that high,
 * opened and closed, is enough.
 */
static void
http_grow_fdtable(evutil_socket_t fd)
{
	struct rlimit	rl;
	long long	want = http_maxconns + HTTP_SPARE_FDS;
	int		high;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warn("getrlimit");
		return;
	}
	if (rl.rlim_cur != RLIM_INFINITY && want > (long long)rl.rlim_cur - 1)
		want = (long long)rl.rlim_cur - 1;
	if (want <= fd)
		return;
	if ((high = fcntl(fd, F_DUPFD_CLOEXEC, (int)want)) == -1) {
		log_warn("%s: F_DUPFD %lld", __func__, want);
		return;
	}
	close(high);
}

/*
 * How many connections the descriptors allow. Each connection is one
 * descriptor; HTTP_SPARE_FDS more stay free for the journal (its
 * connections, WAL and snapshot readers), the log and /healthz, on top of
 * what is open now (fd, the listening socket, is about that many). Raise
 * the soft RLIMIT_NOFILE as far as needed and allowed; if that is still
 * short of max_connections, say so and accept only what fits.
 */
static void
http_check_nofile(evutil_socket_t fd)
{
	struct rlimit	rl;
	long long	need = config.max_connections + HTTP_SPARE_FDS + fd + 1;
	long long	room;

	http_maxconns = config.max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warn("getrlimit");
		return;
	}
	if (rl.rlim_cur == RLIM_INFINITY || (long long)rl.rlim_cur >= need)
		return;
	if (rl.rlim_max == RLIM_INFINITY || (long long)rl.rlim_max >= need)
		rl.rlim_cur = need;
	else
		rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE,
	    &rl) != 0)
		return;
	if ((long long)rl.rlim_cur >= need)
		return;
	room = (long long)rl.rlim_cur - HTTP_SPARE_FDS - fd - 1;
	if (room < 1)
		room = 1;
	log_warnx("max_connections %lld needs %lld descriptors, but "
	    "RLIMIT_NOFILE (ulimit -n) is %llu: accepting at most %lld "
	    "connections", config.max_connections, need,
	    (unsigned long long)rl.rlim_cur, room);
	http_maxconns = room;
}

/* Bind and start answering; logs the stable "listening on" line. */
int
http_init(struct event_base *base, const char *listen, char **cause)
{
	struct sockaddr_storage	 ss;
	socklen_t		 slen = sizeof ss;
	char			 host[64], ip[INET6_ADDRSTRLEN];
	ev_uint16_t		 port;
	evutil_socket_t		 fd;

	if (http_parse_listen(listen, host, sizeof host, &port, cause) != 0)
		return (-1);
	www_init();
	if ((http_server = evhttp_new(base)) == NULL)
		fatalx("%s: evhttp_new", __func__);
	evhttp_set_allowed_methods(http_server, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_timeout(http_server, (int)config.handshake_timeout);
	evhttp_set_max_headers_size(http_server, 16384);
	evhttp_set_max_body_size(http_server, 4096);
	evhttp_set_gencb(http_server, http_request_cb, NULL);
	evhttp_set_bevcb(http_server, http_bevcb, NULL);
	http_accept_ev = event_new(base, -1, 0, http_accept_cb, NULL);
	if (http_accept_ev == NULL || event_priority_set(http_accept_ev, 2) != 0)
		fatalx("%s: event base needs 3 priorities", __func__);
	http_adopt_ev = event_new(base, -1, 0, http_adopt_cb, NULL);
	if (http_adopt_ev == NULL || event_priority_set(http_adopt_ev, 0) != 0)
		fatalx("%s: event base needs 3 priorities", __func__);
	if ((fd = http_listen_socket(host, port, cause)) == -1) {
		evhttp_free(http_server);
		http_server = NULL;
		event_free(http_accept_ev);
		http_accept_ev = NULL;
		event_free(http_adopt_ev);
		http_adopt_ev = NULL;
		return (-1);
	}
	http_check_nofile(fd);
	http_grow_fdtable(fd);
	http_socket = evhttp_accept_socket_with_handle(http_server, fd);
	if (http_socket == NULL)
		fatalx("%s: evhttp_accept_socket_with_handle", __func__);
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(
	    http_socket), http_accept_error_cb);
	if ((http_backoff_ev = evtimer_new(base, http_backoff_cb, NULL)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	if (getsockname(fd, (struct sockaddr *)&ss, &slen) != 0)
		fatal("getsockname");
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
		snprintf(http_addr, sizeof http_addr, "[%s]:%u", ip,
		    ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
		snprintf(http_addr, sizeof http_addr, "%s:%u", ip,
		    ntohs(s4->sin_port));
	}
	log_info("listening on %s", http_addr);
	return (0);
}

/* Stop accepting new connections (shutdown starts). */
void
http_stop_accepting(void)
{
	http_draining = 1;
	if (http_server != NULL && http_socket != NULL) {
		evhttp_del_accept_socket(http_server, http_socket);
		http_socket = NULL;
	}
}

/* Free the server and every connection it still owns. */
void
http_free(void)
{
	www_free();
	http_socket = NULL;
	/* Sockets of an accept batch not yet ended are counted too. */
	if (http_server != NULL)
		http_adopt();
	if (http_server != NULL)
		evhttp_free(http_server);
	http_server = NULL;
	if (http_accept_ev != NULL)
		event_free(http_accept_ev);
	http_accept_ev = NULL;
	if (http_backoff_ev != NULL)
		event_free(http_backoff_ev);
	http_backoff_ev = NULL;
	if (http_adopt_ev != NULL)
		event_free(http_adopt_ev);
	http_adopt_ev = NULL;
}
