/*
 * test_cmd.c: the command table as a checklist (names, usage lines, arity,
 * the protocol doc's command table, an integration test per command), and
 * the dispatcher's generic checks seen from the wire: a fake connection on
 * a bufferevent pair gets each reply as a WebSocket frame, decoded as a
 * client would. Commands that write to the journal are left to the
 * integration tests; here only their refusals are exercised. The streams
 * (SNAPSHOT, RESUME) run against a real journal in a temporary directory,
 * on a loop with the daemon's three priorities, to see whose turn is when.
 */
#include "config.h"

#include <dirent.h>

#include <event2/bufferevent.h>

#include "testutil.h"


/* The verbs of PROTOCOL.md's "## Commands" table: rows "| `VERB ...". */
static size_t
doc_verbs(char verbs[][32], size_t max)
{
	char	*path, *doc, *line, *next, *p;
	size_t	 n = 0, len;
	int	 in = 0;

	path = srcfile("docs/PROTOCOL.md");
	doc = slurp(path, NULL);
	for (line = doc; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (line[0] == '#') {
			in = strcmp(line, "## Commands") == 0;
			continue;
		}
		if (!in || strncmp(line, "| `", 3) != 0)
			continue;
		p = line + 3;
		len = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
		if (len == 0 || len >= sizeof verbs[0] || (p[len] != ' ' &&
		    p[len] != '`'))
			fail_msg("%s: bad command row: %s", path, line);
		if (n == max)
			fail_msg("%s: too many command rows", path);
		memcpy(verbs[n], p, len);
		verbs[n][len] = '\0';
		n++;
	}
	free(doc);
	free(path);
	return (n);
}

/* --- the table as a checklist ------------------------------------------ */

/* Count a usage line's arguments: all of them, and those outside [...]. */
static void
usage_arity(const char *usage, int *lower, int *upper)
{
	char	*copy, *tok, *last;
	int	 depth = 0;
	const char *p;

	*lower = *upper = 0;
	copy = xstrdup(usage);
	tok = strtok_r(copy, " ", &last);	/* the verb */
	while ((tok = strtok_r(NULL, " ", &last)) != NULL) {
		(*upper)++;
		if (depth == 0 && tok[0] != '[')
			(*lower)++;
		for (p = tok; *p != '\0'; p++)
			depth += (*p == '[') - (*p == ']');
	}
	free(copy);
}

/* Names unique and upper case; usage, arity and handler present. */
static void
t_table(void **state UNUSED)
{
	const struct cmd_entry	**e, **f;
	const char		 *p;
	size_t			  len, n = 0;
	int			  lower, upper;

	for (e = cmd_table; *e != NULL; e++) {
		n++;
		assert_non_null((*e)->name);
		if ((*e)->name[0] == '\0')
			fail_msg("entry %zu has an empty name", n);
		for (p = (*e)->name; *p != '\0'; p++) {
			if (*p < 'A' || *p > 'Z')
				fail_msg("%s: verb is not upper case", (*e)->name);
		}
		for (f = cmd_table; f != e; f++) {
			if (strcmp((*f)->name, (*e)->name) == 0)
				fail_msg("%s is in the table twice", (*e)->name);
		}
		if (cmd_find((*e)->name) != *e)
			fail_msg("cmd_find(%s) finds another entry", (*e)->name);
		if ((*e)->exec == NULL)
			fail_msg("%s has no handler", (*e)->name);

		len = strlen((*e)->name);
		if ((*e)->usage == NULL || strncmp((*e)->usage, (*e)->name, len)
		    != 0 || ((*e)->usage[len] != '\0' && (*e)->usage[len] != ' '))
			fail_msg("%s: usage \"%s\" does not start with the verb",
			    (*e)->name, (*e)->usage ? (*e)->usage : "(null)");
		if ((*e)->lower < 0 || (*e)->lower > (*e)->upper ||
		    (*e)->upper > PROTO_MAXARGS)
			fail_msg("%s: arity %d..%d", (*e)->name, (*e)->lower,
			    (*e)->upper);
		/* What users read in "usage:" is what the dispatcher enforces. */
		usage_arity((*e)->usage, &lower, &upper);
		if (lower != (*e)->lower || upper != (*e)->upper)
			fail_msg("%s: usage \"%s\" says %d..%d arguments, the "
			    "entry %d..%d", (*e)->name, (*e)->usage, lower, upper,
			    (*e)->lower, (*e)->upper);
		if (((*e)->flags & CMD_REST) && (*e)->upper < 1)
			fail_msg("%s: CMD_REST without arguments", (*e)->name);
		/* The dispatcher's targets read argv[0], and a member a user. */
		if (((*e)->flags & (CMD_CHANNEL | CMD_MEMBER | CMD_EVTYPE)) &&
		    (*e)->lower < 1)
			fail_msg("%s: a target flag but no required argument",
			    (*e)->name);
		if (((*e)->flags & CMD_MEMBER) && !((*e)->flags & CMD_NEEDNAME))
			fail_msg("%s: CMD_MEMBER without CMD_NEEDNAME", (*e)->name);
		if ((*e)->missing != NULL) {
			if ((*e)->lower == 0)
				fail_msg("%s: missing text but nothing required",
				    (*e)->name);
			if (strncmp((*e)->missing, (*e)->name, len) != 0 ||
			    strncmp((*e)->missing + len, " requires ", 10) != 0)
				fail_msg("%s: missing text \"%s\" is not \"%s "
				    "requires ...\"", (*e)->name, (*e)->missing,
				    (*e)->name);
		}
	}
	assert_true(n > 0);
	assert_null(cmd_find("FROB"));
	assert_null(cmd_find(""));
}

