/*
 * test_log.c: libevent's own messages come through log.c (to the log
 * setting's destination, not stderr), marked and rate limited.
 */
#include "config.h"

#include "testutil.h"

#include <event2/event.h>

/* A libevent warning: an event base with every backend avoided. */
static void
libevent_warns(void)
{
	struct event_config	*cfg = event_config_new();
	struct event_base	*base;

	assert_non_null(cfg);
	event_config_avoid_method(cfg, "epoll");
	event_config_avoid_method(cfg, "poll");
	event_config_avoid_method(cfg, "select");
	base = event_base_new_with_config(cfg);
	assert_null(base);
	event_config_free(cfg);
}

/* Lines of the file that contain needle. */
static int
count_lines(const char *path, const char *needle)
{
	FILE	*f = fopen(path, "r");
	char	 line[2048];
	int	 n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, needle) != NULL)
			n++;
	}
	fclose(f);
	return (n);
}

static void
t_libevent_through_log_rate_limited(void **state UNUSED)
{
	char	 path[] = "/tmp/test_log.XXXXXX";
	char	*cause = NULL;
	int	 fd, i, n;

	fd = mkstemp(path);
	assert_true(fd != -1);
	close(fd);
	assert_int_equal(log_init(path, 0, &cause), 0);
	log_libevent();
	for (i = 0; i < 100; i++)
		libevent_warns();
	log_close();
	n = count_lines(path, "libevent: ");
	assert_true(n >= 1);
	/* A burst of 10, then one a second: never 100 in a moment. */
	assert_true(n <= 12);
	assert_int_equal(count_lines(path, "no event mechanism"), n);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(t_libevent_through_log_rate_limited),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
