"""
test_bench_smoke.py: wschat-bench runs against the real wschatd, and its
checker catches what it claims to catch.

- fanout, ingest and resume run briefly against a fresh wschatd (port 0,
  temporary database, rate_limit = 0): exit 0, zero errors in the JSON,
  and every published message delivered to every subscriber (in resume,
  across reconnects with RESUME). No speed thresholds.
- replay: one client leaves, 3000 messages are published, and it comes back
  with RESUME during a fan-out; it must get all of them and the live ones
  after, exactly once and in order. fanout --stalled: two subscribers stop
  reading and wschatd (max_output = 1M) must close them, 1013, while the
  others get every message.
- A small faulty server written here (FakeServer) speaks just enough of the
  protocol to host a fanout run, and breaks it on purpose: a dropped event,
  a duplicated one, a seq that goes backwards, broken JSON, a 1013 close.
  wschat-bench must exit 1 and name the problem. With no fault but every
  frame fragmented and pings interleaved it must pass and answer the pings,
  which the real server never exercises.

Nothing sleeps: the daemon's port comes from its "listening on" line, read
line by line; every wait has a timeout and fails the test when it runs out.
Exit 0 = pass, 1 = fail. This test never skips: a missing $WSCHATD or
$WSCHAT_BENCH is a failure.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

TIMEOUT = 30.0
LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def need_exe(var):
    path = os.environ.get(var)
    if not path or not os.access(path, os.X_OK):
        raise AssertionError("%s is not set to an executable (make check sets "
                             "it); this test does not skip" % var)
    return path


class Daemon:
    """A real wschatd with its own config and database."""

    def __init__(self, tmp, **settings):
        self.lines = []
        conf = os.path.join(tmp, "wschatd.conf")
        base = {"listen": "127.0.0.1:0", "db": os.path.join(tmp, "wschat.db"),
                "rate_limit": "0", "max_connections": "10000",
                "max_output": "16M",
                # Every bench client comes from 127.0.0.1.
                "max_handshakes": "10000", "max_connections_per_address": "0",
                "max_unidentified_per_address": "0",
                "max_creates_per_hour": "0", "max_channels_owned": "0",
                "max_channels_joined": "0"}
        base.update({k: str(v) for k, v in settings.items()})
        with open(conf, "w", encoding="utf-8") as f:
            for k, v in base.items():
                f.write("%s = %s\n" % (k, v))
        self.proc = subprocess.Popen(
            [need_exe("WSCHATD"), "-f", conf], cwd=tmp,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        self.port = None
        found = threading.Event()
        self.reader = threading.Thread(target=self._read, args=(found,),
                                       daemon=True)
        self.reader.start()
        if not found.wait(TIMEOUT) or self.port is None:
            self.proc.kill()
            raise AssertionError("wschatd did not log 'listening on':\n" +
                                 "\n".join(self.lines[-20:]))

    def _read(self, found):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            m = LISTEN_RE.search(line)
            if m and self.port is None:
                self.port = int(m.group(1))
                found.set()
        found.set()	# EOF: the daemon died before listening

    def kill(self):
        """Cleanup after a failed test: no daemon outlives it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(TIMEOUT)
        self.proc.stderr.close()

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("wschatd ignored SIGTERM")
        self.reader.join(TIMEOUT)
        self.proc.stderr.close()
        return rc


