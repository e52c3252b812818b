/*
 * test_config.c: the settings table, its parser and its documents. The
 * shipped conf/wschatd.conf and docs/wschatd.8 are checked against the table
 * so that neither can drift from the code.
 */
#include "config.h"

#include "testutil.h"

#define NSETTINGS	49

/* A valid value other than the default, for every setting. */
static const struct {
	const char	*name;
	const char	*value;
} other[] = {
	{ "listen", "[::1]:0" },
	{ "db", "/var/db/other.db" },
	{ "journal_sync", "full" },
	{ "log", "syslog" },
	{ "origins", "https://a.example https://*.b.example" },
	{ "max_connections", "7" },
	{ "max_handshakes", "3" },
	{ "max_connections_per_address", "0" },
	{ "max_unidentified_per_address", "0" },
	{ "unidentified_timeout", "0" },
	{ "accept_batch", "0" },
	{ "max_frame", "1K" },
	{ "max_message", "2K" },
	{ "max_line", "100" },
	{ "max_name", "9" },
	{ "max_channels", "3" },
	{ "max_creates_per_hour", "0" },
	{ "max_channels_owned", "0" },
	{ "max_channels_joined", "5" },
	{ "max_output", "1G" },
	{ "send_buffer", "0" },
	{ "rate_limit", "0" },
	{ "rate_burst", "1" },
	{ "rate_strikes", "2" },
	{ "ping_interval", "0" },
	{ "ping_timeout", "1" },
	{ "handshake_timeout", "3600" },
	{ "shutdown_timeout", "0" },
	{ "retain_events", "1000000000000" },
	{ "retain_days", "36500" },
	{ "resume_max_events", "0" },
	{ "stream_rate", "0" },
	{ "snapshot_messages", "0" },
	{ "history_max", "1" },
	{ "reply_budget", "1K" },
	{ "stream_stall_timeout", "1" },
	{ "max_snapshots", "1" },
	{ "registration", "closed" },
	{ "guests", "no" },
	{ "guest_ttl", "60" },
	{ "token_ttl", "120" },
	{ "password_min", "12" },
	{ "pwhash_opslimit", "3" },
	{ "pwhash_memlimit", "64M" },
	{ "auth_threads", "4" },
	{ "auth_queue", "10" },
	{ "login_rate", "60" },
	{ "login_burst", "10" },
	{ "www_root", "/srv/wschat/www" },
};

/* How many settings differ between two configs. */
static int
ndiff(const struct config *a, const struct config *b)
{
	int	n = 0;

#define DIFF_S(f) n += strcmp(a->f, b->f) != 0
#define DIFF_I(f) n += a->f != b->f
	DIFF_S(listen);
	DIFF_S(db);
	DIFF_I(journal_sync);
	DIFF_S(log);
	DIFF_S(origins);
	DIFF_I(max_connections);
	DIFF_I(max_handshakes);
	DIFF_I(max_connections_per_address);
	DIFF_I(max_unidentified_per_address);
	DIFF_I(unidentified_timeout);
	DIFF_I(max_creates_per_hour);
	DIFF_I(max_channels_owned);
	DIFF_I(max_channels_joined);
	DIFF_I(accept_batch);
	DIFF_I(max_frame);
	DIFF_I(max_message);
	DIFF_I(max_line);
	DIFF_I(max_name);
	DIFF_I(max_channels);
	DIFF_I(max_output);
	DIFF_I(send_buffer);
	DIFF_I(rate_limit);
	DIFF_I(rate_burst);
	DIFF_I(rate_strikes);
	DIFF_I(ping_interval);
	DIFF_I(ping_timeout);
	DIFF_I(handshake_timeout);
	DIFF_I(shutdown_timeout);
	DIFF_I(retain_events);
	DIFF_I(retain_days);
	DIFF_I(resume_max_events);
	DIFF_I(stream_rate);
	DIFF_I(snapshot_messages);
	DIFF_I(history_max);
	DIFF_I(reply_budget);
	DIFF_I(stream_stall_timeout);
	DIFF_I(max_snapshots);
	DIFF_I(registration);
	DIFF_I(guests);
	DIFF_I(guest_ttl);
	DIFF_I(token_ttl);
	DIFF_I(password_min);
	DIFF_I(pwhash_opslimit);
	DIFF_I(pwhash_memlimit);
	DIFF_I(auth_threads);
	DIFF_I(auth_queue);
	DIFF_I(login_rate);
	DIFF_I(login_burst);
	DIFF_S(www_root);
#undef DIFF_S
#undef DIFF_I
	return (n);
}

