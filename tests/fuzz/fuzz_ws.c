/*
 * fuzz_ws.c: libFuzzer target for the framing codec (src/ws.c). Not part
 * of the build; run it by hand:
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *	    src/ws.c tests/fuzz/fuzz_ws.c -lcrypto -o /tmp/fuzz_ws
 *	/tmp/fuzz_ws -max_total_time=60 /tmp/fuzz_ws_corpus
 *
 * The first input byte picks the role and small limits; the next bytes
 * seed the chunk sizes, so frames are split at arbitrary points. Each
 * input is parsed twice, in chunks and then in one piece, and both runs
 * must agree on every result; outputs must respect the parser's contract.
 */
#include <stdlib.h>
#include <string.h>

#include "ws.h"

#define MAX_RESULTS	4096

struct result {
	enum ws_result	r;
	int		opcode;
	size_t		len;
	uint16_t	code;
	uint32_t	sum;
};

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A cheap checksum of a result's payload, to compare two runs. */
static uint32_t
checksum(const unsigned char *p, size_t len)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return (h);
}

/* Abort unless the parser's outputs obey ws.h for result r. */
static void
check(const struct ws_parser *p, enum ws_result r)
{
	switch (r) {
	case WS_NEED_MORE:
		break;
	case WS_MESSAGE:
		if (p->out_data == NULL || p->out_len > p->max_message ||
		    (p->out_opcode != WS_OP_TEXT &&
		    p->out_opcode != WS_OP_BINARY))
			abort();
		if (p->out_opcode == WS_OP_TEXT &&
		    !ws_utf8_valid(p->out_data, p->out_len))
			abort();
		break;
	case WS_CONTROL:
		if (p->out_data == NULL || p->out_len > WS_MAX_CONTROL)
			abort();
		if (p->out_opcode == WS_OP_CLOSE) {
			if (p->out_len == 0 ?
			    p->close_code != WS_CLOSE_NO_STATUS :
			    !ws_close_code_valid(p->close_code))
				abort();
			if (p->close_reason_len > 0 &&
			    !ws_utf8_valid((const unsigned char *)
			    p->close_reason, p->close_reason_len))
				abort();
		} else if (p->out_opcode != WS_OP_PING &&
		    p->out_opcode != WS_OP_PONG)
			abort();
		break;
	case WS_ERROR:
		if (!p->failed || p->close_reason == NULL ||
		    !ws_close_code_valid(p->close_code))
			abort();
		break;
	default:
		abort();
	}
	if (p->msg_cap > p->max_message && p->msg_cap > 0)
		abort();
}

/* Parse data with chunk sizes drawn from seed; record what came out. */
static size_t
run(enum ws_role role, uint64_t max_frame, uint64_t max_message,
    const uint8_t *seed, size_t nseed, const uint8_t *data, size_t len,
    struct result *res)
{
	struct ws_parser	p;
	enum ws_result		r;
	size_t			off = 0, n, used, k = 0, nres = 0;

	ws_parser_init(&p, role, max_frame, max_message);
	while (off < len && nres < MAX_RESULTS) {
		n = len - off;
		if (nseed > 0) {
			n = 1 + seed[k++ % nseed] % 17;
			if (n > len - off)
				n = len - off;
		}
		r = ws_parse(&p, data + off, n, &used);
		if (used > n || (r == WS_NEED_MORE && used != n))
			abort();
		check(&p, r);
		off += used;
		if (r == WS_NEED_MORE)
			continue;
		res[nres].r = r;
		res[nres].opcode = p.out_opcode;
		res[nres].len = p.out_len;
		res[nres].code = p.close_code;
		res[nres].sum = p.out_data != NULL ?
		    checksum(p.out_data, p.out_len) : 0;
		nres++;
		if (r == WS_ERROR) {
			/* It stays failed. */
			if (ws_parse(&p, data, len, &used) != WS_ERROR ||
			    used != 0)
				abort();
			break;
		}
	}
	ws_parser_free(&p);
	return (nres);
}

/* One input: role and limits, chunk seed, then the byte stream. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct result	a[MAX_RESULTS], b[MAX_RESULTS];
	static const uint64_t	limits[] = { 0, 1, 125, 126, 300, 65536,
				    70000, 1 << 20 };
	enum ws_role		role;
	uint64_t		max_frame, max_message;
	size_t			nseed, na, nb, i;

	if (len < 2)
		return (0);
	role = (data[0] & 1) ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
	max_frame = limits[(data[0] >> 1) & 7];
	max_message = limits[(data[0] >> 4) & 7];
	nseed = data[1] % 8;
	data += 2;
	len -= 2;
	if (nseed > len)
		nseed = len;

	na = run(role, max_frame, max_message, data, nseed, data + nseed,
	    len - nseed, a);
	nb = run(role, max_frame, max_message, NULL, 0, data + nseed,
	    len - nseed, b);
	if (na != nb)
		abort();
	for (i = 0; i < na; i++)
		if (a[i].r != b[i].r || a[i].opcode != b[i].opcode ||
		    a[i].len != b[i].len || a[i].code != b[i].code ||
		    a[i].sum != b[i].sum)
			abort();

	/* The builders must not crash either. */
	{
		unsigned char	out[WS_MAX_CONTROL + 1], hdr[WS_MAX_HEADER];
		char		reason[200];
		size_t		rl = len < sizeof(reason) - 1 ? len :
				    sizeof(reason) - 1, n;

		memcpy(reason, data, rl);
		reason[rl] = '\0';
		n = ws_close_payload(out, (uint16_t)(len * 7), reason);
		if (n > WS_MAX_CONTROL || (n > 2 &&
		    !ws_utf8_valid(out + 2, n - 2)))
			abort();
		n = ws_header(hdr, len > 0 ? data[0] & 0xf : 0, 1, len,
		    len >= 4 ? data : NULL);
		if (n > WS_MAX_HEADER)
			abort();
		(void)ws_key_valid(reason);
	}
	return (0);
}
