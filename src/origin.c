/*
 * origin.c: browser Origins (RFC 6454), parsed into scheme, host and port,
 * and matched against the origins setting. A pattern is an origin in which
 * "*" may stand only for a whole leading DNS label (https with host
 * *.example.com matches https://chat.example.com, not https://example.com
 * nor https://a.b.example.com) or a whole port (http://localhost:* matches
 * every port of localhost). Nothing else is a wildcard, so
 * http://localhost* is not a pattern at all, and no pattern can reach past
 * the host into another domain. Two words are not origins: "self", the
 * server's own origin (the one whose host and port are the request's Host
 * header), and "*", every origin.
 *
 * Pure string work, with no allocation: the config parser checks patterns
 * with it, and http.c asks it about each handshake.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

#define ORIGIN_ANYPORT	-2	/* a pattern's ":*" */

/* Lower-case a copy of [s, s + n) into dst (size len); -1 if it is too long. */
static int
origin_lower(char *dst, size_t len, const char *s, size_t n)
{
	size_t	i;

	if (n >= len)
		return (-1);
	for (i = 0; i < n; i++)
		dst[i] = tolower((unsigned char)s[i]);
	dst[n] = '\0';
	return (0);
}

/* The port a scheme implies when none is written, or -1. */
static int
origin_default_port(const char *scheme)
{
	if (strcmp(scheme, "http") == 0 || strcmp(scheme, "ws") == 0)
		return (80);
	if (strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0)
		return (443);
	return (-1);
}

/* Decimal 1..65535 in [s, s + n); -1 if not. */
static int
origin_port(const char *s, size_t n)
{
	long	port = 0;
	size_t	i;

	if (n == 0 || n > 5)
		return (-1);
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (-1);
		port = port * 10 + (s[i] - '0');
	}
	if (port < 1 || port > 65535)
		return (-1);
	return ((int)port);
}

/*
 * A host: a bracketed IPv6 literal, or dot-separated labels of letters,
 * digits, '-' and '_' (which IPv4 addresses are too). With wild, the first
 * label may be "*" if others follow.
 */
static int
origin_host_ok(const char *h, int wild)
{
	const char	*p;
	size_t		 label = 0;

	if (*h == '[') {
		size_t	n = strlen(h);

		if (n < 4 || h[n - 1] != ']')
			return (0);
		for (p = h + 1; p < h + n - 1; p++) {
			if (!isxdigit((unsigned char)*p) && *p != ':' &&
			    *p != '.')
				return (0);
		}
		return (1);
	}
	if (wild && h[0] == '*') {
		if (h[1] != '.' || h[2] == '\0')
			return (0);
		h += 2;
	}
	for (p = h; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return (0);
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return (0);
		if (++label > 63)
			return (0);
	}
	return (label > 0);
}

/*
 * Split scheme://host[:port] into o. With wild (a pattern), "*" may be the
 * leading label or the port. -1 if it is not that.
 */
static int
origin_split(const char *s, struct origin *o, int wild)
{
	const char	*sep, *host, *colon, *end;
	size_t		 n;

	memset(o, 0, sizeof *o);
	if ((sep = strstr(s, "://")) == NULL || sep == s)
		return (-1);
	if (!isalpha((unsigned char)s[0]))
		return (-1);
	for (end = s; end < sep; end++) {
		if (!isalnum((unsigned char)*end) && *end != '+' &&
		    *end != '-' && *end != '.')
			return (-1);
	}
	if (origin_lower(o->o_scheme, sizeof o->o_scheme, s, sep - s) != 0)
		return (-1);
	host = sep + 3;
	end = host + strlen(host);
	/* The port follows the last ':' that is not inside an IPv6 literal. */
	colon = strrchr(host, ':');
	if (colon != NULL && *host == '[' && strchr(colon, ']') != NULL)
		colon = NULL;
	if (colon != NULL) {
		if (wild && strcmp(colon + 1, "*") == 0)
			o->o_port = ORIGIN_ANYPORT;
		else if ((o->o_port = origin_port(colon + 1,
		    end - colon - 1)) == -1)
			return (-1);
		o->o_port_given = 1;
		n = colon - host;
	} else {
		o->o_port = origin_default_port(o->o_scheme);
		n = end - host;
	}
	if (n == 0 || origin_lower(o->o_host, sizeof o->o_host, host, n) != 0)
		return (-1);
	if (!origin_host_ok(o->o_host, wild))
		return (-1);
	return (0);
}

