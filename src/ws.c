/*
 * ws.c: the RFC 6455 framing codec.
 *
 * This file owns frame parsing (ws_parse: incremental, byte-at-a-time safe,
 * with every protocol check of RFC 6455 section 5 mapped to the close code
 * to fail with), frame building (ws_header, ws_mask, ws_close_payload),
 * close code classes, incremental UTF-8 validation and the opening
 * handshake's key helpers (ws_accept_key, ws_key_valid).
 *
 * It does no I/O and keeps no global state: the server, the benchmark
 * client and the fuzzers all drive it with bytes they read themselves.
 * Limits are enforced from the frame header, before any payload is
 * buffered, so a peer cannot make us allocate more than max_message.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ws.h"

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_GUID_LEN	(sizeof(WS_GUID) - 1)
#define WS_KEY_LEN	24		/* base64 of 16 bytes */
#define WS_MSG_MIN	256		/* first message buffer size */
#define WS_MSG_KEEP	(64 * 1024)	/* larger buffers are freed when idle */
#define WS_MAX_CODEPOINT 0x10ffff

/* ws_utf8.state values. */
#define UTF8_BOUNDARY	0
#define UTF8_INSIDE	1
#define UTF8_FAILED	2

static enum ws_result	ws_fail(struct ws_parser *, uint16_t, const char *);
static size_t		ws_ext_len(const struct ws_parser *);
static enum ws_result	ws_check_start(struct ws_parser *);
static enum ws_result	ws_check_length(struct ws_parser *);
static void		ws_header_done(struct ws_parser *);
static int		ws_msg_reserve(struct ws_parser *, size_t);
static enum ws_result	ws_payload(struct ws_parser *, const unsigned char *,
			    size_t);
static enum ws_result	ws_frame_done(struct ws_parser *);
static enum ws_result	ws_control_done(struct ws_parser *);
static int		ws_is_control(int);
static int		ws_b64_char(int);

/* Set up a parser for one connection; it owns no memory until payload. */
void
ws_parser_init(struct ws_parser *p, enum ws_role role, uint64_t max_frame,
    uint64_t max_message)
{
	memset(p, 0, sizeof(*p));
	p->role = role;
	p->max_frame = max_frame;
	p->max_message = max_message;
	p->hdr_need = 2;
	ws_utf8_init(&p->utf8);
}

/* Release the message buffer; the parser must be re-initialised to reuse. */
void
ws_parser_free(struct ws_parser *p)
{
	free(p->msg);
	p->msg = NULL;
	p->msg_len = 0;
	p->msg_cap = 0;
	p->out_data = NULL;
	p->out_len = 0;
}

/* Enter the failed state: every later call returns WS_ERROR with code. */
static enum ws_result
ws_fail(struct ws_parser *p, uint16_t code, const char *reason)
{
	p->failed = 1;
	p->out_opcode = 0;
	p->out_data = NULL;
	p->out_len = 0;
	p->close_code = code;
	p->close_reason = reason;
	p->close_reason_len = strlen(reason);
	return (WS_ERROR);
}

/* Whether an opcode is a control opcode (close, ping, pong). */
static int
ws_is_control(int opcode)
{
	return ((opcode & 0x8) != 0);
}

/* Bytes of extended payload length the current header carries. */
static size_t
ws_ext_len(const struct ws_parser *p)
{
	switch (p->hdr[1] & 0x7f) {
	case 126:
		return (2);
	case 127:
		return (8);
	default:
		return (0);
	}
}

