"""
harness.py: run the real wschatd and talk to it, for the integration tests.

- Daemon starts $WSCHATD on 127.0.0.1:0 with a private config and database in
  a temporary directory, learns its port from the "listening on ADDR:PORT"
  log line and keeps every line of its output (stdout and stderr) so tests
  can wait for a line such as "slow consumer" (wait_log), or for a state
  the daemon announces with a line, looked at again at each line
  (wait_until). It can be killed (kill9) or stopped and started again on
  the same database, with extra environment such as WSCHAT_FAIL_STEP.
- Client wraps a websockets (10.x, asyncio) connection: send/recv with
  timeouts, cmd() and expect() (the reply is the next line), sub() and
  post(), expect_event(), and nothing_pending(), which proves that nothing
  was queued for a client by a PING/PONG round trip instead of waiting on
  a timer.
- RawWS and http_request() speak HTTP and RFC 6455 frames by hand, for the
  handshake and protocol-violation tests.
- WschatTestCase ties them together: every daemon a test starts is stopped
  with SIGTERM at the end, and the test fails if the daemon died on its own,
  did not exit 0, or printed a sanitizer report.
- For the journal tests: DB reads the live database (read-only), command()
  and sync() talk while events arrive, read_replay() and read_snapshot()
  read what a RESUME sends, expected_events() says by the documented rule
  what a client should have received, and JournalTestCase starts daemons
  fit for restarts and reconnects clients with a RESUME.
- main() runs the tests: exit 0 = pass, 1 = fail, 77 = skip (no $WSCHATD).

Nothing here synchronises with sleep: every wait is for a specific line,
message, close or exit, and fails the test when its timeout runs out. The
one poll is of a daemon's log file (log = a path), whose growth nothing
signals: wait_until() looks at it every 50 ms.
"""

import asyncio
import base64
import hashlib
import itertools
import json
import os
import shlex
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import websockets
import websockets.exceptions

TIMEOUT = 10.0			# default wait for anything
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "LeakSanitizer",		# also "LeakSanitizer has encountered a fatal error"
    "runtime error:",
    "WARNING: ThreadSanitizer",
    "ERROR: ThreadSanitizer",
)

LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
HELLO_RE = re.compile(r"^HELLO wschatd/(\S+) ([0-9A-Fa-f]+) (\d+)$")

# NICK, REGISTER and LOGIN answer with a token (43 characters of base64url).
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# The newest token each name was given, so that a test can come back as it
# (AUTH) the way a real client does; see token_reply().
TOKENS = {}


def token_reply(want, got):
    """A CONFIRM NICK/REGISTER/LOGIN <name> expectation written without the
    token matches the reply with one, and remembers the token. Returns
    whether got is want plus a well-formed token."""
    for verb in ("CONFIRM NICK ", "CONFIRM REGISTER ", "CONFIRM LOGIN "):
        if want.startswith(verb) and " " not in want[len(verb):] and \
                got.startswith(want + " "):
            token = got[len(want) + 1:]
            if TOKEN_RE.match(token):
                TOKENS[want[len(verb):]] = token
                return True
    return False


def daemon_path():
    """The daemon under test, or None."""
    path = os.environ.get("WSCHATD")
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return None


