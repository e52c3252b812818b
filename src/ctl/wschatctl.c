/*
 * wschatctl.c: the administrator's tool for a wschat journal. It opens the
 * database beside a running wschatd (WAL lets it read while the daemon
 * writes; writes wait on the busy timeout) and never migrates it. Every
 * database access goes through journal.c.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <termios.h>

#include "wschatd.h"

#define CTL_TAIL_DEFAULT	10
#define CTL_HISTORY_DEFAULT	20
#define CTL_FOLLOW_MS		200
#define CTL_FOLLOW_PAGE		1000
#define CTL_PWHASH_OPSLIMIT	2		/* OWASP's minimum, as wschatd's default */
#define CTL_PWHASH_MEMLIMIT	(19 * 1024 * 1024)

/* The usage text: on stdout for -h, else on stderr as a usage error. */
static __dead void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: wschatctl [-V] [-d db] command [args]\n"
	    "       stats\n"
	    "       tail [-f] [-n count]\n"
	    "       history channel [-n count]\n"
	    "       prune [--events count] [--days days]\n"
	    "       check\n"
	    "       backup file\n"
	    "       user add|passwd|disable|enable|admin|unadmin name\n"
	    "       user list\n"
	    "       tokens revoke name\n");
	exit(status);
}

/* Print an error and exit 1. */
static __dead void
ctl_fail(const char *what, char *cause)
{
	if (what != NULL)
		fprintf(stderr, "wschatctl: %s: %s\n", what, cause);
	else
		fprintf(stderr, "wschatctl: %s\n", cause);
	free(cause);
	exit(1);
}

/* A non-negative decimal argument, or a usage error. */
static int64_t
ctl_number(const char *opt, const char *s)
{
	char		*end;
	long long	 v;

	if (s == NULL)
		usage(2);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno == ERANGE) {
		fprintf(stderr, "wschatctl: %s: not a count: %s\n", opt, s);
		exit(2);
	}
	return (v);
}

/* Parse a trailing "-n N"; everything else is a usage error. */
static int64_t
ctl_count(int argc, char **argv, int64_t dflt, int *follow)
{
	int	i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			dflt = ctl_number("-n", argv[++i]);
		else if (follow != NULL && strcmp(argv[i], "-f") == 0)
			*follow = 1;
		else
			usage(2);
	}
	return (dflt);
}

/* events, head, oldest, counts, sizes and the epoch. */
static int
ctl_stats(struct journal *j, int argc, char **argv)
{
	struct journal_stats	 js;
	char			*cause = NULL;

	if (argc != 0)
		usage(2);
	if (journal_stats(j, &js, &cause) != 0)
		ctl_fail("stats", cause);
	printf("epoch        %s\n", journal_epoch(j));
	printf("schema       %d\n", js.schema_version);
	printf("events       %lld\n", (long long)js.events);
	printf("head         %lld\n", (long long)js.head);
	if (js.events > 0)
		printf("oldest       %lld\n", (long long)js.first);
	else
		printf("oldest       none (next is %lld)\n", (long long)js.first);
	printf("channels     %lld\n", (long long)js.channels);
	printf("users        %lld\n", (long long)js.users);
	printf("memberships  %lld\n", (long long)js.memberships);
	printf("db bytes     %lld\n", (long long)js.db_bytes);
	printf("wal bytes    %lld\n", (long long)js.wal_bytes);
	return (0);
}

/* One event as the wire shows it; remembers the last seq printed. */
static int
ctl_print_event(const struct journal_rec *r, void *arg)
{
	int64_t	*last = arg;

	printf("EVENT %s %s %s %s\n", r->type, r->action, r->resource, r->data);
	*last = r->seq;
	return (0);
}

/* The last N events, then (-f) new ones as they are committed. */
static int
ctl_tail(struct journal *j, int argc, char **argv)
{
	struct journal_stats	 js;
	struct timespec		 ts = { 0, CTL_FOLLOW_MS * 1000000L };
	char			*cause = NULL;
	int64_t			 n, last = -1;
	int			 follow = 0, got;

	n = ctl_count(argc, argv, CTL_TAIL_DEFAULT, &follow);
	if (journal_stats(j, &js, &cause) != 0)
		ctl_fail("tail", cause);
	if (journal_tail(j, (size_t)n, ctl_print_event, &last, &cause) == -1)
		ctl_fail("tail", cause);
	fflush(stdout);
	if (!follow)
		return (0);
	if (last == -1)
		last = js.head;
	for (;;) {
		got = journal_events(j, last, -1, CTL_FOLLOW_PAGE,
		    ctl_print_event, &last, &cause);
		if (got == -1)
			ctl_fail("tail", cause);
		if (got > 0) {
			if (fflush(stdout) == EOF)
				return (1);
			if (got == CTL_FOLLOW_PAGE)
				continue;
		}
		nanosleep(&ts, NULL);
	}
}

struct ctl_lines {
	char	**lines;
	size_t	  n;
};

