/*
 * config.c: the settings. One static table names every setting with its
 * type, bounds, default and help text. Defaults, validation, the config file
 * parser, the annotated example (conf/wschatd.conf) and config_name() all
 * read that table, so adding a setting is one field in struct config and one
 * row here; the unit test then insists that the shipped file and the man page
 * follow.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

#ifndef nitems
#define nitems(a)	(sizeof (a) / sizeof (a)[0])
#endif

#define KB		1024LL
#define MB		(1024LL * KB)
#define GB		(1024LL * MB)

enum config_type {
	CONFIG_STRING,
	CONFIG_INTEGER,
	CONFIG_ENUM
};

#define CONFIG_BYTES	0x1	/* integer: a K, M or G suffix is accepted */
#define CONFIG_EMPTY	0x2	/* string: may be empty */
#define CONFIG_ZERO	0x4	/* integer: 0 (off) is allowed below min */

struct config_entry {
	const char		 *name;		/* also the struct config field */
	enum config_type	  type;
	int			  flags;
	size_t			  offset;
	const char		 *def;		/* default, parsed like a file value */
	long long		  min;		/* CONFIG_INTEGER bounds, inclusive */
	long long		  max;
	const char *const	 *choices;	/* CONFIG_ENUM: word i is value i */
	const char		*(*check)(const char *); /* extra string check */
	const char		 *help;		/* sentences, with units */
};

#define C_STRING(n, fl, chk, d, h) {					\
	.name = #n, .type = CONFIG_STRING, .flags = (fl),		\
	.offset = offsetof(struct config, n), .def = (d),		\
	.check = (chk), .help = (h) }
#define C_INTEGER(n, fl, lo, hi, d, h) {				\
	.name = #n, .type = CONFIG_INTEGER, .flags = (fl),		\
	.offset = offsetof(struct config, n), .def = (d),		\
	.min = (lo), .max = (hi), .help = (h) }
#define C_ENUM(n, ch, d, h) {						\
	.name = #n, .type = CONFIG_ENUM,				\
	.offset = offsetof(struct config, n), .def = (d),		\
	.choices = (ch), .help = (h) }

static const char	*config_check_listen(const char *);

/* In enum journal_sync order. */
static const char *const config_journal_sync[] = { "normal", "full", NULL };
/* In enum config_registration order, and no before yes. */
static const char *const config_registration[] = { "open", "closed", NULL };
static const char *const config_yesno[] = { "no", "yes", NULL };

