/*
 * quota.c: what each source address holds, for the limits per address
 * (max_connections_per_address, max_unidentified_per_address,
 * max_creates_per_hour). An entry lives while its address has a socket
 * open, and after that only as long as its CREATE bucket is still
 * refilling, so the table stays as small as the set of addresses that
 * matter. A chained hash on the numeric address text.
 *
 * IPv6 addresses count one by one, not by prefix: a client holding a /64
 * gets many quotas.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

#define QUOTA_BUCKETS	4096	/* a power of two */

static struct quota	*quota_table[QUOTA_BUCKETS];
static size_t		 quota_entries;

/* FNV-1a of the address text. */
static unsigned int
quota_hash(const char *addr)
{
	uint32_t	h = 2166136261u;

	for (; *addr != '\0'; addr++) {
		h ^= (unsigned char)*addr;
		h *= 16777619u;
	}
	return (h & (QUOTA_BUCKETS - 1));
}

/* Refill an entry's CREATE bucket to now; returns its capacity. */
static double
quota_refill(struct quota *q, int64_t now)
{
	double	cap = (double)config.max_creates_per_hour;

	q->q_create_tokens += (double)(now - q->q_create_at) * cap / 3600000.0;
	q->q_create_at = now;
	if (q->q_create_tokens > cap)
		q->q_create_tokens = cap;
	return (cap);
}

/* Can the entry go: no socket, and nothing to remember? */
static int
quota_idle(struct quota *q, int64_t now)
{
	if (q->q_conns > 0)
		return (0);
	return (quota_refill(q, now) <= q->q_create_tokens);
}

/* The entry of an address, counting one more socket from it. */
struct quota *
quota_acquire(const char *addr)
{
	struct quota	**pp, *q;
	unsigned int	  h = quota_hash(addr);
	int64_t		  now = clock_mono_ms();

	for (pp = &quota_table[h]; (q = *pp) != NULL;) {
		if (strcmp(q->q_addr, addr) == 0) {
			q->q_conns++;
			return (q);
		}
		/* Sweep the chain as we go: entries kept only for CREATEs. */
		if (quota_idle(q, now)) {
			*pp = q->q_next;
			free(q);
			quota_entries--;
			continue;
		}
		pp = &q->q_next;
	}
	q = xcalloc(1, sizeof *q);
	snprintf(q->q_addr, sizeof q->q_addr, "%s", addr);
	q->q_conns = 1;
	q->q_create_tokens = (double)config.max_creates_per_hour;
	q->q_create_at = now;
	q->q_next = quota_table[h];
	quota_table[h] = q;
	quota_entries++;
	return (q);
}

/* One socket from the address is gone; forget the address if it can go. */
void
quota_release(struct quota *q)
{
	struct quota	**pp;

	if (q->q_conns == 0)
		fatalx("%s: %s has no connection", __func__, q->q_addr);
	q->q_conns--;
	if (!quota_idle(q, clock_mono_ms()))
		return;
	for (pp = &quota_table[quota_hash(q->q_addr)]; *pp != q;
	    pp = &(*pp)->q_next)
		;
	*pp = q->q_next;
	free(q);
	quota_entries--;
}

/* Take one CREATE from the address's hourly bucket: 0, or -1 if empty. */
int
quota_take_create(struct quota *q)
{
	if (config.max_creates_per_hour == 0 || q == NULL)
		return (0);	/* off, or not a network connection (tests) */
	quota_refill(q, clock_mono_ms());
	if (q->q_create_tokens < 1.0)
		return (-1);
	q->q_create_tokens -= 1.0;
	return (0);
}

/* How many addresses are remembered. */
size_t
quota_count(void)
{
	return (quota_entries);
}

/* Forget every address (exit). */
void
quota_shutdown(void)
{
	struct quota	*q;
	size_t		 i;

	for (i = 0; i < QUOTA_BUCKETS; i++) {
		while ((q = quota_table[i]) != NULL) {
			quota_table[i] = q->q_next;
			free(q);
		}
	}
	quota_entries = 0;
}