/* Check the first two header bytes and work out the header's length. */
static enum ws_result
ws_check_start(struct ws_parser *p)
{
	unsigned char	b0 = p->hdr[0], b1 = p->hdr[1];
	size_t		len7 = b1 & 0x7f;

	p->fin = (b0 & 0x80) != 0;
	p->opcode = b0 & 0x0f;
	p->masked = (b1 & 0x80) != 0;

	if (b0 & 0x70)
		return (ws_fail(p, WS_CLOSE_PROTOCOL, "reserved bits set"));
	switch (p->opcode) {
	case WS_OP_CONT:
		if (p->msg_opcode == 0)
			return (ws_fail(p, WS_CLOSE_PROTOCOL,
			    "continuation without a message"));
		break;
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		if (p->msg_opcode != 0)
			return (ws_fail(p, WS_CLOSE_PROTOCOL,
			    "new message inside a fragmented one"));
		break;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!p->fin)
			return (ws_fail(p, WS_CLOSE_PROTOCOL,
			    "fragmented control frame"));
		if (len7 > WS_MAX_CONTROL)
			return (ws_fail(p, WS_CLOSE_PROTOCOL,
			    "control frame too long"));
		break;
	default:
		return (ws_fail(p, WS_CLOSE_PROTOCOL, "reserved opcode"));
	}
	if (p->role == WS_ROLE_SERVER && !p->masked)
		return (ws_fail(p, WS_CLOSE_PROTOCOL, "unmasked client frame"));
	if (p->role == WS_ROLE_CLIENT && p->masked)
		return (ws_fail(p, WS_CLOSE_PROTOCOL, "masked server frame"));

	p->hdr_need = 2 + ws_ext_len(p) + (p->masked ? 4 : 0);
	return (WS_NEED_MORE);
}

/* Decode the payload length and check encoding and limits before payload. */
static enum ws_result
ws_check_length(struct ws_parser *p)
{
	uint64_t	len;
	size_t		i, ext = ws_ext_len(p);

	if (ext == 0)
		len = p->hdr[1] & 0x7f;
	else {
		len = 0;
		for (i = 0; i < ext; i++)
			len = (len << 8) | p->hdr[2 + i];
	}
	if (ext == 2 && len < 126)
		return (ws_fail(p, WS_CLOSE_PROTOCOL, "non-minimal length"));
	if (ext == 8) {
		if (len >> 63)
			return (ws_fail(p, WS_CLOSE_PROTOCOL,
			    "length has its top bit set"));
		if (len <= 0xffff)
			return (ws_fail(p, WS_CLOSE_PROTOCOL,
			    "non-minimal length"));
	}
	p->payload_len = len;

	if (ws_is_control(p->opcode))
		return (WS_NEED_MORE);	/* <= 125, checked in ws_check_start */
	if (len > p->max_frame)
		return (ws_fail(p, WS_CLOSE_TOO_BIG, "frame too big"));
	/* A new message starts empty; msg_len <= max_message always holds. */
	if (p->opcode != WS_OP_CONT)
		p->msg_len = 0;
	if (p->msg_len > p->max_message ||
	    len > p->max_message - p->msg_len ||
	    len > SIZE_MAX - p->msg_len)
		return (ws_fail(p, WS_CLOSE_TOO_BIG, "message too big"));
	return (WS_NEED_MORE);
}

/* The header is complete: load the mask and open a message if needed. */
static void
ws_header_done(struct ws_parser *p)
{
	if (p->masked)
		memcpy(p->mask, p->hdr + p->hdr_need - 4, 4);
	p->payload_read = 0;
	if (ws_is_control(p->opcode))
		p->ctl_len = 0;
	else if (p->opcode != WS_OP_CONT) {
		p->msg_opcode = p->opcode;
		p->msg_len = 0;
		ws_utf8_init(&p->utf8);
	}
}

/* Make room for need bytes of message, doubling but never past the limit. */
static int
ws_msg_reserve(struct ws_parser *p, size_t need)
{
	unsigned char	*m;
	size_t		 cap;

	if (need <= p->msg_cap)
		return (0);
	cap = p->msg_cap != 0 ? p->msg_cap : WS_MSG_MIN;
	while (cap < need && cap <= SIZE_MAX / 2)
		cap *= 2;
	if (cap < need)
		cap = need;
	if (cap > p->max_message)
		cap = (size_t)p->max_message;	/* >= need: checked in header */
	if ((m = realloc(p->msg, cap)) == NULL)
		return (-1);
	p->msg = m;
	p->msg_cap = cap;
	return (0);
}

