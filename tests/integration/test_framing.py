"""
RFC 6455 framing after the upgrade, as docs/PROTOCOL.md ("Transport", "Close
codes the server sends") specifies it: masking, reserved bits and opcodes,
control frames (ping, pong, close), fragmentation, UTF-8, max_frame, and the
close code each violation gets. The handshake itself is test_handshake.py's.
"""

import harness
from harness import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
                     frame)


class FramingTest(harness.WschatTestCase):

    # --- violations and their close codes ------------------------------------

    def test_unmasked_frame_closes_1002(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_TEXT, b"", mask=False), 1002,
                           "unmasked text frame")

    def test_rsv1_bit_closes_1002(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_TEXT, b"PING x", rsv=4), 1002,
                           "RSV1 set without an extension")

    def test_reserved_data_opcode_closes_1002(self):
        d = self.daemon()
        self.assert_closes(d, frame(0x3, b"x"), 1002, "opcode 0x3")

    def test_reserved_control_opcode_closes_1002(self):
        d = self.daemon()
        self.assert_closes(d, frame(0xB, b"x"), 1002, "opcode 0xB")

    def test_continuation_without_message_closes_1002(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_CONT, b"PING"), 1002,
                           "continuation frame with no message open")

    def test_fragmented_ping_closes_1002(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_PING, b"x", fin=False), 1002,
                           "ping with FIN clear")

    def test_ping_over_125_bytes_closes_1002(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_PING, b"p" * 126), 1002,
                           "ping with a 126-byte payload")

    def test_close_with_invalid_code_closes_1002(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_CLOSE, harness.close_payload(1005)),
                           1002, "close frame carrying code 1005")

    def test_binary_message_closes_1003(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_BINARY, b"PING x"), 1003,
                           "binary message")

    def test_invalid_utf8_text_closes_1007(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_TEXT, b"PING \xff\xfe"), 1007,
                           "text message that is not UTF-8")

    def test_close_reason_not_utf8_closes_1007(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_CLOSE, b"\x03\xe8\xff\xfe"), 1007,
                           "close frame whose reason is not UTF-8")

    def test_frame_over_max_frame_closes_1009(self):
        d = self.daemon(max_frame=1024)
        # Only the header: the server must judge the frame by its length
        # field, before the payload arrives.
        head = frame(OP_TEXT, b"", length=2000)
        self.assert_closes(d, head, 1009, "frame of 2000 > max_frame 1024")

    # --- control frames ------------------------------------------------------

    def test_ping_gets_pong_with_same_payload(self):
        d = self.daemon()
        ws = self.raw(d)
        ws.send_frame(OP_PING, b"are you there?")
        f = ws.read_frame()
        self.assertEqual(f.opcode, OP_PONG, "answer to a ping: %r" % f)
        self.assertEqual(f.payload, b"are you there?",
                         "pong must echo the ping payload")
        ws.send_text("PING after")
        ws.expect("PONG after")

    def test_ping_of_125_bytes_gets_pong(self):
        d = self.daemon()
        ws = self.raw(d)
        ws.send_frame(OP_PING, b"q" * 125)
        f = ws.read_frame()
        self.assertEqual((f.opcode, f.payload), (OP_PONG, b"q" * 125),
                         "pong to a 125-byte ping")

    def test_client_close_is_echoed_with_1000(self):
        d = self.daemon()
        ws = self.raw(d)
        ws.send_frame(OP_CLOSE, harness.close_payload(1000, "done"))
        f = ws.read_frame()
        self.assertEqual(f.opcode, OP_CLOSE, "answer to a close: %r" % f)
        code, reason = f.close_info()
        self.assertEqual(code, 1000, "close echo code: %r" % f)
        self.assertTrue(reason, "every close carries a reason: %r" % f)
        rest = ws.s.read_to_eof()
        self.assertEqual(rest, b"", "data after the close echo")

    def test_empty_close_is_echoed_with_1000(self):
        """A close with no payload at all (Chromium sends one when a page
        goes away) was copied from a NULL reason (UBSan)."""
        d = self.daemon()
        ws = self.raw(d)
        ws.send_frame(OP_CLOSE, b"")
        f = ws.read_frame()
        self.assertEqual(f.opcode, OP_CLOSE, "answer to a close: %r" % f)
        code, _ = f.close_info()
        self.assertEqual(code, 1000, "an empty close is echoed 1000: %r" % f)
        self.assertEqual(ws.s.read_to_eof(), b"", "data after the close echo")

    # --- fragments, lengths and partial writes -------------------------------

    def test_fragmented_text_with_ping_between(self):
        d = self.daemon()
        ws = self.raw(d)
        ws.send(frame(OP_TEXT, b"PIN", fin=False) +
                frame(OP_PING, b"mid") +
                frame(OP_CONT, b"G fr", fin=False) +
                frame(OP_CONT, b"ag", fin=True))
        line = ws.read_text()
        self.assertEqual(line, "PONG frag",
                         "reassembled 'PIN'+'G fr'+'ag' is 'PING frag'")
        self.assertEqual(ws.pongs, [b"mid"],
                         "the ping inside the message must get its pong")

    def test_fragment_split_inside_utf8_character(self):
        d = self.daemon()
        ws = self.raw(d)
        token = "caf\u00e9\u20ac".encode("utf-8")	# é and € are multi-byte
        data = b"PING " + token
        cut = len(data) - 2				# inside the euro sign
        ws.send(frame(OP_TEXT, data[:cut], fin=False) +
                frame(OP_CONT, data[cut:], fin=True))
        ws.expect("PONG caf\u00e9\u20ac")

    def test_frame_one_byte_per_send(self):
        d = self.daemon()
        ws = self.raw(d)
        for b in frame(OP_TEXT, b"PING slowly"):
            ws.send(bytes([b]))
        ws.expect("PONG slowly")

    def test_16bit_length_frame(self):
        d = self.daemon()
        ws = self.raw(d)
        token = "t" * 300
        ws.send_frame(OP_TEXT, "PING " + token)
        ws.expect("PONG " + token)

    def test_trailing_newline_is_ignored(self):
        d = self.daemon()
        ws = self.raw(d)
        ws.send_text("PING lf\n")
        ws.expect("PONG lf")
        ws.send_text("PING crlf\r\n")
        ws.expect("PONG crlf")


if __name__ == "__main__":
    harness.main()