/* A message as "time #seq <user> text", newest first into an array. */
static int
ctl_history_line(const struct journal_rec *r, void *arg)
{
	struct ctl_lines	*l = arg;
	json_t			*o;
	json_error_t		 jerr;
	const char		*text = NULL;
	char			 stamp[32];
	struct tm		 tm;
	time_t			 t;

	o = json_loads(r->data, 0, &jerr);
	if (o != NULL)
		text = json_string_value(json_object_get(o, "text"));
	t = (time_t)(r->ts / 1000);
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	l->lines = xreallocarray(l->lines, l->n + 1, sizeof *l->lines);
	xasprintf(&l->lines[l->n++], "%s.%03dZ #%lld <%s> %s", stamp,
	    (int)(r->ts % 1000), (long long)r->seq,
	    r->actor != NULL ? r->actor : "?", text != NULL ? text : r->data);
	json_decref(o);
	return (0);
}

/* A channel's last N messages, oldest first, like a chat log. */
static int
ctl_history(struct journal *j, int argc, char **argv)
{
	struct ctl_lines	 l = { NULL, 0 };
	char			*cause = NULL;
	int64_t			 n;
	size_t			 i;

	if (argc < 1 || argv[0][0] == '-')
		usage(2);
	n = ctl_count(argc - 1, argv + 1, CTL_HISTORY_DEFAULT, NULL);
	if (n == 0)
		return (0);
	if (journal_history(j, argv[0], 0, (size_t)n, ctl_history_line, &l,
	    &cause) == -1)
		ctl_fail("history", cause);
	for (i = l.n; i > 0; i--) {
		printf("%s\n", l.lines[i - 1]);
		free(l.lines[i - 1]);
	}
	free(l.lines);
	return (0);
}

/* Delete old events now, in small transactions beside the daemon. */
static int
ctl_prune(struct journal *j, int argc, char **argv)
{
	struct journal_stats	 js;
	char			*cause = NULL;
	int64_t			 keep_events = 0, keep_days = 0;
	int			 i, n;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
			keep_events = ctl_number("--events", argv[++i]);
		else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc)
			keep_days = ctl_number("--days", argv[++i]);
		else
			usage(2);
	}
	if (keep_events <= 0 && keep_days <= 0) {
		fprintf(stderr, "wschatctl: prune: give --events N (N > 0) "
		    "and/or --days N (N > 0)\n");
		exit(2);
	}
	if ((n = journal_prune(j, keep_events, keep_days, 0, &cause)) == -1)
		ctl_fail("prune", cause);
	if (journal_stats(j, &js, &cause) != 0)
		ctl_fail("prune", cause);
	printf("pruned %d events; %lld left, oldest %lld, head %lld\n", n,
	    (long long)js.events, (long long)js.first, (long long)js.head);
	return (0);
}

static void
ctl_problem(const char *problem, void *arg)
{
	printf("%s\n", problem);
}

/* integrity_check and the journal's invariants: "ok" or the problems. */
static int
ctl_check(struct journal *j, int argc, char **argv)
{
	char	*cause = NULL;
	int	 n;

	if (argc != 0)
		usage(2);
	if ((n = journal_check(j, ctl_problem, NULL, &cause)) == -1)
		ctl_fail("check", cause);
	if (n == 0) {
		printf("ok\n");
		return (0);
	}
	return (1);
}

/* A consistent copy taken with the online backup API. */
static int
ctl_backup(struct journal *j, int argc, char **argv)
{
	char	*cause = NULL;

	if (argc != 1)
		usage(2);
	if (journal_backup(j, argv[0], &cause) != 0)
		ctl_fail("backup", cause);
	printf("backed up to %s\n", argv[0]);
	return (0);
}

/* Names of accounts: [A-Za-z0-9_.-], 1..255 bytes (wschatd checks max_name). */
static int
ctl_valid_name(const char *s)
{
	size_t	n = strlen(s);

	return (n >= 1 && n <= 255 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n);
}

/* journal_query callback: count rows. */
static int
ctl_count_row(int ncols, const char *const *values, void *arg)
{
	(*(int *)arg)++;
	return (0);
}

/* Does the account exist (as the database says now)? */
static int
ctl_account_exists(struct journal *j, const char *name)
{
	char	*sql, *cause = NULL;
	int	 n = 0;

	/* Names are [A-Za-z0-9_.-] (checked): no quoting can break out. */
	xasprintf(&sql, "SELECT 1 FROM accounts WHERE name = '%s'", name);
	if (journal_query(j, sql, ctl_count_row, &n, &cause) == -1)
		ctl_fail("user", cause);
	free(sql);
	return (n > 0);
}