static const struct config_entry config_table[] = {
	C_STRING(listen, 0, config_check_listen, "127.0.0.1:8080",
	    "Address and port to listen on, as address:port. Port 0 picks a "
	    "free port; write IPv6 addresses in brackets, as in [::1]:8080."),
	C_STRING(db, 0, NULL, "wschat.db",
	    "Path of the SQLite journal database, relative to the working "
	    "directory unless absolute."),
	C_ENUM(journal_sync, config_journal_sync, "normal",
	    "How hard each commit is flushed to disk: normal survives a crash "
	    "of the process, full also survives a power loss but is slower."),
	C_STRING(log, 0, NULL, "stderr",
	    "Where the log goes: stderr, syslog, or the path of a file. "
	    "SIGHUP reopens the file, for log rotation."),
	C_STRING(origins, CONFIG_EMPTY, origin_check_list, "self",
	    "Space-separated allowlist of the browser Origins that may open a "
	    "WebSocket; others get HTTP 403, as does a malformed Origin. A "
	    "word is self (the server's own origin: http or https with the "
	    "host and port of the request's Host header), an origin such as "
	    "https://chat.example.com, one with * as its whole leading label "
	    "(https://*.example.com: one label, not the bare domain) or as its "
	    "whole port (http://localhost:*), or * alone (every origin, so any "
	    "web page a user opens can use the server). Requests without an "
	    "Origin header (not browsers) are always allowed."),
	C_INTEGER(max_connections, 0, 1, 1000000, "10000",
	    "Most connections open at once, counted from accept (WebSockets "
	    "and handshakes in progress); further ones get HTTP 503. It needs "
	    "about as many file descriptors: if RLIMIT_NOFILE (ulimit -n) is "
	    "lower than max_connections + 64 plus what is open at start, the "
	    "server warns and accepts only as many as the limit leaves room "
	    "for."),
	C_INTEGER(max_handshakes, 0, 1, 1000000, "256",
	    "Most connections accepted that have not finished the WebSocket "
	    "handshake; further ones get HTTP 503 until some finish or reach "
	    "handshake_timeout."),
	C_INTEGER(max_connections_per_address, CONFIG_ZERO, 1, 1000000, "256",
	    "Most connections open at once from one IP address (upgraded or "
	    "not); further ones get HTTP 429. Behind a reverse proxy every "
	    "client has the proxy's address: raise it or set 0 (no limit)."),
	C_INTEGER(max_unidentified_per_address, CONFIG_ZERO, 1, 1000000, "64",
	    "Most WebSockets from one IP address that have not sent NICK; a "
	    "further handshake gets HTTP 429. 0 is no limit."),
	C_INTEGER(unidentified_timeout, CONFIG_ZERO, 1, 86400, "60",
	    "Seconds a WebSocket that has not sent NICK may go without sending "
	    "a command before it is closed with 1008; 0 never closes it."),
	C_INTEGER(accept_batch, 0, 0, 65536, "64",
	    "Most connections accepted in one pass of the event loop; the "
	    "rest wait in the kernel's accept queue while connected clients "
	    "are served. 0 accepts until the queue is empty."),
	C_INTEGER(max_frame, CONFIG_BYTES, 126, 16 * MB, "65536",
	    "Largest WebSocket frame payload accepted, in bytes; a bigger "
	    "frame closes the connection with 1009."),
	C_INTEGER(max_message, CONFIG_BYTES, 126, 16 * MB, "65536",
	    "Largest message accepted once its fragments are joined, in "
	    "bytes; a bigger one closes the connection with 1009."),
	C_INTEGER(max_line, CONFIG_BYTES, 64, 1 * MB, "4096",
	    "Longest command line, in bytes; a longer one gets ERROR TOOLONG."),
	C_INTEGER(max_name, 0, 1, 255, "32",
	    "Longest user or channel name, in bytes."),
	C_INTEGER(max_channels, 0, 1, 10000000, "10000",
	    "Most channels that may exist at once; CREATE beyond it gets "
	    "ERROR LIMIT."),
	C_INTEGER(max_creates_per_hour, CONFIG_ZERO, 1, 1000000, "100",
	    "CREATEs one IP address may make in an hour (a bucket that refills "
	    "evenly); beyond it CREATE gets ERROR LIMIT. 0 is no limit."),
	C_INTEGER(max_channels_owned, CONFIG_ZERO, 1, 10000000, "100",
	    "Most existing channels one user may have created; beyond it "
	    "CREATE gets ERROR LIMIT. 0 is no limit."),
	C_INTEGER(max_channels_joined, CONFIG_ZERO, 1, 10000000, "1000",
	    "Most channels one user may be a member of; beyond it SUB gets "
	    "ERROR LIMIT. 0 is no limit."),
	C_INTEGER(max_output, CONFIG_BYTES, 4 * KB, 1 * GB, "1048576",
	    "Bytes queued to one client before it is closed as a slow "
	    "consumer (1013)."),
	C_INTEGER(send_buffer, CONFIG_BYTES | CONFIG_ZERO, 4 * KB, 64 * MB,
	    "131072",
	    "Kernel send buffer of each WebSocket (SO_SNDBUF), in bytes. "
	    "Linux doubles the value and caps it at net.core.wmem_max. A "
	    "client that stops reading then holds at most that much kernel "
	    "memory on top of max_output, and a connection sends at most about "
	    "that much per round trip (2.6 MB/s at 100 ms with 128K). 0 leaves "
	    "it to the kernel's autotuning: up to 4 MiB per stalled client."),
	C_INTEGER(rate_limit, 0, 0, 1000000, "100",
	    "Commands per second a connection may send on average, where "
	    "SNAPSHOT, RESUME, LOGIN, REGISTER and PASSWD count as 25 and "
	    "HISTORY and LIST as 5; 0 "
	    "turns rate limiting off."),
	C_INTEGER(rate_burst, 0, 1, 1000000, "200",
	    "Commands a connection may send in a burst above the rate_limit "
	    "average (the token bucket size)."),
	C_INTEGER(rate_strikes, 0, 1, 1000000, "20",
	    "Rate-limited commands in a row before the connection is closed "
	    "with 1008."),
	C_INTEGER(ping_interval, 0, 0, 86400, "30",
	    "Seconds a client may be silent before the server pings it; 0 "
	    "never pings."),
	C_INTEGER(ping_timeout, 0, 1, 86400, "75",
	    "Seconds without any frame from a client before it is closed with "
	    "1008 (ping timeout)."),
	C_INTEGER(handshake_timeout, 0, 1, 3600, "10",
	    "Seconds from accept a new connection has to complete the "
	    "WebSocket handshake, however slowly it sends; then it is closed. "
	    "Plain HTTP requests (/healthz) share the deadline."),
	C_INTEGER(shutdown_timeout, 0, 0, 3600, "5",
	    "Seconds to wait after SIGTERM or SIGINT for clients to take their "
	    "close (1001) before exiting."),
	C_INTEGER(retain_events, 0, 0, 1000000000000LL, "0",
	    "Keep at most this many of the newest events in the journal; 0 "
	    "keeps all."),
	C_INTEGER(retain_days, 0, 0, 36500, "0",
	    "Drop journal events older than this many days; 0 keeps all."),
	C_INTEGER(resume_max_events, 0, 0, 1000000000, "100000",
	    "Most events a RESUME replays; a client further behind gets a "
	    "snapshot instead."),
	C_INTEGER(stream_rate, 0, 0, 1000000000, "500000",
	    "Lines per second that all RESUME replays and SNAPSHOTs together "
	    "may send, so that clients catching up cannot take the CPU from "
	    "live traffic; 0 sends them as fast as the clients read."),
	C_INTEGER(snapshot_messages, 0, 0, 1000, "20",
	    "Recent messages of each channel sent in a SNAPSHOT, in messages."),
	C_INTEGER(history_max, 0, 1, 10000, "100",
	    "Default and largest LIMIT of a HISTORY command, in messages."),
	C_INTEGER(reply_budget, CONFIG_BYTES, 1 * KB, 1 * GB, "65536",
	    "Bytes of replies a connection may have waiting for a commit "
	    "before the server stops reading its commands until they are "
	    "sent; waiting replies also count against max_output."),
	C_INTEGER(stream_stall_timeout, 0, 1, 3600, "30",
	    "Seconds a RESUME replay, SNAPSHOT or HISTORY may wait for the "
	    "client to read what is queued before the connection is closed "
	    "with 1013, so that a client that stops reading cannot hold a "
	    "snapshot (and the journal's WAL) open."),
	C_INTEGER(max_snapshots, 0, 1, 100000, "64",
	    "Most SNAPSHOTs streaming at once, each holding a read transaction "
	    "and a database connection; one more gets ERROR LIMIT (try again)."),
	C_ENUM(registration, config_registration, "open",
	    "Whether REGISTER may make new accounts: open, or closed (then "
	    "only wschatctl user add does)."),
	C_ENUM(guests, config_yesno, "yes",
	    "Whether NICK makes guest accounts of free names: yes or no."),
	C_INTEGER(guest_ttl, 0, 60, 3650 * 86400LL, "604800",
	    "Seconds a guest's token lives without use (default 7 days); a "
	    "guest whose last token expires is released and its name is free "
	    "again. A token held by an open connection is in use."),
	C_INTEGER(token_ttl, 0, 60, 3650 * 86400LL, "2592000",
	    "Seconds a registered account's token lives without use "
	    "(default 30 days)."),
	C_INTEGER(password_min, 0, 1, 256, "8",
	    "Shortest password REGISTER and PASSWD accept, in bytes (the "
	    "longest is 256)."),
	C_INTEGER(pwhash_opslimit, 0, 1, 100, "2",
	    "Argon2id passes per password hash (OWASP's minimum is 2 with "
	    "19 MiB)."),
	C_INTEGER(pwhash_memlimit, CONFIG_BYTES, 8 * KB, 4 * GB, "19M",
	    "Argon2id memory per password hash, in bytes; each hash or "
	    "verify in flight holds this much."),
	C_INTEGER(auth_threads, 0, 1, 64, "2",
	    "Threads that hash and verify passwords, off the event loop."),
	C_INTEGER(auth_queue, 0, 1, 100000, "256",
	    "Most password hashes and verifies waiting or under way; more "
	    "get ERROR RATELIMITED."),
	C_INTEGER(login_rate, 0, 1, 1000000, "6",
	    "Failed LOGIN and AUTH attempts refilled per minute, per source "
	    "address and per account name."),
	C_INTEGER(login_burst, 0, 1, 1000000, "5",
	    "Failed attempts a source address or an account name may make in "
	    "a row before ERROR RATELIMITED."),
	C_STRING(www_root, CONFIG_EMPTY, NULL, "",
	    "Directory of the web client's files, served at / (every path but "
	    "/ws and /healthz). Empty: the installed one (share/wschat/www "
	    "under the prefix), or the source tree's www/ when wschatd runs "
	    "from its build tree."),
};

