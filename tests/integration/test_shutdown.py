"""
Signals: SIGTERM and SIGINT close every client with 1001 and exit 0 within
shutdown_timeout; SIGHUP reopens a log file (docs/PROTOCOL.md "Close codes
the server sends", conf/wschatd.conf "log" and "shutdown_timeout").
"""

import asyncio
import os
import shutil
import signal
import tempfile
import time

import harness
from harness import OP_TEXT, frame

MARGIN = 5.0		# seconds allowed beyond shutdown_timeout


class ShutdownTest(harness.WschatTestCase):

    async def shutdown_with_clients(self, sig):
        d = self.daemon(shutdown_timeout=5)
        a = await self.client(d)				# no name
        b = await self.client(d, nick="bob")
        await b.cmd("SUBEVENT channel", "CONFIRM SUBEVENT channel")
        c = await self.client(d, nick="carol")
        await c.sub("room", create=True)
        await b.expect_event("channel", "CREATE", "room")
        started = time.monotonic()
        d.send_signal(sig)
        results = await asyncio.gather(
            *(x.expect_close(1001, timeout=5 + MARGIN) for x in (a, b, c)))
        for reason, _ in results:
            self.assertTrue(reason.strip(), "1001 carries a reason")
        rc = await d.wait_async(5 + MARGIN)
        self.assertEqual(rc, 0, "exit status after %s" % sig.name)
        self.assertLess(time.monotonic() - started, 5 + MARGIN)

    async def test_sigterm_closes_clients_1001_and_exits_0(self):
        await self.shutdown_with_clients(signal.SIGTERM)

    async def test_sigint_closes_clients_1001_and_exits_0(self):
        await self.shutdown_with_clients(signal.SIGINT)

    def test_exit_with_unresponsive_client_within_shutdown_timeout(self):
        d = self.daemon(shutdown_timeout=2)
        ws = self.raw(d)		# never answers the close
        started = time.monotonic()
        d.send_signal(signal.SIGTERM)
        rc = d.wait(2 + MARGIN)
        self.assertEqual(rc, 0, "exit status with a client that never "
                         "answered its close")
        self.assertLess(time.monotonic() - started, 2 + MARGIN)
        # The close frame was sent before the exit.
        ws.expect_close(1001, reply=False)

    def test_shutdown_timeout_0_exits_at_once(self):
        d = self.daemon(shutdown_timeout=0)
        ws = self.raw(d)
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait(MARGIN), 0, "exit status")
        ws.expect_close(1001, reply=False)

    def test_no_new_connection_during_shutdown(self):
        d = self.daemon(shutdown_timeout=5)
        lingerer = self.raw(d)		# never answers: the shutdown waits
        d.send_signal(signal.SIGTERM)
        # Once the 1001 is out the server is shutting down.
        lingerer.expect_close(1001, reply=False, expect_eof=False)
        try:
            s = harness.Sock(d.port)
        except ConnectionRefusedError:
            s = None
        if s is not None:
            try:
                s.sendall(harness.upgrade_request(d.hostport))
                resp = harness.read_response(s, body=False)
            except (harness.PeerClosed, ConnectionResetError,
                    BrokenPipeError):
                resp = None
            finally:
                s.close()
            if resp is not None:
                self.assertNotEqual(resp.status, 101,
                                    "a handshake after SIGTERM was accepted: "
                                    "%r" % resp)
        self.assertEqual(d.wait(5 + MARGIN), 0, "exit status")

    # --- SIGHUP ---------------------------------------------------------------

    def test_sighup_reopens_log_file(self):
        logdir = tempfile.mkdtemp(prefix="wschat-log-")
        self.addCleanup(shutil.rmtree, logdir, True)
        log = os.path.join(logdir, "wschatd.log")
        d = self.daemon(log=log)
        self.assertTrue(os.path.getsize(log) > 0, "the log file is written")
        rotated = log + ".1"
        os.rename(log, rotated)
        d.proc.send_signal(signal.SIGHUP)
        d.wait_until(lambda: os.path.exists(log), "SIGHUP to reopen "
                     "(create) %s after it was renamed" % log)
        old_size = os.path.getsize(rotated)

        # Something that must log: a connection failing the protocol.
        self.assert_closes(d, frame(OP_TEXT, b"", mask=False), 1002)
        d.wait_until(lambda: os.path.getsize(log) > 0,
                     "a log line in the reopened log file")
        self.assertEqual(os.path.getsize(rotated), old_size,
                         "after SIGHUP nothing more goes to the renamed file")
        with open(log, encoding="utf-8", errors="replace") as f:
            self.assertIn("wschatd[", f.read(),
                          "the reopened file gets log lines")
        self.assertTrue(d.alive(), "wschatd survives SIGHUP")

    async def test_sighup_with_stderr_log_is_harmless(self):
        d = self.daemon()
        c = await self.client(d)
        d.proc.send_signal(signal.SIGHUP)
        await c.nothing_pending()
        await self.assert_alive(d)
        await c.nothing_pending()


if __name__ == "__main__":
    harness.main()
