/*
 * testutil.h: what the cmocka unit tests share. Each test includes it after
 * "config.h" (where it has one) and before its own definitions: it brings
 * cmocka (and the headers cmocka needs first), wschatd.h, and helpers that
 * find and read files of the source tree (docs, shipped config, other tests)
 * so that a test can check them against the code.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "wschatd.h"

#define UNUSED	__attribute__((__unused__))

/*
 * A file of the source tree: under $WSCHAT_SRCDIR (make check sets it),
 * else next to this file, else under ../ or ../../ of the current
 * directory. The caller frees the path; reading it is the caller's test.
 */
static inline char *
srcfile(const char *rel)
{
	const char	*dir;
	char		*path, *here, *slash;

	if ((dir = getenv("WSCHAT_SRCDIR")) != NULL) {
		xasprintf(&path, "%s/%s", dir, rel);
		return (path);
	}
	here = xstrdup(__FILE__);
	if ((slash = strrchr(here, '/')) != NULL)
		*slash = '\0';
	else
		strcpy(here, ".");
	xasprintf(&path, "%s/../../%s", here, rel);
	free(here);
	if (access(path, R_OK) == 0)
		return (path);
	free(path);
	xasprintf(&path, "../%s", rel);
	if (access(path, R_OK) == 0)
		return (path);
	free(path);
	xasprintf(&path, "../../%s", rel);
	return (path);
}

/*
 * A whole file as a NUL-terminated string (its length in *lenp if lenp is
 * not NULL); the test fails if it cannot be read.
 */
static inline char *
slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 size = 0, len = 0, n;

	if ((f = fopen(path, "r")) == NULL)
		fail_msg("%s: %s (set WSCHAT_SRCDIR)", path, strerror(errno));
	do {
		if (len + 4096 + 1 > size) {
			size = len + 4096 + 1;
			buf = xrealloc(buf, size);
		}
		n = fread(buf + len, 1, size - len - 1, f);
		len += n;
	} while (n > 0);
	assert_false(ferror(f));
	fclose(f);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return (buf);
}

#endif /* TESTUTIL_H */