/* The table and the doc's command table list the same verbs. */
static void
t_table_doc(void **state UNUSED)
{
	const struct cmd_entry	**e;
	char			  verbs[64][32];
	size_t			  n, i, found;

	n = doc_verbs(verbs, 64);
	if (n == 0)
		fail_msg("no rows in PROTOCOL.md's command table");
	for (e = cmd_table; *e != NULL; e++) {
		found = 0;
		for (i = 0; i < n; i++)
			found += strcmp(verbs[i], (*e)->name) == 0;
		if (found != 1)
			fail_msg("%s is in PROTOCOL.md's command table %zu times",
			    (*e)->name, found);
	}
	for (i = 0; i < n; i++) {
		if (cmd_find(verbs[i]) == NULL)
			fail_msg("PROTOCOL.md documents %s, which the table lacks",
			    verbs[i]);
	}
}

/*
 * The verbs PROTOCOL.md quotes (`VERB`) between from and to are exactly
 * those whose entries have flag set (or, with negate, clear).
 */
static void
doc_flag_list(const char *from, const char *to, int flag, int negate,
    const char *flagname)
{
	const struct cmd_entry	**e;
	char			 *path, *doc, *start, *end, *p, *q;
	int			  listed, set;

	path = srcfile("docs/PROTOCOL.md");
	doc = slurp(path, NULL);
	if ((start = strstr(doc, from)) == NULL ||
	    (end = strstr(start, to)) == NULL)
		fail_msg("%s: no \"%s ... %s\"", path, from, to);
	*end = '\0';
	for (e = cmd_table; *e != NULL; e++) {
		listed = 0;
		for (p = start; (p = strchr(p, '`')) != NULL; p = q + 1) {
			if ((q = strchr(p + 1, '`')) == NULL)
				break;
			if ((size_t)(q - p - 1) == strlen((*e)->name) &&
			    strncmp(p + 1, (*e)->name, q - p - 1) == 0)
				listed = 1;
		}
		set = !!((*e)->flags & flag);
		if (listed != (negate ? !set : set))
			fail_msg("%s: %s is %s but PROTOCOL.md %s it in \"%s ...\"",
			    (*e)->name, flagname, set ? "set" : "clear",
			    listed ? "lists" : "does not list", from);
	}
	free(doc);
	free(path);
}

/*
 * The doc names the commands that work without NICK ("Commands other
 * than `NICK`, ... need a name"); the entries' CMD_NEEDNAME agrees.
 */
static void
t_table_doc_needname(void **state UNUSED)
{
	doc_flag_list("Commands other than", "need a name", CMD_NEEDNAME, 1,
	    "CMD_NEEDNAME");
}

/* PROTOCOL.md's list of commands that read state matches CMD_READ. */
static void
t_table_doc_reads(void **state UNUSED)
{
	doc_flag_list("A command that reads state", "runs only after",
	    CMD_READ, 0, "CMD_READ");
}

/* Whether text sends verb: "VERB or 'VERB then a space, quote or escape. */
static int
sends_verb(const char *text, const char *verb)
{
	const char	*p;
	size_t		 len = strlen(verb);
	char		 after;

	for (p = text; (p = strstr(p, verb)) != NULL; p++) {
		if (p == text || (p[-1] != '"' && p[-1] != '\''))
			continue;
		after = p[len];
		if (after == ' ' || after == '"' || after == '\'' ||
		    after == '\\')
			return (1);
	}
	return (0);
}

/*
 * Every command has an integration test: some tests/integration/test_*.py
 * sends it (a string literal starting with the verb).
 */
static void
t_table_integration_tests(void **state UNUSED)
{
	const struct cmd_entry	**e;
	char			 *dir, *path, *texts[64], missing[512];
	struct dirent		 *de;
	DIR			 *d;
	size_t			  n = 0, i, len;
	int			  found;

	dir = srcfile("tests/integration");
	if ((d = opendir(dir)) == NULL)
		fail_msg("%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (strncmp(de->d_name, "test_", 5) != 0 || len < 3 ||
		    strcmp(de->d_name + len - 3, ".py") != 0)
			continue;
		if (n == sizeof texts / sizeof texts[0])
			fail_msg("%s: too many tests", dir);
		xasprintf(&path, "%s/%s", dir, de->d_name);
		texts[n++] = slurp(path, NULL);
		free(path);
	}
	closedir(d);
	if (n == 0)
		fail_msg("%s: no test_*.py", dir);

	missing[0] = '\0';
	for (e = cmd_table; *e != NULL; e++) {
		found = 0;
		for (i = 0; i < n && !found; i++)
			found = sends_verb(texts[i], (*e)->name);
		if (!found) {
			len = strlen(missing);
			snprintf(missing + len, sizeof missing - len, " %s",
			    (*e)->name);
		}
	}
	for (i = 0; i < n; i++)
		free(texts[i]);
	free(dir);
	if (missing[0] != '\0')
		fail_msg("commands without an integration test:%s", missing);
}

/* --- the dispatcher, through a fake connection --------------------------- */

struct fake {
	struct client		 c;
	struct bufferevent	*pair[2];	/* [0] is the server's side */
	struct ws_parser	 p;
	char			*replies[16];
	size_t			 nreplies;
};

static struct event_base	*base;
static struct fake		 fa, fb;