def run_bench(tmp, args, timeout=120):
    """Run wschat-bench with --json; returns (rc, report dict, output)."""
    out = os.path.join(tmp, "bench-%d.json" % len(os.listdir(tmp)))
    cmd = [need_exe("WSCHAT_BENCH")] + args + ["--json", out]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    text = (" ".join(cmd) + "\n" + p.stdout.decode("utf-8", "replace") +
            p.stderr.decode("utf-8", "replace"))
    try:
        with open(out, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        raise AssertionError("no JSON report (%s):\n%s" % (e, text))
    return p.returncode, report, text


# --- a deliberately faulty server -------------------------------------------

def ws_frame(opcode, payload, fin=True):
    """An unmasked server frame."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


class FakeClient:
    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        self.name = None
        self.intent = False
        self.member = False
        self.lock = threading.Lock()
        self.delivered = 0

    def send_text(self, text):
        data = text.encode("utf-8")
        with self.lock:
            if self.server.fault == "fragment" and len(data) >= 3:
                # Three fragments with a ping between them.
                a, b = len(data) // 3, 2 * len(data) // 3
                buf = (ws_frame(0x1, data[:a], False) +
                       ws_frame(0x9, b"fake-ping") +
                       ws_frame(0x0, data[a:b], False) +
                       ws_frame(0x0, data[b:]))
                self.server.pings_sent += 1
            else:
                buf = ws_frame(0x1, data)
            try:
                self.sock.sendall(buf)
            except OSError:
                pass

    def read_exact(self, buf, n):
        while len(buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def serve(self):
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            key = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", head).group(1)
            accept = base64.b64encode(hashlib.sha1(
                key + WS_GUID.encode()).digest()).decode()
            self.sock.sendall(("HTTP/1.1 101 Switching Protocols\r\n"
                               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: %s\r\n\r\n" % accept)
                              .encode())
            self.send_text("HELLO wschatd/0.1.0 00ff 0")
            msg = b""
            while True:
                buf = self.read_exact(buf, 2)
                op, n = buf[0] & 0x0f, buf[1] & 0x7f
                fin, masked = buf[0] & 0x80, buf[1] & 0x80
                assert masked, "the bench sent an unmasked frame"
                off = 2
                if n == 126:
                    buf = self.read_exact(buf, 4)
                    n, off = struct.unpack("!H", buf[2:4])[0], 4
                elif n == 127:
                    buf = self.read_exact(buf, 10)
                    n, off = struct.unpack("!Q", buf[2:10])[0], 10
                buf = self.read_exact(buf, off + 4 + n)
                mask = buf[off:off + 4]
                payload = bytes(b ^ mask[i % 4] for i, b in
                                enumerate(buf[off + 4:off + 4 + n]))
                buf = buf[off + 4 + n:]
                if op == 0xA:
                    with self.server.lock:
                        self.server.pongs += payload == b"fake-ping"
                    continue
                if op == 0x8:
                    with self.lock:
                        self.sock.sendall(ws_frame(0x8, payload[:2] + b"bye"))
                    return
                msg += payload
                if fin:
                    self.server.command(self, msg.decode("utf-8"))
                    msg = b""
        except (EOFError, OSError):
            return
        finally:
            self.sock.close()


class FakeServer:
    """Just enough wschat for a fanout run, with one fault on request."""

    def __init__(self, fault):
        self.fault = fault
        self.seq = 0
        self.clients = []
        self.lock = threading.Lock()
        self.pings_sent = 0
        self.pongs = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            c = FakeClient(self, sock)
            with self.lock:
                self.clients.append(c)
            threading.Thread(target=c.serve, daemon=True).start()

    def close(self):
        self.listener.close()

    def command(self, c, line):
        verb, _, rest = line.partition(" ")
        if verb == "NICK":
            c.name = rest
            c.send_text("CONFIRM NICK " + rest + " " + "A" * 43)
        elif verb == "SUBEVENT":
            c.intent = True
            c.send_text("CONFIRM SUBEVENT " + rest)
        elif verb in ("CREATE", "SUB"):
            c.member = c.member or verb == "SUB"
            c.send_text("CONFIRM %s %s" % (verb, rest))
        elif verb == "PING":
            c.send_text("PONG " + rest)
        elif verb == "MSG":
            chan, _, text = rest.partition(" ")
            with self.lock:
                self.seq += 1
                seq = self.seq
                subs = [s for s in self.clients if s.intent and s.member]
                for i, s in enumerate(subs):
                    self.deliver(s, i, seq, chan, c.name, text)
            c.send_text("CONFIRM MSG %s %d" % (chan, seq))
        else:
            c.send_text("ERROR UNKNOWN unknown command: " + verb)

    def deliver(self, s, i, seq, chan, user, text):
        """One event to subscriber s (the i-th); the fault hits the first."""
        obj = {"seq": seq, "ts": 1764000000000, "username": user, "text": text}
        line = "EVENT message CREATE %s %s" % (chan, json.dumps(
            obj, separators=(",", ":")))
        s.delivered += 1
        hit = i == 0 and s.delivered == 5
        if hit and self.fault == "drop":
            return
        if hit and self.fault == "badjson":
            line = line[:-1]
        if hit and self.fault == "seq":
            obj["seq"] = 1
            line = "EVENT message CREATE %s %s" % (chan, json.dumps(obj))
        if hit and self.fault == "close":
            with s.lock:
                s.sock.sendall(ws_frame(0x8, struct.pack("!H", 1013) +
                                        b"slow consumer"))
            return
        s.send_text(line)
        if hit and self.fault == "dup":
            s.send_text(line)


class BenchSmoke(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="wschat-bench-smoke-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def daemon(self, **settings):
        d = Daemon(self.tmp, **settings)
        self.addCleanup(d.kill)
        return d

    def test_real_server(self):
        d = self.daemon()
        url = "ws://127.0.0.1:%d/ws" % d.port
        rc, r, out = run_bench(self.tmp, [
            "fanout", "--url", url, "--subscribers", "20", "--publishers", "2",
            "--duration", "2", "--messages", "2000", "--window", "4",
            "--server-pid", str(d.proc.pid)])
        self.assertEqual(rc, 0, out)
        self.assertEqual(r["errors"], 0, out)
        self.assertIsNone(r["aborted"], out)
        self.assertGreater(r["published"], 0, out)
        self.assertEqual(r["published"], r["sent"], out)
        self.assertEqual(r["deliveries"], r["published"] * 20, out)
        self.assertEqual(r["expected_deliveries"], r["deliveries"], out)
        self.assertEqual(r["latency_us"]["count"], r["deliveries"], out)
        self.assertEqual(r["closed_cleanly"], 22, out)
        self.assertIsNotNone(r["server_cpu_s"], out)

        rc, r, out = run_bench(self.tmp, [
            "ingest", "--url", url, "--publishers", "4", "--duration", "1",
            "--window", "2", "--size", "200"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(r["errors"], 0, out)
        self.assertGreater(r["published"], 0, out)
        self.assertEqual(r["confirm_latency_us"]["count"], r["published"], out)

        # Subscribers keep leaving and coming back with RESUME while the
        # publishers go on: still exactly once, in order, counts matching.
        rc, r, out = run_bench(self.tmp, [
            "resume", "--url", url, "--subscribers", "10", "--publishers", "2",
            "--rate", "2000", "--reconnect-ms", "50", "--duration", "1"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(r["errors"], 0, out)
        self.assertGreater(r["reconnects"], 0, out)
        self.assertGreater(r["replayed"], 0, out)
        self.assertEqual(r["deliveries"], r["published"] * 10, out)

        self.assertEqual(d.stop(), 0, "\n".join(d.lines[-20:]))

    def test_replay(self):
        # One client leaves, 3000 messages are published, and it comes
        # back with RESUME across all of them while a fan-out goes on: it
        # must get every message once, in order, and RESUMED must count
        # the replay exactly (the bench checks both).
        d = self.daemon()
        rc, r, out = run_bench(self.tmp, [
            "replay", "--url", "ws://127.0.0.1:%d/ws" % d.port,
            "--subscribers", "5", "--publishers", "2", "--rate", "500",
            "--duration", "1.5", "--replay-at", "0.5",
            "--replay-events", "3000", "--server-pid", str(d.proc.pid)])
        self.assertEqual(rc, 0, out)
        self.assertEqual(r["errors"], 0, out)
        self.assertEqual(r["replay"]["prefilled"], 3000, out)
        self.assertGreaterEqual(r["replay"]["events"], 3000, out)
        self.assertEqual(r["replay"]["resumer_received"],
                         r["published"] + 3000, out)
        self.assertEqual(r["deliveries"], r["published"] * 5, out)
        self.assertGreater(r["latency_quiet_us"]["count"], 0, out)
        self.assertEqual(d.stop(), 0, "\n".join(d.lines[-20:]))

    def test_login(self):
        # Eight clients register in the setup, then all LOGIN at once
        # during a fan-out: every LOGIN is confirmed with a token, the
        # fan-out loses nothing, and its deliveries are split into those
        # during the burst and those outside it.
        d = self.daemon(pwhash_memlimit="64K", pwhash_opslimit="1")
        rc, r, out = run_bench(self.tmp, [
            "login", "--url", "ws://127.0.0.1:%d/ws" % d.port,
            "--subscribers", "5", "--publishers", "1", "--rate", "300",
            "--duration", "1.5", "--login-at", "0.5", "--logins", "8",
            "--server-pid", str(d.proc.pid)])
        self.assertEqual(rc, 0, out)
        self.assertEqual(r["errors"], 0, out)
        self.assertEqual(r["login"]["confirmed"], 8, out)
        self.assertEqual(r["login"]["login_latency_us"]["count"], 8, out)
        self.assertGreater(r["login"]["logins_per_s"], 0, out)
        self.assertEqual(r["deliveries"], r["published"] * 5, out)
        self.assertEqual(r["latency_quiet_us"]["count"] +
                         r["latency_during_logins_us"]["count"],
                         r["deliveries"], out)
        self.assertEqual(d.stop(), 0, "\n".join(d.lines[-20:]))

    def test_stalled_subscribers(self):
        # Two subscribers stop reading: 2 MB/s for 5 s is more than the
        # kernel's buffers (up to about 4 MB) and max_output = 1M, so the
        # server closes them (1013, or EOF once it gave up on the close),
        # while the three others, 500 ms of traffic from that limit (room
        # for a loaded machine under ASan), get every message.
        d = self.daemon(max_output="1M", max_line="65536")
        rc, r, out = run_bench(self.tmp, [
            "fanout", "--url", "ws://127.0.0.1:%d/ws" % d.port,
            "--subscribers", "3", "--stalled", "2", "--publishers", "1",
            "--rate", "250", "--size", "8000", "--duration", "5",
            "--server-pid", str(d.proc.pid)])
        self.assertEqual(rc, 0, out)
        self.assertEqual(r["errors"], 0, out)
        st = r["stalled"]
        self.assertEqual(st["closed_1013"] + st["eof_without_close"] +
                         st["reset"], 2, out)
        self.assertEqual(st["closed_other"], 0, out)
        self.assertEqual(r["deliveries"], r["published"] * 3, out)
        self.assertTrue(any("1013 slow consumer" in l for l in d.lines),
                        "\n".join(d.lines[-20:]))
        self.assertEqual(d.stop(), 0, "\n".join(d.lines[-20:]))

    def test_ceiling(self):
        rc, r, out = run_bench(self.tmp, [
            "ceiling", "--subscribers", "20", "--publishers", "2",
            "--duration", "1", "--messages", "500"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(r["errors"], 0, out)
        self.assertEqual(r["deliveries"], r["published"] * 20, out)

    def fake_run(self, fault):
        srv = FakeServer(fault)
        self.addCleanup(srv.close)
        rc, r, out = run_bench(self.tmp, [
            "fanout", "--url", "ws://127.0.0.1:%d/ws" % srv.port,
            "--subscribers", "3", "--publishers", "2", "--messages", "10",
            "--window", "2", "--drain", "2", "--fragment", "5"], timeout=60)
        return srv, rc, r, out

    def test_checker_passes_fragments_and_pings(self):
        srv, rc, r, out = self.fake_run("fragment")
        self.assertEqual(rc, 0, out)
        self.assertEqual(r["deliveries"], 60, out)
        self.assertGreater(srv.pings_sent, 0)
        self.assertEqual(srv.pongs, srv.pings_sent, out)

    def expect_caught(self, fault, pattern):
        _, rc, r, out = self.fake_run(fault)
        self.assertEqual(rc, 1, out)
        self.assertGreater(r["errors"], 0, out)
        self.assertTrue(any(re.search(pattern, e) for e in r["error_samples"]),
                        "no error matches %r:\n%s" % (pattern, out))

    def test_checker_catches_a_dropped_event(self):
        self.expect_caught("drop", r"missing|drain timed out")

    def test_checker_catches_a_duplicate(self):
        self.expect_caught("dup", r"again or out of order")

    def test_checker_catches_a_seq_going_back(self):
        self.expect_caught("seq", r"not increasing")

    def test_checker_catches_bad_json(self):
        self.expect_caught("badjson", r"JSON")

    def test_checker_catches_a_close(self):
        self.expect_caught("close", r"server closed: 1013")


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
