/*
 * js.c: a small strict scanner for the JSON object of a message event. It
 * takes nothing on trust (seq, ts, username and text are required and
 * unique, every other member must be well-formed JSON) and allocates
 * nothing per event, as a JSON library would for every delivery: strings
 * with escapes decode into scratch that js_init() sizes once.
 */
#include "config.h"

#include <string.h>

#include "bench.h"

/* Scratch for strings with escapes, each of js_cap bytes. */
static char	*js_user;
static char	*js_text;
static char	*js_skipped;
static size_t	 js_cap;

/* Room for decoded strings of up to cap bytes. */
void
js_init(size_t cap)
{
	js_cap = cap;
	js_user = xmalloc(cap);
	js_text = xmalloc(cap);
	js_skipped = xmalloc(cap);
}

static const char *
js_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return (p);
}

static int
js_hex4(const char *p, const char *e, unsigned *v)
{
	int	i;

	*v = 0;
	if (e - p < 4)
		return (-1);
	for (i = 0; i < 4; i++) {
		int	c = p[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned)(c - 'A' + 10);
		else
			return (-1);
	}
	return (0);
}

/*
 * A string at p (its opening quote). Without escapes *s points into the
 * input; with them the text is decoded into buf. Returns the byte after
 * the closing quote, or NULL.
 */