/* Read a password: from the terminal without echo, else a line of stdin. */
static char *
ctl_password(const char *prompt)
{
	struct termios	 old, quiet;
	char		*line = NULL;
	size_t		 cap = 0;
	ssize_t		 n;
	int		 tty = isatty(STDIN_FILENO);

	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	n = getline(&line, &cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (n <= 0) {
		free(line);
		ctl_fail(NULL, xstrdup("no password given"));
	}
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	if (n < 8 || n > 256 || !ws_utf8_valid((unsigned char *)line, n)) {
		sodium_memzero(line, cap);
		free(line);
		ctl_fail(NULL, xstrdup("a password is 8 to 256 bytes of UTF-8"));
	}
	return (line);
}

/* The Argon2id string of a password read as ctl_password() does. */
static char *
ctl_pwhash(void)
{
	char	 out[crypto_pwhash_STRBYTES], *pw;

	pw = ctl_password("password: ");
	if (sodium_init() < 0 || crypto_pwhash_str(out, pw, strlen(pw),
	    CTL_PWHASH_OPSLIMIT, CTL_PWHASH_MEMLIMIT) != 0)
		ctl_fail(NULL, xstrdup("cannot hash the password"));
	sodium_memzero(pw, strlen(pw));
	free(pw);
	return (xstrdup(out));
}

/* journal_query callback: one line of user list. */
static int
ctl_user_row(int ncols, const char *const *v, void *arg)
{
	printf("%-20s %-10s %-5s %-8s %3s tokens, created %s, last used %s\n",
	    v[0], v[1], v[2][0] == '1' ? "admin" : "-",
	    v[3][0] == '1' ? "disabled" : "enabled", v[5],
	    v[4], v[6] != NULL ? v[6] : "never");
	return (0);
}

/*
 * user add|passwd|disable|enable|admin|unadmin NAME, user list. Changes
 * are requests the running daemon applies through its journal within a
 * second (journal-account.c); with no daemon, at its next start.
 */
static int
ctl_user(struct journal *j, int argc, char **argv)
{
	static const char *const verbs[] = { "add", "passwd", "disable",
	    "enable", "admin", "unadmin", NULL };
	char		*cause = NULL, *hash = NULL;
	size_t		 i;

	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		if (journal_query(j, "SELECT name, kind, admin, disabled, created,"
		    " tokens, last_used FROM account_list ORDER BY name",
		    ctl_user_row, NULL, &cause) == -1)
			ctl_fail("user list", cause);
		return (0);
	}
	if (argc != 2)
		usage(2);
	for (i = 0; verbs[i] != NULL && strcmp(verbs[i], argv[0]) != 0; i++)
		;
	if (verbs[i] == NULL)
		usage(2);
	if (!ctl_valid_name(argv[1]))
		ctl_fail(NULL, xstrdup("invalid name: use A-Z a-z 0-9 _ - ."));
	if (i == 0 && ctl_account_exists(j, argv[1]))
		ctl_fail(NULL, xstrdup("the name is taken"));
	if (i != 0 && !ctl_account_exists(j, argv[1]))
		ctl_fail(NULL, xstrdup("no such account"));
	if (i <= 1)
		hash = ctl_pwhash();
	if (journal_request_add(j, verbs[i], argv[1], hash, &cause) != 0)
		ctl_fail("user", cause);
	free(hash);
	printf("requested: user %s %s (a running wschatd applies it within a "
	    "second)\n", argv[0], argv[1]);
	return (0);
}

/* tokens revoke NAME: every token of the account ends, its sessions close. */
static int
ctl_tokens(struct journal *j, int argc, char **argv)
{
	char	*cause = NULL;

	if (argc != 2 || strcmp(argv[0], "revoke") != 0)
		usage(2);
	if (!ctl_valid_name(argv[1]) || !ctl_account_exists(j, argv[1]))
		ctl_fail(NULL, xstrdup("no such account"));
	if (journal_request_add(j, "revoke", argv[1], NULL, &cause) != 0)
		ctl_fail("tokens", cause);
	printf("requested: tokens revoke %s (a running wschatd applies it "
	    "within a second)\n", argv[1]);
	return (0);
}

static const struct {
	const char	*name;
	int		 (*fn)(struct journal *, int, char **);
} ctl_commands[] = {
	{ "user", ctl_user },
	{ "tokens", ctl_tokens },
	{ "stats", ctl_stats },
	{ "tail", ctl_tail },
	{ "history", ctl_history },
	{ "prune", ctl_prune },
	{ "check", ctl_check },
	{ "backup", ctl_backup },
};

int
main(int argc, char **argv)
{
	struct journal	*j;
	const char	*db = "wschat.db";
	char		*cause = NULL;
	size_t		 i;
	int		 ch, rv;

	/* Asking for help is no usage error: stdout and exit 0. */
	if (argc > 1 && strcmp(argv[1], "--help") == 0)
		usage(0);
	while ((ch = getopt(argc, argv, "+d:hV")) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("wschatctl/%s\n", PACKAGE_VERSION);
			return (0);
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage(2);
	for (i = 0; i < sizeof ctl_commands / sizeof ctl_commands[0]; i++) {
		if (strcmp(argv[0], ctl_commands[i].name) == 0)
			break;
	}
	if (i == sizeof ctl_commands / sizeof ctl_commands[0])
		usage(2);

	if ((j = journal_open_admin(db, &cause)) == NULL)
		ctl_fail(NULL, cause);
	rv = ctl_commands[i].fn(j, argc - 1, argv + 1);
	journal_close(j);
	return (rv);
}
