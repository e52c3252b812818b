/*
 * test_ws.c: unit tests for the RFC 6455 framing codec (src/ws.c): the
 * section 5.7 examples, every protocol error with its exact close code,
 * limits enforced from the header, UTF-8 edge cases across fragments and
 * byte-at-a-time feeding, and the handshake key helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ws.h"

#define UNUSED		__attribute__((__unused__))
#define BIG		(1024 * 1024)
#define MAX_EVENTS	32

static const unsigned char key37[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* One result of ws_parse() other than WS_NEED_MORE, copied out. */
struct event {
	enum ws_result	 r;
	int		 opcode;
	unsigned char	*data;
	size_t		 len;
	uint16_t	 code;
	char		 reason[WS_MAX_CONTROL + 1];
	size_t		 reason_len;
};

struct run {
	struct event	 ev[MAX_EVENTS];
	size_t		 n;
	size_t		 fed;		/* bytes consumed in all */
};

/* Copy the parser's output for result r into ev. */
static void
record(struct ws_parser *p, enum ws_result r, struct event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->r = r;
	ev->opcode = p->out_opcode;
	ev->len = p->out_len;
	ev->code = p->close_code;
	if (r == WS_MESSAGE || r == WS_CONTROL)
		assert_non_null(p->out_data);
	ev->data = malloc(ev->len + 1);
	assert_non_null(ev->data);
	if (ev->len > 0)
		memcpy(ev->data, p->out_data, ev->len);
	ev->data[ev->len] = '\0';
	if (p->close_reason != NULL) {
		assert_true(p->close_reason_len <= WS_MAX_CONTROL);
		memcpy(ev->reason, p->close_reason, p->close_reason_len);
		ev->reason_len = p->close_reason_len;
	}
}

/*
 * Feed buf to p at most chunk bytes per call, as a reader would, until it
 * is used up or the parser fails. A call that needs more must have taken
 * every byte it was given.
 */
static void
feed(struct ws_parser *p, const unsigned char *buf, size_t len, size_t chunk,
    struct run *out)
{
	enum ws_result	r;
	size_t		off = 0, n, used;

	memset(out, 0, sizeof(*out));
	while (off < len) {
		n = len - off < chunk ? len - off : chunk;
		r = ws_parse(p, buf + off, n, &used);
		assert_true(used <= n);
		off += used;
		if (r == WS_NEED_MORE) {
			assert_int_equal(used, n);
			continue;
		}
		assert_true(out->n < MAX_EVENTS);
		record(p, r, &out->ev[out->n++]);
		if (r == WS_ERROR)
			break;
	}
	out->fed = off;
}

/*
 * The event ev is result r (WS_MESSAGE or WS_CONTROL) for a frame of this
 * opcode whose payload is the n bytes at p. A macro, so that a failure
 * names the test's line.
 */
#define assert_event(ev, r_, opcode_, p, n) do {			\
	assert_int_equal((ev).r, (r_));					\
	assert_int_equal((ev).opcode, (opcode_));			\
	assert_int_equal((ev).len, (n));				\
	if ((n) > 0)							\
		assert_memory_equal((ev).data, (p), (n));		\
} while (0)

/* Free the copies feed() made. */
static void
run_free(struct run *out)
{
	size_t	i;

	for (i = 0; i < out->n; i++)
		free(out->ev[i].data);
	out->n = 0;
}

/* Parse buf in one go with a fresh parser; returns the first event. */
static void
parse1(enum ws_role role, const unsigned char *buf, size_t len,
    struct run *out)
{
	struct ws_parser	p;

	ws_parser_init(&p, role, BIG, BIG);
	feed(&p, buf, len, len == 0 ? 1 : len, out);
	ws_parser_free(&p);
}

/* Assert that buf makes a fresh parser fail with code, in any chunking. */
static void
expect_error(enum ws_role role, const unsigned char *buf, size_t len,
    uint16_t code)
{
	struct ws_parser	p;
	struct run		out;
	size_t			chunk;

	for (chunk = 1; chunk <= len; chunk++) {
		ws_parser_init(&p, role, BIG, BIG);
		feed(&p, buf, len, chunk, &out);
		assert_true(out.n >= 1);
		assert_int_equal(out.ev[out.n - 1].r, WS_ERROR);
		assert_int_equal(out.ev[out.n - 1].code, code);
		assert_true(out.ev[out.n - 1].reason_len > 0);
		run_free(&out);
		ws_parser_free(&p);
	}
}

/* Build one frame (header, then payload masked if mask != NULL). */
static size_t
frame(unsigned char *out, int opcode, int fin, const void *payload,
    size_t len, const unsigned char *mask)
{
	size_t	h;

	h = ws_header(out, opcode, fin, len, mask);
	if (len > 0)
		memcpy(out + h, payload, len);
	if (mask != NULL)
		ws_mask(out + h, len, mask, 0);
	return (h + len);
}

/* The mask a server-role test uses, or NULL for the client role. */
static const unsigned char *
role_mask(enum ws_role role)
{
	return (role == WS_ROLE_SERVER ? key37 : NULL);
}

/* RFC 6455 5.7: a single-frame unmasked text message, read by a client. */
static void
t_rfc_unmasked_hello(void **state UNUSED)
{
	static const unsigned char	f[] = { 0x81, 0x05, 'H', 'e', 'l', 'l',
					    'o' };
	struct run			out;

	parse1(WS_ROLE_CLIENT, f, sizeof(f), &out);
	assert_int_equal(out.n, 1);
	assert_event(out.ev[0], WS_MESSAGE, WS_OP_TEXT, "Hello", 5);
	assert_int_equal(out.fed, sizeof(f));
	run_free(&out);

	/* The same frame read by a server is unmasked: 1002. */
	expect_error(WS_ROLE_SERVER, f, sizeof(f), WS_CLOSE_PROTOCOL);
}

