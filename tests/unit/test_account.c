/*
 * test_account.c: the token codec (base64url of 32 bytes, one canonical
 * form, everything else refused) and the failure buckets (burst, refill
 * per minute, refusal while empty, pruning of full ones).
 */
#include "config.h"

#include "testutil.h"

/* Every byte value round-trips, and the text is 43 base64url characters. */
static void
t_token_roundtrip(void **state UNUSED)
{
	unsigned char	raw[ACCOUNT_TOKEN_RAW], back[ACCOUNT_TOKEN_RAW];
	char		text[ACCOUNT_TOKEN_LEN + 1];
	size_t		i, k;

	for (k = 0; k < 256; k++) {
		for (i = 0; i < sizeof raw; i++)
			raw[i] = (unsigned char)(k * 31 + i * 7);
		account_token_encode(raw, text);
		assert_int_equal(strlen(text), ACCOUNT_TOKEN_LEN);
		assert_int_equal(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_"), ACCOUNT_TOKEN_LEN);
		assert_int_equal(account_token_parse(text, back), 0);
		assert_memory_equal(raw, back, sizeof raw);
	}
}

/* A known vector: all zero bytes, all 0xff bytes. */
static void
t_token_vectors(void **state UNUSED)
{
	unsigned char	raw[ACCOUNT_TOKEN_RAW];
	char		text[ACCOUNT_TOKEN_LEN + 1];

	memset(raw, 0, sizeof raw);
	account_token_encode(raw, text);
	assert_string_equal(text, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	memset(raw, 0xff, sizeof raw);
	account_token_encode(raw, text);
	assert_string_equal(text, "__________________________________________8");
}

/* Garbage, empty, short, long, padded, base64 (not url) and non-canonical. */
static void
t_token_bad(void **state UNUSED)
{
	unsigned char	raw[ACCOUNT_TOKEN_RAW];
	static const char *const bad[] = {
		"",
		"A",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",	/* 42 */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",	/* 44 */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA ",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",	/* spare bits */
		"__________________________________________9",
		"AAAAAAAAAAAAAAAAAAAA" "\xc3\xa9" "AAAAAAAAAAAAAAAAAAAA",
		NULL
	};
	size_t		i;

	for (i = 0; bad[i] != NULL; i++) {
		if (account_token_parse(bad[i], raw) != -1)
			fail_msg("accepted %zu: \"%s\"", i, bad[i]);
	}
}

/* New tokens differ, and their hash is the SHA-256 of the parsed bytes. */
static void
t_token_new(void **state UNUSED)
{
	char		a[ACCOUNT_TOKEN_LEN + 1], b[ACCOUNT_TOKEN_LEN + 1];
	unsigned char	ha[ACCOUNT_HASH_LEN], hb[ACCOUNT_HASH_LEN];
	unsigned char	raw[ACCOUNT_TOKEN_RAW], h[ACCOUNT_HASH_LEN];
	char		hex[2 * ACCOUNT_HASH_LEN + 1];
	unsigned char	back[ACCOUNT_HASH_LEN];

	account_token_new(a, ha);
	account_token_new(b, hb);
	assert_string_not_equal(a, b);
	assert_int_equal(account_token_parse(a, raw), 0);
	account_token_hash(raw, h);
	assert_memory_equal(h, ha, sizeof h);
	account_hex(ha, sizeof ha, hex);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(account_hex_parse(hex, back, sizeof back), 0);
	assert_memory_equal(back, ha, sizeof ha);
	assert_int_equal(account_hex_parse("zz", back, 1), -1);
	assert_int_equal(account_hex_parse("AB", back, 1), -1);
}

/* The bucket: burst failures, then refused; refills at rate per minute. */
static void
t_bucket(void **state UNUSED)
{
	void	*tree = NULL;
	int64_t	 now = 1000000;
	int	 i;

	/* An untouched key may try. */
	assert_false(bucket_empty(&tree, "1.2.3.4", now, 6, 5));
	for (i = 0; i < 5; i++) {
		assert_false(bucket_empty(&tree, "1.2.3.4", now, 6, 5));
		bucket_charge(&tree, "1.2.3.4", now, 6, 5);
	}
	assert_true(bucket_empty(&tree, "1.2.3.4", now, 6, 5));
	/* Another key is not affected. */
	assert_false(bucket_empty(&tree, "5.6.7.8", now, 6, 5));
	/* 6 per minute: one back after 10 s, not before. */
	assert_true(bucket_empty(&tree, "1.2.3.4", now + 9999, 6, 5));
	assert_false(bucket_empty(&tree, "1.2.3.4", now + 10000, 6, 5));
	bucket_charge(&tree, "1.2.3.4", now + 10000, 6, 5);
	assert_true(bucket_empty(&tree, "1.2.3.4", now + 10000, 6, 5));
	/* Not full yet: kept; full after 50 s more: pruned. */
	assert_int_equal(bucket_prune(&tree, now + 20000, 6, 5, 0), 0);
	assert_int_equal(bucket_prune(&tree, now + 60000, 6, 5, 0), 1);
	assert_false(bucket_empty(&tree, "1.2.3.4", now + 60000, 6, 5));
	bucket_charge(&tree, "x", now, 6, 5);
	assert_int_equal(bucket_prune(&tree, now, 6, 5, 1), 1);
	assert_null(tree);
}

/* The level never exceeds burst and grows linearly. */
static void
t_bucket_level(void **state UNUSED)
{
	assert_true(bucket_level(0, 0, 60000, 6, 5) == 5.0);
	assert_true(bucket_level(0, 0, 30000, 6, 5) == 3.0);
	assert_true(bucket_level(2, 100, 50, 6, 5) == 2.0);	/* time back */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_token_roundtrip),
		cmocka_unit_test(t_token_vectors),
		cmocka_unit_test(t_token_bad),
		cmocka_unit_test(t_token_new),
		cmocka_unit_test(t_bucket),
		cmocka_unit_test(t_bucket_level),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
