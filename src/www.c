/*
 * www.c: the web client's files. Every GET or HEAD that is not /ws or
 * /healthz is a file under www_root: "/" is index.html. A path is decoded
 * once and refused (404, the same answer as a missing file) when it could
 * leave the root or name something that is not a plain public file: an
 * encoded slash or backslash, a NUL or control byte, a bad escape, a
 * segment starting with a dot (so "..", "." and hidden files), or a file
 * whose real path (symbolic links resolved) is outside the root.
 *
 * Each answer carries its Content-Type (by extension, UTF-8 for text), a
 * strong ETag of the file's size and modification time (If-None-Match
 * gives 304), Cache-Control no-cache (always revalidate, so a new client
 * is seen at once), and the page's security headers: a
 * Content-Security-Policy that allows only this origin and its WebSocket
 * (ws: and wss: of the request's Host), nosniff and no-referrer.
 *
 * www_root empty (the default) is the installed $(datadir)/wschat/www, or the
 * source tree's www/ when this wschatd is the one in its build tree.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wschatd.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#ifndef WS_WWWDIR
#define WS_WWWDIR	"/usr/local/share/wschat/www"
#endif

#define WWW_PATH_MAX	1024	/* longest decoded request path */

static char	*www_root;	/* realpath of the root, or NULL: none */
static size_t	 www_rootlen;

/* Content types by extension; anything else is served as bytes. */
static const struct {
	const char	*ext;
	const char	*type;
} www_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "json", "application/json" },
	{ "webmanifest", "application/manifest+json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "md", "text/markdown; charset=utf-8" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "ico", "image/x-icon" },
	{ "woff2", "font/woff2" },
};

/*
 * The root the default names: the source tree's www/ for the wschatd of
 * its own build tree (so ./src/wschatd and the tests serve what is being
 * edited), else the installed one.
 */
static char *
www_default_root(void)
{
#if defined(WS_BUILDDIR) && defined(WS_SRCDIR)
	char	exe[PATH_MAX], *built, *self;
	ssize_t	n;
	int	same = 0;

	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
		exe[n] = '\0';
		self = realpath(exe, NULL);
		built = realpath(WS_BUILDDIR "/src/wschatd", NULL);
		same = self != NULL && built != NULL && strcmp(self, built) == 0;
		free(self);
		free(built);
	}
	if (same)
		return (xstrdup(WS_SRCDIR "/www"));
#endif
	return (xstrdup(WS_WWWDIR));
}

/* Resolve www_root once at start; a missing root only answers 404. */
void
www_init(void)
{
	char	*want;

	free(www_root);
	www_root = NULL;
	want = config.www_root[0] != '\0' ? xstrdup(config.www_root) :
	    www_default_root();
	if ((www_root = realpath(want, NULL)) == NULL) {
		log_warn("www_root %s: the web client is not served", want);
		free(want);
		return;
	}
	www_rootlen = strlen(www_root);
	log_info("serving the web client from %s", www_root);
	free(want);
}

void
www_free(void)
{
	free(www_root);
	www_root = NULL;
}

static int
www_hex(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/*
 * Decode a request path into out (relative to the root, without the
 * leading slash; "" for the root itself); -1 if it is refused.
 */
static int
www_decode(const char *path, char *out, size_t outlen)
{
	size_t	 n = 0;
	int	 c, hi, lo, seg_start = 1;

	if (path[0] != '/')
		return (-1);
	path++;
	while (*path != '\0') {
		c = (unsigned char)*path++;
		if (c == '%') {
			if ((hi = www_hex(path[0])) == -1 ||
			    (lo = www_hex(path[1])) == -1)
				return (-1);
			c = hi << 4 | lo;
			path += 2;
			/* An encoded separator is never a separator. */
			if (c == '/')
				return (-1);
		}
		if (c < 0x20 || c == 0x7f || c == '\\')
			return (-1);
		if (seg_start && c == '.')
			return (-1);
		seg_start = c == '/';
		if (n + 1 >= outlen)
			return (-1);
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return (0);
}

static const char *
www_type(const char *file)
{
	const char	*dot = strrchr(file, '.');
	size_t		 i;

	if (dot != NULL && strchr(dot, '/') == NULL) {
		for (i = 0; i < sizeof www_types / sizeof www_types[0]; i++) {
			if (strcasecmp(dot + 1, www_types[i].ext) == 0)
				return (www_types[i].type);
		}
	}
	return ("application/octet-stream");
}

/* Does an If-None-Match value name this ETag (or "*")? */
static int
www_etag_match(const char *inm, const char *etag)
{
	size_t	len = strlen(etag);

	while (inm != NULL && *inm != '\0') {
		while (*inm == ' ' || *inm == '\t' || *inm == ',')
			inm++;
		if (*inm == '*')
			return (1);
		/* A weak validator matches for GET (RFC 9110 13.1.2). */
		if (strncmp(inm, "W/", 2) == 0)
			inm += 2;
		if (strncmp(inm, etag, len) == 0 && (inm[len] == '\0' ||
		    inm[len] == ',' || inm[len] == ' ' || inm[len] == '\t'))
			return (1);
		while (*inm != '\0' && *inm != ',')
			inm++;
	}
	return (0);
}

/* A Host header fit to be written into the CSP, or NULL. */
static const char *
www_host(struct evhttp_request *req)
{
	const char	*host, *p;

	host = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Host");
	if (host == NULL || *host == '\0' || strlen(host) > 255)
		return (NULL);
	for (p = host; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(".-:[]", *p) != NULL))
			return (NULL);
	}
	return (host);
}