/* Take n payload bytes: unmask them in place and validate text early. */
static enum ws_result
ws_payload(struct ws_parser *p, const unsigned char *data, size_t n)
{
	unsigned char	*dst;

	if (ws_is_control(p->opcode)) {
		dst = p->ctl + p->ctl_len;
		memcpy(dst, data, n);
		p->ctl_len += n;
	} else {
		if (ws_msg_reserve(p, p->msg_len + n) == -1)
			return (ws_fail(p, WS_CLOSE_INTERNAL, "out of memory"));
		dst = p->msg + p->msg_len;
		memcpy(dst, data, n);
		p->msg_len += n;
	}
	if (p->masked)
		ws_mask(dst, n, p->mask, (size_t)(p->payload_read % 4));
	p->payload_read += n;
	if (!ws_is_control(p->opcode) && p->msg_opcode == WS_OP_TEXT &&
	    ws_utf8_feed(&p->utf8, dst, n) == -1)
		return (ws_fail(p, WS_CLOSE_BAD_DATA, "invalid UTF-8"));
	return (WS_NEED_MORE);
}

/* A control frame is complete: report it, decoding a close payload. */
static enum ws_result
ws_control_done(struct ws_parser *p)
{
	p->out_opcode = p->opcode;
	p->out_data = p->ctl;
	p->out_len = p->ctl_len;
	if (p->opcode != WS_OP_CLOSE)
		return (WS_CONTROL);

	if (p->ctl_len == 0) {
		p->close_code = WS_CLOSE_NO_STATUS;
		return (WS_CONTROL);
	}
	if (p->ctl_len == 1)
		return (ws_fail(p, WS_CLOSE_PROTOCOL, "one-byte close payload"));
	p->close_code = (uint16_t)((p->ctl[0] << 8) | p->ctl[1]);
	if (!ws_close_code_valid(p->close_code))
		return (ws_fail(p, WS_CLOSE_PROTOCOL, "invalid close code"));
	if (!ws_utf8_valid(p->ctl + 2, p->ctl_len - 2))
		return (ws_fail(p, WS_CLOSE_BAD_DATA, "invalid UTF-8 in close"));
	p->close_reason = (const char *)p->ctl + 2;
	p->close_reason_len = p->ctl_len - 2;
	return (WS_CONTROL);
}

/* A frame's payload is complete: report it or keep reassembling. */
static enum ws_result
ws_frame_done(struct ws_parser *p)
{
	/* The next byte starts a new header. */
	p->hdr_len = 0;
	p->hdr_need = 2;

	if (ws_is_control(p->opcode))
		return (ws_control_done(p));
	if (!p->fin)
		return (WS_NEED_MORE);
	if (p->msg_opcode == WS_OP_TEXT && !ws_utf8_done(&p->utf8))
		return (ws_fail(p, WS_CLOSE_BAD_DATA, "truncated UTF-8"));
	p->out_opcode = p->msg_opcode;
	p->out_data = p->msg != NULL ? p->msg : (const unsigned char *)"";
	p->out_len = p->msg_len;
	p->msg_opcode = 0;	/* msg_len is reset on the next call */
	return (WS_MESSAGE);
}

/* Feed bytes; stops after each complete message, control frame or error. */
enum ws_result
ws_parse(struct ws_parser *p, const unsigned char *data, size_t len,
    size_t *consumed)
{
	enum ws_result	r;
	size_t		off = 0, n;
	uint64_t	left;

	*consumed = 0;
	if (p->failed)
		return (WS_ERROR);

	p->out_opcode = 0;
	p->out_data = NULL;
	p->out_len = 0;
	p->close_code = 0;
	p->close_reason = NULL;
	p->close_reason_len = 0;
	if (p->msg_opcode == 0) {
		/* The last message was delivered: forget it. */
		p->msg_len = 0;
		if (p->msg_cap > WS_MSG_KEEP) {
			free(p->msg);
			p->msg = NULL;
			p->msg_cap = 0;
		}
	}
	if (p->hdr_need < 2)
		p->hdr_need = 2;

	for (;;) {
		/* Header: byte at a time, checking as soon as we can. */
		while (p->hdr_len < p->hdr_need) {
			if (off == len) {
				*consumed = off;
				return (WS_NEED_MORE);
			}
			p->hdr[p->hdr_len++] = data[off++];
			r = WS_NEED_MORE;
			if (p->hdr_len == 2)
				r = ws_check_start(p);
			if (r == WS_NEED_MORE &&
			    p->hdr_len == 2 + ws_ext_len(p))
				r = ws_check_length(p);
			if (r != WS_NEED_MORE) {
				*consumed = off;
				return (r);
			}
			if (p->hdr_len == p->hdr_need)
				ws_header_done(p);
		}

		/* Payload. */
		left = p->payload_len - p->payload_read;
		n = len - off;
		if ((uint64_t)n > left)
			n = (size_t)left;
		if (n > 0) {
			r = ws_payload(p, data + off, n);
			off += n;
			if (r != WS_NEED_MORE) {
				*consumed = off;
				return (r);
			}
		}
		if (p->payload_read < p->payload_len) {
			*consumed = off;
			return (WS_NEED_MORE);
		}

		r = ws_frame_done(p);
		if (r != WS_NEED_MORE) {
			*consumed = off;
			return (r);
		}
	}
}

