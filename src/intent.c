/*
 * intent.c: the intent index, event type -> connections holding it, kept
 * with each connection's bitmask by one mutator per direction, so the
 * fan-out of channel and user events walks a list and never all clients.
 */
#include "config.h"

#include <string.h>

#include "wschatd.h"

static TAILQ_HEAD(, client) intent_lists[INTENT_MAX] = {
	TAILQ_HEAD_INITIALIZER(intent_lists[0]),
	TAILQ_HEAD_INITIALIZER(intent_lists[1]),
	TAILQ_HEAD_INITIALIZER(intent_lists[2]),
};
static const char	*intent_names[INTENT_MAX] = { "channel", "user", "message" };
static size_t		 intent_counts[INTENT_MAX];

/* An intent type by name, or -1. */
int
intent_parse(const char *name)
{
	int	i;

	for (i = 0; i < INTENT_MAX; i++) {
		if (strcmp(intent_names[i], name) == 0)
			return (i);
	}
	return (-1);
}

/* The wire name of an intent type. */
const char *
intent_name(int type)
{
	if (type < 0 || type >= INTENT_MAX)
		fatalx("%s: bad type %d", __func__, type);
	return (intent_names[type]);
}

/* Give a connection an intent: the bitmask and the index together. */
void
intent_add(struct client *c, int type)
{
	if (c->c_intents & (1U << type))
		return;
	c->c_intents |= 1U << type;
	TAILQ_INSERT_TAIL(&intent_lists[type], c, c_ilinks[type]);
	intent_counts[type]++;
}

/* Take an intent away from a connection. */
void
intent_del(struct client *c, int type)
{
	if (!(c->c_intents & (1U << type)))
		return;
	c->c_intents &= ~(1U << type);
	TAILQ_REMOVE(&intent_lists[type], c, c_ilinks[type]);
	intent_counts[type]--;
}

/* Drop every intent of a connection (it is going away). */
void
intent_clear(struct client *c)
{
	int	i;

	for (i = 0; i < INTENT_MAX; i++)
		intent_del(c, i);
}

/* Walk the connections holding an intent. */
struct client *
intent_first(int type)
{
	return (TAILQ_FIRST(&intent_lists[type]));
}

/* The next connection holding the intent. */
struct client *
intent_next(struct client *c, int type)
{
	return (TAILQ_NEXT(c, c_ilinks[type]));
}

/* How many connections hold an intent. */
size_t
intent_count(int type)
{
	return (intent_counts[type]);
}

/* Check the index against every connection's bitmask; fatal on a mismatch. */
void
intent_check(void)
{
	struct client	*c;
	size_t		 n;
	int		 i;

	for (i = 0; i < INTENT_MAX; i++) {
		n = 0;
		TAILQ_FOREACH(c, &intent_lists[i], c_ilinks[i]) {
			if (!(c->c_intents & (1U << i)))
				fatalx("state: client %llu in %s list without the bit",
				    (unsigned long long)c->c_id, intent_names[i]);
			n++;
		}
		if (n != intent_counts[i])
			fatalx("state: %s intent count %zu, counted %zu",
			    intent_names[i], intent_counts[i], n);
	}
	TAILQ_FOREACH(c, &clients, c_entry) {
		for (i = 0; i < INTENT_MAX; i++) {
			if (!(c->c_intents & (1U << i)))
				continue;
			if (c->c_ilinks[i].tqe_prev == NULL)
				fatalx("state: client %llu has %s bit but no link",
				    (unsigned long long)c->c_id, intent_names[i]);
		}
	}
}
