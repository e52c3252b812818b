/*
 * test_proto.c: the line tokenizer, the name rule and the wire error table,
 * as docs/PROTOCOL.md ("Lines", "Error codes") promises them to clients.
 * The error table is checked against the doc's table in both directions.
 */
#include "config.h"

#include "testutil.h"

/* Split a copy of line (exact size, so overreads show under valgrind). */
static int
split(const char *line, int rest, struct proto_line *pl, char **copy,
    const char **cause)
{
	size_t	len = strlen(line);

	*copy = malloc(len + 1);
	assert_non_null(*copy);
	memcpy(*copy, line, len + 1);
	*cause = NULL;
	/* As the dispatcher does: trim, the verb, then its arguments. */
	len = proto_trim(*copy, len);
	if (proto_verb(*copy, len, pl, cause) != 0)
		return (-1);
	return (proto_args(pl, rest, cause));
}

/* The line splits into exactly these tokens (verb first). */
static void
split_ok(const char *line, int rest, int ntok, ...)
{
	struct proto_line	 pl;
	const char		*cause, *want;
	char			*copy;
	va_list			 ap;
	int			 i;

	if (split(line, rest, &pl, &copy, &cause) != 0)
		fail_msg("\"%s\" (rest %d) refused: %s", line, rest,
		    cause != NULL ? cause : "(no cause)");
	va_start(ap, ntok);
	want = va_arg(ap, const char *);
	assert_non_null(pl.verb);
	assert_string_equal(pl.verb, want);
	if (pl.argc != ntok - 1)
		fail_msg("\"%s\": %d arguments, want %d", line, pl.argc, ntok - 1);
	for (i = 0; i < ntok - 1; i++) {
		want = va_arg(ap, const char *);
		assert_non_null(pl.argv[i]);
		assert_string_equal(pl.argv[i], want);
	}
	va_end(ap);
	free(copy);
}

/* The line is refused, with a cause that mentions the given word. */
static void
split_bad(const char *line, int rest, const char *word)
{
	struct proto_line	 pl;
	const char		*cause;
	char			*copy;

	if (split(line, rest, &pl, &copy, &cause) != -1)
		fail_msg("\"%s\" (rest %d) accepted", line, rest);
	if (cause == NULL || *cause == '\0')
		fail_msg("\"%s\" refused without a cause", line);
	if (word != NULL && strstr(cause, word) == NULL)
		fail_msg("\"%s\": cause \"%s\" does not mention \"%s\"", line,
		    cause, word);
	free(copy);
}

/* A bare verb. */
static void
t_split_verb_only(void **state UNUSED)
{
	split_ok("LIST", 0, 1, "LIST");
	split_ok("LSEVENTS", 0, 1, "LSEVENTS");
	split_ok("X", 0, 1, "X");
	/* A verb-only line with rest set has no arguments either. */
	split_ok("MSG", 2, 1, "MSG");
}

/* Arguments separated by single spaces. */
static void
t_split_args(void **state UNUSED)
{
	split_ok("NICK alice", 0, 2, "NICK", "alice");
	split_ok("RESUME 41 5c0f6a0e9d3b4e21", 0, 3, "RESUME", "41",
	    "5c0f6a0e9d3b4e21");
	split_ok("HISTORY general BEFORE 44 LIMIT 10", 0, 6, "HISTORY",
	    "general", "BEFORE", "44", "LIMIT", "10");
	/* One-byte tokens and UTF-8 bytes are ordinary argument bytes. */
	split_ok("A b c", 0, 3, "A", "b", "c");
	split_ok("PING h\xc3\xa9llo", 0, 2, "PING", "h\xc3\xa9llo");
}

/* Leading, doubled and trailing spaces make empty tokens: refused. */
static void
t_split_single_space(void **state UNUSED)
{
	split_bad(" LIST", 0, "space");
	split_bad("  LIST", 0, "space");
	split_bad("PING  x", 0, "space");
	split_bad("NICK alice ", 0, "space");
	split_bad("PING x  y", 0, "space");
	split_bad("LIST ", 0, "space");
	split_bad(" ", 0, NULL);
	split_bad("HISTORY c BEFORE  1", 0, "space");
	/* Spaces before the rest argument still count. */
	split_bad("MSG  chan hi", 2, "space");
	split_bad("MSG chan ", 2, "space");
	/* The empty line, with or without its line ending. */
	split_bad("", 0, NULL);
	split_bad("\n", 0, NULL);
	split_bad("\r\n", 0, NULL);
}

