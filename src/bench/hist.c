/*
 * hist.c: the latency histograms. Fixed buckets, so that adding a sample
 * costs no allocation and a quantile no sort, and none is dropped; and a
 * histogram as a line of text or as a JSON object of microseconds.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"

/*
 * A log-linear histogram of nanoseconds: exact below 256, then 128
 * buckets per power of two (under 0.8% error), all of 64 bits.
 */
#define HIST_LINEAR	256
#define HIST_SUB	128
#define HIST_BUCKETS	(HIST_LINEAR + (64 - 8) * HIST_SUB)

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof *h);
	h->b = xcalloc(HIST_BUCKETS, sizeof *h->b);
	h->min = UINT64_MAX;
}

static inline size_t
hist_index(uint64_t v)
{
	int	e;

	if (v < HIST_LINEAR)
		return ((size_t)v);
	e = 63 - __builtin_clzll(v);
	return (HIST_LINEAR + (size_t)(e - 8) * HIST_SUB +
	    (size_t)((v >> (e - 7)) & (HIST_SUB - 1)));
}

/* The highest value a bucket holds. */
static uint64_t
hist_top(size_t i)
{
	size_t		e, m;

	if (i < HIST_LINEAR)
		return (i);
	e = (i - HIST_LINEAR) / HIST_SUB + 8;
	m = (i - HIST_LINEAR) % HIST_SUB;
	return ((((uint64_t)HIST_SUB + m) << (e - 7)) + ((uint64_t)1 << (e - 7)) - 1);
}

void
hist_add(struct hist *h, int64_t v)
{
	uint64_t	u = v < 0 ? 0 : (uint64_t)v;

	h->b[hist_index(u)]++;
	h->count++;
	h->sum += (double)u;
	if (u < h->min)
		h->min = u;
	if (u > h->max)
		h->max = u;
}

/* The value at quantile q (0..1): the top of its bucket, capped at max. */
static uint64_t
hist_quantile(const struct hist *h, double q)
{
	uint64_t	rank, seen = 0, top;
	size_t		i;

	if (h->count == 0)
		return (0);
	/* ceil() without libm, which the build does not link. */
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			top = hist_top(i);
			return (top < h->max ? top : h->max);
		}
	}
	return (h->max);
}

/* Microseconds, for people and the JSON. */
static double
us(uint64_t ns)
{
	return ((double)ns / 1000.0);
}

json_t *
hist_json(const struct hist *h)
{
	json_t	*o = json_object();

	json_object_set_new(o, "count", json_integer((json_int_t)h->count));
	json_object_set_new(o, "min", json_real(h->count ? us(h->min) : 0));
	json_object_set_new(o, "mean", json_real(h->count ?
	    h->sum / (double)h->count / 1000.0 : 0));
	json_object_set_new(o, "p50", json_real(us(hist_quantile(h, 0.50))));
	json_object_set_new(o, "p90", json_real(us(hist_quantile(h, 0.90))));
	json_object_set_new(o, "p99", json_real(us(hist_quantile(h, 0.99))));
	json_object_set_new(o, "p999", json_real(us(hist_quantile(h, 0.999))));
	json_object_set_new(o, "max", json_real(h->count ? us(h->max) : 0));
	return (o);
}

void
hist_print(const char *what, const struct hist *h)
{
	if (h->count == 0) {
		printf("  %-22s (no samples)\n", what);
		return;
	}
	printf("  %-22s p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f"
	    "  (n=%" PRIu64 ")\n", what, us(hist_quantile(h, 0.50)),
	    us(hist_quantile(h, 0.90)), us(hist_quantile(h, 0.99)),
	    us(hist_quantile(h, 0.999)), us(h->max), h->count);
}
