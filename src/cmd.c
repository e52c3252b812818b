/*
 * cmd.c: the command table and the dispatcher. Every generic check is made
 * here once (line length, unknown verb, syntax, arity, identity), so the
 * cmd-*.c handlers hold only their own logic.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "wschatd.h"

extern const struct cmd_entry cmd_create_entry;
extern const struct cmd_entry cmd_delete_entry;
extern const struct cmd_entry cmd_history_entry;
extern const struct cmd_entry cmd_list_entry;
extern const struct cmd_entry cmd_lsevents_entry;
extern const struct cmd_entry cmd_lssubs_entry;
extern const struct cmd_entry cmd_msg_entry;
extern const struct cmd_entry cmd_nick_entry;
extern const struct cmd_entry cmd_ping_entry;
extern const struct cmd_entry cmd_resume_entry;
extern const struct cmd_entry cmd_snapshot_entry;
extern const struct cmd_entry cmd_sub_entry;
extern const struct cmd_entry cmd_subevent_entry;
extern const struct cmd_entry cmd_unsub_entry;
extern const struct cmd_entry cmd_unsubevent_entry;

/* The table: one row per cmd-*.c file, NULL-terminated. */
const struct cmd_entry *cmd_table[] = {
	&cmd_create_entry,
	&cmd_delete_entry,
	&cmd_history_entry,
	&cmd_list_entry,
	&cmd_lsevents_entry,
	&cmd_lssubs_entry,
	&cmd_msg_entry,
	&cmd_nick_entry,
	&cmd_ping_entry,
	&cmd_resume_entry,
	&cmd_snapshot_entry,
	&cmd_sub_entry,
	&cmd_subevent_entry,
	&cmd_unsub_entry,
	&cmd_unsubevent_entry,
	NULL
};

/* Look a verb up (verbs are upper case on the wire). */
const struct cmd_entry *
cmd_find(const char *verb)
{
	const struct cmd_entry	**e;

	for (e = cmd_table; *e != NULL; e++) {
		if (strcmp((*e)->name, verb) == 0)
			return (*e);
	}
	return (NULL);
}

/* The channel a command names, or NULL once NOSUCHCHANNEL is answered. */
struct channel *
cmd_channel(struct client *c, const char *name)
{
	struct channel	*ch;

	if ((ch = state_channel_find(name)) == NULL)
		client_error(c, PROTO_ERR_NOSUCHCHANNEL, "no channel %s", name);
	return (ch);
}

/* Quote an unknown verb safely into an error: printable, bounded. */
static void
cmd_unknown(struct client *c, const char *line)
{
	char	verb[33];
	size_t	n;

	for (n = 0; n < sizeof verb - 1 && line[n] != '\0' && line[n] != ' '; n++)
		verb[n] = (line[n] > 0x20 && line[n] < 0x7f) ? line[n] : '?';
	verb[n] = '\0';
	client_error(c, PROTO_ERR_UNKNOWN, "unknown command: %s", verb);
}

/* Run one command line from a client; always produces exactly one reply. */
void
cmd_dispatch(struct client *c, char *line, size_t len)
{
	const struct cmd_entry	*e;
	struct proto_line	 pl;
	const char		*cause;
	char			*sp;

	/* One trailing CRLF or LF is not part of the command. */
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len > (size_t)config.max_line) {
		client_error(c, PROTO_ERR_TOOLONG, "line is %zu bytes, max_line is %lld",
		    len, config.max_line);
		return;
	}
	if (memchr(line, '\0', len) != NULL) {
		client_error(c, PROTO_ERR_BADARGS, "NUL byte in line");
		return;
	}

	for (sp = line; *sp != '\0' && *sp != ' '; sp++) {
		if ((unsigned char)*sp < 0x20 || *sp == 0x7f) {
			client_error(c, PROTO_ERR_BADARGS,
			    "control character in line");
			return;
		}
	}
	if ((sp = strchr(line, ' ')) != NULL)
		*sp = '\0';
	e = (*line == '\0') ? NULL : cmd_find(line);
	if (sp != NULL)
		*sp = ' ';
	if (e == NULL) {
		if (*line == '\0')
			client_error(c, PROTO_ERR_BADARGS, "empty line");
		else if (*line == ' ')
			client_error(c, PROTO_ERR_BADARGS,
			    "empty argument (leading or doubled space)");
		else
			cmd_unknown(c, line);
		return;
	}

	if ((e->flags & CMD_BARRIER) && c->c_deferred > 0) {
		client_park(c, line, len);
		return;
	}
	if (proto_split(line, (e->flags & CMD_REST) ? e->upper : 0, &pl,
	    &cause) != 0) {
		client_error(c, PROTO_ERR_BADARGS, "%s", cause);
		return;
	}
	if (pl.argc < e->lower) {
		if (e->missing != NULL)
			client_error(c, PROTO_ERR_BADARGS, "%s", e->missing);
		else
			client_error(c, PROTO_ERR_BADARGS, "usage: %s", e->usage);
		return;
	}
	if (pl.argc > e->upper) {
		client_error(c, PROTO_ERR_BADARGS, "usage: %s", e->usage);
		return;
	}
	if ((e->flags & CMD_NEEDNAME) && c->c_user == NULL) {
		client_error(c, PROTO_ERR_NOTIDENTIFIED, "%s needs a name: send NICK first",
		    e->name);
		return;
	}
	e->exec(c, &pl);
}