static const char config_header[] =
    "# wschatd.conf: configuration of wschatd(8).\n"
    "#\n"
    "# Every setting is listed at its default. A line is \"name = value\";\n"
    "# the value runs to the end of the line and may be wrapped in double\n"
    "# quotes. Lines starting with # are comments. Byte sizes accept a K, M\n"
    "# or G suffix (1024-based). Check a file with \"wschatd -n -f file\".\n"
    "#\n"
    "# This file is written by config_write_example() in src/config.c.\n";

struct config	 config;

/* The table row for a name, or NULL. */
static const struct config_entry *
config_find(const char *name)
{
	size_t	i;

	for (i = 0; i < nitems(config_table); i++) {
		if (strcmp(config_table[i].name, name) == 0)
			return (&config_table[i]);
	}
	return (NULL);
}

/* Where a row's value lives in a struct config. */
static void *
config_field(struct config *cfg, const struct config_entry *e)
{
	return ((char *)cfg + e->offset);
}

/* Catch listen typos at -n time: host:port, with IPv6 in brackets. */
static const char *
config_check_listen(const char *value)
{
	const char	*colon, *p;
	size_t		 hostlen;
	long		 port = 0;

	if ((colon = strrchr(value, ':')) == NULL || colon[1] == '\0')
		goto bad;
	for (p = colon + 1; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) || p - colon > 5)
			goto bad;
		port = port * 10 + (*p - '0');
	}
	if (port > 65535)
		goto bad;
	hostlen = colon - value;
	if (hostlen == 0)
		goto bad;
	if (value[0] == '[') {
		if (hostlen < 3 || value[hostlen - 1] != ']' ||
		    memchr(value + 1, ']', hostlen - 2) != NULL)
			goto bad;
	} else if (memchr(value, ':', hostlen) != NULL ||
	    memchr(value, ']', hostlen) != NULL)
		goto bad;
	return (NULL);