/* RFC 6455 5.7: a single-frame masked text message, read by a server. */
static void
t_rfc_masked_hello(void **state UNUSED)
{
	static const unsigned char	f[] = { 0x81, 0x85, 0x37, 0xfa, 0x21,
					    0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	unsigned char			built[32];
	struct run			out;

	parse1(WS_ROLE_SERVER, f, sizeof(f), &out);
	assert_int_equal(out.n, 1);
	assert_event(out.ev[0], WS_MESSAGE, WS_OP_TEXT, "Hello", 5);
	run_free(&out);

	/* Our builder produces the RFC's bytes exactly. */
	assert_int_equal(frame(built, WS_OP_TEXT, 1, "Hello", 5, key37),
	    sizeof(f));
	assert_memory_equal(built, f, sizeof(f));

	/* A client must not accept a masked frame: 1002. */
	expect_error(WS_ROLE_CLIENT, f, sizeof(f), WS_CLOSE_PROTOCOL);
}

/* RFC 6455 5.7: a fragmented unmasked text message, "Hel" then "lo". */
static void
t_rfc_fragmented(void **state UNUSED)
{
	static const unsigned char	f[] = { 0x01, 0x03, 'H', 'e', 'l',
					    0x80, 0x02, 'l', 'o' };
	struct ws_parser		p;
	struct run			out;
	size_t				chunk;

	for (chunk = 1; chunk <= sizeof(f); chunk++) {
		ws_parser_init(&p, WS_ROLE_CLIENT, BIG, BIG);
		feed(&p, f, sizeof(f), chunk, &out);
		assert_int_equal(out.n, 1);
		assert_event(out.ev[0], WS_MESSAGE, WS_OP_TEXT, "Hello", 5);
		assert_int_equal(out.fed, sizeof(f));
		run_free(&out);
		ws_parser_free(&p);
	}
}

/* RFC 6455 5.7: unmasked ping and masked pong, both carrying "Hello". */
static void
t_rfc_ping_pong(void **state UNUSED)
{
	static const unsigned char	ping[] = { 0x89, 0x05, 'H', 'e', 'l',
					    'l', 'o' };
	static const unsigned char	pong[] = { 0x8a, 0x85, 0x37, 0xfa,
					    0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	struct run			out;

	parse1(WS_ROLE_CLIENT, ping, sizeof(ping), &out);
	assert_int_equal(out.n, 1);
	assert_event(out.ev[0], WS_CONTROL, WS_OP_PING, "Hello", 5);
	run_free(&out);

	parse1(WS_ROLE_SERVER, pong, sizeof(pong), &out);
	assert_int_equal(out.n, 1);
	assert_event(out.ev[0], WS_CONTROL, WS_OP_PONG, "Hello", 5);
	run_free(&out);
}

/* RFC 6455 5.7: 256 bytes (16-bit length) and 64 KiB (64-bit length). */
static void
t_rfc_lengths(void **state UNUSED)
{
	static const unsigned char	h256[] = { 0x82, 0x7e, 0x01, 0x00 };
	static const unsigned char	h64k[] = { 0x82, 0x7f, 0, 0, 0, 0, 0,
					    0x01, 0x00, 0x00 };
	unsigned char			*buf;
	struct run			out;
	size_t				i;

	buf = malloc(sizeof(h64k) + 65536);
	assert_non_null(buf);

	memcpy(buf, h256, sizeof(h256));
	for (i = 0; i < 256; i++)
		buf[sizeof(h256) + i] = (unsigned char)i;
	parse1(WS_ROLE_CLIENT, buf, sizeof(h256) + 256, &out);
	assert_int_equal(out.n, 1);
	assert_event(out.ev[0], WS_MESSAGE, WS_OP_BINARY,
	    buf + sizeof(h256), 256);
	run_free(&out);

	memcpy(buf, h64k, sizeof(h64k));
	for (i = 0; i < 65536; i++)
		buf[sizeof(h64k) + i] = (unsigned char)(i * 7);
	parse1(WS_ROLE_CLIENT, buf, sizeof(h64k) + 65536, &out);
	assert_int_equal(out.n, 1);
	assert_event(out.ev[0], WS_MESSAGE, WS_OP_BINARY,
	    buf + sizeof(h64k), 65536);
	run_free(&out);

	free(buf);
}

/* ws_header picks the shortest length encoding at every boundary. */
static void
t_header_encodings(void **state UNUSED)
{
	static const struct {
		uint64_t	len;
		size_t		hlen;
		unsigned char	b1;
	} cases[] = {
		{ 0, 2, 0 }, { 1, 2, 1 }, { 125, 2, 125 }, { 126, 4, 126 },
		{ 127, 4, 126 }, { 65535, 4, 126 }, { 65536, 10, 127 },
		{ UINT64_C(0x7fffffffffffffff), 10, 127 },
	};
	unsigned char	h[WS_MAX_HEADER];
	uint64_t	got;
	size_t		i, j, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = ws_header(h, WS_OP_BINARY, 1, cases[i].len, NULL);
		assert_int_equal(n, cases[i].hlen);
		assert_int_equal(h[0], 0x82);
		assert_int_equal(h[1], cases[i].b1);
		if (n == 2)
			got = h[1];
		else {
			got = 0;
			for (j = 2; j < n; j++)
				got = (got << 8) | h[j];
		}
		assert_true(got == cases[i].len);

		n = ws_header(h, WS_OP_TEXT, 0, cases[i].len, key37);
		assert_int_equal(n, cases[i].hlen + 4);
		assert_int_equal(h[0], 0x01);
		assert_int_equal(h[1], cases[i].b1 | 0x80);
		assert_memory_equal(h + n - 4, key37, 4);
	}
}

/* Every length encoding round-trips through the parser, both roles. */
static void
t_length_roundtrip(void **state UNUSED)
{
	static const size_t	lens[] = { 0, 1, 125, 126, 127, 65535, 65536,
				    70000 };
	unsigned char		*payload, *buf;
	struct run		out;
	size_t			i, k, n;
	int			role;

	payload = malloc(70000);
	buf = malloc(70000 + WS_MAX_HEADER);
	assert_non_null(payload);
	assert_non_null(buf);
	for (k = 0; k < 70000; k++)
		payload[k] = (unsigned char)(k * 31 + 7);

	for (role = WS_ROLE_SERVER; role <= WS_ROLE_CLIENT; role++) {
		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			n = frame(buf, WS_OP_BINARY, 1, payload, lens[i],
			    role_mask(role));
			parse1(role, buf, n, &out);
			assert_int_equal(out.n, 1);
			assert_event(out.ev[0], WS_MESSAGE, WS_OP_BINARY,
			    payload, lens[i]);
			assert_int_equal(out.fed, n);
			run_free(&out);
		}
	}
	free(payload);
	free(buf);
}