/* What config_write_example prints. */
static char *
example(size_t *lenp)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 len = 0;

	assert_non_null(f = open_memstream(&buf, &len));
	config_write_example(f);
	assert_int_equal(fclose(f), 0);
	*lenp = len;
	return (buf);
}

/* A temporary file holding text; returns its path. */
static char *
tmpconf(const char *text)
{
	char	*path;
	int	 fd;
	size_t	 len = strlen(text);

	path = xstrdup("/tmp/test_config.XXXXXX");
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return (path);
}

/* Load text as a file over cfg; returns the cause or NULL on success. */
static char *
load(struct config *cfg, const char *text, char **pathp)
{
	char	*path, *cause = NULL;
	int	 rc;

	path = tmpconf(text);
	rc = config_load(cfg, path, &cause);
	unlink(path);
	if (rc == 0)
		assert_null(cause);
	else
		assert_non_null(cause);
	if (pathp != NULL)
		*pathp = path;
	else
		free(path);
	return (cause);
}

/* Loading text must fail with "path:line: message". */
static void
load_fails(const char *text, const char *want)
{
	struct config	 cfg, def;
	char		*path, *cause, *full;

	config_defaults(&cfg);
	config_defaults(&def);
	cause = load(&cfg, text, &path);
	assert_non_null(cause);
	xasprintf(&full, "%s:%s", path, want);
	assert_string_equal(cause, full);
	assert_int_equal(ndiff(&cfg, &def), 0);	/* all or nothing */
	free(full);
	free(cause);
	free(path);
	config_free(&cfg);
	config_free(&def);
}

/* config_set must refuse key = value with exactly this cause. */
static void
set_fails(const char *key, const char *value, const char *want)
{
	struct config	 cfg, def;
	char		*cause = NULL;

	config_defaults(&cfg);
	config_defaults(&def);
	assert_int_equal(config_set(&cfg, key, value, &cause), -1);
	assert_non_null(cause);
	assert_string_equal(cause, want);
	assert_int_equal(ndiff(&cfg, &def), 0);
	free(cause);
	config_free(&cfg);
	config_free(&def);
}

/* config_set must take key = value. */
static void
set_ok(struct config *cfg, const char *key, const char *value)
{
	char	*cause = NULL;

	if (config_set(cfg, key, value, &cause) != 0)
		fail_msg("%s = %s: %s", key, value, cause);
	assert_null(cause);
}

