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

/* Split a command line in place: single spaces, no empty tokens. */
int
proto_split(char *line, int rest, struct proto_line *pl, const char **cause)
{
	char	*p, *sp;
	size_t	 len;

	memset(pl, 0, sizeof *pl);
	len = strlen(line);
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len == 0) {
		*cause = "empty line";
		return (-1);
	}

	p = line;
	for (;;) {
		int	text = (rest > 0 && pl->verb != NULL && pl->argc == rest - 1);

		if (*p == ' ') {
			*cause = "empty argument (leading or doubled space)";
			return (-1);
		}
		if (pl->verb == NULL)
			pl->verb = p;
		else if (pl->argc == PROTO_MAXARGS) {
			*cause = "too many arguments";
			return (-1);
		} else
			pl->argv[pl->argc++] = p;

		if (text) {
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