bad:
	return ("must be address:port, as in 127.0.0.1:8080 or [::1]:8080");
}

/* Parse a whole decimal integer with an optional size suffix; -1 if not. */
static int
config_parse_integer(const struct config_entry *e, const char *value,
    long long *out)
{
	const char	*p = value;
	char		*end;
	long long	 n, mult = 1;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return (-1);
	errno = 0;
	n = strtoll(value, &end, 10);
	if (errno == ERANGE)
		return (-1);
	if (*end != '\0' && (e->flags & CONFIG_BYTES)) {
		switch (*end) {
		case 'K':
		case 'k':
			mult = KB;
			break;
		case 'M':
		case 'm':
			mult = MB;
			break;
		case 'G':
		case 'g':
			mult = GB;
			break;
		default:
			return (-1);
		}
		end++;
	}
	if (*end != '\0')
		return (-1);
	if (n > LLONG_MAX / mult || n < LLONG_MIN / mult)
		return (-1);
	*out = n * mult;
	return (0);
}

/* Validate one value for a row and store it; -1 and *cause if invalid. */
static int
config_apply(struct config *cfg, const struct config_entry *e,
    const char *value, char **cause)
{
	const char	 *p, *why;
	char		 *list, *old, **sp;
	long long	  n;
	size_t		  i;

	switch (e->type) {
	case CONFIG_STRING:
		if (*value == '\0' && (~e->flags & CONFIG_EMPTY)) {
			xasprintf(cause, "%s: must not be empty", e->name);
			return (-1);
		}
		for (p = value; *p != '\0'; p++) {
			if (iscntrl((unsigned char)*p)) {
				xasprintf(cause, "%s: must not contain control "
				    "characters", e->name);
				return (-1);
			}
		}
		if (e->check != NULL && (why = e->check(value)) != NULL) {
			xasprintf(cause, "%s: %s", e->name, why);
			return (-1);
		}
		sp = config_field(cfg, e);
		free(*sp);
		*sp = xstrdup(value);
		return (0);
	case CONFIG_INTEGER:
		if (config_parse_integer(e, value, &n) != 0 ||
		    ((n < e->min || n > e->max) &&
		    (n != 0 || (~e->flags & CONFIG_ZERO)))) {
			xasprintf(cause, "%s: must be %san integer between %lld "
			    "and %lld", e->name,
			    (e->flags & CONFIG_ZERO) ? "0 or " : "", e->min,
			    e->max);
			return (-1);
		}
		*(long long *)config_field(cfg, e) = n;
		return (0);
	case CONFIG_ENUM:
		for (i = 0; e->choices[i] != NULL; i++) {
			if (strcmp(e->choices[i], value) == 0) {
				*(int *)config_field(cfg, e) = (int)i;
				return (0);
			}
		}
		list = xstrdup(e->choices[0]);
		for (i = 1; e->choices[i] != NULL; i++) {
			old = list;
			xasprintf(&list, "%s, %s", old, e->choices[i]);
			free(old);
		}
		xasprintf(cause, "%s: must be one of %s", e->name, list);
		free(list);
		return (-1);
	}
	fatalx("%s: setting %s has bad type %d", __func__, e->name, e->type);
}