static void
t_defaults(void **state)
{
	struct config	c;

	config_defaults(&c);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_string_equal(c.db, "wschat.db");
	assert_int_equal(c.journal_sync, JOURNAL_SYNC_NORMAL);
	assert_string_equal(c.log, "stderr");
	assert_string_equal(c.origins, "self");
	assert_int_equal(c.max_connections, 10000);
	assert_int_equal(c.max_handshakes, 256);
	assert_int_equal(c.max_connections_per_address, 256);
	assert_int_equal(c.max_unidentified_per_address, 64);
	assert_int_equal(c.unidentified_timeout, 60);
	assert_int_equal(c.max_creates_per_hour, 100);
	assert_int_equal(c.max_channels_owned, 100);
	assert_int_equal(c.max_channels_joined, 1000);
	assert_int_equal(c.accept_batch, 64);
	assert_int_equal(c.max_frame, 65536);
	assert_int_equal(c.max_message, 65536);
	assert_int_equal(c.max_line, 4096);
	assert_int_equal(c.max_name, 32);
	assert_int_equal(c.max_channels, 10000);
	assert_int_equal(c.max_output, 1048576);
	assert_int_equal(c.send_buffer, 131072);
	assert_int_equal(c.rate_limit, 100);
	assert_int_equal(c.rate_burst, 200);
	assert_int_equal(c.rate_strikes, 20);
	assert_int_equal(c.ping_interval, 30);
	assert_int_equal(c.ping_timeout, 75);
	assert_int_equal(c.handshake_timeout, 10);
	assert_int_equal(c.shutdown_timeout, 5);
	assert_int_equal(c.retain_events, 0);
	assert_int_equal(c.retain_days, 0);
	assert_int_equal(c.resume_max_events, 100000);
	assert_int_equal(c.snapshot_messages, 20);
	assert_int_equal(c.history_max, 100);
	config_free(&c);
	assert_null(c.listen);
	config_free(&c);		/* freeing twice is harmless */
}

static void
t_names(void **state)
{
	size_t	i, j;

	for (i = 0; config_name(i) != NULL; i++) {
		for (j = 0; j < i; j++)
			assert_string_not_equal(config_name(i), config_name(j));
	}
	assert_int_equal(i, NSETTINGS);
	assert_null(config_name(SIZE_MAX));
}

/* Every setting has a test value here, and each one really changes it. */
static void
t_other_values(void **state)
{
	struct config	c, def;
	size_t		i, j;

	assert_int_equal(sizeof other / sizeof other[0], NSETTINGS);
	for (i = 0; config_name(i) != NULL; i++) {
		for (j = 0; j < NSETTINGS; j++)
			if (strcmp(other[j].name, config_name(i)) == 0)
				break;
		if (j == NSETTINGS)
			fail_msg("no test value for %s", config_name(i));
	}
	config_defaults(&c);
	config_defaults(&def);
	for (j = 0; j < NSETTINGS; j++) {
		set_ok(&c, other[j].name, other[j].value);
		assert_int_equal(ndiff(&c, &def), j + 1);
	}
	config_free(&c);
	config_free(&def);
}

/* The shipped file parses, and resets every setting to its default. */
static void
t_shipped_is_defaults(void **state)
{
	struct config	 c, def;
	char		*path, *cause = NULL;
	size_t		 j;

	config_defaults(&c);
	config_defaults(&def);
	for (j = 0; j < NSETTINGS; j++)
		set_ok(&c, other[j].name, other[j].value);
	assert_int_equal(ndiff(&c, &def), NSETTINGS);
	path = srcfile("conf/wschatd.conf");
	if (config_load(&c, path, &cause) != 0)
		fail_msg("%s", cause);
	assert_int_equal(ndiff(&c, &def), 0);
	free(path);
	config_free(&c);
	config_free(&def);
}

static void
t_example_is_shipped(void **state)
{
	char	*path, *want, *got;
	size_t	 wantlen, gotlen;

	path = srcfile("conf/wschatd.conf");
	want = slurp(path, &wantlen);
	got = example(&gotlen);
	if (gotlen != wantlen || memcmp(got, want, gotlen) != 0)
		fail_msg("%s differs from config_write_example(); regenerate it",
		    path);
	free(got);
	free(want);
	free(path);
}

/* Each setting is set exactly once, uncommented, in the shipped file. */
static void
t_shipped_lists_every_setting(void **state)
{
	char	*path, *text, *needle, *p;
	size_t	 i;

	path = srcfile("conf/wschatd.conf");
	text = slurp(path, NULL);
	for (i = 0; config_name(i) != NULL; i++) {
		xasprintf(&needle, "\n%s = ", config_name(i));
		if ((p = strstr(text, needle)) == NULL)
			fail_msg("%s is missing from %s", config_name(i), path);
		assert_null(strstr(p + 1, needle));
		free(needle);
	}
	free(text);
	free(path);
}