/* The rest argument keeps the line as typed: spaces and tabs. */
static void
t_split_rest(void **state UNUSED)
{
	split_ok("MSG general hello, world", 2, 3, "MSG", "general",
	    "hello, world");
	split_ok("MSG general a  b   c", 2, 3, "MSG", "general", "a  b   c");
	split_ok("MSG general a\tb\t", 2, 3, "MSG", "general", "a\tb\t");
	split_ok("MSG general \tindented", 2, 3, "MSG", "general",
	    "\tindented");
	split_ok("MSG general trailing  ", 2, 3, "MSG", "general",
	    "trailing  ");
	split_ok("MSG general one two three four five six seven eight nine", 2,
	    3, "MSG", "general", "one two three four five six seven eight nine");
	split_ok("MSG general x", 2, 3, "MSG", "general", "x");
	/* rest = 1: the first argument is the whole remainder. */
	split_ok("V all of  it", 1, 2, "V", "all of  it");
	/* Too few tokens to reach the rest: arity is the dispatcher's job. */
	split_ok("MSG general", 2, 2, "MSG", "general");
	/* Tabs are text only in the rest argument. */
	split_bad("MSG gen\teral hi", 2, "control");
	split_bad("M\tSG general hi", 2, "control");
	/* Without rest, spaces keep splitting. */
	split_ok("MSG general a b", 0, 4, "MSG", "general", "a", "b");
}

/* One trailing \r\n or \n is the line ending, not part of the line. */
static void
t_split_line_ending(void **state UNUSED)
{
	split_ok("LIST\n", 0, 1, "LIST");
	split_ok("LIST\r\n", 0, 1, "LIST");
	split_ok("NICK bob\n", 0, 2, "NICK", "bob");
	split_ok("NICK bob\r\n", 0, 2, "NICK", "bob");
	split_ok("MSG general hi there\r\n", 2, 3, "MSG", "general",
	    "hi there");
	split_ok("MSG general hi\n", 2, 3, "MSG", "general", "hi");
	/* Only one: a second line ending is a control character. */
	split_bad("PING x\n\n", 0, "control");
	split_bad("PING x\r\n\r\n", 0, "control");
	split_bad("MSG general hi\n\n", 2, "control");
	/* And the ending goes before the space rule applies. */
	split_bad("PING x \r\n", 0, "space");
}

/* Control characters are refused everywhere, tab only outside the rest. */
static void
t_split_control(void **state UNUSED)
{
	char	line[32];
	int	ch;

	split_bad("PING a\x01z", 0, "control");
	split_bad("PING \x7f", 0, "control");
	split_bad("PI\x1bNG", 0, "control");
	split_bad("PING a\tb", 0, "control");
	split_bad("PING a\rb", 0, "control");
	split_bad("PING a\nb", 0, "control");
	split_bad("MSG general a\x01z", 2, "control");
	split_bad("MSG general a\x7f", 2, "control");
	split_bad("MSG general a\nb", 2, "control");
	split_bad("MSG general a\rb", 2, "control");
	split_bad("MSG general a\x1b[31m", 2, "control");

	/* Every C0 byte but tab, and DEL, in a plain and a rest argument. */
	for (ch = 1; ch < 0x80; ch++) {
		if (ch >= 0x20 && ch != 0x7f)
			continue;
		snprintf(line, sizeof line, "PING a%cz", ch);
		split_bad(line, 0, "control");
		if (ch == '\t')
			continue;
		snprintf(line, sizeof line, "MSG c a%cz", ch);
		split_bad(line, 2, "control");
	}
	split_ok("MSG c a\tz", 2, 3, "MSG", "c", "a\tz");
	/* Bytes >= 0x80 (UTF-8) are text. */
	split_ok("MSG c \xe2\x9c\x93 \xf0\x9f\x98\x80", 2, 3, "MSG", "c",
	    "\xe2\x9c\x93 \xf0\x9f\x98\x80");
}