static void
fake_init(struct fake *f, uint64_t id)
{
	memset(f, 0, sizeof *f);
	if (bufferevent_pair_new(base, 0, f->pair) != 0)
		fail_msg("bufferevent_pair_new");
	bufferevent_enable(f->pair[0], EV_READ | EV_WRITE);
	bufferevent_enable(f->pair[1], EV_READ | EV_WRITE);
	f->c.c_id = id;
	f->c.c_state = CLIENT_OPEN;
	f->c.c_refs = 1;
	f->c.c_bev = f->pair[0];
	snprintf(f->c.c_addr, sizeof f->c.c_addr, "fake-%llu",
	    (unsigned long long)id);
	ws_parser_init(&f->p, WS_ROLE_CLIENT, 1 << 24, 1 << 24);
}

static void
fake_free_replies(struct fake *f)
{
	size_t	i;

	for (i = 0; i < f->nreplies; i++)
		free(f->replies[i]);
	f->nreplies = 0;
}

static void
fake_free(struct fake *f)
{
	intent_clear(&f->c);
	state_user_detach(&f->c);
	if (f->c.c_held != NULL)
		evbuffer_free(f->c.c_held);
	fake_free_replies(f);
	ws_parser_free(&f->p);
	bufferevent_free(f->pair[0]);
	bufferevent_free(f->pair[1]);
}

/* Decode what the server wrote: every frame must be a text message. */
static void
fake_read(struct fake *f)
{
	struct evbuffer	*bufs[2];
	unsigned char	*p;
	size_t		 len, used;
	int		 i;

	event_base_loop(base, EVLOOP_NONBLOCK);
	/* Moved to the peer first, then anything still queued. */
	bufs[0] = bufferevent_get_input(f->pair[1]);
	bufs[1] = bufferevent_get_output(f->pair[0]);
	for (i = 0; i < 2; i++) {
		while ((len = evbuffer_get_length(bufs[i])) > 0) {
			p = evbuffer_pullup(bufs[i], -1);
			switch (ws_parse(&f->p, p, len, &used)) {
			case WS_MESSAGE:
				if (f->p.out_opcode != WS_OP_TEXT)
					fail_msg("a non-text message");
				if (f->nreplies == sizeof f->replies /
				    sizeof f->replies[0])
					fail_msg("too many replies");
				f->replies[f->nreplies++] = xstrndup((const char *)
				    f->p.out_data, f->p.out_len);
				break;
			case WS_NEED_MORE:
				fail_msg("a partial frame");
				break;
			case WS_CONTROL:
				fail_msg("a control frame (opcode %d)",
				    f->p.out_opcode);
				break;
			case WS_ERROR:
				fail_msg("undecodable output: %s",
				    f->p.close_reason);
				break;
			}
			evbuffer_drain(bufs[i], used);
		}
	}
}

/* Dispatch len bytes of line, from an exactly sized copy as client.c does. */
static void
send_raw(struct fake *f, const char *line, size_t len)
{
	char	*copy;

	fake_free_replies(f);
	copy = xmalloc(len + 1);
	memcpy(copy, line, len);
	copy[len] = '\0';
	cmd_dispatch(&f->c, copy, len);
	free(copy);
	fake_read(f);
}

/* A line for a failure message: escaped and cut short. */
static const char *
show(const char *line, size_t len)
{
	static char	buf[128];
	size_t		i, n = 0;

	for (i = 0; i < len && n < sizeof buf - 8; i++) {
		unsigned char	ch = (unsigned char)line[i];

		if (ch == '\r')
			n += (size_t)snprintf(buf + n, sizeof buf - n, "\\r");
		else if (ch == '\n')
			n += (size_t)snprintf(buf + n, sizeof buf - n, "\\n");
		else if (ch < 0x20 || ch >= 0x7f)
			n += (size_t)snprintf(buf + n, sizeof buf - n, "\\x%02x",
			    ch);
		else
			buf[n++] = (char)ch;
	}
	buf[n] = '\0';
	return (buf);
}

/* The one reply to a line. */
static const char *
reply(struct fake *f, const char *line, size_t len)
{
	send_raw(f, line, len);
	if (f->nreplies != 1)
		fail_msg("\"%s\": %zu replies, want exactly one%s%s",
		    show(line, len), f->nreplies, f->nreplies > 0 ? ": " : "",
		    f->nreplies > 0 ? f->replies[0] : "");
	return (f->replies[0]);
}

/* Exactly this reply. */
static void
expect(struct fake *f, const char *line, const char *want)
{
	const char	*got = reply(f, line, strlen(line));

	if (strcmp(got, want) != 0)
		fail_msg("\"%s\": got \"%s\", want \"%s\"",
		    show(line, strlen(line)), got, want);
}

/* A reply that starts with want. */
static void
expect_prefix(struct fake *f, const char *line, size_t len, const char *want)
{
	const char	*got = reply(f, line, len);

	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("\"%s\": got \"%.100s\", want \"%s...\"",
		    show(line, len), got, want);
}

/*
 * Give a fake connection an identity without the journal (NICK's journaled
 * path is test_identity.py's): a guest account, made or taken over.
 */
static void
identify(struct fake *f, const char *name)
{
	struct account	*a;

	if ((a = account_find(name)) == NULL)
		a = account_add(name, 0, NULL);
	ident_switch(&f->c, a, NULL, ACCOUNT_VIA_NICK);
}

static int
setup(void **state UNUSED)
{
	config_defaults(&config);
	if ((base = event_base_new()) == NULL)
		fail_msg("event_base_new");
	/* As wschatd.c: the batch flush and the streams run at priority 2. */
	if (event_base_priority_init(base, 3) != 0)
		fail_msg("event_base_priority_init");
	cmd_init(base, NULL);
	fake_init(&fa, 1);
	fake_init(&fb, 2);
	return (0);
}