/* The man page documents every setting. */
static void
t_manpage_lists_every_setting(void **state)
{
	char	*path, *text, *needle;
	size_t	 i;

	path = srcfile("docs/wschatd.8");
	text = slurp(path, NULL);
	for (i = 0; config_name(i) != NULL; i++) {
		xasprintf(&needle, "\n.It Ic %s ", config_name(i));
		if (strstr(text, needle) == NULL)
			fail_msg("%s is missing from %s", config_name(i), path);
		free(needle);
	}
	free(text);
	free(path);
}

static void
t_integer_bounds(void **state)
{
	const char	*m = "max_frame: must be an integer between 126 and "
			    "16777216";

	set_fails("max_frame", "125", m);
	set_fails("max_frame", "16777217", m);
	set_fails("max_frame", "-1", m);
	set_fails("max_frame", "abc", m);
	set_fails("max_frame", "", m);
	set_fails("max_frame", "12x", m);
	set_fails("max_frame", "4096 ", m);
	set_fails("max_frame", " 4096", m);
	set_fails("max_frame", "+4096", m);
	set_fails("max_frame", "0x100", m);
	set_fails("max_frame", "64KB", m);
	set_fails("max_frame", "K", m);
	set_fails("max_frame", "16385K", m);		/* over max after suffix */
	set_fails("max_frame", "17M", m);
	set_fails("max_frame", "9007199254740993G", m);	/* suffix overflow */
	set_fails("max_frame", "99999999999999999999", m); /* strtoll overflow */
	set_fails("rate_limit", "-1",
	    "rate_limit: must be an integer between 0 and 1000000");
	set_fails("max_connections", "0",
	    "max_connections: must be an integer between 1 and 1000000");
	set_fails("max_connections", "1000001",
	    "max_connections: must be an integer between 1 and 1000000");
	set_fails("retain_events", "1000000000001",
	    "retain_events: must be an integer between 0 and 1000000000000");
	set_fails("accept_batch", "-1",
	    "accept_batch: must be an integer between 0 and 65536");
	set_fails("accept_batch", "65537",
	    "accept_batch: must be an integer between 0 and 65536");
	/* send_buffer: 0 (autotuning), or a size the kernel can honour. */
	set_fails("send_buffer", "4095",
	    "send_buffer: must be 0 or an integer between 4096 and 67108864");
	set_fails("send_buffer", "1",
	    "send_buffer: must be 0 or an integer between 4096 and 67108864");
	set_fails("send_buffer", "-1",
	    "send_buffer: must be 0 or an integer between 4096 and 67108864");
	set_fails("send_buffer", "65537K",
	    "send_buffer: must be 0 or an integer between 4096 and 67108864");
	/* Suffixes are for byte sizes only. */
	set_fails("max_connections", "1K",
	    "max_connections: must be an integer between 1 and 1000000");
	set_fails("ping_timeout", "1M",
	    "ping_timeout: must be an integer between 1 and 86400");
}

static void
t_integer_ok(void **state)
{
	struct config	c;

	config_defaults(&c);
	set_ok(&c, "max_frame", "126");
	assert_int_equal(c.max_frame, 126);
	set_ok(&c, "max_frame", "16777216");
	assert_int_equal(c.max_frame, 16777216);
	set_ok(&c, "max_frame", "64K");
	assert_int_equal(c.max_frame, 65536);
	set_ok(&c, "max_message", "16M");
	assert_int_equal(c.max_message, 16777216);
	set_ok(&c, "max_line", "2k");
	assert_int_equal(c.max_line, 2048);
	set_ok(&c, "max_output", "1G");
	assert_int_equal(c.max_output, 1073741824);
	set_ok(&c, "max_output", "3m");
	assert_int_equal(c.max_output, 3 * 1048576);
	set_ok(&c, "max_output", "0004096");
	assert_int_equal(c.max_output, 4096);
	set_ok(&c, "rate_limit", "0");
	assert_int_equal(c.rate_limit, 0);
	set_ok(&c, "send_buffer", "4K");
	assert_int_equal(c.send_buffer, 4096);
	set_ok(&c, "send_buffer", "64M");
	assert_int_equal(c.send_buffer, 67108864);
	set_ok(&c, "send_buffer", "0");
	assert_int_equal(c.send_buffer, 0);
	set_ok(&c, "accept_batch", "1");
	assert_int_equal(c.accept_batch, 1);
	set_ok(&c, "accept_batch", "65536");
	assert_int_equal(c.accept_batch, 65536);
	set_ok(&c, "retain_events", "1000000000000");
	assert_int_equal(c.retain_events, 1000000000000LL);
	config_free(&c);
}

