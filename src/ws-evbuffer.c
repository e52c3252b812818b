/*
 * ws-evbuffer.c: the framing codec over a libevent input buffer. ws_parse()
 * takes flat bytes, while a connection's input waits in an evbuffer, in
 * chains: this walks the chains through the parser and drains what it
 * consumed, so that a reader deals in results, not in buffers. It stays
 * apart from ws.c, which (like its fuzzer) needs no libevent.
 */
#include "config.h"

#include <event2/buffer.h>

#include "ws.h"

/* The next result from the front of in; WS_NEED_MORE once in is empty. */
enum ws_result
ws_evbuffer_parse(struct ws_parser *p, struct evbuffer *in)
{
	unsigned char	*data;
	size_t		 avail, used;
	enum ws_result	 r;

	while ((avail = evbuffer_get_contiguous_space(in)) > 0) {
		data = evbuffer_pullup(in, (ev_ssize_t)avail);
		r = ws_parse(p, data, avail, &used);
		evbuffer_drain(in, used);
		if (r != WS_NEED_MORE)
			return (r);
	}
	return (WS_NEED_MORE);
}