static int
teardown(void **state UNUSED)
{
	fake_free(&fa);
	fake_free(&fb);
	state_clear();
	account_clear();
	client_shutdown();
	batch_free();
	event_base_free(base);
	config_free(&config);
	return (0);
}

/* A verb not in the table: UNKNOWN, quoting the verb. */
static void
t_unknown(void **state UNUSED)
{
	const char	*got, *p;
	char		 line[200];

	expect(&fa, "FROB", "ERROR UNKNOWN unknown command: FROB");
	expect(&fa, "FROB a b", "ERROR UNKNOWN unknown command: FROB");
	expect(&fa, "PINGX", "ERROR UNKNOWN unknown command: PINGX");
	expect(&fa, "PIN", "ERROR UNKNOWN unknown command: PIN");

	/* A long or hostile verb is quoted short and printable. */
	memset(line, 'Z', 150);
	line[150] = '\0';
	got = reply(&fa, line, 150);
	assert_true(strncmp(got, "ERROR UNKNOWN ", 14) == 0);
	assert_true(strlen(got) < 14 + 64);
	/* Control bytes anywhere in a line are a syntax error. */
	expect(&fa, "FR\x01\x1b[2J", "ERROR BADARGS control character in line");
	got = reply(&fa, "FR\xc3\xa9\xff", 5);
	assert_true(strncmp(got, "ERROR UNKNOWN ", 14) == 0);
	for (p = got; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			fail_msg("unprintable byte 0x%02x quoted back",
			    (unsigned char)*p);
	}
}

/* Too few arguments: the entry's missing text, else its usage. */
static void
t_too_few(void **state UNUSED)
{
	const struct cmd_entry	**e;
	char			  line[256], want[256];
	size_t			  len;
	int			  i, n;

	expect(&fa, "SUBEVENT",
	    "ERROR BADARGS SUBEVENT requires event type argument");
	identify(&fa, "alice");
	for (e = cmd_table; *e != NULL; e++) {
		if ((*e)->missing != NULL)
			snprintf(want, sizeof want, "ERROR BADARGS %s",
			    (*e)->missing);
		else
			snprintf(want, sizeof want, "ERROR BADARGS usage: %s",
			    (*e)->usage);
		/* Every count short of lower. */
		for (n = 0; n < (*e)->lower; n++) {
			len = (size_t)snprintf(line, sizeof line, "%s",
			    (*e)->name);
			for (i = 0; i < n; i++)
				len += (size_t)snprintf(line + len,
				    sizeof line - len, " x");
			expect(&fa, line, want);
		}
	}
	/* Nothing ran: alice still has no channels, no intents. */
	assert_int_equal(state_nchannels, 0);
	assert_int_equal(fa.c.c_intents, 0);
}

/* Too many arguments: "usage: <usage line>". */
static void
t_too_many(void **state UNUSED)
{
	const struct cmd_entry	**e;
	char			  line[256], want[256];
	size_t			  len;
	int			  i;

	expect(&fa, "PING a b", "ERROR BADARGS usage: PING [<token>]");
	expect(&fa, "LIST x", "ERROR BADARGS usage: LIST");
	identify(&fa, "alice");
	for (e = cmd_table; *e != NULL; e++) {
		if ((*e)->flags & CMD_REST)
			continue;	/* the rest absorbs extra words */
		if ((*e)->upper + 1 > PROTO_MAXARGS)
			continue;
		len = (size_t)snprintf(line, sizeof line, "%s", (*e)->name);
		for (i = 0; i < (*e)->upper + 1; i++)
			len += (size_t)snprintf(line + len, sizeof line - len,
			    " x");
		snprintf(want, sizeof want, "ERROR BADARGS usage: %s",
		    (*e)->usage);
		expect(&fa, line, want);
	}
	assert_int_equal(state_nchannels, 0);
	assert_int_equal(fa.c.c_intents, 0);
	/* Past what the tokenizer takes at all: still BADARGS. */
	expect_prefix(&fa, "PING 1 2 3 4 5 6 7 8 9 10", 25, "ERROR BADARGS ");
}

/* Commands that need a name, before NICK: NOTIDENTIFIED, nothing done. */
static void
t_not_identified(void **state UNUSED)
{
	const struct cmd_entry	**e;
	char			  line[256];
	size_t			  len, n = 0;
	int			  i;

	for (e = cmd_table; *e != NULL; e++) {
		if (!((*e)->flags & CMD_NEEDNAME))
			continue;
		n++;
		len = (size_t)snprintf(line, sizeof line, "%s", (*e)->name);
		for (i = 0; i < (*e)->lower; i++)
			len += (size_t)snprintf(line + len, sizeof line - len,
			    " x");
		expect_prefix(&fa, line, len, "ERROR NOTIDENTIFIED ");
	}
	assert_true(n > 0);
	expect_prefix(&fa, "CREATE general", 14, "ERROR NOTIDENTIFIED ");
	expect_prefix(&fa, "MSG general hello there", 23,
	    "ERROR NOTIDENTIFIED ");
	assert_int_equal(state_nchannels, 0);
	assert_int_equal(state_nusers(), 0);
}