static void
t_enum(void **state)
{
	struct config	c;

	set_fails("journal_sync", "fast",
	    "journal_sync: must be one of normal, full");
	set_fails("journal_sync", "FULL",
	    "journal_sync: must be one of normal, full");
	set_fails("journal_sync", "",
	    "journal_sync: must be one of normal, full");
	config_defaults(&c);
	set_ok(&c, "journal_sync", "full");
	assert_int_equal(c.journal_sync, JOURNAL_SYNC_FULL);
	set_ok(&c, "journal_sync", "normal");
	assert_int_equal(c.journal_sync, JOURNAL_SYNC_NORMAL);
	config_free(&c);
}

static void
t_strings(void **state)
{
	struct config	c;
	const char	*m = "listen: must be address:port, as in "
			    "127.0.0.1:8080 or [::1]:8080";

	set_fails("db", "", "db: must not be empty");
	/* fnmatch once let http://localhost* match http://localhost.evil.com. */
	set_fails("origins", "self http://localhost*",
	    "origins: 'http://localhost*' is not scheme://host[:port], where * "
	    "may only be a whole leading label (https://*.example.com) or a "
	    "whole port (http://localhost:*)");
	set_fails("log", "a\tb", "log: must not contain control characters");
	set_fails("listen", "8080", m);
	set_fails("listen", ":8080", m);
	set_fails("listen", "localhost:", m);
	set_fails("listen", "localhost:65536", m);
	set_fails("listen", "localhost:808080", m);
	set_fails("listen", "localhost:http", m);
	set_fails("listen", "::1:8080", m);
	set_fails("listen", "[::1:8080", m);
	set_fails("listen", "[]:8080", m);
	config_defaults(&c);
	set_ok(&c, "listen", "[::1]:8080");
	assert_string_equal(c.listen, "[::1]:8080");
	set_ok(&c, "listen", "localhost:0");
	set_ok(&c, "listen", "0.0.0.0:65535");
	set_ok(&c, "origins", "");
	assert_string_equal(c.origins, "");
	set_ok(&c, "db", "/tmp/x y.db");
	assert_string_equal(c.db, "/tmp/x y.db");
	config_free(&c);
}

static void
t_unknown(void **state)
{
	set_fails("max_frames", "1", "unknown setting 'max_frames'");
	set_fails("", "1", "unknown setting ''");
	set_fails("MAX_FRAME", "1", "unknown setting 'MAX_FRAME'");
	load_fails("# c\nmax_frame = 1000\nnope = 1\n",
	    "3: unknown setting 'nope'");
}