/* At most PROTO_MAXARGS arguments after the verb. */
static void
t_split_too_many(void **state UNUSED)
{
	struct proto_line	 pl;
	const char		*cause;
	char			 line[256], *copy;
	size_t			 len;
	int			 i;

	/* Exactly PROTO_MAXARGS: accepted, every one in place. */
	len = (size_t)snprintf(line, sizeof line, "V");
	for (i = 0; i < PROTO_MAXARGS; i++)
		len += (size_t)snprintf(line + len, sizeof line - len, " a%d", i);
	assert_int_equal(split(line, 0, &pl, &copy, &cause), 0);
	assert_string_equal(pl.verb, "V");
	assert_int_equal(pl.argc, PROTO_MAXARGS);
	for (i = 0; i < PROTO_MAXARGS; i++) {
		char	want[8];

		snprintf(want, sizeof want, "a%d", i);
		assert_string_equal(pl.argv[i], want);
	}
	free(copy);

	/* One more: refused (never written past argv[]). */
	snprintf(line + len, sizeof line - len, " one-too-many");
	split_bad(line, 0, "many");
	/* Many more. */
	split_bad("V 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20", 0,
	    "many");
	/* A rest argument absorbs any number of words. */
	split_ok("V a 1 2 3 4 5 6 7 8 9 10 11 12", 2, 3, "V", "a",
	    "1 2 3 4 5 6 7 8 9 10 11 12");
}

/* A failed split leaves nothing a caller could mistake for tokens. */
static void
t_split_failure_cleared(void **state UNUSED)
{
	struct proto_line	 pl;
	const char		*cause;
	char			*copy;

	memset(&pl, 0xa5, sizeof pl);
	assert_int_equal(split("", 0, &pl, &copy, &cause), -1);
	assert_null(pl.verb);
	assert_int_equal(pl.argc, 0);
	free(copy);

	/* A successful split after a failed one starts from scratch. */
	assert_int_equal(split("PING  x", 0, &pl, &copy, &cause), -1);
	free(copy);
	split_ok("PING", 0, 1, "PING");
}

/* Names: 1..max bytes of [A-Za-z0-9_.-]. */
static void
t_valid_name(void **state UNUSED)
{
	static const char	*good[] = {
		"a", "Z", "0", "_", ".", "-", "alice", "Al_ice-1.x", "..", "-a",
		"general", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz",
		"0123456789", "glitchy",
	};
	static const char	*bad[] = {
		"", "al!ce", "al/ce", "al:ce", "a,b", "a@b", "a b", " a", "a ",
		"a\tb", "a\nb", "\xc3\xa5lice", "a+b", "a*", "#chan", "a'b",
		"a\"b", "a\\b", "~a", "a\x7f",
	};
	char			 one[2];
	size_t			 i;
	int			 ch, want;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!proto_valid_name(good[i], 32))
			fail_msg("\"%s\" refused", good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (proto_valid_name(bad[i], 32))
			fail_msg("\"%s\" accepted", bad[i]);
	}

	/* Every single byte: exactly the documented charset passes. */
	for (ch = 1; ch < 256; ch++) {
		one[0] = (char)ch;
		one[1] = '\0';
		want = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		    ch == '-';
		if (!!proto_valid_name(one, 32) != want)
			fail_msg("byte 0x%02x: valid %d, want %d", ch,
			    proto_valid_name(one, 32), want);
	}
}

/* The length bound: exactly max passes, max + 1 does not. */
static void
t_valid_name_length(void **state UNUSED)
{
	char	name[300];
	size_t	max, n;

	for (max = 1; max <= 255; max++) {
		for (n = max - 1; n <= max + 1; n++) {
			memset(name, 'n', n);
			name[n] = '\0';
			if (!!proto_valid_name(name, max) != (n >= 1 && n <= max))
				fail_msg("%zu bytes, max %zu: valid %d", n, max,
				    proto_valid_name(name, max));
		}
	}
	/* The default max_name, with a bad byte just past it. */
	memset(name, 'a', 32);
	name[32] = '\0';
	assert_true(proto_valid_name(name, 32));
	name[32] = '!';
	name[33] = '\0';
	assert_false(proto_valid_name(name, 32));
	name[32] = 'a';
	assert_false(proto_valid_name(name, 32));
}