/* max_line: a line of exactly max_line runs, one byte more is TOOLONG. */
static void
t_too_long(void **state UNUSED)
{
	char	*line, *want;
	size_t	 max = (size_t)config.max_line;

	line = xmalloc(max + 2);
	memcpy(line, "PING ", 5);
	memset(line + 5, 't', max + 1 - 5);
	line[max] = '\0';
	xasprintf(&want, "PONG %s", line + 5);
	expect(&fa, line, want);
	free(want);

	line[max] = 't';
	line[max + 1] = '\0';
	expect_prefix(&fa, line, max + 1, "ERROR TOOLONG ");
	/* Long lines are refused before the verb is looked at. */
	memset(line, 'Q', max + 1);
	expect_prefix(&fa, line, max + 1, "ERROR TOOLONG ");
	free(line);

	/* The setting, not a constant, is the bound. */
	config.max_line = 64;
	expect_prefix(&fa, "PING 0123456789012345678901234567890123456789"
	    "01234567890123456789", 65, "ERROR TOOLONG ");
	expect(&fa, "PING 0123456789012345678901234567890123456789"
	    "0123456789012345678", "PONG 0123456789012345678901234567890123456789"
	    "0123456789012345678");
	/* The connection is still usable. */
	expect(&fa, "PING ok", "PONG ok");
}

/* PING [token] answers PONG [token]. */
static void
t_ping(void **state UNUSED)
{
	expect(&fa, "PING", "PONG");
	expect(&fa, "PING token-1", "PONG token-1");
	expect(&fa, "PING h\xc3\xa9", "PONG h\xc3\xa9");
}

/* Malformed lines: BADARGS with the tokenizer's cause; nothing runs. */
static void
t_syntax(void **state UNUSED)
{
	static const char	*bad[] = {
		"PING  x", "PING x ", " PING", "PING x  y", "PING a\x01z",
		"PING \x7f", "PING a\tb", " ", "LIST ", "NICK  alice",
		"SUBEVENT  channel", "SUBEVENT channel ",
	};
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_prefix(&fa, bad[i], strlen(bad[i]), "ERROR BADARGS ");
	expect_prefix(&fa, "", 0, "ERROR BADARGS ");
	expect_prefix(&fa, "PING a\0b", 8, "ERROR BADARGS ");
	expect_prefix(&fa, "NICK al\0ice", 11, "ERROR BADARGS ");
	assert_null(fa.c.c_user);
	assert_int_equal(fa.c.c_intents, 0);
	expect(&fa, "PING ok", "PONG ok");
}

/* One trailing \r\n or \n is ignored (PROTOCOL.md, "Transport"). */
static void
t_line_ending(void **state UNUSED)
{
	expect(&fa, "PING x\r\n", "PONG x");
	expect(&fa, "PING x\n", "PONG x");
	expect(&fa, "UNSUBEVENT user\r\n", "CONFIRM UNSUBEVENT user");
	/* Verb-only lines too. */
	expect(&fa, "PING\n", "PONG");
	expect(&fa, "PING\r\n", "PONG");
	expect(&fa, "LSEVENTS\r\n", "LSEVENTS 0");
	expect(&fa, "LIST\n", "LIST 0");
}

/* SUBEVENT / UNSUBEVENT / LSEVENTS, and the intent index behind them. */
static void
t_intents(void **state UNUSED)
{
	expect(&fa, "SUBEVENT bogus",
	    "ERROR BADARGS Unsupported event type: bogus");
	expect(&fa, "UNSUBEVENT bogus",
	    "ERROR BADARGS Unsupported event type: bogus");
	expect(&fa, "SUBEVENT Channel",
	    "ERROR BADARGS Unsupported event type: Channel");
	expect(&fa, "UNSUBEVENT",
	    "ERROR BADARGS UNSUBEVENT requires event type argument");
	expect(&fa, "LSEVENTS", "LSEVENTS 0");

	/* No NICK needed. */
	expect(&fa, "SUBEVENT channel", "CONFIRM SUBEVENT channel");
	expect(&fa, "SUBEVENT message", "CONFIRM SUBEVENT message");
	expect(&fa, "LSEVENTS", "LSEVENTS 2 channel message");
	assert_int_equal(intent_count(INTENT_CHANNEL), 1);
	assert_ptr_equal(intent_first(INTENT_CHANNEL), &fa.c);
	assert_int_equal(intent_count(INTENT_MESSAGE), 1);
	assert_int_equal(intent_count(INTENT_USER), 0);

	/* Again: still one intent, still confirmed. */
	expect(&fa, "SUBEVENT channel", "CONFIRM SUBEVENT channel");
	expect(&fa, "LSEVENTS", "LSEVENTS 2 channel message");
	assert_int_equal(intent_count(INTENT_CHANNEL), 1);

	/* Intents are per connection. */
	expect(&fb, "LSEVENTS", "LSEVENTS 0");
	expect(&fb, "SUBEVENT user", "CONFIRM SUBEVENT user");
	expect(&fb, "SUBEVENT channel", "CONFIRM SUBEVENT channel");
	assert_int_equal(intent_count(INTENT_CHANNEL), 2);

	expect(&fa, "UNSUBEVENT channel", "CONFIRM UNSUBEVENT channel");
	expect(&fa, "LSEVENTS", "LSEVENTS 1 message");
	expect(&fa, "UNSUBEVENT channel", "CONFIRM UNSUBEVENT channel");
	expect(&fa, "SUBEVENT user", "CONFIRM SUBEVENT user");
	expect(&fa, "LSEVENTS", "LSEVENTS 2 user message");
	assert_int_equal(intent_count(INTENT_CHANNEL), 1);
	assert_ptr_equal(intent_first(INTENT_CHANNEL), &fb.c);
	expect(&fb, "LSEVENTS", "LSEVENTS 2 channel user");
	state_check();
}