/* Parse a browser's Origin header; -1 if malformed (or "null"). */
int
origin_parse(const char *s, struct origin *o)
{
	return (origin_split(s, o, 0));
}

/* Why a word of the origins setting is not a pattern, or NULL if it is. */
const char *
origin_check_pattern(const char *word)
{
	struct origin	o;

	if (strcmp(word, "*") == 0 || strcmp(word, "self") == 0)
		return (NULL);
	if (origin_split(word, &o, 1) != 0)
		return ("is not scheme://host[:port], where * may only be a "
		    "whole leading label (https://*.example.com) or a whole "
		    "port (http://localhost:*)");
	return (NULL);
}

/* Does one pattern (checked) allow origin o? */
int
origin_match(const char *pattern, const struct origin *o)
{
	struct origin	 p;
	const char	*dot;

	if (strcmp(pattern, "*") == 0)
		return (1);
	if (origin_split(pattern, &p, 1) != 0)
		return (0);
	if (strcmp(p.o_scheme, o->o_scheme) != 0)
		return (0);
	if (p.o_port != ORIGIN_ANYPORT && p.o_port != o->o_port)
		return (0);
	if (p.o_host[0] == '*') {
		/* Exactly one label, then the rest of the pattern. */
		if ((dot = strchr(o->o_host, '.')) == NULL || dot == o->o_host ||
		    o->o_host[0] == '[')
			return (0);
		return (strcmp(dot, p.o_host + 1) == 0);
	}
	return (strcmp(p.o_host, o->o_host) == 0);
}

/*
 * Is o the server's own origin: http or https, the host and port of the
 * Host header (a Host without a port has the default port of o's scheme,
 * as behind a TLS proxy)?
 */
int
origin_is_self(const struct origin *o, const char *hosthdr)
{
	struct origin	 h;
	char		*url;
	int		 rc;

	if (hosthdr == NULL || *hosthdr == '\0')
		return (0);
	if (strcmp(o->o_scheme, "http") != 0 &&
	    strcmp(o->o_scheme, "https") != 0)
		return (0);
	xasprintf(&url, "%s://%s", o->o_scheme, hosthdr);
	rc = origin_split(url, &h, 0);
	free(url);
	if (rc != 0)
		return (0);
	return (strcmp(h.o_host, o->o_host) == 0 && h.o_port == o->o_port);
}

/*
 * The handshake's question: may a request with this Origin (NULL: none,
 * not a browser) and Host header connect, under the space-separated list?
 * 1 yes, 0 no, -1 the Origin is malformed (refused like a disallowed one).
 */
int
origin_allowed(const char *list, const char *origin, const char *hosthdr)
{
	struct origin	 o;
	const char	*p = list, *end;
	char		 word[ORIGIN_MAX];
	size_t		 n;

	if (origin == NULL)
		return (1);
	if (origin_parse(origin, &o) != 0)
		return (-1);
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		end = p;
		while (*end != '\0' && *end != ' ' && *end != '\t')
			end++;
		n = end - p;
		if (n > 0 && n < sizeof word) {
			memcpy(word, p, n);
			word[n] = '\0';
			if (strcmp(word, "self") == 0 ? origin_is_self(&o,
			    hosthdr) : origin_match(word, &o))
				return (1);
		}
		p = end;
	}
	return (0);
}

/* The config check of the origins setting: every word a pattern. */
const char *
origin_check_list(const char *list)
{
	static char	 why[ORIGIN_MAX + 256];
	const char	*p = list, *end, *bad;
	char		 word[ORIGIN_MAX];
	size_t		 n;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		end = p;
		while (*end != '\0' && *end != ' ' && *end != '\t')
			end++;
		n = end - p;
		if (n >= sizeof word) {
			snprintf(why, sizeof why, "a pattern is longer than %d "
			    "bytes", ORIGIN_MAX - 1);
			return (why);
		}
		if (n > 0) {
			memcpy(word, p, n);
			word[n] = '\0';
			if ((bad = origin_check_pattern(word)) != NULL) {
				snprintf(why, sizeof why, "'%s' %s", word, bad);
				return (why);
			}
		}
		p = end;
	}
	return (NULL);
}