def debug_build():
    """Whether the build's config.h (next to the daemon) defines
    WSCHAT_DEBUG: the test hooks (WSCHAT_FAIL_STEP, WSCHAT_COMMIT_DELAY_MS)
    work only then. False when it cannot be found."""
    d = os.path.dirname(os.path.dirname(os.path.abspath(
        os.environ.get("WSCHATD", "/nonexistent/x/y"))))
    try:
        with open(os.path.join(d, "config.h"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    return re.search(r"^#define WSCHAT_DEBUG 1", text, re.M) is not None


def expected_version():
    """PACKAGE_VERSION from configure.ac's AC_INIT, or None if unknown."""
    srcdir = os.environ.get("WSCHAT_SRCDIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    try:
        with open(os.path.join(srcdir, "configure.ac"), encoding="utf-8") as f:
            m = re.search(r"AC_INIT\(\[[^\]]*\],\s*\[([^\]]+)\]", f.read())
            return m.group(1) if m else None
    except OSError:
        return None


def sanitizer_report(lines):
    """The first line of a sanitizer report in lines, or None."""
    for line in lines:
        for marker in SANITIZER_MARKERS:
            if marker in line:
                return line
    return None


def tail(lines, n=30):
    return "\n".join("    " + line for line in lines[-n:])


_tokens = itertools.count(1)


def next_token():
    """A word no other PING of this run carries, to match its PONG."""
    return "t%d" % next(_tokens)


# --- the daemon ------------------------------------------------------------

class Daemon:
    """One wschatd with its own config, database and log. It can be stopped
    or killed and started again on the same database: lines() keeps the
    output of every run, the port is the current run's."""

    def __init__(self, overrides=None, args=(), start=True, timeout=TIMEOUT,
                 prefix=()):
        self.path = daemon_path()
        if self.path is None:
            raise unittest.SkipTest("WSCHATD is not set to an executable")
        self.dir = tempfile.mkdtemp(prefix="wschat-test-")
        self.settings = {
            "listen": "127.0.0.1:0",
            "db": os.path.join(self.dir, "wschat.db"),
        }
        self.settings.update({k: str(v) for k, v in (overrides or {}).items()})
        self.conf = os.path.join(self.dir, "wschatd.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            for key, value in self.settings.items():
                f.write("%s = %s\n" % (key, value))
        log = self.settings.get("log", "stderr")
        self.log_path = None if log in ("stderr", "syslog") else log
        self.args = list(args)
        self.prefix = list(prefix)	# runs the daemon, as prlimit does
        self.timeout = timeout		# default for every wait below
        self.proc = None
        self.port = None
        self.rc = None
        self.signalled = False
        self.killed = False
        self._lines = []
        self._run_start = 0		# where the current run's output begins
        self._cond = threading.Condition()
        self._eof = False
        self._reader = None
        if start:
            self.start()

    # process control

    def start(self, env=None):
        """Start wschatd, or start it again after stop() or kill9(), and
        learn the port from this run's "listening on" line. env: extra
        environment, such as WSCHAT_FAIL_STEP (debug builds), which is
        never inherited from the caller's environment."""
        if self.alive():
            raise AssertionError("start(): wschatd is still running")
        if self.proc is not None and self.log_path is not None:
            raise AssertionError("start(): a restart cannot tell its "
                                 "'listening on' line from the last run's "
                                 "in one log file")
        full_env = dict(os.environ)
        full_env.pop("WSCHAT_FAIL_STEP", None)
        full_env.pop("WSCHAT_COMMIT_DELAY_MS", None)
        full_env.update(env or {})
        self.port = self.rc = None
        self.signalled = self.killed = False
        with self._cond:
            self._eof = False
            self._run_start = len(self._lines)
        # WSCHATD_WRAPPER runs the daemon under a tool (CI: valgrind).
        wrapper = shlex.split(os.environ.get("WSCHATD_WRAPPER", ""))
        self.proc = subprocess.Popen(
            self.prefix + wrapper + [self.path, "-f", self.conf, "-v"] +
            self.args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=self.dir, env=full_env)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        m = self.wait_log(LISTEN_RE, since=self._run_start,
                          what="the 'listening on' line")
        self.port = int(m.group(1))
        return self

    async def start_async(self, env=None):
        return await in_thread(self.start, env)

    def _drain(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.signalled = True
        self.proc.send_signal(sig)

    def wait(self, timeout=None):
        """Wait for the process to exit; fail the test if it does not."""
        timeout = self.timeout if timeout is None else timeout
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                "wschatd (pid %d) did not exit within %.1fs\nlast log lines:\n%s"
                % (self.proc.pid, timeout, tail(self.lines())))
        if self._reader is not None:
            self._reader.join(self.timeout)
            if not self._reader.is_alive():
                self.proc.stdout.close()
        return self.rc

    async def wait_async(self, timeout=None):
        """wait() without blocking the event loop."""
        return await in_thread(self.wait, timeout)

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Signal the daemon unless this run has already ended, wait for
        it, and fail the test if it died on its own, did not exit 0 (after
        kill9() any status will do) or any run printed a sanitizer report.
        Returns the exit code."""
        if self.rc is None and self.proc.poll() is not None and \
                not self.signalled:
            rc = self.proc.returncode
            self.wait()
            raise AssertionError(
                "wschatd died during the test (rc=%s)\nlast log lines:\n%s"
                % (rc, tail(self.lines(), 60)))
        if self.rc is None:
            if self.proc.poll() is None:
                self.send_signal(sig)
            try:
                self.wait(timeout)
            except AssertionError:
                self.kill()
                raise
        self.check_clean_exit(None if self.killed else self.rc)
        return self.rc

    async def stop_async(self, sig=signal.SIGTERM, timeout=None):
        return await in_thread(self.stop, sig, timeout)

    def kill9(self):
        """SIGKILL, as a crash would: the run's exit status is not checked,
        its output still is."""
        self.killed = True
        self.kill()

    async def kill9_async(self):
        return await in_thread(self.kill9)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.rc = self.proc.wait()
        if self._reader is not None:
            self._reader.join(self.timeout)
        if self.proc is not None and not self.proc.stdout.closed and \
                (self._reader is None or not self._reader.is_alive()):
            self.proc.stdout.close()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    # log

    def lines(self):
        """Every line so far: process output, then the log file if any."""
        with self._cond:
            out = list(self._lines)
        if self.log_path is not None:
            try:
                with open(self.log_path, encoding="utf-8",
                          errors="replace") as f:
                    out += f.read().splitlines()
            except OSError:
                pass
        return out

    def mark(self):
        """A position in the output, for wait_log(since=...)."""
        with self._cond:
            return len(self._lines)

    def log_matches(self, pattern, since=0):
        """re.Match of every line matching pattern, from position since
        (see mark()) of the output, or of the whole output and log file."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        with self._cond:
            lines = self._lines[since:]
        if self.log_path is not None and since == 0:
            lines = self.lines()
        return [m for m in map(rx.search, lines) if m]

    def log_search(self, pattern, since=0):
        """The first line matching pattern (as log_matches()), or None."""
        matches = self.log_matches(pattern, since)
        return matches[0] if matches else None

    def wait_until(self, check, what, timeout=None):
        """Wait until check() returns a true value, and return that. check
        runs again whenever the daemon prints a line, or every 50 ms while
        it logs to a file (nothing wakes us when a file grows). Fails when
        timeout runs out, or when the daemon exits first."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            exited = self.proc.poll() is not None
            with self._cond:
                seen, eof = len(self._lines), self._eof
            value = check()
            if value:
                return value
            if exited and eof:
                raise AssertionError(
                    "wschatd exited (rc=%s) while waiting for %s\noutput:\n%s"
                    % (self.proc.returncode, what, tail(self.lines())))
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "timed out after %.1fs waiting for %s\nlast log lines:\n%s"
                    % (timeout, what, tail(self.lines())))
            poll = min(left, 0.05) if self.log_path is not None else left
            with self._cond:
                if len(self._lines) != seen:
                    continue		# a line came while check() ran
                if not self._eof:
                    self._cond.wait(poll)
                    continue
            # Its output has ended, so it is exiting: wait for that.
            try:
                self.proc.wait(poll)
            except subprocess.TimeoutExpired:
                pass

    async def wait_until_async(self, check, what, timeout=None):
        return await in_thread(self.wait_until, check, what, timeout)

    def wait_log(self, pattern, timeout=None, since=0, what=None, count=1):
        """Wait for count lines matching pattern (as log_matches()); returns
        the re.Match of the count-th."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern

        def found():
            matches = self.log_matches(rx, since)
            return matches[count - 1] if len(matches) >= count else None
        if what is None:
            what = "a log line matching %r" % rx.pattern
        return self.wait_until(found, what, timeout)

    async def wait_log_async(self, pattern, timeout=None, since=0, what=None,
                             count=1):
        return await in_thread(self.wait_log, pattern, timeout, since, what,
                               count)

    # health

    def check_clean_exit(self, rc):
        """Fail if any run's output has a sanitizer report, or unless rc is
        0 (rc None: any exit status)."""
        report = sanitizer_report(self.lines())
        if report is not None:
            raise AssertionError("wschatd printed a sanitizer report: %s\n%s"
                                 % (report, tail(self.lines(), 60)))
        if rc is not None and rc != 0:
            raise AssertionError("wschatd exited with %s (expected 0)\n"
                                 "last log lines:\n%s" % (rc, tail(self.lines())))

    # addresses

    @property
    def db(self):
        return self.settings["db"]

    @property
    def url(self):
        return "ws://127.0.0.1:%d/ws" % self.port

    @property
    def hostport(self):
        return "127.0.0.1:%d" % self.port


async def in_thread(fn, *args):
    """fn(*args) in a worker thread, so the event loop keeps running."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


# --- raw HTTP and frames ---------------------------------------------------

def ws_key(nbytes=16):
    return base64.b64encode(os.urandom(nbytes)).decode("ascii")


def accept_for(key):
    digest = hashlib.sha1((key + WS_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


class Response:
    """An HTTP response read off a raw socket."""

    def __init__(self, version, status, reason, headers, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers		# [(name, value)] in order
        self.body = body

    def header(self, name):
        """The value of the first header called name, or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_tokens(self, name):
        """Comma-separated tokens of every header called name, lower case."""
        out = []
        for k, v in self.headers:
            if k.lower() == name.lower():
                out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def __repr__(self):
        return "<HTTP %s %s %r headers=%r body=%r>" % (
            self.status, self.reason, self.version, self.headers,
            self.body[:200])


def upgrade_request(host, path="/ws", method="GET", version="HTTP/1.1",
                    key=None, headers=None, body=b""):
    """Bytes of a WebSocket upgrade request. headers: {name: value or None};
    None removes a default header."""
    hdrs = {
        "Host": host,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key if key is not None else ws_key(),
        "Sec-WebSocket-Version": "13",
    }
    for k, v in (headers or {}).items():
        hdrs[k] = v
    lines = ["%s %s %s" % (method, path, version)]
    lines += ["%s: %s" % (k, v) for k, v in hdrs.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def plain_request(host, path, method="GET", headers=None):
    hdrs = {"Host": host, "Connection": "close"}
    hdrs.update(headers or {})
    lines = ["%s %s HTTP/1.1" % (method, path)]
    lines += ["%s: %s" % (k, v) for k, v in hdrs.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class PeerClosed(Exception):
    """The server closed the TCP connection (EOF or reset)."""


class Sock:
    """A blocking TCP socket with a read buffer and deadlines."""

    def __init__(self, port, rcvbuf=None, nodelay=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect, so the window is negotiated small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(TIMEOUT)
        try:
            self.sock.connect(("127.0.0.1", port))
        except BaseException:
            self.sock.close()
            raise
        self.buf = b""

    def sendall(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline, what):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out waiting for %s" % what)
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("timed out waiting for %s (have %r)"
                                 % (what, self.buf[:200]))
        except ConnectionResetError:
            raise PeerClosed("connection reset by the server while waiting "
                             "for %s" % what)
        if not data:
            raise PeerClosed("server closed the connection while waiting "
                             "for %s (have %r)" % (what, self.buf[:200]))
        self.buf += data

    def read_exact(self, n, deadline, what="data"):
        while len(self.buf) < n:
            self._fill(deadline, what)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until(self, sep, deadline, what="data"):
        while sep not in self.buf:
            self._fill(deadline, what)
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_to_eof(self, timeout=TIMEOUT):
        """Everything until the server closes; fails on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline, "the server to close the connection")
            except PeerClosed:
                out, self.buf = self.buf, b""
                return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def read_response(s, timeout=TIMEOUT, body=True):
    """Read an HTTP response head (and body unless body=False)."""
    deadline = time.monotonic() + timeout
    head = s.read_until(b"\r\n\r\n", deadline, "an HTTP response")
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
    if not m:
        raise AssertionError("bad HTTP status line: %r" % lines[0])
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    resp = Response(m.group(1), int(m.group(2)), m.group(3) or "", headers, b"")
    if body and resp.status != 101:
        clen = resp.header("Content-Length")
        te = resp.header("Transfer-Encoding")
        if clen is not None:
            resp.body = s.read_exact(int(clen), deadline, "the response body")
        elif te is not None and "chunked" in te.lower():
            chunks = []
            while True:
                size = int(s.read_until(b"\r\n", deadline, "a chunk size")
                           .split(b";")[0], 16)
                if size == 0:
                    s.read_until(b"\r\n", deadline, "the last chunk")
                    break
                chunks.append(s.read_exact(size, deadline, "a chunk"))
                s.read_exact(2, deadline, "a chunk end")
            resp.body = b"".join(chunks)
        else:
            resp.body = s.read_to_eof(max(0.0, deadline - time.monotonic()))
    return resp


def http_request(port, request, timeout=TIMEOUT):
    """Send raw request bytes on a new connection; returns the Response.
    The socket is closed unless the response is 101."""
    s = Sock(port)
    try:
        s.sendall(request)
        resp = read_response(s, timeout)
    finally:
        s.close()
    return resp


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None,
          length=None):
    """Bytes of one frame. rsv is the 3-bit RSV1-3 field; length overrides
    the encoded payload length (the payload is still appended as given)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def close_payload(code, reason=""):
    return struct.pack("!H", code) + reason.encode("utf-8")


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode = fin, rsv, opcode
        self.masked, self.payload = masked, payload

    def close_info(self):
        """(code, reason) of a close frame; code None if empty."""
        if len(self.payload) < 2:
            return None, ""
        code = struct.unpack("!H", self.payload[:2])[0]
        return code, self.payload[2:].decode("utf-8")

    def __repr__(self):
        return "<frame op=%#x fin=%d rsv=%d masked=%d %r>" % (
            self.opcode, self.fin, self.rsv, self.masked, self.payload[:120])


class ServerClosed(AssertionError):
    """A data message was expected but a close frame came."""

    def __init__(self, code, reason):
        AssertionError.__init__(self, "server closed the WebSocket: code=%s "
                                "reason=%r" % (code, reason))
        self.code, self.reason = code, reason


class RawWS:
    """A hand-driven WebSocket client on a raw socket."""

    def __init__(self, sock, response):
        self.s = sock
        self.response = response
        self.pongs = []			# payloads of pongs received
        self.pings = []			# payloads of pings received

    @classmethod
    def connect(cls, port, host=None, path="/ws", headers=None, extra=b"",
                rcvbuf=None, check=True):
        """Handshake (plus extra bytes in the same write); with check, fail
        unless the answer is 101 with the right Sec-WebSocket-Accept."""
        s = Sock(port, rcvbuf=rcvbuf)
        key = ws_key()
        try:
            s.sendall(upgrade_request(host or "127.0.0.1:%d" % port, path,
                                      key=key, headers=headers) + extra)
            resp = read_response(s, body=False)
        except BaseException:
            s.close()
            raise
        if check:
            if resp.status != 101:
                s.close()
                raise AssertionError("handshake answered %r, expected 101"
                                     % resp)
            want = accept_for(key)
            got = resp.header("Sec-WebSocket-Accept")
            if got != want:
                s.close()
                raise AssertionError("Sec-WebSocket-Accept is %r, expected %r"
                                     % (got, want))
        return cls(s, resp)

    def send(self, data):
        self.s.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.s.sendall(frame(opcode, payload, **kw))

    def send_text(self, line):
        self.send_frame(OP_TEXT, line.encode("utf-8"))

    def send_lines(self, lines):
        """One text message per line, all in one write (pipelined)."""
        self.s.sendall(b"".join(frame(OP_TEXT, line) for line in lines))

    def read_frame(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        b0, b1 = self.s.read_exact(2, deadline, "a frame header")
        fin, rsv, opcode = b0 >> 7, (b0 >> 4) & 7, b0 & 0x0F
        masked, n = b1 >> 7, b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.s.read_exact(2, deadline, "a length"))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.s.read_exact(8, deadline, "a length"))[0]
        key = self.s.read_exact(4, deadline, "a mask") if masked else None
        payload = self.s.read_exact(n, deadline, "a frame payload")
        if key:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        f = Frame(fin, rsv, opcode, masked, payload)
        if masked:
            raise AssertionError("server sent a masked frame: %r" % f)
        if rsv:
            raise AssertionError("server sent a frame with RSV bits: %r" % f)
        return f

    def read_message(self, timeout=TIMEOUT, auto_pong=True):
        """The next data message as (opcode, bytes). Pings are answered (and
        recorded), pongs recorded; a close frame raises ServerClosed."""
        deadline = time.monotonic() + timeout
        parts, op = [], None
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f.opcode == OP_PING:
                self.pings.append(f.payload)
                if auto_pong:
                    self.send_frame(OP_PONG, f.payload)
                continue
            if f.opcode == OP_PONG:
                self.pongs.append(f.payload)
                continue
            if f.opcode == OP_CLOSE:
                code, reason = f.close_info()
                raise ServerClosed(code, reason)
            if f.opcode == OP_CONT:
                if op is None:
                    raise AssertionError("server sent a continuation frame "
                                         "with no message open")
            elif f.opcode in (OP_TEXT, OP_BINARY):
                if op is not None:
                    raise AssertionError("server started a message inside a "
                                         "fragmented one")
                op = f.opcode
            else:
                raise AssertionError("server sent reserved opcode: %r" % f)
            parts.append(f.payload)
            if f.fin:
                return op, b"".join(parts)

    def read_text(self, timeout=TIMEOUT):
        op, data = self.read_message(timeout)
        if op != OP_TEXT:
            raise AssertionError("server sent a binary message: %r" % data[:100])
        return data.decode("utf-8")

    def expect(self, line, timeout=TIMEOUT):
        got = self.read_text(timeout)
        if got != line and not token_reply(line, got):
            raise AssertionError("expected %r, got %r" % (line, got))
        return got

    def read_hello(self):
        hello = self.read_text()
        if not HELLO_RE.match(hello):
            raise AssertionError("first message is not a HELLO: %r" % hello)
        return hello

    def expect_close(self, code, timeout=TIMEOUT, allow_data=False,
                     reply=True, expect_eof=True):
        """Read up to the server's close frame; fail unless its code is
        code and it has a non-empty UTF-8 reason. Data messages before it
        fail the test unless allow_data (then they are returned). With
        reply, answer the close; with expect_eof, then wait for the server
        to close the TCP connection. Returns (reason, data messages)."""
        deadline = time.monotonic() + timeout
        data = []
        while True:
            try:
                f = self.read_frame(max(0.0, deadline - time.monotonic()))
            except PeerClosed as e:
                raise AssertionError("expected a close frame with code %d, "
                                     "but: %s" % (code, e))
            if f.opcode == OP_CLOSE:
                break
            if f.opcode == OP_PING:
                self.pings.append(f.payload)
                continue
            if f.opcode == OP_PONG:
                self.pongs.append(f.payload)
                continue
            if not allow_data:
                raise AssertionError("expected a close frame with code %d, "
                                     "got %r" % (code, f))
            data.append(f)
        if len(f.payload) < 2:
            raise AssertionError("close frame has no status code (payload "
                                 "%r); expected %d with a reason"
                                 % (f.payload, code))
        try:
            got, reason = f.close_info()
        except UnicodeDecodeError:
            raise AssertionError("close reason is not UTF-8: %r" % f.payload)
        if got != code:
            raise AssertionError("close code is %d (reason %r), expected %d"
                                 % (got, reason, code))
        if not reason.strip():
            raise AssertionError("close frame with code %d has no reason; "
                                 "every close must carry one" % code)
        if reply:
            try:
                self.send_frame(OP_CLOSE, close_payload(code))
            except OSError:
                pass
        if expect_eof:
            try:
                rest = self.s.read_to_eof()
            except ConnectionResetError:
                rest = b""
            if rest:
                raise AssertionError("server sent %r after its close frame"
                                     % rest[:100])
        return reason, data

    def close(self):
        self.s.close()


# --- websockets clients ----------------------------------------------------

class ClientClosed(AssertionError):
    def __init__(self, who, code, reason, what):
        AssertionError.__init__(
            self, "%s: connection closed (code=%s reason=%r) while waiting "
            "for %s" % (who, code, reason, what))
        self.code, self.reason = code, reason


class Client:
    """A websockets connection speaking the wschat line protocol. Every
    wait defaults to the timeout it was connected with."""

    _count = 0

    def __init__(self, ws, hello, name, timeout):
        self.ws = ws
        self.hello = hello
        self.name = name
        self.timeout = timeout
        m = HELLO_RE.match(hello)
        self.version, self.epoch, self.head = \
            m.group(1), m.group(2), int(m.group(3))
        self.last_sent = None

    @classmethod
    async def connect(cls, url, name=None, timeout=TIMEOUT, **kw):
        cls._count += 1
        name = name or "client%d" % cls._count
        kw.setdefault("compression", None)
        kw.setdefault("ping_interval", None)
        kw.setdefault("close_timeout", 5)
        kw.setdefault("max_size", None)
        kw.setdefault("open_timeout", timeout)
        try:
            ws = await asyncio.wait_for(websockets.connect(url, **kw), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("%s: could not connect to %s within %.1fs"
                                 % (name, url, timeout))
        try:
            hello = await asyncio.wait_for(ws.recv(), timeout)
        except asyncio.TimeoutError:
            await ws.close()
            raise AssertionError("%s: no HELLO within %.1fs" % (name, timeout))
        except websockets.exceptions.ConnectionClosed as e:
            raise AssertionError("%s: closed before HELLO: %s" % (name, e))
        if not isinstance(hello, str):
            raise AssertionError("%s: HELLO is a binary message: %r"
                                 % (name, hello))
        if not HELLO_RE.match(hello):
            await ws.close()
            raise AssertionError("%s: first message is not 'HELLO wschatd/<ver>"
                                 " <epoch> <seq>': %r" % (name, hello))
        return cls(ws, hello, name, timeout)

    async def send(self, line):
        self.last_sent = line
        try:
            await asyncio.wait_for(self.ws.send(line), self.timeout)
        except asyncio.TimeoutError:
            raise AssertionError("%s: send of %r blocked for %.1fs"
                                 % (self.name, line[:80], self.timeout))

    async def recv(self, timeout=None, what="a message"):
        timeout = self.timeout if timeout is None else timeout
        try:
            msg = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("%s: no %s within %.1fs (last sent: %r)"
                                 % (self.name, what, timeout, self.last_sent))
        except websockets.exceptions.ConnectionClosed as e:
            code, reason = closed_info(e)
            raise ClientClosed(self.name, code, reason, what)
        if not isinstance(msg, str):
            raise AssertionError("%s: server sent a binary message: %r"
                                 % (self.name, msg[:100]))
        return msg

    async def expect(self, line, timeout=None):
        got = await self.recv(timeout, what=repr(line))
        if got != line and not token_reply(line, got):
            raise AssertionError("%s: expected %r, got %r (last sent: %r)"
                                 % (self.name, line, got, self.last_sent))
        return got

    async def expect_prefix(self, prefix, timeout=None):
        got = await self.recv(timeout, what="a line starting with %r" % prefix)
        if not got.startswith(prefix):
            raise AssertionError("%s: expected a line starting with %r, got %r"
                                 " (last sent: %r)"
                                 % (self.name, prefix, got, self.last_sent))
        return got

    async def expect_match(self, pattern, timeout=None):
        got = await self.recv(timeout, what="a line matching %r" % pattern)
        m = re.fullmatch(pattern, got)
        if not m:
            raise AssertionError("%s: expected a line matching %r, got %r "
                                 "(last sent: %r)"
                                 % (self.name, pattern, got, self.last_sent))
        return m

    async def cmd(self, line, reply, timeout=None):
        """Send a command and expect exactly this reply."""
        await self.send(line)
        return await self.expect(reply, timeout)

    async def identify(self, nick, events=None):
        """Become nick: a guest by NICK, or, when the name already has an
        account this test made (its token is in TOKENS), by AUTH. With
        events (a list), a connection that already holds intents collects
        the events that arrive before the reply there."""
        if nick in TOKENS:
            await self.send("AUTH " + TOKENS[nick])
            if events is None:
                got = await self.recv(what="CONFIRM AUTH " + nick)
            else:
                lines = await read_until(self, lambda l: not l.startswith(
                    "EVENT "), "the reply to AUTH")
                events.extend(lines[:-1])
                got = lines[-1]
            if got == "CONFIRM AUTH " + nick:
                return
            if not got.startswith("ERROR BADLOGIN "):
                raise AssertionError("%s: AUTH as %s: %r" % (self.name, nick,
                                                             got))
            del TOKENS[nick]	# from another daemon's journal
        if events is None:
            await self.cmd("NICK " + nick, "CONFIRM NICK " + nick)
        else:
            await command(self, "NICK " + nick, "CONFIRM NICK " + nick,
                          events)

    async def cmd_prefix(self, line, prefix, timeout=None):
        await self.send(line)
        got = await self.expect_prefix(prefix, timeout)
        if prefix.endswith(" "):
            token_reply(prefix[:-1], got)	# remember a token it gave
        return got

    async def sub(self, channel, create=False):
        """SUB channel, after CREATE channel if create. Each reply must be
        the next line: a client with the user or channel intent gets its
        own event first, and uses command() instead."""
        if create:
            await self.cmd("CREATE " + channel, "CONFIRM CREATE " + channel)
        await self.cmd("SUB " + channel, "CONFIRM SUB " + channel)

    async def post(self, channel, texts):
        """One MSG to channel per text, all sent before any CONFIRM is read
        (so one text is one round trip); each CONFIRM MSG must be the next
        line. Returns their seqs."""
        texts = list(texts)
        for text in texts:
            await self.send("MSG %s %s" % (channel, text))
        rx = r"CONFIRM MSG %s (0|[1-9]\d*)" % re.escape(channel)
        return [int((await self.expect_match(rx)).group(1)) for _ in texts]

    async def expect_event(self, type_, action, resource, timeout=None):
        """Expect 'EVENT type action resource {json}'; returns the object."""
        line = await self.recv(timeout, what="EVENT %s %s %s"
                               % (type_, action, resource))
        ev = parse_event(line, self.name)
        if ev[:3] != (type_, action, resource):
            raise AssertionError("%s: expected EVENT %s %s %s, got %r"
                                 % (self.name, type_, action, resource, line))
        return ev[3]

    async def nothing_pending(self, token=None):
        """Prove nothing is queued for this client: replies and events
        arrive in order, so the answer to a PING comes after them."""
        token = token or next_token()
        await self.send("PING " + token)
        got = await self.recv(what="PONG " + token)
        if got != "PONG " + token:
            raise AssertionError("%s: expected nothing before 'PONG %s', got %r"
                                 % (self.name, token, got))

    async def expect_close(self, code, timeout=None, allow_messages=False):
        """Wait for the server to close with code and a non-empty reason.
        Returns (reason, messages received before the close)."""
        timeout = self.timeout if timeout is None else timeout
        msgs = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                msg = await asyncio.wait_for(self.ws.recv(), max(left, 0.001))
            except asyncio.TimeoutError:
                raise AssertionError("%s: not closed (expected %d) within %.1fs"
                                     % (self.name, code, timeout))
            except websockets.exceptions.ConnectionClosed as e:
                got, reason = closed_info(e)
                break
            if not allow_messages:
                raise AssertionError("%s: expected close %d, got message %r"
                                     % (self.name, code, msg))
            msgs.append(msg)
        if got != code:
            raise AssertionError("%s: closed with code %s (reason %r), "
                                 "expected %d" % (self.name, got, reason, code))
        if not reason:
            raise AssertionError("%s: close %d carries no reason; every close "
                                 "must have one" % (self.name, code))
        return reason, msgs

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), self.timeout)
        except (asyncio.TimeoutError, OSError,
                websockets.exceptions.WebSocketException):
            pass

    async def wait_closed(self, timeout=None):
        """Close and wait until the TCP connection is gone."""
        timeout = self.timeout if timeout is None else timeout
        await self.close()
        try:
            await asyncio.wait_for(self.ws.wait_closed(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("%s: TCP connection still open %.1fs after "
                                 "the close handshake" % (self.name, timeout))


def closed_info(exc):
    """(code, reason) the server sent in a ConnectionClosed, or (None, '')."""
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is None:
        return None, ""
    return rcvd.code, rcvd.reason


def parse_event(line, who="client"):
    """'EVENT type action resource json' -> (type, action, resource, obj)."""
    parts = line.split(" ", 4)
    if len(parts) != 5 or parts[0] != "EVENT":
        raise AssertionError("%s: expected an EVENT line, got %r" % (who, line))
    try:
        obj = json.loads(parts[4])
    except ValueError as e:
        raise AssertionError("%s: event JSON does not parse (%s): %r"
                             % (who, e, line))
    if not isinstance(obj, dict):
        raise AssertionError("%s: event JSON is not an object: %r" % (who, line))
    for key in ("seq", "ts"):
        if not isinstance(obj.get(key), int) or isinstance(obj.get(key), bool):
            raise AssertionError("%s: event %r has no integer %r"
                                 % (who, line, key))
    if not isinstance(obj.get("username"), str):
        raise AssertionError("%s: event %r has no string username" % (who, line))
    return parts[1], parts[2], parts[3], obj


# --- the journal, read while the daemon runs ---------------------------------

SLOW_TIMEOUT = 15.0		# journal tests: restarts, long replays, busy writer
ALL_INTENTS = ("channel", "user", "message")


class DB:
    """A read-only connection to the live journal (it is in WAL mode; that
    is a supported admin use); every query sees the latest commit
    (autocommit, no long read transaction)."""

    COLS = "seq, ts, type, action, resource, actor, data"

    def __init__(self, tc, path):
        uri = "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path))
        self.con = sqlite3.connect(uri, uri=True, timeout=SLOW_TIMEOUT,
                                   isolation_level=None,
                                   check_same_thread=False)
        tc.addCleanup(self.con.close)

    def q(self, sql, *args):
        return self.con.execute(sql, args).fetchall()

    def one(self, sql, *args):
        rows = self.q(sql, *args)
        return rows[0][0] if rows else None

    def head(self):
        return self.one("SELECT coalesce(max(seq), 0) FROM events")

    def event(self, seq):
        rows = self.q("SELECT %s FROM events WHERE seq = ?" % self.COLS, seq)
        return rows[0] if rows else None

    def events(self, after=0, upto=None):
        if upto is None:
            upto = 1 << 62
        return self.q("SELECT %s FROM events WHERE seq > ? AND seq <= ? "
                      "ORDER BY seq" % self.COLS, after, upto)

    def channels(self):
        return [r[0] for r in self.q(
            "SELECT name FROM channels ORDER BY created_seq")]

    def subs(self, user):
        return [r[0] for r in self.q(
            "SELECT channel FROM memberships WHERE user = ? "
            "ORDER BY joined_seq", user)]


def wschatctl_path():
    """The admin tool under test ($WSCHATCTL), or None."""
    path = os.environ.get("WSCHATCTL")
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return None


def wschatctl(db, *args, timeout=SLOW_TIMEOUT, stdin=None):
    """Run wschatctl -d db args (stdin: bytes to feed it, such as a
    password); returns (status, stdout, stderr), or None if $WSCHATCTL is
    not an executable."""
    path = wschatctl_path()
    if path is None:
        return None
    argv = [path, "-d", db] + list(args)
    try:
        r = subprocess.run(argv, input=stdin,
                           stdin=subprocess.DEVNULL if stdin is None else None,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s did not finish within %.1fs" % (argv, timeout))
    return r.returncode, r.stdout.decode("utf-8", "replace"), \
        r.stderr.decode("utf-8", "replace")


def wire(row):
    """The EVENT line a journal row stands for."""
    return "EVENT %s %s %s %s" % (row[2], row[3], row[4], row[6])


def seq_of(line):
    return parse_event(line)[3]["seq"]


def expected_events(db, user, intents, after, upto):
    """The EVENT lines a connection of user with these intents receives live
    for seqs in (after, upto], by the rule in docs/PROTOCOL.md: channel and
    user events by intent; message events by intent if user was a member of
    the channel when the event happened. Needs the whole journal."""
    rows = db.events()
    if rows and rows[0][0] != 1:
        raise AssertionError("expected_events needs an unpruned journal "
                             "(it starts at seq %d)" % rows[0][0])
    member = set()
    out = []
    for row in rows:
        seq, _, typ, action, resource, actor = row[:6]
        if after < seq <= upto and typ in intents and \
                (typ != "message" or resource in member):
            out.append(wire(row))
        if typ == "user" and actor == user:
            if action == "JOIN":
                member.add(resource)
            elif action == "PART":
                member.discard(resource)
    return out


def parse_snapshot(lines):
    """Check the shape of a SNAPSHOT BEGIN..END block; returns its parts."""
    snap = {"channels": [], "subs": [], "members": {}, "messages": {}}
    order = ["BEGIN", "CHANNEL", "SUB", "MEMBER", "MESSAGE", "END"]
    at = 0
    for i, line in enumerate(lines):
        parts = line.split(" ", 3)
        if parts[0] != "SNAPSHOT" or len(parts) < 3:
            raise AssertionError("not a snapshot line: %r" % line)
        kind = parts[1]
        if kind not in order:
            raise AssertionError("unknown snapshot line: %r" % line)
        k = order.index(kind)
        if k < at or (kind == "BEGIN" and i != 0) or \
                (kind == "END" and i != len(lines) - 1):
            raise AssertionError("snapshot line %r out of the documented "
                                 "order (BEGIN, CHANNEL, SUB, MEMBER, "
                                 "MESSAGE, END): %r" % (line, lines))
        at = k
        if kind in ("BEGIN", "END"):
            if not re.fullmatch(r"SNAPSHOT (BEGIN|END) \d+", line):
                raise AssertionError("bad snapshot line %r" % line)
            snap[kind] = int(parts[2])
        elif kind == "CHANNEL":
            snap["channels"].append((parts[2], json.loads(parts[3])))
        elif kind == "SUB":
            if len(parts) != 3:
                raise AssertionError("bad snapshot line %r" % line)
            snap["subs"].append(parts[2])
        elif kind == "MEMBER":
            if len(parts) != 4 or " " in parts[3]:
                raise AssertionError("bad snapshot line %r" % line)
            snap["members"].setdefault(parts[2], []).append(parts[3])
        elif kind == "MESSAGE":
            snap["messages"].setdefault(parts[2], []).append(parts[3])
    if "BEGIN" not in snap or "END" not in snap:
        raise AssertionError("snapshot without BEGIN or END: %r" % lines)
    if snap["BEGIN"] != snap["END"]:
        raise AssertionError("SNAPSHOT BEGIN %d but END %d"
                             % (snap["BEGIN"], snap["END"]))
    return snap


# --- talking while events arrive ---------------------------------------------

async def read_until(c, pred, what, timeout=SLOW_TIMEOUT):
    """Lines up to and including the first one pred accepts."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("%s: no %s within %.1fs; got %r"
                                 % (c.name, what, timeout, out[-10:]))
        line = await c.recv(left, what=what)
        out.append(line)
        if pred(line):
            return out


async def read_replay(c, what):
    """A RESUME's replay, which must end in RESUMED <head> <count>.
    Returns (events, head, count)."""
    lines = await read_until(c, lambda l: not l.startswith("EVENT "),
                             "RESUMED after %s" % what)
    m = re.fullmatch(r"RESUMED (0|[1-9]\d*) (0|[1-9]\d*)", lines[-1])
    if m is None:
        raise AssertionError("%s: expected a replay ending in RESUMED "
                             "<head> <count>, got %r (after %d events)"
                             % (what, lines[-1], len(lines) - 1))
    return lines[:-1], int(m.group(1)), int(m.group(2))


async def read_snapshot(c, what):
    """A snapshot (SNAPSHOT BEGIN <seq> .. SNAPSHOT END <seq>), where what
    (a RESUME that cannot replay, or a SNAPSHOT) must have sent one.
    Returns its lines."""
    lines = await read_until(c, lambda l: l.startswith("SNAPSHOT END")
                             or not l.startswith("SNAPSHOT "),
                             "SNAPSHOT END after %s" % what)
    if not lines[0].startswith("SNAPSHOT BEGIN "):
        raise AssertionError("%s: expected SNAPSHOT BEGIN <seq> (not a "
                             "replay), got %r" % (what, lines[0]))
    if not lines[-1].startswith("SNAPSHOT END "):
        raise AssertionError("%s: snapshot ended with %r" % (what, lines[-1]))
    return lines


async def sync(c, events=None):
    """PING/PONG: everything queued for c before it is read; it must all be
    EVENT lines (appended to events)."""
    t = next_token()
    await c.send("PING " + t)
    lines = await read_until(c, lambda l: l == "PONG " + t, "PONG " + t)
    for line in lines[:-1]:
        if not line.startswith("EVENT "):
            raise AssertionError("%s: expected only events before PONG %s, "
                                 "got %r" % (c.name, t, line))
        if events is not None:
            events.append(line)
    return lines[:-1]


async def post_until(c, channel, stop, most, started=None):
    """c posts "live <n>" to channel, one MSG at a time, until stop (an
    asyncio.Event) is set or most were posted, to keep the writer busy
    while the test does something else; started, if given, is set once 3
    were (or at the end). Returns how many were posted."""
    n = 0
    try:
        while not stop.is_set() and n < most:
            await c.post(channel, ["live %d" % n])
            n += 1
            if n == 3 and started is not None:
                started.set()
    finally:
        if started is not None:
            started.set()
    return n


async def command(c, line, reply, events=None):
    """Send a command; collect events until its reply, which must equal
    reply (a str) or fully match it (a compiled regex). Returns the reply."""
    await c.send(line)
    lines = await read_until(c, lambda l: not l.startswith("EVENT "),
                             "the reply to %r" % line)
    if events is not None:
        events.extend(lines[:-1])
    got = lines[-1]
    if isinstance(reply, str):
        ok = got == reply or token_reply(reply, got)
    else:
        ok = reply.fullmatch(got) is not None
    if not ok:
        raise AssertionError("%s: sent %r, expected %r, got %r"
                             % (c.name, line, getattr(reply, "pattern", reply),
                                got))
    return got


# --- the test case ---------------------------------------------------------

class WschatTestCase(unittest.IsolatedAsyncioTestCase):
    """Base class: daemons and connections opened through it are closed and
    checked at the end of each test."""

    def setUp(self):
        if daemon_path() is None:
            self.skipTest("WSCHATD is not set to an executable")
        self._clients = []
        self._raws = []
        TOKENS.clear()		# tokens of another test's journal open nothing

    async def asyncSetUp(self):
        # Raw-socket steps block the loop on purpose; do not let asyncio's
        # debug mode report them as slow callbacks.
        asyncio.get_running_loop().slow_callback_duration = 3600

    def daemon(self, **overrides):
        """Start a wschatd with these config settings; it is stopped (and
        its exit checked) when the test ends."""
        return self.new_daemon(overrides)

    def new_daemon(self, overrides=None, start=True, timeout=TIMEOUT,
                   prefix=()):
        """daemon() with start=False (the test calls start(), perhaps with
        an env), a default timeout for the daemon's waits, and a prefix
        command that runs it (such as prlimit --nofile=256)."""
        d = Daemon(overrides, start=False, timeout=timeout, prefix=prefix)
        self.addCleanup(self._reap, d)
        if start:
            d.start()
        return d

    def _reap(self, d):
        try:
            for r in self._raws:
                r.close()
            if d.proc is None or d.port is None:
                return		# never started, or start() failed and said why
            d.stop()
        finally:
            d.kill()
            d.cleanup()

    async def client(self, d, nick=None, intents=(), name=None, **kw):
        """A Client of d (its waits default to d's timeout) named nick, if
        given, holding these intents; name labels it in failures (default:
        nick). Each NICK and SUBEVENT must be confirmed by the next line."""
        kw.setdefault("timeout", d.timeout)
        c = await Client.connect(d.url, name=name or nick, **kw)
        self._clients.append(c)
        if nick is not None:
            await c.identify(nick)
        for i in intents:
            await c.cmd("SUBEVENT " + i, "CONFIRM SUBEVENT " + i)
        return c

    def raw(self, d, **kw):
        """A RawWS (RawWS.connect's options) past its HELLO, which it keeps
        as r.hello."""
        r = RawWS.connect(d.port, **kw)
        self._raws.append(r)
        r.hello = r.read_hello()
        return r

    def assert_closes(self, d, data, code, what=None):
        """A new raw WebSocket sends data (bytes of frames) and must be
        closed with code and a reason (RawWS.expect_close); returns the
        reason. what names the case in the failure."""
        ws = self.raw(d)
        ws.send(data)
        try:
            reason, _ = ws.expect_close(code)
        except AssertionError as e:
            if what is None:
                raise
            raise AssertionError("%s: %s" % (what, e)) from None
        return reason

    def sock(self, d, **kw):
        s = Sock(d.port, **kw)
        self._raws.append(s)
        return s

    def slow_subscriber(self, d, channel):
        """A raw client (4 KB receive buffer) named slow that joins channel
        with the message intent; it reads nothing more unless told to."""
        slow = self.raw(d, rcvbuf=4096)
        for line in ("NICK slow", "SUB " + channel, "SUBEVENT message"):
            slow.send_text(line)
            slow.expect("CONFIRM " + line)
        return slow

    async def assert_alive(self, d):
        """The daemon still serves: a new client gets HELLO and a PONG."""
        c = await self.client(d, name="alive-check")
        await c.nothing_pending("alive")
        await c.close()

    async def asyncTearDown(self):
        for c in self._clients:
            await c.close()
        for r in self._raws:
            r.close()


class JournalTestCase(WschatTestCase):
    """For tests of the journal behind the wire: daemons they can restart
    on the same database, with no rate limit or pings in the way, and
    longer waits (SLOW_TIMEOUT) for them and their clients."""

    def server(self, overrides=None, start=True):
        settings = {"rate_limit": 0, "ping_interval": 0}
        settings.update(overrides or {})
        return self.new_daemon(settings, start, SLOW_TIMEOUT)

    async def reconnect(self, d, nick, intents, resume, name=None,
                        rcvbuf=None):
        """A client coming back: NICK, its SUBEVENTs and resume (a RESUME
        or SNAPSHOT line, or None) sent at once; returns it after the NICK
        and SUBEVENT confirmations. rcvbuf shrinks its socket's receive
        buffer (so the server must wait for it to read)."""
        kw = {}
        if rcvbuf is not None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            # A small MSS keeps the server's send buffer small, too.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
            sock.settimeout(d.timeout)
            sock.connect(("127.0.0.1", d.port))
            sock.setblocking(False)
            kw["sock"] = sock
        c = await self.client(d, name=name or nick, **kw)
        # A name once given a token comes back with it; a new one takes NICK.
        ident = ("AUTH " + TOKENS[nick]) if nick in TOKENS else "NICK " + nick
        cmds = [ident] + ["SUBEVENT " + i for i in intents]
        if resume is not None:
            cmds.append(resume)
        await asyncio.wait_for(asyncio.gather(
            *[c.ws.send(line) for line in cmds]), c.timeout)
        c.last_sent = resume
        await c.expect(("CONFIRM AUTH " if ident.startswith("AUTH ") else
                        "CONFIRM NICK ") + nick)
        for i in intents:
            await c.expect("CONFIRM SUBEVENT " + i)
        return c


def main(daemon_required=False):
    """unittest.main with automake's exit codes: 0 pass, 1 fail, 77 skip.
    daemon_required: without $WSCHATD, or with no test run, fail instead."""
    if daemon_path() is None:
        if daemon_required:
            print("FAIL: WSCHATD is not set to an executable", file=sys.stderr)
            sys.exit(1)
        print("SKIP: WSCHATD is not set to an executable", file=sys.stderr)
        sys.exit(77)
    prog = unittest.main(exit=False, verbosity=2)
    result = prog.result
    if not result.wasSuccessful():
        sys.exit(1)
    if daemon_required:
        sys.exit(0 if result.testsRun > 0 else 1)
    if result.testsRun == 0 or len(result.skipped) == result.testsRun:
        sys.exit(77)
    sys.exit(0)