/* NICK: the name rule, a taken name, guests off; nothing changes on error. */
static void
t_nick(void **state UNUSED)
{
	char	line[64];

	expect_prefix(&fa, "NICK al!ce", 10, "ERROR BADARGS ");
	expect_prefix(&fa, "NICK \xc3\xa5lice", 11, "ERROR BADARGS ");
	assert_null(fa.c.c_user);
	/* A name with an account is taken, whoever holds it, if anyone. */
	account_add("alice", 0, NULL);
	expect(&fb, "NICK alice", "ERROR NAMEINUSE alice is taken");
	assert_null(fb.c.c_user);
	account_add("reg", 1, "$argon2id$x");
	identify(&fa, "bob");
	expect(&fa, "NICK reg", "ERROR NAMEINUSE reg is taken");
	assert_string_equal(fa.c.c_user->u_name, "bob");
	/* max_name + 1 bytes. */
	memset(line, 0, sizeof line);
	memcpy(line, "NICK ", 5);
	memset(line + 5, 'n', (size_t)config.max_name + 1);
	expect_prefix(&fa, line, strlen(line), "ERROR BADARGS ");
	/* guests = no. */
	config.guests = 0;
	expect_prefix(&fb, "NICK carol", 10, "ERROR FORBIDDEN ");
	assert_null(fb.c.c_user);
	assert_null(account_find("carol"));
	state_check();
}

/* LIST and LSSUBS read the state: creation and join order. */
static void
t_list_lssubs(void **state UNUSED)
{
	struct channel	*b, *a;
	struct member	*m;

	expect(&fa, "LIST", "LIST 0");
	identify(&fa, "alice");
	expect(&fa, "LSSUBS", "LSSUBS 0");
	b = state_channel_add("bravo", "alice", 1);
	a = state_channel_add("alpha", "alice", 2);
	expect(&fa, "LIST", "LIST 2 bravo alpha");
	m = state_member_add(fa.c.c_user, a, 3);
	state_member_add(fa.c.c_user, b, 4);
	expect(&fa, "LSSUBS", "LSSUBS 2 alpha bravo");
	state_member_del(m, 5);
	expect(&fa, "LSSUBS", "LSSUBS 1 bravo");
	/* Membership belongs to the name, not the connection. */
	identify(&fb, "carol");
	expect(&fb, "LSSUBS", "LSSUBS 0");
	state_user_detach(&fa.c);
	identify(&fb, "alice");
	expect(&fb, "LSSUBS", "LSSUBS 1 bravo");
	state_check();
}

/*
 * Channel rights, the one rule: the owner or an admin (CMD_OWNER), else
 * FORBIDDEN; a private channel the user may not see is NOSUCHCHANNEL,
 * word for word as a missing one. An admin passes the owner check and
 * sees every channel: the refusals after it (NOTMEMBER, BADARGS) prove it
 * without a journal write. Only these refusals run here; the writes are
 * test_access.py's.
 */
static void
t_channel_rights(void **state UNUSED)
{
	static const char	*rights[] = { "DELETE pub", "KICK pub alice",
				    "BAN pub alice", "UNBAN pub alice",
				    "INVITE pub carol" };
	struct channel		*pub, *priv;
	size_t			 i;

	identify(&fa, "alice");
	identify(&fb, "bob");
	pub = state_channel_add("pub", "alice", 1);
	priv = state_channel_add("secret", "alice", 2);
	priv->ch_private = 1;
	state_member_add(fa.c.c_user, pub, 3);

	/* bob: neither owner nor admin. */
	expect(&fb, "LIST", "LIST 1 pub");
	expect(&fa, "LIST", "LIST 2 pub secret");
	for (i = 0; i < sizeof rights / sizeof rights[0]; i++)
		expect_prefix(&fb, rights[i], strlen(rights[i]),
		    "ERROR FORBIDDEN ");
	expect(&fb, "KICK secret alice", "ERROR NOSUCHCHANNEL no channel secret");
	expect(&fb, "KICK absent alice", "ERROR NOSUCHCHANNEL no channel absent");
	expect(&fb, "SUB secret", "ERROR NOSUCHCHANNEL no channel secret");
	expect(&fb, "HISTORY secret", "ERROR NOSUCHCHANNEL no channel secret");
	expect(&fb, "INVITE secret bob", "ERROR NOSUCHCHANNEL no channel secret");

	/* The owner passes the check. */
	expect(&fa, "KICK pub carol", "ERROR NOTMEMBER carol is not a member "
	    "of pub");

	/* bob as an admin: past the owner check, in any channel. */
	fb.c.c_user->u_admin = 1;
	expect(&fb, "LIST", "LIST 2 pub secret");
	expect(&fb, "KICK pub carol", "ERROR NOTMEMBER carol is not a member "
	    "of pub");
	expect(&fb, "KICK secret carol", "ERROR NOTMEMBER carol is not a member "
	    "of secret");
	expect(&fb, "UNBAN secret carol", "ERROR BADARGS carol is not banned "
	    "from secret");
	expect(&fb, "INVITE pub carol", "ERROR BADARGS pub is public: anyone "
	    "may SUB");
	fb.c.c_user->u_admin = 0;

	/* Invited: bob sees it, but has no right in it. */
	state_access_add(priv, STATE_INVITE, "bob");
	expect(&fb, "LIST", "LIST 2 pub secret");
	expect_prefix(&fb, "KICK secret alice", 17, "ERROR FORBIDDEN ");
	expect(&fb, "HISTORY secret", "ERROR NOTMEMBER not subscribed to secret; "
	    "SUB secret first");

	/* Banned: SUB is FORBIDDEN, with no write. */
	state_access_add(pub, STATE_BAN, "bob");
	expect(&fb, "SUB pub", "ERROR FORBIDDEN you are banned from pub");
	state_check();
}