/* ws_mask matches a byte-wise XOR at every alignment, offset and split. */
static void
t_mask(void **state UNUSED)
{
	unsigned char	orig[80], a[88], b[80];
	size_t		align, off, len, i, split;

	for (i = 0; i < sizeof(orig); i++)
		orig[i] = (unsigned char)(i * 13 + 1);
	for (align = 0; align < 8; align++)
		for (off = 0; off < 8; off++)
			for (len = 0; len <= 72; len++) {
				memcpy(a + align, orig, len);
				ws_mask(a + align, len, key37, off);
				for (i = 0; i < len; i++)
					assert_int_equal(a[align + i],
					    orig[i] ^ key37[(off + i) % 4]);
				/* Masking twice gives the data back. */
				ws_mask(a + align, len, key37, off);
				assert_memory_equal(a + align, orig, len);
			}

	/* Masking in pieces with a running offset equals masking at once. */
	for (split = 0; split <= 72; split++) {
		memcpy(a, orig, 72);
		memcpy(b, orig, 72);
		ws_mask(a, 72, key37, 0);
		ws_mask(b, split, key37, 0);
		ws_mask(b + split, 72 - split, key37, split);
		assert_memory_equal(a, b, 72);
	}
}

/* A ping and a pong between fragments do not disturb the message. */
static void
t_interleaved_control(void **state UNUSED)
{
	unsigned char		buf[256];
	struct ws_parser	p;
	struct run		out;
	size_t			n, chunk;
	int			role;

	for (role = WS_ROLE_SERVER; role <= WS_ROLE_CLIENT; role++) {
		n = frame(buf, WS_OP_TEXT, 0, "Hel", 3, role_mask(role));
		n += frame(buf + n, WS_OP_PING, 1, "p1", 2, role_mask(role));
		n += frame(buf + n, WS_OP_CONT, 0, "", 0, role_mask(role));
		n += frame(buf + n, WS_OP_PONG, 1, "", 0, role_mask(role));
		n += frame(buf + n, WS_OP_CONT, 1, "lo", 2, role_mask(role));
		for (chunk = 1; chunk <= n; chunk++) {
			ws_parser_init(&p, role, BIG, BIG);
			feed(&p, buf, n, chunk, &out);
			assert_int_equal(out.n, 3);
			assert_event(out.ev[0], WS_CONTROL, WS_OP_PING,
			    "p1", 2);
			assert_event(out.ev[1], WS_CONTROL, WS_OP_PONG, "", 0);
			assert_event(out.ev[2], WS_MESSAGE, WS_OP_TEXT,
			    "Hello", 5);
			assert_int_equal(out.fed, n);
			run_free(&out);
			ws_parser_free(&p);
		}
	}
}

/* A stream of several frames gives the same events in any chunking. */
static void
t_stream_any_chunking(void **state UNUSED)
{
	unsigned char		buf[2048], big[300];
	struct ws_parser	p;
	struct run		out;
	size_t			n, chunk, i;
	int			role;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)i;
	for (role = WS_ROLE_SERVER; role <= WS_ROLE_CLIENT; role++) {
		n = frame(buf, WS_OP_TEXT, 1, "h\xc3\xa9llo", 6,
		    role_mask(role));
		n += frame(buf + n, WS_OP_PING, 1, "x", 1, role_mask(role));
		n += frame(buf + n, WS_OP_BINARY, 0, big, 200,
		    role_mask(role));
		n += frame(buf + n, WS_OP_PONG, 1, "y", 1, role_mask(role));
		n += frame(buf + n, WS_OP_CONT, 1, big + 200, 100,
		    role_mask(role));
		n += frame(buf + n, WS_OP_TEXT, 1, "", 0, role_mask(role));
		n += frame(buf + n, WS_OP_CLOSE, 1, "\x03\xe8" "bye", 5,
		    role_mask(role));
		for (chunk = 1; chunk <= n; chunk++) {
			ws_parser_init(&p, role, BIG, BIG);
			feed(&p, buf, n, chunk, &out);
			assert_int_equal(out.fed, n);
			assert_int_equal(out.n, 6);
			assert_event(out.ev[0], WS_MESSAGE, WS_OP_TEXT,
			    "h\xc3\xa9llo", 6);
			assert_int_equal(out.ev[1].r, WS_CONTROL);
			assert_int_equal(out.ev[1].opcode, WS_OP_PING);
			assert_memory_equal(out.ev[1].data, "x", 1);
			assert_int_equal(out.ev[2].r, WS_CONTROL);
			assert_int_equal(out.ev[2].opcode, WS_OP_PONG);
			assert_event(out.ev[3], WS_MESSAGE, WS_OP_BINARY,
			    big, 300);
			assert_event(out.ev[4], WS_MESSAGE, WS_OP_TEXT, "", 0);
			assert_int_equal(out.ev[5].r, WS_CONTROL);
			assert_int_equal(out.ev[5].opcode, WS_OP_CLOSE);
			assert_int_equal(out.ev[5].code, 1000);
			assert_int_equal(out.ev[5].reason_len, 3);
			assert_memory_equal(out.ev[5].reason, "bye", 3);
			run_free(&out);
			ws_parser_free(&p);
		}
	}
}

/* ws_parse returns after each frame and reports what it consumed. */
static void
t_consumed(void **state UNUSED)
{
	unsigned char		buf[64];
	struct ws_parser	p;
	enum ws_result		r;
	size_t			n1, n2, used;

	n1 = frame(buf, WS_OP_TEXT, 1, "one", 3, key37);
	n2 = frame(buf + n1, WS_OP_TEXT, 1, "two!", 4, key37);
	ws_parser_init(&p, WS_ROLE_SERVER, BIG, BIG);

	r = ws_parse(&p, buf, n1 + n2, &used);
	assert_int_equal(r, WS_MESSAGE);
	assert_int_equal(used, n1);
	assert_int_equal(p.out_len, 3);
	assert_memory_equal(p.out_data, "one", 3);

	/* The next message starts afresh, not appended to the last. */
	r = ws_parse(&p, buf + n1, n2, &used);
	assert_int_equal(r, WS_MESSAGE);
	assert_int_equal(used, n2);
	assert_int_equal(p.out_len, 4);
	assert_memory_equal(p.out_data, "two!", 4);

	r = ws_parse(&p, buf, 0, &used);
	assert_int_equal(r, WS_NEED_MORE);
	assert_int_equal(used, 0);
	assert_null(p.out_data);
	ws_parser_free(&p);
}

