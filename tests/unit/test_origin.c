/*
 * test_origin.c: the Origin parser and the origins patterns (origin.c),
 * and log_safe(), which every logged Origin goes through. The cases the
 * old fnmatch() allowlist got wrong come first.
 */
#include "config.h"

#include "testutil.h"

/* Does list allow origin, with this Host header? */
static int
allowed(const char *list, const char *origin, const char *host)
{
	return (origin_allowed(list, origin, host));
}

static void
t_star_is_not_a_suffix_wildcard(void **state UNUSED)
{
	struct origin	o;

	/* fnmatch("http://localhost*") matched all of these. */
	assert_int_equal(allowed("http://localhost*",
	    "http://localhost.evil.com", NULL), 0);
	assert_int_equal(allowed("http://localhost*", "http://localhost:80",
	    NULL), 0);
	assert_non_null(origin_check_pattern("http://localhost*"));
	assert_non_null(origin_check_pattern("http://*localhost"));
	assert_non_null(origin_check_pattern("http*://localhost"));
	assert_non_null(origin_check_pattern("https://a.*.example.com"));
	assert_non_null(origin_check_pattern("https://*"));
	assert_non_null(origin_check_pattern("https://*example.com"));
	assert_non_null(origin_check_pattern("http://localhost:8*"));
	assert_int_equal(origin_parse("http://localhost:*", &o), -1);
}

static void
t_leading_label(void **state UNUSED)
{
	const char	*p = "https://*.example.com";

	assert_null(origin_check_pattern(p));
	assert_int_equal(allowed(p, "https://chat.example.com", NULL), 1);
	assert_int_equal(allowed(p, "https://CHAT.Example.COM", NULL), 1);
	assert_int_equal(allowed(p, "https://chat.example.com:443", NULL), 1);
	assert_int_equal(allowed(p, "https://example.com", NULL), 0);
	assert_int_equal(allowed(p, "https://a.b.example.com", NULL), 0);
	assert_int_equal(allowed(p, "https://chat.example.com.evil.org", NULL),
	    0);
	assert_int_equal(allowed(p, "https://evilexample.com", NULL), 0);
	assert_int_equal(allowed(p, "http://chat.example.com", NULL), 0);
	assert_int_equal(allowed(p, "https://chat.example.com:8443", NULL), 0);
}

static void
t_whole_port(void **state UNUSED)
{
	const char	*p = "http://localhost:*";

	assert_null(origin_check_pattern(p));
	assert_int_equal(allowed(p, "http://localhost:3000", NULL), 1);
	assert_int_equal(allowed(p, "http://localhost", NULL), 1);
	assert_int_equal(allowed(p, "http://localhost.evil.com:3000", NULL), 0);
	assert_int_equal(allowed(p, "https://localhost:3000", NULL), 0);
	/* Without a port, only the scheme's default port. */
	assert_int_equal(allowed("http://localhost", "http://localhost:80",
	    NULL), 1);
	assert_int_equal(allowed("http://localhost", "http://localhost:8080",
	    NULL), 0);
	assert_int_equal(allowed("http://localhost:8080",
	    "http://localhost:8080", NULL), 1);
}

static void
t_parse(void **state UNUSED)
{
	struct origin	o;

	assert_int_equal(origin_parse("HTTPS://Chat.Example.com:8443", &o), 0);
	assert_string_equal(o.o_scheme, "https");
	assert_string_equal(o.o_host, "chat.example.com");
	assert_int_equal(o.o_port, 8443);
	assert_int_equal(origin_parse("http://127.0.0.1", &o), 0);
	assert_int_equal(o.o_port, 80);
	assert_int_equal(origin_parse("http://[::1]:8080", &o), 0);
	assert_string_equal(o.o_host, "[::1]");
	assert_int_equal(o.o_port, 8080);
	assert_int_equal(origin_parse("http://[::1]", &o), 0);
	assert_int_equal(o.o_port, 80);
	assert_int_equal(origin_parse("chrome-extension://abcdef", &o), 0);
	assert_int_equal(o.o_port, -1);
}

