/*
 * http.c: the front door. evhttp answers HTTP on one port: /healthz, and
 * GET /ws, which is validated as an RFC 6455 opening handshake and handed
 * to client.c. Everything else gets a plain status. It owns the listening
 * socket, how fast it accepts, and the options of accepted sockets.
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
#include <fnmatch.h>
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
static long long		 http_accepts;		/* in this batch */
static int			 http_accept_paused;	/* listener disabled */
static int			 http_sndbuf;		/* last the kernel gave */
static int			 http_draining;		/* shutting down: no upgrades */

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

/* Is a browser Origin allowed by the origins setting? */
static int
http_origin_ok(const char *origin)
{
	char	*list, *p, *word;
	int	 ok = 0;

	if (origin == NULL)
		return (1);	/* not a browser */
	list = xstrdup(config.origins);
	for (p = list; (word = strsep(&p, " \t")) != NULL;) {
		if (*word == '\0')
			continue;
		if (fnmatch(word, origin, FNM_CASEFOLD) == 0) {
			ok = 1;
			break;
		}
	}
	free(list);
	return (ok);
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

/* GET /healthz: liveness, the journal's state and a few numbers. */
static void
http_healthz(struct evhttp_request *req)
{
	struct evbuffer	*buf = evbuffer_new();
	const char	*status;
	char		*journal;

	if (buf == NULL)
		fatalx("%s: evbuffer_new", __func__);
	journal = http_healthz_journal(&status);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evbuffer_add_printf(buf, "{\"status\":\"%s\",\"version\":\"%s\","
	    "\"connections\":%u,\"channels\":%zu,\"users\":%zu,"
	    "\"head\":%lld,\"epoch\":\"%s\",\"loop_stall_max_us\":%lld,"
	    "\"closed\":{\"normal\":%llu,\"error\":%llu,\"slow\":%llu},"
	    "\"journal\":%s}\n",
	    status, WSCHAT_VERSION, clients_count, state_nchannels,
	    state_nusers(), (long long)batch_committed(), batch_epoch(),
	    (long long)clock_stall_max_us(),
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

/* GET /ws: validate the opening handshake and hand the socket over. */
static void
http_ws(struct evhttp_request *req)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent	*bev;
	const char		*key, *version;
	char			 accept[WS_ACCEPT_LEN + 1], addr[64];
	char			*peer;
	ev_uint16_t		 port;
	int			 one = 1;

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
	if (!http_origin_ok(evhttp_find_header(h, "Origin"))) {
		log_info("refused Origin %s", evhttp_find_header(h, "Origin"));
		http_reply(req, 403, "Forbidden", "origin not allowed");
		return;
	}
	if (clients_count >= (unsigned long long)config.max_connections) {
		log_warnx("refused connection: max_connections (%lld) reached",
		    config.max_connections);
		http_reply(req, 503, "Service Unavailable", "too many connections");
		return;
	}
	if (http_draining) {
		http_reply(req, 503, "Service Unavailable", "shutting down");
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
	client_new(evcon, bev, addr);
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
	http_reply(req, HTTP_NOTFOUND, "Not Found", "not found");
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
	if (http_accepts++ == 0)
		event_active(http_accept_ev, EV_TIMEOUT, 0);
	if (config.accept_batch != 0 && http_accepts >= config.accept_batch &&
	    !http_accept_paused && http_socket != NULL) {
		log_debug("accept_batch: %lld accepted in this pass, the rest "
		    "wait for the next", http_accepts);
		if (evconnlistener_disable(evhttp_bound_socket_get_listener(
		    http_socket)) == 0)
			http_accept_paused = 1;
	}
	/*
	 * What evhttp itself does without this callback (2.1.12,
	 * evhttp_connection_base_bufferevent_new): no BEV_OPT_CLOSE_ON_FREE,
	 * evhttp_connection_free() shuts down and closes the socket.
	 */
	return (bufferevent_socket_new(base, -1, 0));
}

/* The end of an accept batch: take new connections again. */
static void
http_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	http_accepts = 0;
	if (!http_accept_paused)
		return;
	http_accept_paused = 0;
	if (http_socket != NULL &&
	    evconnlistener_enable(evhttp_bound_socket_get_listener(
	    http_socket)) != 0)
		log_warnx("%s: cannot enable the listener", __func__);
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
	long long	want = config.max_connections + HTTP_SPARE_FDS;
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
	if ((fd = http_listen_socket(host, port, cause)) == -1) {
		evhttp_free(http_server);
		http_server = NULL;
		event_free(http_accept_ev);
		http_accept_ev = NULL;
		return (-1);
	}
	http_grow_fdtable(fd);
	http_socket = evhttp_accept_socket_with_handle(http_server, fd);
	if (http_socket == NULL)
		fatalx("%s: evhttp_accept_socket_with_handle", __func__);
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
	if (http_server != NULL)
		evhttp_free(http_server);
	http_server = NULL;
	http_socket = NULL;
	if (http_accept_ev != NULL)
		event_free(http_accept_ev);
	http_accept_ev = NULL;
}