/* Fill cfg from the table; cfg must hold no strings (zeroed or freed). */
void
config_defaults(struct config *cfg)
{
	size_t	 i;
	char	*cause;

	memset(cfg, 0, sizeof *cfg);
	for (i = 0; i < nitems(config_table); i++) {
		if (config_apply(cfg, &config_table[i], config_table[i].def,
		    &cause) != 0)
			fatalx("bad default: %s", cause);
	}
}

/* Release cfg's strings, leaving it safe to free again or refill. */
void
config_free(struct config *cfg)
{
	size_t	  i;
	char	**sp;

	for (i = 0; i < nitems(config_table); i++) {
		if (config_table[i].type != CONFIG_STRING)
			continue;
		sp = config_field(cfg, &config_table[i]);
		free(*sp);
		*sp = NULL;
	}
}

/* Deep copy, so a failed load can leave the original untouched. */
static void
config_copy(struct config *dst, const struct config *src)
{
	size_t	  i;
	char	**sp;

	*dst = *src;
	for (i = 0; i < nitems(config_table); i++) {
		if (config_table[i].type != CONFIG_STRING)
			continue;
		sp = config_field(dst, &config_table[i]);
		if (*sp != NULL)
			*sp = xstrdup(*sp);
	}
}

/* Set one setting by name from its text, as the file or a flag gives it. */
int
config_set(struct config *cfg, const char *key, const char *value,
    char **cause)
{
	const struct config_entry	*e;

	if ((e = config_find(key)) == NULL) {
		xasprintf(cause, "unknown setting '%s'", key);
		return (-1);
	}
	return (config_apply(cfg, e, value, cause));
}

/* Cut leading and trailing white space in place. */
static char *
config_trim(char *s)
{
	size_t	len;

	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	return (s);
}

