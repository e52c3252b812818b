/*
 * account.c: identities in memory. Accounts by name (guest or registered,
 * with the Argon2id string of a registered one's password), and tokens by
 * the SHA-256 of the token, each bound to one account. Loaded from the
 * journal at start like channels, and changed only by wevent.c as the
 * 'account' events are emitted, so AUTH and NICK never touch SQL on the
 * loop thread. Each index has one mutator.
 *
 * The token codec is here too: 32 bytes from the OS CSPRNG, printed as 43
 * characters of base64url without padding; only its SHA-256 is kept.
 */
#include "config.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "wschatd.h"

static void	*account_tree;		/* struct account by name */
static void	*account_tokens;	/* struct token by hash */
static size_t	 account_n;
static size_t	 account_ntokens;

static const char account_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Order accounts by name. */
static int
account_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct account *)a)->a_name,
	    ((const struct account *)b)->a_name));
}

/* Order tokens by hash. */
static int
account_token_cmp(const void *a, const void *b)
{
	return (memcmp(((const struct token *)a)->t_hash,
	    ((const struct token *)b)->t_hash, ACCOUNT_HASH_LEN));
}

/* An account by name, or NULL. */
struct account *
account_find(const char *name)
{
	struct account	 key;
	void		*node;

	key.a_name = (char *)name;
	node = tfind(&key, &account_tree, account_cmp);
	return (node == NULL ? NULL : *(struct account **)node);
}

/* A new account; the caller checked that the name is free. */
struct account *
account_add(const char *name, int registered, const char *pwhash)
{
	struct account	*a;

	if (account_find(name) != NULL)
		fatalx("%s: %s exists", __func__, name);
	a = xcalloc(1, sizeof *a);
	a->a_name = xstrdup(name);
	a->a_registered = registered;
	a->a_pwhash = pwhash != NULL ? xstrdup(pwhash) : NULL;
	TAILQ_INIT(&a->a_tokens);
	if (tsearch(a, &account_tree, account_cmp) == NULL)
		fatalx("%s: tsearch", __func__);
	account_n++;
	return (a);
}

/* A guest becomes registered, or a password changes. */
void
account_set_password(struct account *a, const char *pwhash)
{
	free(a->a_pwhash);
	a->a_pwhash = xstrdup(pwhash);
	a->a_registered = 1;
}

/* An account goes, with its tokens. */
void
account_del(struct account *a)
{
	struct token	*t;

	while ((t = TAILQ_FIRST(&a->a_tokens)) != NULL)
		account_token_del(t);
	if (tdelete(a, &account_tree, account_cmp) == NULL)
		fatalx("%s: %s not in tree", __func__, a->a_name);
	account_n--;
	free(a->a_name);
	free(a->a_pwhash);
	free(a);
}

/* How many accounts and tokens there are. */
size_t
account_count(void)
{
	return (account_n);
}

size_t
account_token_count(void)
{
	return (account_ntokens);
}

/* A token by its hash, or NULL. */
struct token *
account_token_find(const unsigned char *hash)
{
	struct token	 key;
	void		*node;

	memcpy(key.t_hash, hash, ACCOUNT_HASH_LEN);
	node = tfind(&key, &account_tokens, account_token_cmp);
	return (node == NULL ? NULL : *(struct token **)node);
}

/* Bind a token (by hash) to an account, last used at used. */
struct token *
account_token_add(struct account *a, const unsigned char *hash, int64_t used)
{
	struct token	*t;

	if (account_token_find(hash) != NULL)
		fatalx("%s: token of %s exists", __func__, a->a_name);
	t = xcalloc(1, sizeof *t);
	memcpy(t->t_hash, hash, ACCOUNT_HASH_LEN);
	account_hex(hash, ACCOUNT_HASH_LEN, t->t_hex);
	t->t_acct = a;
	t->t_used = t->t_stored = used;
	if (tsearch(t, &account_tokens, account_token_cmp) == NULL)
		fatalx("%s: tsearch", __func__);
	TAILQ_INSERT_TAIL(&a->a_tokens, t, t_entry);
	a->a_ntokens++;
	account_ntokens++;
	return (t);
}

/* A token goes (its connections were told by the caller). */
void
account_token_del(struct token *t)
{
	struct account	*a = t->t_acct;

	if (tdelete(t, &account_tokens, account_token_cmp) == NULL)
		fatalx("%s: token of %s not in tree", __func__, a->a_name);
	TAILQ_REMOVE(&a->a_tokens, t, t_entry);
	a->a_ntokens--;
	account_ntokens--;
	explicit_bzero(t, sizeof *t);
	free(t);
}

/* twalk_r: collect every account (so the caller may change the tree). */
struct account_list {
	struct account	**l_v;
	size_t		  l_n;
};