/* Header errors: masking, reserved bits, reserved opcodes. */
static void
t_err_header(void **state UNUSED)
{
	unsigned char	f[32];
	size_t		n;
	int		op, rsv;

	n = frame(f, WS_OP_TEXT, 1, "hi", 2, NULL);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);
	n = frame(f, WS_OP_TEXT, 1, "hi", 2, key37);
	expect_error(WS_ROLE_CLIENT, f, n, WS_CLOSE_PROTOCOL);
	n = frame(f, WS_OP_PING, 1, "", 0, NULL);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);

	for (rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
		n = frame(f, WS_OP_TEXT, 1, "hi", 2, key37);
		f[0] |= rsv;
		expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);
		n = frame(f, WS_OP_PING, 1, "", 0, NULL);
		f[0] |= rsv;
		expect_error(WS_ROLE_CLIENT, f, n, WS_CLOSE_PROTOCOL);
	}

	for (op = 0; op < 16; op++) {
		if (op <= WS_OP_BINARY || (op >= WS_OP_CLOSE &&
		    op <= WS_OP_PONG))
			continue;
		n = frame(f, op, 1, "", 0, key37);
		expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);
		n = frame(f, op, 1, "", 0, NULL);
		expect_error(WS_ROLE_CLIENT, f, n, WS_CLOSE_PROTOCOL);
	}
}

/* Length errors: non-minimal encodings and the 64-bit top bit. */
static void
t_err_length(void **state UNUSED)
{
	/* 125 bytes sent with a 16-bit length. */
	static const unsigned char	f16[] = { 0x82, 0x7e, 0x00, 0x7d };
	/* 0 bytes sent with a 16-bit length. */
	static const unsigned char	f16z[] = { 0x82, 0x7e, 0x00, 0x00 };
	/* 65535 bytes sent with a 64-bit length. */
	static const unsigned char	f64[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0,
					    0xff, 0xff };
	/* 2^63 bytes. */
	static const unsigned char	f64msb[] = { 0x82, 0x7f, 0x80, 0, 0,
					    0, 0, 0, 0, 0 };
	/* All ones. */
	static const unsigned char	f64max[] = { 0x82, 0x7f, 0xff, 0xff,
					    0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	expect_error(WS_ROLE_CLIENT, f16, sizeof(f16), WS_CLOSE_PROTOCOL);
	expect_error(WS_ROLE_CLIENT, f16z, sizeof(f16z), WS_CLOSE_PROTOCOL);
	expect_error(WS_ROLE_CLIENT, f64, sizeof(f64), WS_CLOSE_PROTOCOL);
	expect_error(WS_ROLE_CLIENT, f64msb, sizeof(f64msb),
	    WS_CLOSE_PROTOCOL);
	expect_error(WS_ROLE_CLIENT, f64max, sizeof(f64max),
	    WS_CLOSE_PROTOCOL);
}

/* Control frames: at most 125 bytes and never fragmented. */
static void
t_err_control(void **state UNUSED)
{
	unsigned char	f[256], payload[126];
	size_t		n;
	int		op;

	memset(payload, 'z', sizeof(payload));
	for (op = WS_OP_CLOSE; op <= WS_OP_PONG; op++) {
		n = frame(f, op, 1, payload, 126, key37);
		expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);
		n = frame(f, op, 0, "", 0, key37);
		expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);
		n = frame(f, op, 0, "", 0, NULL);
		expect_error(WS_ROLE_CLIENT, f, n, WS_CLOSE_PROTOCOL);
	}

	/* 125 is fine. */
	n = frame(f, WS_OP_PING, 1, payload, 125, NULL);
	{
		struct run	out;

		parse1(WS_ROLE_CLIENT, f, n, &out);
		assert_int_equal(out.n, 1);
		assert_int_equal(out.ev[0].r, WS_CONTROL);
		assert_int_equal(out.ev[0].len, 125);
		assert_memory_equal(out.ev[0].data, payload, 125);
		run_free(&out);
	}
}

/* Fragment sequencing: stray continuations and nested messages. */
static void
t_err_sequence(void **state UNUSED)
{
	unsigned char	f[64];
	size_t		n;

	n = frame(f, WS_OP_CONT, 1, "x", 1, key37);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);
	n = frame(f, WS_OP_CONT, 0, "x", 1, key37);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);

	n = frame(f, WS_OP_TEXT, 0, "a", 1, key37);
	n += frame(f + n, WS_OP_TEXT, 1, "b", 1, key37);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);

	n = frame(f, WS_OP_BINARY, 0, "a", 1, key37);
	n += frame(f + n, WS_OP_TEXT, 1, "b", 1, key37);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);

	n = frame(f, WS_OP_TEXT, 0, "a", 1, key37);
	n += frame(f + n, WS_OP_BINARY, 0, "b", 1, key37);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);

	/* A complete message closes it: CONT afterwards is stray. */
	n = frame(f, WS_OP_TEXT, 1, "a", 1, key37);
	n += frame(f + n, WS_OP_CONT, 1, "b", 1, key37);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);
}