/* Write a frame header with the shortest length encoding. */
size_t
ws_header(unsigned char *out, int opcode, int fin, uint64_t len,
    const unsigned char mask[4])
{
	size_t	n = 2, i;

	out[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
	if (len <= WS_MAX_CONTROL)
		out[1] = (unsigned char)len;
	else if (len <= 0xffff) {
		out[1] = 126;
		out[n++] = (unsigned char)(len >> 8);
		out[n++] = (unsigned char)len;
	} else {
		out[1] = 127;
		for (i = 0; i < 8; i++)
			out[n++] = (unsigned char)(len >> (56 - 8 * i));
	}
	if (mask != NULL) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return (n);
}

/* XOR with the key; a word at a time once data is 8-byte aligned. */
void
ws_mask(unsigned char *data, size_t len, const unsigned char mask[4],
    size_t offset)
{
	unsigned char	k8[8];
	uint64_t	k64, w;
	size_t		i = 0, j;

	offset %= 4;
	while (i < len && ((uintptr_t)(data + i) & 7) != 0) {
		data[i] ^= mask[(offset + i) % 4];
		i++;
	}
	if (len - i >= 8) {
		for (j = 0; j < 8; j++)
			k8[j] = mask[(offset + i + j) % 4];
		memcpy(&k64, k8, 8);
		for (; len - i >= 8; i += 8) {
			memcpy(&w, data + i, 8);
			w ^= k64;
			memcpy(data + i, &w, 8);
		}
	}
	for (; i < len; i++)
		data[i] ^= mask[(offset + i) % 4];
}

/*
 * Build a close payload: the code, then as much of reason as fits at a
 * UTF-8 boundary. A code that may not go on the wire (1005, 1006, ...)
 * gives an empty payload, which is how "no status" is sent.
 */
size_t
ws_close_payload(unsigned char *out, uint16_t code, const char *reason)
{
	size_t	n = 0, max = WS_MAX_CONTROL - 2;

	if (!ws_close_code_valid(code))
		return (0);
	out[0] = (unsigned char)(code >> 8);
	out[1] = (unsigned char)code;
	if (reason != NULL) {
		n = strnlen(reason, max + 1);
		if (n > max) {
			n = max;
			/* Back off to the start of the cut character. */
			while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
				n--;
		}
		/* Never put invalid UTF-8 on the wire: the peer would fail. */
		if (!ws_utf8_valid((const unsigned char *)reason, n))
			n = 0;
		memcpy(out + 2, reason, n);
	}
	return (2 + n);
}

/* Whether a close code may appear on the wire (RFC 6455 7.4, IANA). */
int
ws_close_code_valid(uint16_t code)
{
	if (code >= 1000 && code <= 1003)
		return (1);
	if (code >= 1007 && code <= 1014)
		return (1);
	if (code >= 3000 && code <= 4999)
		return (1);
	return (0);
}

/* Start validating a new text at a character boundary. */
void
ws_utf8_init(struct ws_utf8 *u)
{
	memset(u, 0, sizeof(*u));
}

/*
 * Validate more bytes. A prefix is rejected as soon as no continuation
 * could make it valid: overlong forms, surrogates and code points above
 * U+10FFFF fail at the first byte that rules them out.
 */
int
ws_utf8_feed(struct ws_utf8 *u, const unsigned char *s, size_t len)
{
	uint64_t	w;
	uint32_t	lo, hi, bits;
	size_t		i = 0;
	unsigned char	c;

	if (u->state == UTF8_FAILED)
		return (-1);
	while (i < len) {
		c = s[i];
		if (u->need == 0) {
			/* ASCII fast path, 8 bytes at a time. */
			if (c < 0x80) {
				while (len - i >= 8) {
					memcpy(&w, s + i, 8);
					if (w & UINT64_C(0x8080808080808080))
						break;
					i += 8;
				}
				while (i < len && s[i] < 0x80)
					i++;
				continue;
			}
			if (c >= 0xc2 && c <= 0xdf) {
				u->need = 1;
				u->cp = c & 0x1f;
				u->min = 0x80;
			} else if (c >= 0xe0 && c <= 0xef) {
				u->need = 2;
				u->cp = c & 0x0f;
				u->min = 0x800;
			} else if (c >= 0xf0 && c <= 0xf4) {
				u->need = 3;
				u->cp = c & 0x07;
				u->min = 0x10000;
			} else
				goto fail;	/* continuation, C0, C1, F5-FF */
			u->state = UTF8_INSIDE;
			i++;
			continue;
		}
		if ((c & 0xc0) != 0x80)
			goto fail;
		u->cp = (u->cp << 6) | (c & 0x3f);
		u->need--;
		i++;
		/* The range of code points this prefix can still become. */
		bits = 6 * u->need;
		lo = u->cp << bits;
		hi = lo | ((UINT32_C(1) << bits) - 1);
		if (hi < u->min || lo > WS_MAX_CODEPOINT ||
		    (lo >= 0xd800 && hi <= 0xdfff))
			goto fail;
		if (u->need == 0)
			u->state = UTF8_BOUNDARY;
	}
	return (0);
fail:
	u->state = UTF8_FAILED;
	return (-1);
}

/* Whether the text so far is valid and ends at a character boundary. */
int
ws_utf8_done(const struct ws_utf8 *u)
{
	return (u->state == UTF8_BOUNDARY && u->need == 0);
}

/* Validate a whole buffer. */
int
ws_utf8_valid(const unsigned char *s, size_t len)
{
	struct ws_utf8	u;

	ws_utf8_init(&u);
	return (ws_utf8_feed(&u, s, len) == 0 && ws_utf8_done(&u));
}

/* Sec-WebSocket-Accept: base64(SHA-1(key + GUID)), RFC 6455 4.2.2. */
void
ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char	 stackbuf[128], *buf = stackbuf;
	unsigned char	 md[SHA_DIGEST_LENGTH];
	size_t		 klen = strlen(key);

	if (klen > sizeof(stackbuf) - WS_GUID_LEN) {
		/* Never a valid key, but hash it properly all the same. */
		if (klen > SIZE_MAX - WS_GUID_LEN ||
		    (buf = malloc(klen + WS_GUID_LEN)) == NULL) {
			out[0] = '\0';
			return;
		}
	}
	memcpy(buf, key, klen);
	memcpy(buf + klen, WS_GUID, WS_GUID_LEN);
	SHA1(buf, klen + WS_GUID_LEN, md);
	if (buf != stackbuf)
		free(buf);
	EVP_EncodeBlock((unsigned char *)out, md, sizeof(md));
	out[WS_ACCEPT_LEN] = '\0';
}

/* Whether c is in the base64 alphabet (RFC 4648 section 4, no padding). */
static int
ws_b64_char(int c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/');
}

/*
 * Whether a Sec-WebSocket-Key is base64 of exactly 16 bytes (RFC 6455
 * 4.1): 22 alphabet characters then "==". EVP_DecodeBlock alone would
 * accept whitespace and other lengths, so the shape is checked first.
 */
int
ws_key_valid(const char *key)
{
	unsigned char	out[WS_KEY_LEN / 4 * 3];
	size_t		i;

	if (key == NULL || strnlen(key, WS_KEY_LEN + 1) != WS_KEY_LEN)
		return (0);
	for (i = 0; i < WS_KEY_LEN - 2; i++)
		if (!ws_b64_char((unsigned char)key[i]))
			return (0);
	if (key[WS_KEY_LEN - 2] != '=' || key[WS_KEY_LEN - 1] != '=')
		return (0);
	/* 24 characters decode to 18 bytes, two of them padding. */
	if (EVP_DecodeBlock(out, (const unsigned char *)key, WS_KEY_LEN) !=
	    (int)sizeof(out))
		return (0);
	return (sizeof(out) - 2 == 16);
}