/* The headers every answer of this module carries. */
static void
www_headers(struct evhttp_request *req)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	const char		*host = www_host(req);
	char			*csp;

	if (host != NULL)
		xasprintf(&csp, "default-src 'self'; connect-src 'self' "
		    "ws://%s wss://%s; base-uri 'none'; form-action 'self'; "
		    "frame-ancestors 'none'", host, host);
	else
		xasprintf(&csp, "default-src 'self'; connect-src 'self'; "
		    "base-uri 'none'; form-action 'self'; frame-ancestors "
		    "'none'");
	evhttp_add_header(h, "Content-Security-Policy", csp);
	free(csp);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

static void
www_status(struct evhttp_request *req, int code, const char *reason)
{
	struct evbuffer	*buf = evbuffer_new();

	if (buf == NULL)
		fatalx("%s: evbuffer_new", __func__);
	www_headers(req);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add_printf(buf, "%s\n", reason);
	evhttp_send_reply(req, code, reason, buf);
	evbuffer_free(buf);
}

/*
 * Open the file a decoded path names, if it is a regular file inside the
 * root; -1 otherwise. The path names index.html for a directory.
 */
static int
www_open(const char *rel, char *file, size_t filelen, struct stat *st)
{
	char	*real;
	int	 fd, inside;
	size_t	 len = strlen(rel);

	if (snprintf(file, filelen, "%s/%s%s", www_root, rel,
	    (len == 0 || rel[len - 1] == '/') ? "index.html" : "") >=
	    (int)filelen)
		return (-1);
	if ((real = realpath(file, NULL)) == NULL)
		return (-1);
	inside = strncmp(real, www_root, www_rootlen) == 0 &&
	    real[www_rootlen] == '/';
	free(real);
	if (!inside)
		return (-1);
	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return (-1);
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Answer a request for a file: GET or HEAD, 200, 304 or 404. */
void
www_request(struct evhttp_request *req, const char *path)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	struct evbuffer		*buf;
	struct stat		 st;
	char			 rel[WWW_PATH_MAX], file[PATH_MAX + 16];
	char			 etag[64], len[32];
	int			 fd;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(out, "Allow", "GET, HEAD");
		www_status(req, 405, "Method Not Allowed");
		return;
	}
	if (www_root == NULL || path == NULL ||
	    www_decode(path, rel, sizeof rel) != 0 ||
	    (fd = www_open(rel, file, sizeof file, &st)) == -1) {
		www_status(req, HTTP_NOTFOUND, "Not Found");
		return;
	}
	snprintf(etag, sizeof etag, "\"%llx-%llx\"",
	    (unsigned long long)st.st_size,
	    (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
	    (unsigned long long)st.st_mtim.tv_nsec);
	www_headers(req);
	evhttp_add_header(out, "ETag", etag);
	evhttp_add_header(out, "Cache-Control", "no-cache");
	if (www_etag_match(evhttp_find_header(
	    evhttp_request_get_input_headers(req), "If-None-Match"), etag)) {
		close(fd);
		evhttp_send_reply(req, 304, "Not Modified", NULL);
		return;
	}
	evhttp_add_header(out, "Content-Type", www_type(file));
	if ((buf = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	if (cmd == EVHTTP_REQ_HEAD) {
		close(fd);
		snprintf(len, sizeof len, "%lld", (long long)st.st_size);
		evhttp_add_header(out, "Content-Length", len);
	} else if (st.st_size > 0 &&
	    evbuffer_add_file(buf, fd, 0, st.st_size) != 0) {
		/* evbuffer_add_file closes fd on failure too. */
		evbuffer_free(buf);
		log_warnx("www: cannot send %s", log_safe(file));
		evhttp_send_reply(req, 500, "Internal Server Error", NULL);
		return;
	} else if (st.st_size == 0)
		close(fd);
	evhttp_send_reply(req, HTTP_OK, "OK", buf);
	evbuffer_free(buf);
}