/* Every code: an upper-case name, unique, and a text. */
static void
t_error_table(void **state UNUSED)
{
	const char	*name, *text, *p;
	int		 e, f;

	assert_true(PROTO_ERR_MAX > 0);
	for (e = 0; e < PROTO_ERR_MAX; e++) {
		name = proto_error_name((enum proto_error)e);
		text = proto_error_text((enum proto_error)e);
		assert_non_null(name);
		assert_non_null(text);
		if (*name == '\0')
			fail_msg("error %d has an empty name", e);
		for (p = name; *p != '\0'; p++) {
			if (*p < 'A' || *p > 'Z')
				fail_msg("error name \"%s\" is not upper case", name);
		}
		if (*text == '\0')
			fail_msg("error %s has an empty text", name);
		for (p = text; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				fail_msg("error %s text has a control byte", name);
		}
		for (f = 0; f < e; f++) {
			if (strcmp(name, proto_error_name((enum proto_error)f)) == 0)
				fail_msg("error name %s used twice", name);
		}
	}
	/* The enum and the table are the same list. */
	assert_string_equal(proto_error_name(PROTO_ERR_BADARGS), "BADARGS");
	assert_string_equal(proto_error_name(PROTO_ERR_UNKNOWN), "UNKNOWN");
	assert_string_equal(proto_error_name(PROTO_ERR_NOTIDENTIFIED),
	    "NOTIDENTIFIED");
	assert_string_equal(proto_error_name(PROTO_ERR_TOOLONG), "TOOLONG");
	assert_string_equal(proto_error_name(PROTO_ERR_INTERNAL), "INTERNAL");
}

/*
 * The codes of the doc's "### Error codes" table (rows "| `CODE` | ..."),
 * as a NULL-terminated array of strings.
 */
static char **
doc_error_codes(size_t *np)
{
	char	*path, line[1024], *p, *end, **codes = NULL;
	FILE	*f;
	size_t	 n = 0;
	int	 in = 0;

	path = srcfile("docs/PROTOCOL.md");
	if ((f = fopen(path, "r")) == NULL)
		fail_msg("%s: %s (set WSCHAT_SRCDIR)", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "#", 1) == 0) {
			in = strncmp(line, "### Error codes", 15) == 0;
			continue;
		}
		if (!in || strncmp(line, "| `", 3) != 0)
			continue;
		p = line + 3;
		if ((end = strchr(p, '`')) == NULL)
			fail_msg("%s: bad error row: %s", path, line);
		*end = '\0';
		codes = xreallocarray(codes, n + 2, sizeof *codes);
		codes[n++] = xstrdup(p);
		codes[n] = NULL;
	}
	fclose(f);
	free(path);
	*np = n;
	return (codes);
}

/* The doc's error table and ours list the same codes. */
static void
t_error_table_doc(void **state UNUSED)
{
	char	**codes;
	size_t	  n, i;
	int	  e, found;

	codes = doc_error_codes(&n);
	if (n == 0)
		fail_msg("no rows in PROTOCOL.md's error code table");
	for (e = 0; e < PROTO_ERR_MAX; e++) {
		found = 0;
		for (i = 0; i < n; i++)
			found += strcmp(codes[i],
			    proto_error_name((enum proto_error)e)) == 0;
		if (found != 1)
			fail_msg("error %s is listed %d times in PROTOCOL.md",
			    proto_error_name((enum proto_error)e), found);
	}
	for (i = 0; i < n; i++) {
		found = 0;
		for (e = 0; e < PROTO_ERR_MAX; e++)
			found += strcmp(codes[i],
			    proto_error_name((enum proto_error)e)) == 0;
		if (!found)
			fail_msg("PROTOCOL.md documents error %s, which the "
			    "table lacks", codes[i]);
	}
	assert_int_equal(n, PROTO_ERR_MAX);
	for (i = 0; i < n; i++)
		free(codes[i]);
	free(codes);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(t_split_verb_only),
		cmocka_unit_test(t_split_args),
		cmocka_unit_test(t_split_single_space),
		cmocka_unit_test(t_split_rest),
		cmocka_unit_test(t_split_line_ending),
		cmocka_unit_test(t_split_control),
		cmocka_unit_test(t_split_too_many),
		cmocka_unit_test(t_split_failure_cleared),
		cmocka_unit_test(t_valid_name),
		cmocka_unit_test(t_valid_name_length),
		cmocka_unit_test(t_error_table),
		cmocka_unit_test(t_error_table_doc),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