static const char *
js_string(const char *p, const char *e, char *buf, size_t cap, const char **s,
    size_t *slen)
{
	const char	*start;
	size_t		 n;
	unsigned	 u, lo;

	if (p >= e || *p != '"')
		return (NULL);
	start = ++p;
	while (p < e && *p != '"' && *p != '\\') {
		if ((unsigned char)*p < 0x20)
			return (NULL);
		p++;
	}
	if (p < e && *p == '"') {
		*s = start;
		*slen = (size_t)(p - start);
		return (p + 1);
	}
	if (buf == NULL)
		cap = 0;
	n = (size_t)(p - start);
	if (n > cap)
		return (NULL);
	if (n > 0)
		memcpy(buf, start, n);
	while (p < e && *p != '"') {
		unsigned char	c = (unsigned char)*p++;

		if (c < 0x20)
			return (NULL);
		if (c != '\\') {
			if (n >= cap)
				return (NULL);
			buf[n++] = (char)c;
			continue;
		}
		if (p >= e)
			return (NULL);
		switch (*p++) {
		case '"': c = '"'; break;
		case '\\': c = '\\'; break;
		case '/': c = '/'; break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			if (js_hex4(p, e, &u) == -1)
				return (NULL);
			p += 4;
			if (u >= 0xdc00 && u <= 0xdfff)
				return (NULL);
			if (u >= 0xd800 && u <= 0xdbff) {
				if (e - p < 6 || p[0] != '\\' || p[1] != 'u' ||
				    js_hex4(p + 2, e, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return (NULL);
				p += 6;
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (n + 4 > cap)
				return (NULL);
			if (u < 0x80)
				buf[n++] = (char)u;
			else if (u < 0x800) {
				buf[n++] = (char)(0xc0 | (u >> 6));
				buf[n++] = (char)(0x80 | (u & 0x3f));
			} else if (u < 0x10000) {
				buf[n++] = (char)(0xe0 | (u >> 12));
				buf[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
				buf[n++] = (char)(0x80 | (u & 0x3f));
			} else {
				buf[n++] = (char)(0xf0 | (u >> 18));
				buf[n++] = (char)(0x80 | ((u >> 12) & 0x3f));
				buf[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
				buf[n++] = (char)(0x80 | (u & 0x3f));
			}
			continue;
		default:
			return (NULL);
		}
		if (n >= cap)
			return (NULL);
		buf[n++] = (char)c;
	}
	if (p >= e)
		return (NULL);
	*s = buf;
	*slen = n;
	return (p + 1);
}

/* A JSON number; *v gets it if it is an integer (else *isint = 0). */
static const char *
js_number(const char *p, const char *e, int64_t *v, int *isint)
{
	const char	*start = p;
	int		 neg = 0, digits = 0;
	uint64_t	 x = 0;

	*isint = 1;
	if (p < e && *p == '-') {
		neg = 1;
		p++;
	}
	if (p < e && *p == '0')
		p++, digits = 1;
	else {
		while (p < e && *p >= '0' && *p <= '9') {
			if (x > (uint64_t)INT64_MAX / 10)
				*isint = 0;
			x = x * 10 + (uint64_t)(*p - '0');
			p++, digits++;
		}
	}
	if (digits == 0)
		return (NULL);
	if (p < e && *p == '.') {
		*isint = 0;
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return (NULL);
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		*isint = 0;
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return (NULL);
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (*isint)
		*v = neg ? -(int64_t)x : (int64_t)x;
	(void)start;
	return (p);
}

/* Skip any JSON value. */
static const char *
js_skip(const char *p, const char *e, int depth)
{
	const char	*s;
	size_t		 n;
	int64_t		 v;
	int		 isint;

	p = js_ws(p, e);
	if (p >= e || depth > 32)
		return (NULL);
	switch (*p) {
	case '"':
		return (js_string(p, e, js_skipped, js_cap, &s, &n));
	case '{':
	case '[': {
		char	close = *p == '{' ? '}' : ']';
		int	obj = *p == '{';

		p = js_ws(p + 1, e);
		if (p < e && *p == close)
			return (p + 1);
		for (;;) {
			if (obj) {
				p = js_string(js_ws(p, e), e, js_skipped,
				    js_cap, &s, &n);
				if (p == NULL)
					return (NULL);
				p = js_ws(p, e);
				if (p >= e || *p++ != ':')
					return (NULL);
			}
			if ((p = js_skip(p, e, depth + 1)) == NULL)
				return (NULL);
			p = js_ws(p, e);
			if (p < e && *p == ',') {
				p++;
				continue;
			}
			if (p < e && *p == close)
				return (p + 1);
			return (NULL);
		}
	}
	case 't':
		return (e - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL);
	case 'f':
		return (e - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL);
	case 'n':
		return (e - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL);
	default:
		return (js_number(p, e, &v, &isint));
	}
}

/* Parse the JSON of a message event; NULL or a reason it is wrong. */
const char *
js_event(const char *p, size_t len, struct evjson *ev)
{
	const char	*e = p + len, *k, *s;
	size_t		 klen, slen;
	int		 have = 0, isint;
	int64_t		 v;

	p = js_ws(p, e);
	if (p >= e || *p++ != '{')
		return ("not a JSON object");
	p = js_ws(p, e);
	if (p < e && *p == '}')
		return ("empty JSON object");
	for (;;) {
		/* Keys are plain ASCII; no scratch needed for them. */
		if ((p = js_string(js_ws(p, e), e, NULL, 0, &k, &klen)) == NULL)
			return ("bad JSON key");
		p = js_ws(p, e);
		if (p >= e || *p++ != ':')
			return ("bad JSON: ':' expected");
		p = js_ws(p, e);
		if (klen == 3 && memcmp(k, "seq", 3) == 0) {
			if ((have & 1) || (p = js_number(p, e, &v, &isint)) ==
			    NULL || !isint || v <= 0)
				return ("bad or repeated \"seq\"");
			ev->seq = v;
			have |= 1;
		} else if (klen == 2 && memcmp(k, "ts", 2) == 0) {
			if ((have & 2) || (p = js_number(p, e, &v, &isint)) ==
			    NULL || !isint || v <= 0)
				return ("bad or repeated \"ts\"");
			ev->ts = v;
			have |= 2;
		} else if (klen == 8 && memcmp(k, "username", 8) == 0) {
			if ((have & 4) || (p = js_string(p, e, js_user,
			    js_cap, &s, &slen)) == NULL)
				return ("bad or repeated \"username\"");
			ev->user = s;
			ev->userlen = slen;
			have |= 4;
		} else if (klen == 4 && memcmp(k, "text", 4) == 0) {
			if ((have & 8) || (p = js_string(p, e, js_text,
			    js_cap, &s, &slen)) == NULL)
				return ("bad or repeated \"text\"");
			ev->text = s;
			ev->textlen = slen;
			have |= 8;
		} else if ((p = js_skip(p, e, 1)) == NULL)
			return ("bad JSON value");
		p = js_ws(p, e);
		if (p < e && *p == ',') {
			p++;
			continue;
		}
		if (p < e && *p == '}')
			break;
		return ("bad JSON: ',' or '}' expected");
	}
	if (js_ws(p + 1, e) != e)
		return ("junk after the JSON object");
	if (have != 15)
		return ("JSON lacks seq, ts, username or text");
	return (NULL);
}