/* Limits fail from the header alone, before any payload arrives. */
static void
t_limits_before_payload(void **state UNUSED)
{
	unsigned char		h[WS_MAX_HEADER], f[256], payload[200];
	struct ws_parser	p;
	struct run		out;
	enum ws_result		r;
	size_t			n, used;

	memset(payload, 'a', sizeof(payload));

	/* A frame over max_frame: header only, error at once. */
	ws_parser_init(&p, WS_ROLE_SERVER, 100, 1000);
	n = ws_header(h, WS_OP_BINARY, 1, 101, key37);
	r = ws_parse(&p, h, n, &used);
	assert_int_equal(r, WS_ERROR);
	assert_int_equal(p.close_code, WS_CLOSE_TOO_BIG);
	assert_null(p.msg);
	ws_parser_free(&p);

	/* A huge 64-bit length fails before even the mask key arrives. */
	ws_parser_init(&p, WS_ROLE_SERVER, 100, 1000);
	n = ws_header(h, WS_OP_BINARY, 1, UINT64_C(1) << 40, key37);
	r = ws_parse(&p, h, n - 4, &used);
	assert_int_equal(r, WS_ERROR);
	assert_int_equal(p.close_code, WS_CLOSE_TOO_BIG);
	assert_null(p.msg);
	ws_parser_free(&p);

	/* Exactly max_frame is fine. */
	ws_parser_init(&p, WS_ROLE_SERVER, 100, 1000);
	n = frame(f, WS_OP_BINARY, 1, payload, 100, key37);
	feed(&p, f, n, n, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.ev[0].r, WS_MESSAGE);
	assert_int_equal(out.ev[0].len, 100);
	run_free(&out);
	ws_parser_free(&p);

	/* A message growing past max_message: fails at the 2nd header. */
	ws_parser_init(&p, WS_ROLE_SERVER, 100, 150);
	n = frame(f, WS_OP_TEXT, 0, payload, 100, key37);
	r = ws_parse(&p, f, n, &used);
	assert_int_equal(r, WS_NEED_MORE);
	assert_int_equal(used, n);
	n = ws_header(h, WS_OP_CONT, 1, 51, key37);
	r = ws_parse(&p, h, n, &used);
	assert_int_equal(r, WS_ERROR);
	assert_int_equal(p.close_code, WS_CLOSE_TOO_BIG);
	assert_true(p.msg_cap <= 150);
	ws_parser_free(&p);

	/* Reaching max_message exactly is fine; the buffer stays in bounds. */
	ws_parser_init(&p, WS_ROLE_SERVER, 100, 150);
	n = frame(f, WS_OP_TEXT, 0, payload, 100, key37);
	n += frame(f + n, WS_OP_CONT, 1, payload, 50, key37);
	feed(&p, f, n, 1, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.ev[0].r, WS_MESSAGE);
	assert_int_equal(out.ev[0].len, 150);
	assert_true(p.msg_cap <= 150);
	run_free(&out);
	ws_parser_free(&p);

	/* A single frame bigger than max_message, within max_frame. */
	ws_parser_init(&p, WS_ROLE_SERVER, 1000, 150);
	n = ws_header(h, WS_OP_BINARY, 1, 151, key37);
	r = ws_parse(&p, h, n, &used);
	assert_int_equal(r, WS_ERROR);
	assert_int_equal(p.close_code, WS_CLOSE_TOO_BIG);
	ws_parser_free(&p);
}

/* After WS_ERROR every call fails the same way and consumes nothing. */
static void
t_sticky_failure(void **state UNUSED)
{
	unsigned char		f[32];
	struct ws_parser	p;
	enum ws_result		r;
	size_t			n, used;

	ws_parser_init(&p, WS_ROLE_SERVER, BIG, BIG);
	n = frame(f, WS_OP_TEXT, 1, "hi", 2, NULL);
	r = ws_parse(&p, f, n, &used);
	assert_int_equal(r, WS_ERROR);
	assert_int_equal(p.close_code, WS_CLOSE_PROTOCOL);

	n = frame(f, WS_OP_TEXT, 1, "hi", 2, key37);
	r = ws_parse(&p, f, n, &used);
	assert_int_equal(r, WS_ERROR);
	assert_int_equal(used, 0);
	assert_int_equal(p.close_code, WS_CLOSE_PROTOCOL);
	assert_int_equal(p.failed, 1);
	ws_parser_free(&p);
}

/* Close frames: empty, with code and reason, and each malformed kind. */
static void
t_close_frames(void **state UNUSED)
{
	unsigned char	f[200], pl[WS_MAX_CONTROL];
	struct run	out;
	size_t		n;

	n = frame(f, WS_OP_CLOSE, 1, "", 0, key37);
	parse1(WS_ROLE_SERVER, f, n, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.ev[0].r, WS_CONTROL);
	assert_int_equal(out.ev[0].opcode, WS_OP_CLOSE);
	assert_int_equal(out.ev[0].code, WS_CLOSE_NO_STATUS);
	assert_int_equal(out.ev[0].reason_len, 0);
	run_free(&out);

	n = frame(f, WS_OP_CLOSE, 1, "\x0f\xa0" "r\xc3\xa9son", 8, key37);
	parse1(WS_ROLE_SERVER, f, n, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.ev[0].r, WS_CONTROL);
	assert_int_equal(out.ev[0].code, 4000);
	assert_int_equal(out.ev[0].reason_len, 6);
	assert_memory_equal(out.ev[0].reason, "r\xc3\xa9son", 6);
	assert_int_equal(out.ev[0].len, 8);
	run_free(&out);

	/* One byte of payload cannot hold a code. */
	n = frame(f, WS_OP_CLOSE, 1, "\x03", 1, key37);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);
	/* Not even when an earlier ping left a valid code's 2nd byte. */
	n = frame(f, WS_OP_PING, 1, "\x03\xe8", 2, key37);
	n += frame(f + n, WS_OP_CLOSE, 1, "\x03", 1, key37);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);

	/* Codes that may not appear on the wire. */
	n = frame(f, WS_OP_CLOSE, 1, "\x03\xed", 2, key37);	/* 1005 */
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);
	n = frame(f, WS_OP_CLOSE, 1, "\x03\xee", 2, key37);	/* 1006 */
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);
	n = frame(f, WS_OP_CLOSE, 1, "\x03\xe7", 2, key37);	/* 999 */
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_PROTOCOL);
	n = frame(f, WS_OP_CLOSE, 1, "\x13\x88", 2, key37);	/* 5000 */
	expect_error(WS_ROLE_CLIENT, f, n, WS_CLOSE_PROTOCOL);
	n = frame(f, WS_OP_CLOSE, 1, "\x00\x00", 2, NULL);	/* 0 */
	expect_error(WS_ROLE_CLIENT, f, n, WS_CLOSE_PROTOCOL);

	/* A reason that is not UTF-8. */
	n = frame(f, WS_OP_CLOSE, 1, "\x03\xe8" "a\xff", 4, key37);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_BAD_DATA);
	n = frame(f, WS_OP_CLOSE, 1, "\x03\xe8" "a\xc3", 4, key37);
	expect_error(WS_ROLE_SERVER, f, n, WS_CLOSE_BAD_DATA);

	/* What ws_close_payload builds, the parser reads back. */
	n = ws_close_payload(pl, WS_CLOSE_GOING_AWAY, "shutting down");
	n = frame(f, WS_OP_CLOSE, 1, pl, n, NULL);
	parse1(WS_ROLE_CLIENT, f, n, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.ev[0].code, WS_CLOSE_GOING_AWAY);
	assert_int_equal(out.ev[0].reason_len, 13);
	assert_memory_equal(out.ev[0].reason, "shutting down", 13);
	run_free(&out);
}

