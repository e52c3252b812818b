"""
Server limits: rate limiting, slow consumers, message size, UTF-8, ping
timeout and handshake timeout, as docs/PROTOCOL.md ("Close codes the server
sends", "RATELIMITED") and the settings in conf/wschatd.conf describe them.
After each abuse the server must still serve a new client.
"""

import asyncio

import harness
from harness import OP_CONT, OP_PING, OP_PONG, OP_TEXT, frame


class LimitsTest(harness.WschatTestCase):

    # --- rate limiting --------------------------------------------------------

    RATE = dict(rate_limit=5, rate_burst=5, rate_strikes=3)

    async def test_burst_gets_ratelimited(self):
        d = self.daemon(**self.RATE)
        ws = self.raw(d)
        ws.send_lines("PING b%d" % i for i in range(7))
        replies = [ws.read_text() for _ in range(7)]
        for i, r in enumerate(replies):
            self.assertTrue(r == "PONG b%d" % i or
                            r.startswith("ERROR RATELIMITED "),
                            "reply %d to a burst of 7 with rate_burst 5 is "
                            "neither its PONG nor RATELIMITED: %r"
                            % (i, replies))
        self.assertEqual(replies[:5], ["PONG b%d" % i for i in range(5)],
                         "the first rate_burst commands pass: %r" % replies)
        self.assertTrue(any(r.startswith("ERROR RATELIMITED ")
                            for r in replies),
                        "a burst of 7 over rate_burst 5 must get ERROR "
                        "RATELIMITED: %r" % replies)
        await self.assert_alive(d)

    async def test_continued_abuse_closes_1008(self):
        d = self.daemon(**self.RATE)
        ws = self.raw(d)
        ws.send_lines("PING a%d" % i for i in range(30))
        replies = []
        try:
            while True:
                replies.append(ws.read_text())
                self.assertLess(len(replies), 30,
                                "30 commands over the rate and strikes 3: "
                                "never closed: %r" % replies)
        except harness.ServerClosed as e:
            self.assertEqual(e.code, 1008, "abuse closes with 1008: %s" % e)
            self.assertTrue(e.reason, "the 1008 close carries a reason")
        self.assertTrue(any(r.startswith("ERROR RATELIMITED ")
                            for r in replies),
                        "refused commands are answered ERROR RATELIMITED "
                        "before the close: %r" % replies)
        self.assertLessEqual(
            sum(r.startswith("ERROR RATELIMITED ") for r in replies), 3,
            "rate_strikes = 3: at most 3 refusals before the close: %r"
            % replies)
        await self.assert_alive(d)

    async def test_rate_limit_is_per_connection(self):
        d = self.daemon(**self.RATE)
        ws = self.raw(d)
        ws.send_lines("PING x%d" % i for i in range(7))
        for _ in range(7):
            ws.read_text()
        other = await self.client(d)
        for i in range(5):
            await other.cmd("PING o%d" % i, "PONG o%d" % i)

    # --- slow consumer --------------------------------------------------------

    async def test_slow_consumer_closed_1013_others_unaffected(self):
        d = self.daemon(max_output=65536, rate_limit=0, max_line=2048)
        poster = await self.client(d, nick="poster")
        await poster.sub("flood", create=True)

        fast = await self.client(d, nick="fast")
        await fast.sub("flood")
        await fast.cmd("SUBEVENT message", "CONFIRM SUBEVENT message")

        slow = self.slow_subscriber(d, "flood")
        # From here on the slow client reads nothing.

        fast_seqs = []
        fast_changed = asyncio.Event()

        async def read_fast():
            while True:
                t, a, r, ev = harness.parse_event(
                    await fast.recv(timeout=60), "fast")
                self.assertEqual((t, a, r), ("message", "CREATE", "flood"))
                fast_seqs.append(ev["seq"])
                fast_changed.set()

        reader = asyncio.ensure_future(read_fast())
        try:
            posted = []
            text = "m" * 1000
            since = d.mark()
            while len(posted) < 5000 and not d.log_search("slow consumer",
                                                          since):
                posted += await poster.post("flood", (
                    "%d %s" % (len(posted) + i, text) for i in range(50)))
                if reader.done():
                    reader.result()		# raise the reader's failure
            await d.wait_log_async("slow consumer", since=since,
                                   what="a 'slow consumer' line after %d "
                                   "messages of 1 KB with max_output 64 KB"
                                   % len(posted))

            # The slow client now reads everything: events, then 1013.
            reason, frames = slow.expect_close(1013, allow_data=True,
                                               timeout=30)
            slow_seqs = []
            for f in frames:
                self.assertEqual(f.opcode, OP_TEXT, f)
                _, _, _, ev = harness.parse_event(f.payload.decode(), "slow")
                slow_seqs.append(ev["seq"])
            self.assertLess(len(slow_seqs), len(posted),
                            "the slow consumer cannot have got everything")
            self.assertEqual(slow_seqs, posted[:len(slow_seqs)],
                             "what the slow consumer got is a gapless "
                             "prefix of the messages, in order")

            # The normal subscriber got every message, in order.
            while len(fast_seqs) < len(posted):
                fast_changed.clear()
                if reader.done():
                    reader.result()
                try:
                    await asyncio.wait_for(fast_changed.wait(), 30)
                except asyncio.TimeoutError:
                    self.fail("normal subscriber stuck at %d of %d messages"
                              % (len(fast_seqs), len(posted)))
            self.assertEqual(fast_seqs, posted,
                             "the normal subscriber gets every message in "
                             "order")
        finally:
            reader.cancel()
            try:
                await reader
            except (asyncio.CancelledError, Exception):
                pass
        await fast.nothing_pending()
        await poster.nothing_pending()
        await self.assert_alive(d)

    # --- message size and UTF-8 -----------------------------------------------

    async def test_message_over_max_message_closes_1009(self):
        d = self.daemon(max_frame=1024, max_message=4096)
        chunk = b"x" * 1000
        # Four fragments (4000 bytes) fit; the fifth's header says 1000
        # more. Its payload is not sent: the server judges by the header.
        self.assert_closes(d, frame(OP_TEXT, b"PING " + chunk[5:], fin=False) +
                           frame(OP_CONT, chunk, fin=False) * 3 +
                           frame(OP_CONT, b"", fin=True, length=1000), 1009)
        await self.assert_alive(d)

    async def test_message_at_max_message_is_accepted(self):
        d = self.daemon(max_frame=1024, max_message=4096, max_line=4096)
        ws = self.raw(d)
        token = b"y" * (4096 - 5)
        data = b"PING " + token
        ws.send(b"".join(frame(OP_TEXT if i == 0 else OP_CONT,
                               data[i:i + 1024], fin=i + 1024 >= len(data))
                         for i in range(0, len(data), 1024)))
        ws.expect("PONG " + token.decode())

    async def test_invalid_utf8_closes_1007(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_TEXT, b"MSG x \xc3\x28"), 1007)
        await self.assert_alive(d)

    async def test_invalid_utf8_across_fragments_closes_1007(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_TEXT, b"PING \xe2\x82", fin=False) +
                           frame(OP_CONT, b"\x28", fin=True), 1007)
        await self.assert_alive(d)

    async def test_truncated_utf8_closes_1007(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_TEXT, b"PING \xe2\x82"), 1007)
        await self.assert_alive(d)

    async def test_utf8_surrogate_closes_1007(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_TEXT, b"PING \xed\xa0\x80"), 1007)
        await self.assert_alive(d)

    async def test_overlong_utf8_closes_1007(self):
        d = self.daemon()
        self.assert_closes(d, frame(OP_TEXT, b"PING \xc0\xaf"), 1007)
        await self.assert_alive(d)

    # --- keepalive and handshake timeout --------------------------------------

    async def test_silent_client_is_pinged_then_closed_1008(self):
        d = self.daemon(ping_interval=1, ping_timeout=2)
        ws = self.raw(d)
        f = ws.read_frame()
        self.assertEqual(f.opcode, OP_PING,
                         "a silent client is pinged after ping_interval: %r"
                         % f)
        reason, _ = ws.expect_close(1008)
        self.assertIn("ping", reason.lower(),
                      "the close reason says ping timeout: %r" % reason)
        await self.assert_alive(d)

    async def test_quiet_client_outlives_handshake_timeout(self):
        # A client that only listens must not be cut off by the HTTP
        # layer's handshake_timeout (1 s here): the first thing it hears
        # after HELLO is the keepalive ping at ping_interval (2 s), not EOF.
        d = self.daemon(handshake_timeout=1, ping_interval=2, ping_timeout=30)
        ws = self.raw(d)
        ws.send_text("PING first")	# one command, then only listening
        ws.expect("PONG first")
        f = ws.read_frame()
        self.assertEqual(f.opcode, OP_PING, "a quiet client after "
                         "handshake_timeout gets a ping, not a drop: %r" % f)
        ws.send_frame(OP_PONG, f.payload)
        ws.send_text("PING still-here")
        ws.expect("PONG still-here")
        await self.assert_alive(d)

    async def test_client_answering_pings_stays(self):
        d = self.daemon(ping_interval=1, ping_timeout=2)
        ws = self.raw(d)
        for _ in range(3):
            f = ws.read_frame()
            self.assertEqual(f.opcode, OP_PING, "expected a ping: %r" % f)
            ws.send_frame(OP_PONG, f.payload)
        ws.send_text("PING still-here")
        ws.expect("PONG still-here")

    async def test_handshake_timeout_closes_idle_socket(self):
        d = self.daemon(handshake_timeout=1)
        s = self.sock(d)
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n")	# never finished
        s.read_to_eof()
        await self.assert_alive(d)


if __name__ == "__main__":
    harness.main()
