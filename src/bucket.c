/*
 * bucket.c: token buckets of failures, by key (a source address, an
 * account name). A bucket holds burst failures and refills at rate per
 * minute; while it holds less than one, the key is refused. Only failures
 * take from it. Full buckets carry no information, so bucket_prune drops
 * them and memory stays proportional to recent guessing.
 */
#include "config.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

struct bucket {
	char		*b_key;
	double		 b_level;
	int64_t		 b_at;		/* ms of b_level */
};

/* The level of a bucket that held level at at, seen at now. */
double
bucket_level(double level, int64_t at, int64_t now, long long rate,
    long long burst)
{
	if (now > at)
		level += (double)(now - at) * (double)rate / 60000.0;
	if (level > (double)burst)
		level = (double)burst;
	return (level);
}

/* Order buckets by key. */
static int
bucket_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct bucket *)a)->b_key,
	    ((const struct bucket *)b)->b_key));
}

/* The bucket of a key, or NULL (a missing bucket is full). */
static struct bucket *
bucket_find(void **tree, const char *key)
{
	struct bucket	 k;
	void		*node;

	k.b_key = (char *)key;
	node = tfind(&k, tree, bucket_cmp);
	return (node == NULL ? NULL : *(struct bucket **)node);
}

/* Is the key's bucket empty: may it not try now? */
int
bucket_empty(void **tree, const char *key, int64_t now, long long rate,
    long long burst)
{
	struct bucket	*b;

	if ((b = bucket_find(tree, key)) == NULL)
		return (0);
	return (bucket_level(b->b_level, b->b_at, now, rate, burst) < 1.0);
}

/* One failure for the key. */
void
bucket_charge(void **tree, const char *key, int64_t now, long long rate,
    long long burst)
{
	struct bucket	*b;

	if ((b = bucket_find(tree, key)) == NULL) {
		b = xcalloc(1, sizeof *b);
		b->b_key = xstrdup(key);
		b->b_level = (double)burst;
		b->b_at = now;
		if (tsearch(b, tree, bucket_cmp) == NULL)
			fatalx("%s: tsearch", __func__);
	}
	b->b_level = bucket_level(b->b_level, b->b_at, now, rate, burst) - 1.0;
	if (b->b_level < 0.0)
		b->b_level = 0.0;
	b->b_at = now;
}

struct bucket_walk {
	struct bucket	**w_v;
	size_t		  w_n, w_cap;
};

/* twalk_r: gather the buckets. */
static void
bucket_gather(const void *node, VISIT v, void *arg)
{
	struct bucket_walk	*w = arg;

	if (v != postorder && v != leaf)
		return;
	if (w->w_n == w->w_cap) {
		w->w_cap = w->w_cap == 0 ? 16 : w->w_cap * 2;
		w->w_v = xreallocarray(w->w_v, w->w_cap, sizeof *w->w_v);
	}
	w->w_v[w->w_n++] = *(struct bucket * const *)node;
}

/* Drop buckets that are full again (all == 1: every bucket). */
size_t
bucket_prune(void **tree, int64_t now, long long rate, long long burst,
    int all)
{
	struct bucket_walk	 w;
	struct bucket		*b;
	size_t			 i, n = 0;

	memset(&w, 0, sizeof w);
	twalk_r(*tree, bucket_gather, &w);
	for (i = 0; i < w.w_n; i++) {
		b = w.w_v[i];
		if (!all && bucket_level(b->b_level, b->b_at, now, rate,
		    burst) < (double)burst)
			continue;
		tdelete(b, tree, bucket_cmp);
		free(b->b_key);
		free(b);
		n++;
	}
	free(w.w_v);
	return (n);
}
