/*
 * ws.h: the RFC 6455 framing codec. It parses and builds frames and does
 * no I/O, so the server, the benchmark client and the fuzzers share it.
 */
#ifndef WS_H
#define WS_H

#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa
};

/* Close status codes we send (RFC 6455 section 7.4.1). */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_UNSUPPORTED	1003
#define WS_CLOSE_NO_STATUS	1005	/* never sent on the wire */
#define WS_CLOSE_BAD_DATA	1007
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009
#define WS_CLOSE_INTERNAL	1011
#define WS_CLOSE_TRY_AGAIN	1013

#define WS_MAX_HEADER		14	/* 2 + 8 length + 4 mask */
#define WS_MAX_CONTROL		125
#define WS_ACCEPT_LEN		28	/* base64 of a SHA-1 digest */

/* Which side of the connection the parser reads for. */
enum ws_role {
	WS_ROLE_SERVER,		/* reads client frames: masking required */
	WS_ROLE_CLIENT		/* reads server frames: masking forbidden */
};

/* What ws_parse() found. */
enum ws_result {
	WS_NEED_MORE = 0,	/* consumed everything it was given */
	WS_MESSAGE,		/* a complete text or binary message */
	WS_CONTROL,		/* a complete ping, pong or close frame */
	WS_ERROR		/* fatal: close with ws_parser.close_code */
};

/* Incremental UTF-8 validator state (0 = at a character boundary). */
struct ws_utf8 {
	uint32_t	state;
	uint32_t	need;	/* continuation bytes still expected */
	uint32_t	cp;	/* code point so far */
	uint32_t	min;	/* smallest code point allowed for the length */
};

struct ws_parser {
	/* Settings, set before the first ws_parse(). */
	enum ws_role	 role;
	uint64_t	 max_frame;	/* largest single frame payload */
	uint64_t	 max_message;	/* largest reassembled message */

	/* Frame header being read. */
	unsigned char	 hdr[WS_MAX_HEADER];
	size_t		 hdr_len;	/* bytes of hdr read so far */
	size_t		 hdr_need;	/* bytes hdr needs in all */
	int		 fin;
	int		 opcode;
	int		 masked;
	unsigned char	 mask[4];
	uint64_t	 payload_len;
	uint64_t	 payload_read;

	/* Data message being reassembled across fragments. */
	int		 msg_opcode;	/* 0 when no message is open */
	unsigned char	*msg;
	size_t		 msg_len;
	size_t		 msg_cap;
	struct ws_utf8	 utf8;

	/* Control frame being read (never fragmented, at most 125). */
	unsigned char	 ctl[WS_MAX_CONTROL];
	size_t		 ctl_len;

	/* Output of the last WS_MESSAGE / WS_CONTROL / WS_ERROR. */
	int		 out_opcode;
	const unsigned char *out_data;	/* valid until the next ws_parse() */
	size_t		 out_len;
	uint16_t	 close_code;	/* WS_CONTROL close: the peer's code or 1005;
					   WS_ERROR: the code to close with */
	const char	*close_reason;	/* WS_CONTROL close: peer's reason (not NUL-terminated,
					   close_reason_len bytes); WS_ERROR: our reason */
	size_t		 close_reason_len;
	int		 failed;	/* after WS_ERROR every call returns WS_ERROR */
};

/* Parser lifetime. */
void		 ws_parser_init(struct ws_parser *, enum ws_role, uint64_t max_frame,
		     uint64_t max_message);
void		 ws_parser_free(struct ws_parser *);

/*
 * Feed bytes. Returns one result and sets *consumed to the bytes used; the
 * caller calls again with the rest. Limits are checked from the header,
 * before any payload is buffered.
 */
enum ws_result	 ws_parse(struct ws_parser *, const unsigned char *, size_t,
		     size_t *consumed);

/*
 * Write a frame header for a payload of len bytes into out (at least
 * WS_MAX_HEADER bytes); returns the header length. With a non-NULL mask
 * the MASK bit is set and the key appended; the caller masks the payload.
 */
size_t		 ws_header(unsigned char *out, int opcode, int fin, uint64_t len,
		     const unsigned char mask[4]);

/* XOR data with the mask key, starting at key position offset. */
void		 ws_mask(unsigned char *data, size_t len, const unsigned char mask[4],
		     size_t offset);

/*
 * Build a close payload (2-byte code + reason truncated to fit 125 bytes
 * at a UTF-8 boundary) into out[WS_MAX_CONTROL]; returns its length.
 */
size_t		 ws_close_payload(unsigned char *out, uint16_t code, const char *reason);

/* Whether a close code may appear in a close frame on the wire. */
int		 ws_close_code_valid(uint16_t code);

/* Incremental UTF-8: returns 0 if valid so far, -1 on an invalid sequence. */
void		 ws_utf8_init(struct ws_utf8 *);
int		 ws_utf8_feed(struct ws_utf8 *, const unsigned char *, size_t);
int		 ws_utf8_done(const struct ws_utf8 *);	/* 1 at a char boundary */
int		 ws_utf8_valid(const unsigned char *, size_t);	/* whole buffer */

/* Sec-WebSocket-Accept for a key: out gets WS_ACCEPT_LEN chars + NUL. */
void		 ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* Whether a Sec-WebSocket-Key is base64 of exactly 16 bytes. */
int		 ws_key_valid(const char *key);

/*
 * ws-evbuffer.c: ws_parse() fed from the front of an evbuffer, draining
 * what it consumed, until a result other than WS_NEED_MORE or until the
 * buffer is empty (then WS_NEED_MORE). The outputs are as ws_parse()'s.
 */
struct evbuffer;
enum ws_result	 ws_evbuffer_parse(struct ws_parser *, struct evbuffer *);

#endif
