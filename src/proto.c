/*
 * proto.c: the line protocol's vocabulary: splitting a command line into
 * verb and arguments, the rules for names, and the one table of wire error
 * codes and their texts.
 */
#include "config.h"

#include <string.h>

#include "wschatd.h"

static const char *proto_error_names[] = {
#define PROTO_NAME(name, text) #name,
	PROTO_ERRORS(PROTO_NAME)
#undef PROTO_NAME
};

static const char *proto_error_texts[] = {
#define PROTO_TEXT(name, text) text,
	PROTO_ERRORS(PROTO_TEXT)
#undef PROTO_TEXT
};

/* The code as it appears on the wire, e.g. "BADARGS". */
const char *
proto_error_name(enum proto_error e)
{
	if (e >= PROTO_ERR_MAX)
		fatalx("%s: bad error %d", __func__, (int)e);
	return (proto_error_names[e]);
}

/* The default human text for a code. */
const char *
proto_error_text(enum proto_error e)
{
	if (e >= PROTO_ERR_MAX)
		fatalx("%s: bad error %d", __func__, (int)e);
	return (proto_error_texts[e]);
}

/* Whether a byte may appear in a line (tab only in free text). */
static int
proto_byte_ok(unsigned char ch, int text)
{
	if (ch == '\t')
		return (text);
	return (ch >= 0x20 && ch != 0x7f);
}

/* Strip one trailing LF, then one CR: they are not part of the command. */
size_t
proto_trim(char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	return (len);
}

/*
 * Find the verb of a trimmed line of len bytes, NUL-terminating it in
 * place; the arguments wait for proto_args(), which tokenizes on from
 * there, so the line is tokenized once (a memchr finds an embedded NUL).
 */
int
proto_verb(char *line, size_t len, struct proto_line *pl, const char **cause)
{
	char	*sp;

	memset(pl, 0, sizeof *pl);
	if (memchr(line, '\0', len) != NULL) {
		*cause = "NUL byte in line";
		return (-1);
	}
	if (len == 0) {
		*cause = "empty line";
		return (-1);
	}
	if (*line == ' ') {
		*cause = "empty argument (leading or doubled space)";
		return (-1);
	}
	for (sp = line; *sp != '\0' && *sp != ' '; sp++) {
		if (!proto_byte_ok((unsigned char)*sp, 0)) {
			*cause = "control character in line";
			return (-1);
		}
	}
	pl->verb = line;
	if (*sp == ' ') {
		*sp = '\0';
		pl->next = sp + 1;
	}
	return (0);
}

/*
 * Split the arguments after the verb in place: single spaces, no empty
 * tokens. With rest > 0 the rest-th argument takes the remainder of the
 * line, spaces included.
 */
int
proto_args(struct proto_line *pl, int rest, const char **cause)
{
	char	*p = pl->next, *sp;

	if (p == NULL)
		return (0);
	if (*p == '\0') {
		*cause = "trailing space";
		return (-1);
	}
	for (;;) {
		if (*p == ' ') {
			*cause = "empty argument (leading or doubled space)";
			return (-1);
		}
		if (pl->argc == PROTO_MAXARGS) {
			*cause = "too many arguments";
			return (-1);
		}
		pl->argv[pl->argc++] = p;
		if (rest > 0 && pl->argc == rest) {
			for (; *p != '\0'; p++) {
				if (!proto_byte_ok((unsigned char)*p, 1)) {
					*cause = "control character in line";
					return (-1);
				}
			}
			return (0);
		}
		for (sp = p; *sp != '\0' && *sp != ' '; sp++) {
			if (!proto_byte_ok((unsigned char)*sp, 0)) {
				*cause = "control character in line";
				return (-1);
			}
		}
		if (*sp == '\0')
			return (0);
		*sp = '\0';
		p = sp + 1;
		if (*p == '\0') {
			*cause = "trailing space";
			return (-1);
		}
	}
}

/* User and channel names: 1..max bytes of [A-Za-z0-9_.-]. */
int
proto_valid_name(const char *s, size_t max)
{
	size_t	n;

	for (n = 0; s[n] != '\0'; n++) {
		char	ch = s[n];

		if (n >= max)
			return (0);
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
		    ch == '.'))
			return (0);
	}
	return (n > 0);
}
