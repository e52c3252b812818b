"""
The opening handshake and /healthz as docs/PROTOCOL.md ("Transport")
specifies them: request validation, Origin, status codes and headers, and
the hand-off of bytes that follow the request; and the front door's
sockets: accept_batch, send_buffer and the descriptor table. Frames after
the upgrade are test_framing.py's.
"""

import json
import os
import re
import resource
import signal
import time

import harness
from harness import (OP_CLOSE, OP_TEXT, RawWS, accept_for, frame,
                     http_request, plain_request, upgrade_request, ws_key)


class HandshakeTest(harness.WschatTestCase):

    def upgrade(self, d, **kw):
        """Send an upgrade request built from kw; returns the Response."""
        kw.setdefault("host", d.hostport)
        return http_request(d.port, upgrade_request(**kw))

    def assert_refused(self, resp, status, what):
        self.assertEqual(resp.status, status,
                         "%s: expected HTTP %d, got %r" % (what, status, resp))
        self.assertIsNone(resp.header("Sec-WebSocket-Accept"),
                          "%s: a refused handshake must not carry "
                          "Sec-WebSocket-Accept: %r" % (what, resp))

    def assert_426(self, resp, what):
        self.assert_refused(resp, 426, what)
        self.assertEqual(resp.header("Sec-WebSocket-Version"), "13",
                         "%s: a 426 must say 'Sec-WebSocket-Version: 13': %r"
                         % (what, resp))

    # --- accepted handshakes ----------------------------------------------

    def test_upgrade_returns_101_with_accept_key(self):
        d = self.daemon()
        s = self.sock(d)
        key = ws_key()
        s.sendall(upgrade_request(d.hostport, key=key))
        resp = harness.read_response(s, body=False)
        self.assertEqual(resp.status, 101, "valid upgrade: %r" % resp)
        self.assertEqual(resp.header("Sec-WebSocket-Accept"), accept_for(key),
                         "Sec-WebSocket-Accept must be base64(sha1(key+GUID))")
        self.assertIn("websocket", (resp.header("Upgrade") or "").lower(),
                      "101 must carry 'Upgrade: websocket': %r" % resp)
        self.assertIn("upgrade", resp.header_tokens("Connection"),
                      "101 must carry 'Connection: Upgrade': %r" % resp)
        ws = RawWS(s, resp)
        hello = ws.read_hello()
        self.assertTrue(hello.startswith("HELLO wschatd/"), hello)

    def test_browser_connection_header_keep_alive_upgrade(self):
        d = self.daemon()
        self.raw(d, headers={"Connection": "keep-alive, Upgrade",
                             "Upgrade": "websocket"})

    def test_header_names_and_upgrade_value_are_case_insensitive(self):
        d = self.daemon()
        key = ws_key()
        req = ("GET /ws HTTP/1.1\r\nhost: %s\r\nupgrade: WebSocket\r\n"
               "connection: upgrade\r\nsec-websocket-key: %s\r\n"
               "sec-websocket-version: 13\r\n\r\n" % (d.hostport, key))
        s = self.sock(d)
        s.sendall(req.encode())
        resp = harness.read_response(s, body=False)
        self.assertEqual(resp.status, 101, "lower-case header names: %r" % resp)
        self.assertEqual(resp.header("Sec-WebSocket-Accept"), accept_for(key))

    def test_frame_pipelined_with_request_is_processed(self):
        d = self.daemon()
        ws = self.raw(d, extra=frame(OP_TEXT, "PING x"))
        ws.expect("PONG x")

    # --- refused handshakes -------------------------------------------------

    def test_missing_upgrade_header_is_426(self):
        d = self.daemon()
        self.assert_426(self.upgrade(d, headers={"Upgrade": None}),
                        "no Upgrade header")

    def test_upgrade_header_not_websocket_is_426(self):
        d = self.daemon()
        self.assert_426(self.upgrade(d, headers={"Upgrade": "h2c"}),
                        "Upgrade: h2c")

    def test_connection_without_upgrade_token_is_426(self):
        d = self.daemon()
        self.assert_426(self.upgrade(d, headers={"Connection": "keep-alive"}),
                        "Connection: keep-alive (no Upgrade token)")

    def test_missing_connection_header_is_426(self):
        d = self.daemon()
        self.assert_426(self.upgrade(d, headers={"Connection": None}),
                        "no Connection header")

    def test_version_8_is_426(self):
        d = self.daemon()
        self.assert_426(self.upgrade(
            d, headers={"Sec-WebSocket-Version": "8"}), "version 8")

    def test_missing_version_is_426(self):
        d = self.daemon()
        self.assert_426(self.upgrade(
            d, headers={"Sec-WebSocket-Version": None}), "no version")

    def test_key_not_base64_is_400(self):
        d = self.daemon()
        self.assert_refused(self.upgrade(d, key="!!!!not*base64!!!!!!!!=="),
                            400, "key not base64")

    def test_key_of_15_bytes_is_400(self):
        d = self.daemon()
        self.assert_refused(self.upgrade(d, key=ws_key(15)), 400,
                            "key of 15 bytes")

    def test_key_of_17_bytes_is_400(self):
        d = self.daemon()
        self.assert_refused(self.upgrade(d, key=ws_key(17)), 400,
                            "key of 17 bytes")

    def test_missing_key_is_400(self):
        d = self.daemon()
        self.assert_refused(self.upgrade(
            d, headers={"Sec-WebSocket-Key": None}), 400, "no key")

    def test_http_1_0_is_400(self):
        d = self.daemon()
        self.assert_refused(self.upgrade(d, version="HTTP/1.0"), 400,
                            "HTTP/1.0 upgrade")

    def test_post_is_405(self):
        d = self.daemon()
        self.assert_refused(self.upgrade(
            d, method="POST", headers={"Content-Length": "0"}), 405,
            "POST /ws")

    def test_unknown_path_is_404(self):
        d = self.daemon()
        resp = http_request(d.port, plain_request(d.hostport, "/nope"))
        self.assertEqual(resp.status, 404, "GET /nope: %r" % resp)

    def test_upgrade_on_unknown_path_is_404(self):
        d = self.daemon()
        self.assert_refused(self.upgrade(d, path="/nope"), 404,
                            "upgrade on /nope")

    async def test_huge_request_header_is_refused(self):
        d = self.daemon()
        s = self.sock(d)
        s.sendall(upgrade_request(d.hostport,
                                  headers={"X-Filler": "f" * 200000}))
        try:
            resp = harness.read_response(s, body=False)
        except (harness.PeerClosed, ConnectionResetError):
            resp = None
        if resp is not None:
            self.assertGreaterEqual(resp.status, 400,
                                    "a 200 KB header must be refused: %r"
                                    % resp)
        await self.assert_alive(d)

    # --- /healthz -------------------------------------------------------------

    def healthz(self, d):
        resp = http_request(d.port, plain_request(d.hostport, "/healthz"))
        self.assertEqual(resp.status, 200, "GET /healthz: %r" % resp)
        try:
            obj = json.loads(resp.body.decode("utf-8"))
        except ValueError as e:
            self.fail("/healthz body is not JSON (%s): %r" % (e, resp.body))
        self.assertIsInstance(obj, dict, "/healthz: %r" % resp.body)
        return obj

    def test_healthz_stall_window(self):
        """?stall_since=S adds the longest stall since CLOCK_MONOTONIC
        second S (this process's time.monotonic() is the same clock): never
        more than the all-time maximum, none in a second yet to come, and
        the key is absent when S is not a number."""
        d = self.daemon()
        path = "/healthz?stall_since=%d" % int(time.monotonic() - 30)
        resp = http_request(d.port, plain_request(d.hostport, path))
        self.assertEqual(resp.status, 200, "GET %s: %r" % (path, resp))
        h = json.loads(resp.body.decode("utf-8"))
        self.assertIsInstance(h.get("loop_stall_since_us"), int, "%r" % h)
        self.assertGreaterEqual(h["loop_stall_since_us"], 0, "%r" % h)
        self.assertLessEqual(h["loop_stall_since_us"],
                             h["loop_stall_max_us"], "%r" % h)
        path = "/healthz?stall_since=%d" % int(time.monotonic() + 3600)
        h = json.loads(http_request(d.port, plain_request(
            d.hostport, path)).body.decode("utf-8"))
        self.assertEqual(h.get("loop_stall_since_us"), 0,
                         "nothing ended in a second to come: %r" % h)
        for bad in ("x", "-1", "5x", ""):
            h = json.loads(http_request(d.port, plain_request(
                d.hostport, "/healthz?stall_since=" + bad)).body.decode(
                    "utf-8"))
            self.assertNotIn("loop_stall_since_us", h,
                             "stall_since=%r: %r" % (bad, h))
            self.assertEqual(h.get("status"), "ok", "%r" % h)

    async def test_healthz_reports_status_and_connections(self):
        d = self.daemon()
        h = self.healthz(d)
        self.assertEqual(h.get("status"), "ok", "healthz: %r" % h)
        self.assertEqual(h.get("connections"), 0,
                         "no WebSocket is open yet: %r" % h)
        version = harness.expected_version()
        if version:
            self.assertEqual(h.get("version"), "wschatd/" + version,
                             "healthz version: %r" % h)
        self.assertIsInstance(h.get("head"), int, "healthz head: %r" % h)
        self.assertIsInstance(h.get("epoch"), str, "healthz epoch: %r" % h)
        self.assertEqual(h.get("closed"), {"normal": 0, "error": 0, "slow": 0},
                         "nothing closed yet: %r" % h)

        a = await self.client(d)
        await self.client(d)
        h = self.healthz(d)
        self.assertEqual(h.get("connections"), 2,
                         "two WebSockets are open: %r" % h)
        self.assertEqual(h.get("epoch"), a.epoch,
                         "healthz epoch must be HELLO's epoch: %r vs %r"
                         % (h, a.hello))
        self.assertEqual(h.get("head"), a.head,
                         "healthz head must be HELLO's head: %r vs %r"
                         % (h, a.hello))
        c = self.raw(d)
        self.assertEqual(self.healthz(d).get("connections"), 3,
                         "three WebSockets are open")

        # Close one; once the server has closed its TCP side the
        # connection is gone and must no longer be counted.
        c.send_frame(OP_CLOSE, harness.close_payload(1000, "bye"))
        f = c.read_frame()
        self.assertEqual(f.opcode, OP_CLOSE, "close echo: %r" % f)
        c.s.read_to_eof()
        h = self.healthz(d)
        self.assertEqual(h.get("connections"), 2,
                         "after one of three WebSockets closed: %r" % h)

    # --- Origin ---------------------------------------------------------------

    ORIGINS = "https://good.example https://*.example.org"

    def test_origin_not_allowed_is_403(self):
        d = self.daemon(origins=self.ORIGINS)
        for origin in ("https://evil.example", "http://good.example",
                       "https://good.example.evil.com",
                       "https://chat.example.org.evil.com",
                       "http://chat.example.org", "null"):
            self.assert_refused(self.upgrade(d, headers={"Origin": origin}),
                                403, "Origin %s with origins = %s"
                                % (origin, self.ORIGINS))

    def test_allowed_origin_is_101(self):
        d = self.daemon(origins=self.ORIGINS)
        self.raw(d, headers={"Origin": "https://good.example"})

    def test_no_origin_is_101(self):
        d = self.daemon(origins=self.ORIGINS)
        self.raw(d)

    def test_default_origins_refuse_other_sites(self):
        # origins = * was the default: any web page a local user opened
        # could drive a server on 127.0.0.1. The default is now self.
        d = self.daemon()
        self.assert_refused(self.upgrade(d, headers={
            "Origin": "https://anything.example"}), 403,
            "a foreign Origin with the default origins")
        self.assert_refused(self.upgrade(d, headers={
            "Origin": "http://127.0.0.1:%d" % (d.port ^ 1)}), 403,
            "another port of the same host with the default origins")

    def test_default_origins_allow_the_servers_own_origin(self):
        d = self.daemon()
        self.raw(d, headers={"Origin": "http://127.0.0.1:%d" % d.port})
        # A TLS proxy in front: https, and a Host without a port.
        self.raw(d, host="chat.example.com",
                 headers={"Origin": "https://chat.example.com"})

    def test_suffix_star_does_not_match_another_domain(self):
        # fnmatch let http://localhost* match http://localhost.evil.com; a
        # pattern may now use * only as a whole label or a whole port, so
        # that word is refused at start, and http://localhost:* matches
        # only localhost's ports.
        with self.assertRaises(AssertionError):
            self.daemon(origins="http://localhost*")
        d = self.daemon(origins="http://localhost:*")
        self.raw(d, headers={"Origin": "http://localhost:3000"})
        for origin in ("http://localhost.evil.com",
                       "http://localhost.evil.com:3000"):
            self.assert_refused(self.upgrade(d, headers={"Origin": origin}),
                                403, "Origin %s with origins = "
                                "http://localhost:*" % origin)

    def test_malformed_origin_is_403_and_logged_escaped(self):
        d = self.daemon(origins="*")
        since = d.mark()
        for origin in ("https://good.example/", "http://a\x1b[31mred",
                       "http://user@host", "http://x:99999"):
            self.assert_refused(self.upgrade(d, headers={"Origin": origin}),
                                403, "malformed Origin %r" % origin)
        m = d.wait_log(r"refused malformed Origin http://a(\S*)red",
                       since=since)
        self.assertEqual(m.group(1), "\\x1b[31m",
                         "the escape byte of a logged Origin: %r"
                         % m.group(0))
        self.assertFalse(any("\x1b" in line for line in d.lines()),
                         "a raw escape byte reached the log")

    def test_wildcard_origin_matches_subdomain(self):
        d = self.daemon(origins=self.ORIGINS)
        self.raw(d, headers={"Origin": "https://chat.example.org"})

    # --- limits ---------------------------------------------------------------

    async def test_max_connections_third_is_503(self):
        d = self.daemon(max_connections=2)
        await self.client(d)
        await self.client(d)
        self.assert_refused(self.upgrade(d), 503,
                            "third connection with max_connections = 2")

    # --- accepting and the sockets' buffers ----------------------------------

    def test_accept_batch_takes_a_burst_in_batches(self):
        # 300 connections wait in the accept queue at once: the daemon is
        # stopped while they connect and send their upgrade requests. With
        # accept_batch = 8 it takes them 8 per loop pass (it says so at -v
        # for every full batch), and every one of them still gets HELLO.
        n, batch = 300, 8
        d = self.daemon(accept_batch=batch, max_connections_per_address=0,
                        max_unidentified_per_address=0)
        since = d.mark()
        socks, keys = [], []
        d.proc.send_signal(signal.SIGSTOP)
        try:
            for _ in range(n):
                socks.append(self.sock(d))
                keys.append(ws_key())
                socks[-1].sendall(upgrade_request(d.hostport, key=keys[-1]))
        finally:
            d.proc.send_signal(signal.SIGCONT)
        for i, (s, key) in enumerate(zip(socks, keys)):
            resp = harness.read_response(s, body=False)
            self.assertEqual(resp.status, 101, "connection %d of a burst of "
                             "%d: %r" % (i, n, resp))
            self.assertEqual(resp.header("Sec-WebSocket-Accept"),
                             accept_for(key))
            RawWS(s, resp).read_hello()
        rx = re.compile(r"accept_batch: %d accepted in this pass" % batch)
        d.wait_log(rx, since=since, count=n // batch,
                   what="%d full batches of %d" % (n // batch, batch))
        self.assertEqual(len(d.log_matches(rx, since)), n // batch,
                         "%d queued connections with accept_batch = %d"
                         % (n, batch))

    def test_descriptor_table_is_grown_at_start(self):
        # Linux doubles a process's descriptor table as descriptors pass
        # 256, 512, ...; with threads each doubling waits ~10 ms for RCU,
        # inside accept4(). So the daemon grows it at start to what
        # max_connections needs (as far as RLIMIT_NOFILE allows).
        if os.environ.get("WSCHATD_WRAPPER"):
            self.skipTest("a wrapper such as valgrind lowers the fd limit")
        d = self.daemon(max_connections=3000)
        # Once it answers, it is in its loop: a SIGTERM right after the
        # "listening on" line could come before its signal handlers.
        self.assertEqual(self.healthz(d).get("status"), "ok")
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        want = 3000 + 64
        if soft != resource.RLIM_INFINITY:
            want = min(want, soft - 1)
        with open("/proc/%d/status" % d.pid, encoding="ascii") as f:
            m = re.search(r"^FDSize:\s+(\d+)$", f.read(), re.M)
        if m is None:
            self.skipTest("no FDSize in /proc/PID/status")
        self.assertGreater(int(m.group(1)), want,
                           "descriptor table size with max_connections = "
                           "3000 and RLIMIT_NOFILE %s" % soft)

    def test_send_buffer_is_applied_to_websockets(self):
        # Linux doubles SO_SNDBUF for its bookkeeping; the daemon logs what
        # the sockets really get when the first WebSocket is upgraded.
        d = self.daemon(send_buffer="48K")
        self.raw(d)
        m = d.wait_log(r"send_buffer 49152: the kernel gives sockets (\d+) "
                       r"bytes")
        self.assertGreaterEqual(int(m.group(1)), 49152)
        self.assertLessEqual(int(m.group(1)), 2 * 49152)

    async def test_send_buffer_bounds_what_a_stalled_client_holds(self):
        # A subscriber that stops reading is closed as a slow consumer once
        # max_output is queued beyond what its socket took. Left to
        # autotuning, the kernel takes up to tcp_wmem's 4 MiB first; with
        # send_buffer it takes about twice that (Linux doubles it), plus
        # what is on the way to the client.
        max_output, sndbuf = 65536, 16384
        bound = max_output + 2 * sndbuf + 192 * 1024
        d = self.daemon(max_output=max_output, send_buffer=sndbuf,
                        rate_limit=0)
        poster = await self.client(d, nick="poster")
        await poster.sub("flood", create=True)
        slow = self.slow_subscriber(d, "flood")
        # From here on the slow client reads nothing.
        since = d.mark()
        text = "m" * 1000
        posted = 0		# bytes of text, less than what went out
        while posted <= bound and not d.log_search("slow consumer", since):
            await poster.post("flood", ("%d %s" % (i, text)
                                        for i in range(16)))
            posted += 16 * len(text)
        await d.wait_log_async("slow consumer", since=since,
                               what="the stalled client closed as a slow "
                               "consumer after %d bytes of messages with "
                               "max_output = %d and send_buffer = %d"
                               % (posted, max_output, sndbuf))
        self.assertLessEqual(posted, bound)


if __name__ == "__main__":
    harness.main()