/* Close code classes (RFC 6455 7.4 and the IANA registry). */
static void
t_close_code_valid(void **state UNUSED)
{
	static const uint16_t	good[] = { 1000, 1001, 1002, 1003, 1007, 1008,
				    1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
				    4000, 4999 };
	static const uint16_t	bad[] = { 0, 1, 999, 1004, 1005, 1006, 1015,
				    1016, 1100, 2000, 2999, 5000, 65535 };
	unsigned int		c, valid;
	size_t			i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(ws_close_code_valid(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(ws_close_code_valid(bad[i]));
	/* And every other code falls in one of those classes. */
	for (c = 0; c <= 65535; c++) {
		valid = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
		    (c >= 3000 && c <= 4999);
		assert_int_equal(!!ws_close_code_valid((uint16_t)c), valid);
	}
}

/* ws_utf8_valid on the classic edge cases. */
static void
t_utf8_edges(void **state UNUSED)
{
	static const struct {
		const char	*s;
		size_t		 len;
		int		 valid;
	} cases[] = {
		{ "", 0, 1 },
		{ "plain ascii, long enough for the word path", 42, 1 },
		{ "\x00", 1, 1 },
		{ "\x7f", 1, 1 },
		{ "\xc2\x80", 2, 1 },		/* U+0080 */
		{ "\xdf\xbf", 2, 1 },		/* U+07FF */
		{ "\xe0\xa0\x80", 3, 1 },	/* U+0800 */
		{ "\xed\x9f\xbf", 3, 1 },	/* U+D7FF */
		{ "\xee\x80\x80", 3, 1 },	/* U+E000 */
		{ "\xef\xbf\xbf", 3, 1 },	/* U+FFFF */
		{ "\xf0\x90\x80\x80", 4, 1 },	/* U+10000 */
		{ "\xf0\x9f\x98\x80", 4, 1 },	/* U+1F600 */
		{ "\xf4\x8f\xbf\xbf", 4, 1 },	/* U+10FFFF */
		{ "\xc0\x80", 2, 0 },		/* overlong NUL */
		{ "\xc1\xbf", 2, 0 },		/* overlong */
		{ "\xe0\x80\x80", 3, 0 },	/* overlong NUL */
		{ "\xe0\x9f\xbf", 3, 0 },	/* overlong U+07FF */
		{ "\xf0\x8f\xbf\xbf", 4, 0 },	/* overlong U+FFFF */
		{ "\xed\xa0\x80", 3, 0 },	/* U+D800 */
		{ "\xed\xbf\xbf", 3, 0 },	/* U+DFFF */
		{ "\xf4\x90\x80\x80", 4, 0 },	/* U+110000 */
		{ "\xf5\x80\x80\x80", 4, 0 },
		{ "\xf8\x88\x80\x80\x80", 5, 0 },
		{ "\xfe", 1, 0 },
		{ "\xff", 1, 0 },
		{ "\x80", 1, 0 },		/* lone continuation */
		{ "a\xbf", 2, 0 },
		{ "\xc3", 1, 0 },		/* truncated */
		{ "\xe2\x82", 2, 0 },
		{ "\xf0\x9f\x98", 3, 0 },
		{ "\xc3\x28", 2, 0 },		/* bad continuation */
		{ "\xe2\x28\xa1", 3, 0 },
		{ "0123456\xc3\xa9" "0123456789abcdef", 25, 1 },
		{ "01234567\xff" "0123456789abcdef", 25, 0 },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(!!ws_utf8_valid((const unsigned char *)
		    cases[i].s, cases[i].len), cases[i].valid);
}

/* The incremental validator fails at the first byte that rules out UTF-8. */
static void
t_utf8_early(void **state UNUSED)
{
	static const char	*prefixes_bad[] = {
		"\xe0\x80", "\xe0\x9f", "\xed\xa0", "\xed\xbf", "\xf0\x80",
		"\xf0\x8f", "\xf4\x90", "\xf4\xbf", "\xc0", "\xc1", "\xf5",
	};
	static const char	*prefixes_ok[] = {
		"\xe0", "\xe0\xa0", "\xed", "\xed\x9f", "\xf0", "\xf0\x90",
		"\xf4", "\xf4\x8f", "\xf4\x8f\xbf", "\xc2",
	};
	struct ws_utf8		u;
	size_t			i;

	for (i = 0; i < sizeof(prefixes_bad) / sizeof(prefixes_bad[0]); i++) {
		ws_utf8_init(&u);
		assert_int_equal(ws_utf8_feed(&u, (const unsigned char *)
		    prefixes_bad[i], strlen(prefixes_bad[i])), -1);
		/* And it stays failed. */
		assert_int_equal(ws_utf8_feed(&u, (const unsigned char *)"a",
		    1), -1);
		assert_false(ws_utf8_done(&u));
	}
	for (i = 0; i < sizeof(prefixes_ok) / sizeof(prefixes_ok[0]); i++) {
		ws_utf8_init(&u);
		assert_int_equal(ws_utf8_feed(&u, (const unsigned char *)
		    prefixes_ok[i], strlen(prefixes_ok[i])), 0);
		assert_false(ws_utf8_done(&u));
	}

	/* A code point split over feeds of one byte each. */
	ws_utf8_init(&u);
	for (i = 0; i < 4; i++) {
		if (i > 0)
			assert_false(ws_utf8_done(&u));
		assert_int_equal(ws_utf8_feed(&u, (const unsigned char *)
		    "\xf0\x9f\x98\x80" + i, 1), 0);
	}
	assert_true(ws_utf8_done(&u));
}

/* UTF-8 in text messages: across fragments, byte-at-a-time, truncated. */
static void
t_utf8_messages(void **state UNUSED)
{
	unsigned char		f[256];
	struct ws_parser	p;
	struct run		out;
	size_t			n, chunk;
	int			role;

	for (role = WS_ROLE_SERVER; role <= WS_ROLE_CLIENT; role++) {
		/* U+1F600 split two bytes and two bytes over fragments. */
		n = frame(f, WS_OP_TEXT, 0, "a\xf0\x9f", 3, role_mask(role));
		n += frame(f + n, WS_OP_CONT, 0, "\x98", 1, role_mask(role));
		n += frame(f + n, WS_OP_CONT, 1, "\x80z", 2, role_mask(role));
		for (chunk = 1; chunk <= n; chunk++) {
			ws_parser_init(&p, role, BIG, BIG);
			feed(&p, f, n, chunk, &out);
			assert_int_equal(out.n, 1);
			assert_event(out.ev[0], WS_MESSAGE, WS_OP_TEXT,
			    "a\xf0\x9f\x98\x80z", 6);
			run_free(&out);
			ws_parser_free(&p);
		}

		/* Ends mid code point: 1007, however it is fed. */
		n = frame(f, WS_OP_TEXT, 1, "a\xf0\x9f\x98", 4,
		    role_mask(role));
		expect_error(role, f, n, WS_CLOSE_BAD_DATA);
		n = frame(f, WS_OP_TEXT, 0, "a", 1, role_mask(role));
		n += frame(f + n, WS_OP_CONT, 1, "\xf0\x9f", 2,
		    role_mask(role));
		expect_error(role, f, n, WS_CLOSE_BAD_DATA);

		/* Each invalid form fails with 1007. */
		n = frame(f, WS_OP_TEXT, 1, "\xc0\x80", 2, role_mask(role));
		expect_error(role, f, n, WS_CLOSE_BAD_DATA);
		n = frame(f, WS_OP_TEXT, 1, "\xe0\x80\x80", 3, role_mask(role));
		expect_error(role, f, n, WS_CLOSE_BAD_DATA);
		n = frame(f, WS_OP_TEXT, 1, "\xed\xa0\x80", 3, role_mask(role));
		expect_error(role, f, n, WS_CLOSE_BAD_DATA);
		n = frame(f, WS_OP_TEXT, 1, "\xf4\x90\x80\x80", 4,
		    role_mask(role));
		expect_error(role, f, n, WS_CLOSE_BAD_DATA);

		/* The same bytes are fine as a binary message. */
		n = frame(f, WS_OP_BINARY, 1, "\xed\xa0\x80\xff", 4,
		    role_mask(role));
		parse1(role, f, n, &out);
		assert_int_equal(out.n, 1);
		assert_int_equal(out.ev[0].r, WS_MESSAGE);
		assert_int_equal(out.ev[0].opcode, WS_OP_BINARY);
		assert_int_equal(out.ev[0].len, 4);
		run_free(&out);
	}
}

/* Invalid UTF-8 fails mid-frame, without waiting for the rest. */
static void
t_utf8_fail_fast(void **state UNUSED)
{
	unsigned char		f[64];
	struct ws_parser	p;
	enum ws_result		r;
	size_t			h, used;

	/* A 20-byte text frame whose third byte is invalid. */
	memset(f, 'a', sizeof(f));
	h = ws_header(f, WS_OP_TEXT, 1, 20, key37);
	f[h + 2] = 0xff;
	ws_mask(f + h, 20, key37, 0);

	ws_parser_init(&p, WS_ROLE_SERVER, BIG, BIG);
	r = ws_parse(&p, f, h + 3, &used);
	assert_int_equal(r, WS_ERROR);
	assert_int_equal(p.close_code, WS_CLOSE_BAD_DATA);
	ws_parser_free(&p);

	/* A surrogate is known bad at its second byte. */
	memset(f, 'a', sizeof(f));
	h = ws_header(f, WS_OP_TEXT, 1, 20, NULL);
	f[h + 1] = 0xed;
	f[h + 2] = 0xa0;
	ws_parser_init(&p, WS_ROLE_CLIENT, BIG, BIG);
	r = ws_parse(&p, f, h + 2, &used);
	assert_int_equal(r, WS_NEED_MORE);
	r = ws_parse(&p, f + h + 2, 1, &used);
	assert_int_equal(r, WS_ERROR);
	assert_int_equal(p.close_code, WS_CLOSE_BAD_DATA);
	ws_parser_free(&p);
}

/* Empty messages and empty fragments. */
static void
t_empty(void **state UNUSED)
{
	unsigned char	f[64];
	struct run	out;
	size_t		n;

	n = frame(f, WS_OP_TEXT, 1, "", 0, key37);
	parse1(WS_ROLE_SERVER, f, n, &out);
	assert_int_equal(out.n, 1);
	assert_event(out.ev[0], WS_MESSAGE, WS_OP_TEXT, "", 0);
	run_free(&out);

	n = frame(f, WS_OP_BINARY, 0, "", 0, key37);
	n += frame(f + n, WS_OP_CONT, 0, "ab", 2, key37);
	n += frame(f + n, WS_OP_CONT, 1, "", 0, key37);
	parse1(WS_ROLE_SERVER, f, n, &out);
	assert_int_equal(out.n, 1);
	assert_event(out.ev[0], WS_MESSAGE, WS_OP_BINARY, "ab", 2);
	run_free(&out);
}

/* A large message, then small ones: the buffer is reused or dropped. */
static void
t_big_then_small(void **state UNUSED)
{
	unsigned char		*buf;
	struct ws_parser	p;
	struct run		out;
	size_t			n, i, len = 200000;

	buf = malloc(len + 64);
	assert_non_null(buf);
	for (i = 0; i < len + 64; i++)
		buf[i] = 'a' + i % 26;
	ws_parser_init(&p, WS_ROLE_CLIENT, BIG, BIG);
	n = ws_header(buf, WS_OP_TEXT, 1, len, NULL);
	feed(&p, buf, n + len, 4096, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.ev[0].len, len);
	run_free(&out);

	n = frame(buf, WS_OP_TEXT, 1, "small", 5, NULL);
	feed(&p, buf, n, n, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.ev[0].len, 5);
	assert_memory_equal(out.ev[0].data, "small", 5);
	run_free(&out);
	ws_parser_free(&p);
	free(buf);
}

/*
 * RFC 6455 1.3 and 4.2.2: the example key's accept value as printed in
 * the RFC (also what `openssl sha1 -binary | base64` gives).
 */
static void
t_accept_key(void **state UNUSED)
{
	char		out[WS_ACCEPT_LEN + 1], longkey[300];
	char		expect[WS_ACCEPT_LEN + 1];
	unsigned char	md[SHA_DIGEST_LENGTH], *in;
	size_t		klen;

	memset(out, 'X', sizeof(out));
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_int_equal(strlen(out), WS_ACCEPT_LEN);

	/* A key too long for the stack buffer is hashed all the same. */
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	klen = strlen(longkey);
	in = malloc(klen + 36);
	assert_non_null(in);
	memcpy(in, longkey, klen);
	memcpy(in + klen, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
	SHA1(in, klen + 36, md);
	free(in);
	EVP_EncodeBlock((unsigned char *)expect, md, sizeof(md));
	ws_accept_key(longkey, out);
	assert_string_equal(out, expect);
}

/* Sec-WebSocket-Key must be base64 of exactly 16 bytes. */
static void
t_key_valid(void **state UNUSED)
{
	static const char	*good[] = {
		"dGhlIHNhbXBsZSBub25jZQ==",
		"AAAAAAAAAAAAAAAAAAAAAA==",
		"////////////////////+w==",
		"x3JJHMbDL1EzLkh9GBhXDw==",
	};
	static const char	*bad[] = {
		"",
		"dGhlIHNhbXBsZSBub25jZQ=",	/* 23 */
		"dGhlIHNhbXBsZSBub25jZQ===",	/* 25 */
		"dGhlIHNhbXBsZSBub25jZQAA",	/* 18 bytes */
		"dGhlIHNhbXBsZSBub25jZ===",	/* bad padding */
		"dGhlIHNhbXBsZSBub25j=Q==",
		"dGhlIHNhbXBs ZSBub25jZQ=",	/* space */
		"dGhlIHNhbXBsZSBub25j\tQ==",
		"dGhlIHNhbXBsZSBub25-_Q==",	/* URL-safe alphabet */
		"dGhlIHNhbXBsZSBub25jZQ==\r",
		" dGhlIHNhbXBsZSBub25jZQ==",
		"ZGdobGVJSE5oYlhCc1pTQnViM",	/* 25, no padding */
		"================",
	};
	size_t			i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(ws_key_valid(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(ws_key_valid(bad[i]));
	assert_false(ws_key_valid(NULL));
}

/* ws_close_payload: code first, reason cut at a UTF-8 boundary. */
static void
t_close_payload(void **state UNUSED)
{
	unsigned char	out[WS_MAX_CONTROL];
	char		reason[200];
	size_t		n;

	n = ws_close_payload(out, WS_CLOSE_NORMAL, NULL);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 0x03);
	assert_int_equal(out[1], 0xe8);

	n = ws_close_payload(out, WS_CLOSE_TOO_BIG, "too big");
	assert_int_equal(n, 9);
	assert_int_equal(out[0], 0x03);
	assert_int_equal(out[1], 0xf1);
	assert_memory_equal(out + 2, "too big", 7);

	/* Long ASCII: cut at exactly 123 bytes. */
	memset(reason, 'a', 150);
	reason[150] = '\0';
	n = ws_close_payload(out, WS_CLOSE_POLICY, reason);
	assert_int_equal(n, WS_MAX_CONTROL);
	assert_memory_equal(out + 2, reason, 123);

	/* "é" (2 bytes) would straddle byte 123: it is dropped whole. */
	memset(reason, 'a', 122);
	memcpy(reason + 122, "\xc3\xa9tail", 7);
	n = ws_close_payload(out, WS_CLOSE_POLICY, reason);
	assert_int_equal(n, 2 + 122);
	assert_true(ws_utf8_valid(out + 2, n - 2));

	/* ... and kept when it ends exactly at byte 123. */
	memset(reason, 'a', 121);
	memcpy(reason + 121, "\xc3\xa9tail", 7);
	n = ws_close_payload(out, WS_CLOSE_POLICY, reason);
	assert_int_equal(n, 2 + 123);
	assert_memory_equal(out + 2 + 121, "\xc3\xa9", 2);

	/* A 4-byte character cut after one, two or three bytes. */
	memset(reason, 'a', 122);
	memcpy(reason + 122, "\xf0\x9f\x98\x80", 5);
	n = ws_close_payload(out, WS_CLOSE_POLICY, reason);
	assert_int_equal(n, 2 + 122);
	memset(reason, 'a', 120);
	memcpy(reason + 120, "\xf0\x9f\x98\x80", 5);
	n = ws_close_payload(out, WS_CLOSE_POLICY, reason);
	assert_int_equal(n, 2 + 120);
	memset(reason, 'a', 119);
	memcpy(reason + 119, "\xf0\x9f\x98\x80", 5);
	n = ws_close_payload(out, WS_CLOSE_POLICY, reason);
	assert_int_equal(n, 2 + 123);
	assert_true(ws_utf8_valid(out + 2, n - 2));

	/* Invalid UTF-8 never goes out: the reason is dropped. */
	n = ws_close_payload(out, WS_CLOSE_POLICY, "bad \xff");
	assert_int_equal(n, 2);

	/* 1005 and other codes not allowed on the wire: empty payload. */
	assert_int_equal(ws_close_payload(out, WS_CLOSE_NO_STATUS, "x"), 0);
	assert_int_equal(ws_close_payload(out, 1006, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(t_rfc_unmasked_hello),
		cmocka_unit_test(t_rfc_masked_hello),
		cmocka_unit_test(t_rfc_fragmented),
		cmocka_unit_test(t_rfc_ping_pong),
		cmocka_unit_test(t_rfc_lengths),
		cmocka_unit_test(t_header_encodings),
		cmocka_unit_test(t_length_roundtrip),
		cmocka_unit_test(t_mask),
		cmocka_unit_test(t_interleaved_control),
		cmocka_unit_test(t_stream_any_chunking),
		cmocka_unit_test(t_consumed),
		cmocka_unit_test(t_err_header),
		cmocka_unit_test(t_err_length),
		cmocka_unit_test(t_err_control),
		cmocka_unit_test(t_err_sequence),
		cmocka_unit_test(t_limits_before_payload),
		cmocka_unit_test(t_sticky_failure),
		cmocka_unit_test(t_close_frames),
		cmocka_unit_test(t_close_code_valid),
		cmocka_unit_test(t_utf8_edges),
		cmocka_unit_test(t_utf8_early),
		cmocka_unit_test(t_utf8_messages),
		cmocka_unit_test(t_utf8_fail_fast),
		cmocka_unit_test(t_empty),
		cmocka_unit_test(t_big_then_small),
		cmocka_unit_test(t_accept_key),
		cmocka_unit_test(t_key_valid),
		cmocka_unit_test(t_close_payload),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