static void
t_load_errors(void **state)
{
	load_fails("\n\nmax_frame = 125\n",
	    "3: max_frame: must be an integer between 126 and 16777216");
	load_fails("rate_limit = 5\n# x\n\nrate_burst = 9\nrate_limit = 6\n",
	    "5: duplicate setting 'rate_limit' (first on line 1)");
	load_fails("max_frame = 1000\nmax_frame = 1000\n",
	    "2: duplicate setting 'max_frame' (first on line 1)");
	load_fails("max_frame 1000\n", "1: expected 'name = value'");
	load_fails("= 1000\n", "1: expected 'name = value'");
	load_fails("journal_sync = fast\n",
	    "1: journal_sync: must be one of normal, full");
	load_fails("log = \"/var/log/x\n", "1: unterminated quoted value");
	load_fails("log = \"\n", "1: unterminated quoted value");
	load_fails("db =\n", "1: db: must not be empty");
	load_fails("db = \"\"\n", "1: db: must not be empty");
	load_fails("max_frame = 1000 # frames\n",
	    "1: max_frame: must be an integer between 126 and 16777216");
	load_fails("max_name = 8\nmax_name = 8", /* no final newline */
	    "2: duplicate setting 'max_name' (first on line 1)");
}

static void
t_load_missing(void **state)
{
	struct config	 c;
	char		*cause = NULL;

	config_defaults(&c);
	assert_int_equal(config_load(&c, "/nonexistent/wschatd.conf", &cause),
	    -1);
	assert_string_equal(cause,
	    "/nonexistent/wschatd.conf: No such file or directory");
	free(cause);
	cause = NULL;
	assert_int_equal(config_load(&c, "/", &cause), -1);
	assert_string_equal(cause, "/: Is a directory");
	free(cause);
	config_free(&c);
}

static void
t_load_syntax(void **state)
{
	struct config	 c, def;
	char		*cause;

	config_defaults(&c);
	config_defaults(&def);
	cause = load(&c,
	    "# a comment\n"
	    "\n"
	    "   \t\n"
	    "   # an indented comment\n"
	    "  origins   =   https://a.example https://*.b.example  \n"
	    "log=\"  /var/log/wschat log  \"\n"
	    "db = \"a\"b\"\r\n"
	    "\tmax_frame\t=\t32K\t\n"
	    "max_message = 2M\r\n"
	    "listen = \"[::1]:0\"\n"
	    "journal_sync = full\n", NULL);
	assert_null(cause);
	assert_string_equal(c.origins, "https://a.example https://*.b.example");
	assert_string_equal(c.log, "  /var/log/wschat log  ");
	assert_string_equal(c.db, "a\"b");
	assert_int_equal(c.max_frame, 32768);
	assert_int_equal(c.max_message, 2 * 1048576);
	assert_string_equal(c.listen, "[::1]:0");
	assert_int_equal(c.journal_sync, JOURNAL_SYNC_FULL);
	assert_int_equal(ndiff(&c, &def), 7);	/* the rest kept their values */
	config_free(&c);

	/* An empty file changes nothing. */
	config_defaults(&c);
	assert_null(load(&c, "", NULL));
	assert_int_equal(ndiff(&c, &def), 0);
	config_free(&c);
	config_free(&def);
}

/* A load applies over what is there: defaults, then file, then flags. */
static void
t_load_layers(void **state)
{
	struct config	 c;

	config_defaults(&c);
	set_ok(&c, "max_name", "9");
	assert_null(load(&c, "max_line = 100\n", NULL));
	assert_int_equal(c.max_name, 9);
	assert_int_equal(c.max_line, 100);
	set_ok(&c, "listen", "127.0.0.1:0");
	assert_string_equal(c.listen, "127.0.0.1:0");
	config_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_defaults),
		cmocka_unit_test(t_names),
		cmocka_unit_test(t_other_values),
		cmocka_unit_test(t_shipped_is_defaults),
		cmocka_unit_test(t_example_is_shipped),
		cmocka_unit_test(t_shipped_lists_every_setting),
		cmocka_unit_test(t_manpage_lists_every_setting),
		cmocka_unit_test(t_integer_bounds),
		cmocka_unit_test(t_integer_ok),
		cmocka_unit_test(t_enum),
		cmocka_unit_test(t_strings),
		cmocka_unit_test(t_unknown),
		cmocka_unit_test(t_load_errors),
		cmocka_unit_test(t_load_missing),
		cmocka_unit_test(t_load_syntax),
		cmocka_unit_test(t_load_layers),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