/* --- streams: SNAPSHOT and RESUME in pages --------------------------------- */

#define STREAM_CHANNELS	1100	/* rows: more than two pages of 512 */

struct jfix {
	char		 dir[64];
	char		 path[128];
	int		 done;
};

static void
jfix_done(void *batch, int ok, const char *cause, void *arg)
{
	struct jfix	*jf = arg;

	if (!ok)
		fail_msg("journal commit: %s", cause);
	jf->done = 1;
}

/* A journal of n channels, created by olga, as cmd_journal. */
static void
jfix_open(struct jfix *jf, int n)
{
	struct eventlog		 log;
	struct journal_rec	*recs;
	char			*cause = NULL, **names, **datas;
	int			 i;

	memset(jf, 0, sizeof *jf);
	snprintf(jf->dir, sizeof jf->dir, "/tmp/wschat-test.XXXXXX");
	if (mkdtemp(jf->dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(jf->path, sizeof jf->path, "%s/wschat.db", jf->dir);
	cmd_journal = journal_open(jf->path, JOURNAL_SYNC_NORMAL, &cause);
	if (cmd_journal == NULL)
		fail_msg("journal_open: %s", cause);

	recs = xcalloc(n, sizeof *recs);
	names = xcalloc(n, sizeof *names);
	datas = xcalloc(n, sizeof *datas);
	for (i = 0; i < n; i++) {
		xasprintf(&names[i], "ch%04d", i);
		xasprintf(&datas[i], "{\"seq\":%d,\"ts\":%d,\"username\":\"olga\"}",
		    i + 1, 1000 + i);
		recs[i].seq = i + 1;
		recs[i].ts = 1000 + i;
		recs[i].type = "channel";
		recs[i].action = "CREATE";
		recs[i].resource = names[i];
		recs[i].actor = "olga";
		recs[i].data = datas[i];
	}
	if (journal_start(cmd_journal, base, jfix_done, jf, &cause) != 0)
		fail_msg("journal_start: %s", cause);
	journal_submit(cmd_journal, recs, recs, n);
	while (!jf->done)
		event_base_loop(base, EVLOOP_ONCE);
	journal_stop(cmd_journal);
	for (i = 0; i < n; i++) {
		free(names[i]);
		free(datas[i]);
	}
	free(names);
	free(datas);
	free(recs);
	/* The state and the group commit (RESUME's head), as main.c does. */
	wevent_init(cmd_journal);
	if (wevent_load() != 0)
		fail_msg("wevent_load");
	journal_eventlog(cmd_journal, &log);
	if (batch_init(base, &log) != 0)
		fail_msg("batch_init");
}

static void
jfix_close(struct jfix *jf)
{
	char	path[160];

	batch_free();

	journal_close(cmd_journal);
	cmd_journal = NULL;
	unlink(jf->path);
	snprintf(path, sizeof path, "%s-wal", jf->path);
	unlink(path);
	snprintf(path, sizeof path, "%s-shm", jf->path);
	unlink(path);
	rmdir(jf->dir);
}

/* Dispatch a line without reading the output (a stream writes a lot). */
static void
dispatch(struct fake *f, const char *line)
{
	char	*copy = xstrdup(line);

	cmd_dispatch(&f->c, copy, strlen(copy));
	free(copy);
}

/* Everything the server wrote to f, as text lines; returns how many. */
static size_t
stream_lines(struct fake *f, char ***linesp)
{
	struct evbuffer	*bufs[2];
	unsigned char	*p;
	size_t		 len, used, n = 0;
	char		**lines = NULL;
	int		 i;

	bufs[0] = bufferevent_get_input(f->pair[1]);
	bufs[1] = bufferevent_get_output(f->pair[0]);
	for (i = 0; i < 2; i++) {
		while ((len = evbuffer_get_length(bufs[i])) > 0) {
			p = evbuffer_pullup(bufs[i], -1);
			if (ws_parse(&f->p, p, len, &used) != WS_MESSAGE ||
			    f->p.out_opcode != WS_OP_TEXT)
				fail_msg("not a text message in the output");
			lines = xreallocarray(lines, n + 1, sizeof *lines);
			lines[n++] = xstrndup((const char *)f->p.out_data,
			    f->p.out_len);
			evbuffer_drain(bufs[i], used);
		}
	}
	*linesp = lines;
	return (n);
}

static void
free_lines(char **lines, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/*
 * The batch flush's stand-in, due while a stream runs (another client's
 * MSG arrived): when it gets its turn it notes whether the stream is still
 * on, and "commits" an event that the streaming client must get after the
 * stream's last line.
 */
struct turn {
	struct client	*t_client;
	int		 t_ran;
	int		 t_streaming;
};

static void
turn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct turn	*t = arg;
	struct wevent	*ev;

	t->t_ran++;
	t->t_streaming = t->t_client->c_stream != NULL;
	ev = wevent_build(STREAM_CHANNELS + 1, 5000, "channel", "CREATE",
	    "late", "olga", "{\"seq\":1101,\"ts\":5000,\"username\":\"olga\"}");
	stream_deliver(t->t_client, ev->ev_seq, ev->ev_frame, ev->ev_framelen);
	wevent_free(ev);
}

/* Run the loop until f's stream has ended. */
static void
stream_run(struct fake *f)
{
	int	i;

	for (i = 0; i < 10000 && f->c.c_stream != NULL; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	if (f->c.c_stream != NULL)
		fail_msg("the stream did not end");
	event_base_loop(base, EVLOOP_NONBLOCK);
}

/*
 * A long SNAPSHOT or RESUME takes turns with group commit: a flush due
 * mid-stream runs before the stream's last page, not after it. (SNAPSHOT's
 * pages used to run at the default priority, which starved the flush, at
 * the lowest, until SNAPSHOT END.) The event it commits is held and comes
 * right after the stream's last line.
 */
static void
t_stream_turns(void **state UNUSED)
{
	const char	*cmds[] = { "SNAPSHOT", "RESUME 0" };
	const char	*last[] = { "SNAPSHOT END 1100", "RESUMED 1100 1100" };
	const char	*first[] = { "SNAPSHOT BEGIN 1100", "EVENT channel CREATE "
			    "ch0000 " };
	struct jfix	 jf;
	struct turn	 t;
	struct event	*flush;
	char		**lines;
	size_t		 i, n, want;

	jfix_open(&jf, STREAM_CHANNELS);
	identify(&fa, "rita");
	expect(&fa, "SUBEVENT channel", "CONFIRM SUBEVENT channel");
	for (i = 0; i < 2; i++) {
		memset(&t, 0, sizeof t);
		t.t_client = &fa.c;
		flush = event_new(base, -1, 0, turn_cb, &t);
		if (flush == NULL || event_priority_set(flush, 2) != 0)
			fail_msg("event_new");

		dispatch(&fa, cmds[i]);
		assert_non_null(fa.c.c_stream);
		assert_int_equal(fa.c.c_refs, 2);
		event_active(flush, EV_TIMEOUT, 0);
		stream_run(&fa);
		if (t.t_ran != 1 || !t.t_streaming)
			fail_msg("%s: the flush ran %s", cmds[i], t.t_ran == 0 ?
			    "never" : "only after the stream ended");
		assert_null(fa.c.c_stream);
		assert_int_equal(fa.c.c_refs, 1);

		/* BEGIN (or the first event), a line a row, the end, the event. */
		n = stream_lines(&fa, &lines);
		want = STREAM_CHANNELS + (i == 0 ? 2 : 1) + 1;
		if (n != want)
			fail_msg("%s: %zu lines, want %zu", cmds[i], n, want);
		if (strncmp(lines[0], first[i], strlen(first[i])) != 0)
			fail_msg("%s: first line %s", cmds[i], lines[0]);
		assert_string_equal(lines[n - 2], last[i]);
		assert_string_equal(lines[n - 1], "EVENT channel CREATE late "
		    "{\"seq\":1101,\"ts\":5000,\"username\":\"olga\"}");
		free_lines(lines, n);
		event_free(flush);

		/* The connection takes commands again. */
		expect(&fa, "PING x", "PONG x");
	}
	jfix_close(&jf);
}

/*
 * A client that goes away mid-stream, while the stream waits for output
 * that will never drain (no write callback will come), still ends it: the
 * cursor is closed and the reference given back.
 */
static void
t_stream_close(void **state UNUSED)
{
	struct fake	*fakes[] = { &fa, &fb };
	const char	*cmds[] = { "SNAPSHOT", "RESUME 0" };
	struct fake	*f;
	struct jfix	 jf;
	size_t		 i;
	int		 j;

	jfix_open(&jf, STREAM_CHANNELS);
	identify(&fa, "sam");	/* SNAPSHOT needs an identity too */
	identify(&fb, "rita");
	expect(&fb, "SUBEVENT channel", "CONFIRM SUBEVENT channel");
	config.max_output = 4096;
	for (i = 0; i < 2; i++) {
		f = fakes[i];
		/* The peer stops reading: the output stays queued. */
		bufferevent_disable(f->pair[1], EV_READ);
		dispatch(f, cmds[i]);
		for (j = 0; j < 10; j++)
			event_base_loop(base, EVLOOP_NONBLOCK);
		assert_non_null(f->c.c_stream);
		assert_true(client_output_len(&f->c) > 2048);
		client_close(&f->c, WS_CLOSE_GOING_AWAY, "test");
		stream_run(f);
		assert_int_equal(f->c.c_refs, 1);
	}
	jfix_close(&jf);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(t_table),
		cmocka_unit_test(t_table_doc),
		cmocka_unit_test(t_table_doc_needname),
		cmocka_unit_test(t_table_doc_reads),
		cmocka_unit_test(t_table_integration_tests),
		cmocka_unit_test_setup_teardown(t_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(t_too_few, setup, teardown),
		cmocka_unit_test_setup_teardown(t_too_many, setup, teardown),
		cmocka_unit_test_setup_teardown(t_not_identified, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(t_ping, setup, teardown),
		cmocka_unit_test_setup_teardown(t_syntax, setup, teardown),
		cmocka_unit_test_setup_teardown(t_line_ending, setup, teardown),
		cmocka_unit_test_setup_teardown(t_intents, setup, teardown),
		cmocka_unit_test_setup_teardown(t_nick, setup, teardown),
		cmocka_unit_test_setup_teardown(t_list_lssubs, setup, teardown),
		cmocka_unit_test_setup_teardown(t_channel_rights, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_stream_turns, setup, teardown),
		cmocka_unit_test_setup_teardown(t_stream_close, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