/* Apply one file line; seen[] holds the line each setting was set on. */
static int
config_line(struct config *cfg, char *line, size_t len, size_t lineno,
    size_t *seen, char **cause)
{
	const struct config_entry	*e;
	char				*key, *value, *eq;
	size_t				 vlen, i;

	if (strlen(line) != len) {
		*cause = xstrdup("line contains a NUL byte");
		return (-1);
	}
	line = config_trim(line);
	if (*line == '\0' || *line == '#')
		return (0);
	if ((eq = strchr(line, '=')) == NULL || eq == line) {
		*cause = xstrdup("expected 'name = value'");
		return (-1);
	}
	*eq = '\0';
	key = config_trim(line);
	value = config_trim(eq + 1);
	if (*value == '"') {
		vlen = strlen(value);
		if (vlen < 2 || value[vlen - 1] != '"') {
			*cause = xstrdup("unterminated quoted value");
			return (-1);
		}
		value[vlen - 1] = '\0';
		value++;
	}
	if ((e = config_find(key)) == NULL) {
		xasprintf(cause, "unknown setting '%s'", key);
		return (-1);
	}
	i = e - config_table;
	if (seen[i] != 0) {
		xasprintf(cause, "duplicate setting '%s' (first on line %zu)",
		    key, seen[i]);
		return (-1);
	}
	seen[i] = lineno;
	return (config_apply(cfg, e, value, cause));
}

/* Read a config file over cfg; all or nothing, so cfg is intact on error. */
int
config_load(struct config *cfg, const char *path, char **cause)
{
	struct config	 tmp;
	FILE		*f;
	char		*line = NULL, *why;
	size_t		 size = 0, lineno = 0, seen[nitems(config_table)];
	ssize_t		 len;
	int		 rc = -1;

	if ((f = fopen(path, "r")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	memset(seen, 0, sizeof seen);
	config_copy(&tmp, cfg);
	while ((len = getline(&line, &size, f)) != -1) {
		lineno++;
		if (config_line(&tmp, line, len, lineno, seen, &why) != 0) {
			xasprintf(cause, "%s:%zu: %s", path, lineno, why);
			free(why);
			goto out;
		}
	}
	if (ferror(f)) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	config_free(cfg);
	*cfg = tmp;
	memset(&tmp, 0, sizeof tmp);
	rc = 0;
out:
	config_free(&tmp);
	free(line);
	fclose(f);
	return (rc);
}

/* Write text as "# " comment lines of at most 72 columns. */
static void
config_write_comment(FILE *f, const char *text)
{
	const char	*p = text, *word;
	size_t		 col = 0, wlen;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		word = p;
		while (*p != '\0' && *p != ' ')
			p++;
		wlen = p - word;
		if (col != 0 && col + 1 + wlen > 72) {
			fputc('\n', f);
			col = 0;
		}
		if (col == 0) {
			fputs("#", f);
			col = 1;
		}
		fprintf(f, " %.*s", (int)wlen, word);
		col += 1 + wlen;
	}
	if (col != 0)
		fputc('\n', f);
}

/* Write the annotated example config: every setting at its default. */
void
config_write_example(FILE *f)
{
	const struct config_entry	*e;
	char				*text;
	size_t				 i, j;

	fputs(config_header, f);
	for (i = 0; i < nitems(config_table); i++) {
		e = &config_table[i];
		fputc('\n', f);
		config_write_comment(f, e->help);
		switch (e->type) {
		case CONFIG_STRING:
			break;
		case CONFIG_INTEGER:
			xasprintf(&text, "Range: %s%lld to %lld%s.",
			    (e->flags & CONFIG_ZERO) ? "0, or " : "", e->min,
			    e->max, (e->flags & CONFIG_BYTES) ?
			    " (K, M or G suffix allowed)" : "");
			config_write_comment(f, text);
			free(text);
			break;
		case CONFIG_ENUM:
			fputs("# One of:", f);
			for (j = 0; e->choices[j] != NULL; j++)
				fprintf(f, "%s %s", j == 0 ? "" : ",",
				    e->choices[j]);
			fputs(".\n", f);
			break;
		}
		if (*e->def == '\0' || isspace((unsigned char)*e->def) ||
		    *e->def == '"' ||
		    isspace((unsigned char)e->def[strlen(e->def) - 1]))
			fprintf(f, "%s = \"%s\"\n", e->name, e->def);
		else
			fprintf(f, "%s = %s\n", e->name, e->def);
	}
}

/* Iterate setting names: the name of setting i, or NULL past the end. */
const char *
config_name(size_t i)
{
	if (i >= nitems(config_table))
		return (NULL);
	return (config_table[i].name);
}