static void
account_collect(const void *node, VISIT v, void *arg)
{
	struct account_list	*l = arg;

	if (v != postorder && v != leaf)
		return;
	l->l_v[l->l_n++] = *(struct account * const *)node;
}

/* Every account, in name order, in a new array of account_count(). */
struct account **
account_all(size_t *n)
{
	struct account_list	l;

	l.l_v = xcalloc(account_n + 1, sizeof *l.l_v);
	l.l_n = 0;
	twalk_r(account_tree, account_collect, &l);
	*n = l.l_n;
	return (l.l_v);
}

/* Forget every account and token (reload, shutdown). */
void
account_clear(void)
{
	struct account	**v;
	size_t		  n, i;

	v = account_all(&n);
	for (i = 0; i < n; i++)
		account_del(v[i]);
	free(v);
}

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void
account_hex(const unsigned char *p, size_t n, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* Parse exactly 2n hex digits; -1 if it is anything else. */
int
account_hex_parse(const char *s, unsigned char *p, size_t n)
{
	size_t	i;
	int	hi, lo;

	if (strlen(s) != 2 * n)
		return (-1);
	for (i = 0; i < n; i++) {
		hi = s[2 * i] >= 'a' ? s[2 * i] - 'a' + 10 : s[2 * i] - '0';
		lo = s[2 * i + 1] >= 'a' ? s[2 * i + 1] - 'a' + 10 :
		    s[2 * i + 1] - '0';
		if (hi < 0 || hi > 15 || lo < 0 || lo > 15)
			return (-1);
		p[i] = (unsigned char)(hi << 4 | lo);
	}
	return (0);
}

/* 32 raw bytes as 43 characters of base64url, no padding, NUL-terminated. */
void
account_token_encode(const unsigned char *raw, char *out)
{
	uint32_t	v;
	size_t		i, o = 0;

	for (i = 0; i + 3 <= ACCOUNT_TOKEN_RAW; i += 3) {
		v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
		    raw[i + 2];
		out[o++] = account_b64[v >> 18 & 0x3f];
		out[o++] = account_b64[v >> 12 & 0x3f];
		out[o++] = account_b64[v >> 6 & 0x3f];
		out[o++] = account_b64[v & 0x3f];
	}
	/* 32 = 30 + 2: the last two bytes make three characters. */
	v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8;
	out[o++] = account_b64[v >> 18 & 0x3f];
	out[o++] = account_b64[v >> 12 & 0x3f];
	out[o++] = account_b64[v >> 6 & 0x3f];
	out[o] = '\0';
}

/* The value of one base64url character, or -1. */
static int
account_b64_value(char ch)
{
	const char	*p;

	if (ch == '\0' || (p = strchr(account_b64, ch)) == NULL)
		return (-1);
	return ((int)(p - account_b64));
}

/*
 * Parse a printed token back to its 32 bytes: exactly 43 base64url
 * characters, in the one canonical form (the last one's two spare bits
 * zero). -1 for anything else.
 */
int
account_token_parse(const char *s, unsigned char *raw)
{
	int	 d[ACCOUNT_TOKEN_LEN];
	size_t	 i, o = 0;

	if (strlen(s) != ACCOUNT_TOKEN_LEN)
		return (-1);
	for (i = 0; i < ACCOUNT_TOKEN_LEN; i++) {
		if ((d[i] = account_b64_value(s[i])) == -1)
			return (-1);
	}
	if (d[ACCOUNT_TOKEN_LEN - 1] & 0x3)
		return (-1);
	for (i = 0; i + 4 <= ACCOUNT_TOKEN_LEN; i += 4) {
		raw[o++] = (unsigned char)(d[i] << 2 | d[i + 1] >> 4);
		raw[o++] = (unsigned char)(d[i + 1] << 4 | d[i + 2] >> 2);
		raw[o++] = (unsigned char)(d[i + 2] << 6 | d[i + 3]);
	}
	raw[o++] = (unsigned char)(d[i] << 2 | d[i + 1] >> 4);
	raw[o++] = (unsigned char)(d[i + 1] << 4 | d[i + 2] >> 2);
	return (0);
}

/* What the server keeps of a token: its SHA-256. */
void
account_token_hash(const unsigned char *raw, unsigned char *hash)
{
	SHA256(raw, ACCOUNT_TOKEN_RAW, hash);
}

/* A new token: printed into out (44 bytes), its hash into hash. */
void
account_token_new(char *out, unsigned char *hash)
{
	unsigned char	raw[ACCOUNT_TOKEN_RAW];

	if (RAND_bytes(raw, sizeof raw) != 1)
		fatalx("%s: RAND_bytes failed", __func__);
	account_token_encode(raw, out);
	account_token_hash(raw, hash);
	explicit_bzero(raw, sizeof raw);
}