static void
t_malformed(void **state UNUSED)
{
	static const char *bad[] = {
		"", "null", "localhost", "http://", "http:/x", "://x",
		"http://x/", "http://x/path", "http://user@x", "http://x:",
		"http://x:0", "http://x:65536", "http://x:80a", "http://x:123456",
		"http://a..b", "http://.a", "http://a.", "http://a b",
		"http://a\x1b[31m", "http://[::1", "http://[zz]", "1http://x",
		"ht tp://x", "http://x?y", "http://x#y",
	};
	struct origin	o;
	size_t		i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (origin_parse(bad[i], &o) != -1)
			fail_msg("Origin '%s' parsed", bad[i]);
		if (allowed("*", bad[i], NULL) != -1)
			fail_msg("Origin '%s' not malformed for the allowlist",
			    bad[i]);
	}
}

static void
t_self(void **state UNUSED)
{
	assert_int_equal(allowed("self", "http://127.0.0.1:8080",
	    "127.0.0.1:8080"), 1);
	assert_int_equal(allowed("self", "http://chat.example.com",
	    "Chat.Example.com"), 1);
	/* Behind a TLS proxy: the Host has no port, the scheme's default. */
	assert_int_equal(allowed("self", "https://chat.example.com",
	    "chat.example.com"), 1);
	assert_int_equal(allowed("self", "http://[::1]:8080", "[::1]:8080"), 1);
	assert_int_equal(allowed("self", "http://127.0.0.1:8081",
	    "127.0.0.1:8080"), 0);
	assert_int_equal(allowed("self", "http://evil.example",
	    "127.0.0.1:8080"), 0);
	assert_int_equal(allowed("self", "http://127.0.0.1:8080", NULL), 0);
	assert_int_equal(allowed("self", "http://127.0.0.1:8080", ""), 0);
	assert_int_equal(allowed("self", "ftp://127.0.0.1:8080",
	    "127.0.0.1:8080"), 0);
	assert_int_equal(allowed("self", "http://127.0.0.1:8080",
	    "127.0.0.1:8080/x"), 0);
}

static void
t_lists(void **state UNUSED)
{
	const char	*l = "self  https://good.example\thttps://*.example.org";

	assert_null(origin_check_list(l));
	assert_null(origin_check_list(""));
	assert_null(origin_check_list("*"));
	assert_int_equal(allowed(l, NULL, NULL), 1);	/* not a browser */
	assert_int_equal(allowed("", NULL, NULL), 1);
	assert_int_equal(allowed("", "http://127.0.0.1:1", "127.0.0.1:1"), 0);
	assert_int_equal(allowed(l, "https://good.example", "h:1"), 1);
	assert_int_equal(allowed(l, "https://chat.example.org", "h:1"), 1);
	assert_int_equal(allowed(l, "http://h:1", "h:1"), 1);
	assert_int_equal(allowed(l, "https://good.example.evil.com", "h:1"), 0);
	assert_int_equal(allowed("*", "https://anything.example", NULL), 1);
	assert_non_null(origin_check_list("self http://x/"));
}

static void
t_log_safe(void **state UNUSED)
{
	char	long_text[1000];

	assert_string_equal(log_safe("https://ok.example:1"),
	    "https://ok.example:1");
	assert_string_equal(log_safe("a\x1b[31mb"), "a\\x1b[31mb");
	assert_string_equal(log_safe("x\r\nfake line"), "x\\x0d\\x0afake line");
	assert_string_equal(log_safe("back\\slash"), "back\\x5cslash");
	assert_string_equal(log_safe("\xc3\xa9"), "\\xc3\\xa9");
	assert_string_equal(log_safe(NULL), "(none)");
	memset(long_text, 'a', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	assert_true(strlen(log_safe(long_text)) < 256);
	assert_non_null(strstr(log_safe(long_text), "..."));
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(t_star_is_not_a_suffix_wildcard),
		cmocka_unit_test(t_leading_label),
		cmocka_unit_test(t_whole_port),
		cmocka_unit_test(t_parse),
		cmocka_unit_test(t_malformed),
		cmocka_unit_test(t_self),
		cmocka_unit_test(t_lists),
		cmocka_unit_test(t_log_safe),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
