"""
test_journal.py: the SQLite journal is the truth behind the wire.

Every event a client sees is a journal row with the same seq and the same
JSON; HELLO's epoch and head describe the database and survive a restart;
CONFIRM comes after the commit; a kill -9 loses nothing any client saw;
a failed journal write (debug builds: WSCHAT_FAIL_STEP) leaves no trace and
the server keeps serving; wschatctl works on the live database.

The database is read with Python's sqlite3 module, read-only, while the
server runs (it is in WAL mode; that is a supported admin use).

Nothing here sleeps: every wait is for a line, an event, a close or a
process exit, and fails the test when its timeout runs out.
"""

import asyncio
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets.exceptions  # noqa: E402

from harness import Client, parse_event, sanitizer_report  # noqa: E402

TIMEOUT = 15.0
LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
INTERNAL = "ERROR INTERNAL journal write failed"
ALL_INTENTS = ("channel", "user", "message")


def tail(lines, n=40):
    return "\n".join("    " + line for line in lines[-n:])


# --- the daemon ------------------------------------------------------------

class Run:
    """One wschatd process: its output, drained by a thread."""

    def __init__(self, argv, env, cwd):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=cwd, env=env)
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.killed = False
        self.rc = None
        self.port = None
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def output(self):
        with self.cond:
            return list(self.lines)

    def wait_line(self, rx, timeout=TIMEOUT, what=None):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
                if self.eof:
                    raise AssertionError(
                        "wschatd exited (rc=%s) before logging %s\n%s"
                        % (self.proc.poll(), what or rx.pattern,
                           tail(self.lines)))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "wschatd did not log %s within %.1fs\n%s"
                        % (what or rx.pattern, timeout, tail(self.lines)))
                self.cond.wait(left)

    def wait_exit(self, timeout=TIMEOUT):
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("wschatd (pid %d) did not exit within %.1fs\n%s"
                                 % (self.proc.pid, timeout, tail(self.output())))
        self.reader.join(TIMEOUT)
        if not self.reader.is_alive():
            self.proc.stdout.close()
        return self.rc


class Server:
    """wschatd with a private config and database; it can be stopped,
    killed and started again on the same database. At the end of the test
    it is stopped with SIGTERM and must exit 0; no run may have printed a
    sanitizer report."""

    def __init__(self, tc, overrides=None, db=None):
        path = os.environ.get("WSCHATD")
        if not path or not os.access(path, os.X_OK):
            raise AssertionError("WSCHATD (%r) is not an executable" % path)
        self.path = path
        self.dir = tempfile.mkdtemp(prefix="wschat-journal-")
        tc.addCleanup(shutil.rmtree, self.dir, True)
        self.db = db or os.path.join(self.dir, "wschat.db")
        settings = {"listen": "127.0.0.1:0", "db": self.db, "rate_limit": 0,
                    "ping_interval": 0}
        settings.update(overrides or {})
        self.settings = settings
        self.conf = os.path.join(self.dir, "wschatd.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
        self.runs = []
        self.run = None
        tc.addCleanup(self._cleanup)

    def start(self, env_extra=None):
        if self.run is not None and self.run.proc.poll() is None:
            raise AssertionError("start(): wschatd is still running")
        env = dict(os.environ)
        env.pop("WSCHAT_FAIL_STEP", None)
        env.update(env_extra or {})
        self.run = Run([self.path, "-f", self.conf, "-v"], env, self.dir)
        self.runs.append(self.run)
        m = self.run.wait_line(LISTEN_RE, what="'listening on 127.0.0.1:PORT'")
        self.run.port = int(m.group(1))
        return self

    async def start_async(self, env_extra=None):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.start, env_extra)

    @property
    def url(self):
        return "ws://127.0.0.1:%d/ws" % self.run.port

    def check_output(self):
        for r in self.runs:
            rep = sanitizer_report(r.output()) or next(
                (l for l in r.output() if "LeakSanitizer" in l), None)
            if rep is not None:
                raise AssertionError("wschatd printed a sanitizer report: %s\n%s"
                                     % (rep, tail(r.output(), 80)))

    def stop(self, timeout=TIMEOUT):
        """SIGTERM; the daemon must exit 0 with no sanitizer report."""
        r = self.run
        if r.proc.poll() is None:
            r.proc.send_signal(signal.SIGTERM)
        elif r.rc is None:
            rc = r.wait_exit()
            raise AssertionError("wschatd died on its own (rc=%s)\n%s"
                                 % (rc, tail(r.output(), 60)))
        rc = r.wait_exit(timeout)
        self.check_output()
        if rc != 0:
            raise AssertionError("wschatd exited %s after SIGTERM (expected 0)\n%s"
                                 % (rc, tail(r.output(), 60)))
        return rc

    async def stop_async(self):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.stop)

    async def kill9(self):
        r = self.run
        r.killed = True
        r.proc.kill()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, r.wait_exit)

    def _cleanup(self):
        r = self.run
        if r is None:
            return
        try:
            if r.killed or r.rc is not None:
                self.check_output()
                return
            self.stop()
        finally:
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()


# --- the database ------------------------------------------------------------

class DB:
    """A read-only connection to the live journal; every query sees the
    latest commit (autocommit, no long read transaction)."""

    COLS = "seq, ts, type, action, resource, actor, data"

    def __init__(self, tc, path):
        uri = "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path))
        self.con = sqlite3.connect(uri, uri=True, timeout=TIMEOUT,
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


def wire(row):
    """The EVENT line a journal row stands for."""
    return "EVENT %s %s %s %s" % (row[2], row[3], row[4], row[6])


def seq_of(line):
    return parse_event(line)[3]["seq"]


# --- talking -----------------------------------------------------------------

_tokens = [0]


def token():
    _tokens[0] += 1
    return "t%d" % _tokens[0]


async def read_until(c, pred, what, timeout=TIMEOUT):
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


async def sync(c, events=None):
    """PING/PONG: everything queued for c before it is read; it must all be
    EVENT lines (appended to events)."""
    t = token()
    await c.send("PING " + t)
    lines = await read_until(c, lambda l: l == "PONG " + t, "PONG " + t)
    for line in lines[:-1]:
        if not line.startswith("EVENT "):
            raise AssertionError("%s: expected only events before PONG %s, "
                                 "got %r" % (c.name, t, line))
        if events is not None:
            events.append(line)
    return lines[:-1]


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
        ok = got == reply
    else:
        ok = reply.fullmatch(got) is not None
    if not ok:
        raise AssertionError("%s: sent %r, expected %r, got %r"
                             % (c.name, line, getattr(reply, "pattern", reply),
                                got))
    return got


def ctl_path():
    p = os.environ.get("WSCHATCTL")
    if p and os.path.isfile(p) and os.access(p, os.X_OK):
        return p
    return None


def run_ctl(db, *args, timeout=TIMEOUT):
    p = ctl_path()
    argv = [p, "-d", db] + list(args)
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s did not finish within %.1fs" % (argv, timeout))
    return r.returncode, r.stdout.decode("utf-8", "replace"), \
        r.stderr.decode("utf-8", "replace")


def debug_build_expected():
    """True/False when the build's config.h (next to the daemon) says whether
    WSCHAT_DEBUG is on; None when it cannot be found."""
    d = os.path.dirname(os.path.dirname(os.path.abspath(
        os.environ.get("WSCHATD", "/nonexistent/x/y"))))
    try:
        with open(os.path.join(d, "config.h"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    return re.search(r"^#define WSCHAT_DEBUG 1", text, re.M) is not None


# --- the tests ---------------------------------------------------------------

class JournalTest(unittest.IsolatedAsyncioTestCase):

    def setUp(self):
        self.clients = []

    async def asyncTearDown(self):
        for c in self.clients:
            await c.close()

    async def connect(self, srv, nick=None, intents=(), name=None):
        c = await Client.connect(srv.url, name=name or nick, timeout=TIMEOUT)
        self.clients.append(c)
        if nick is not None:
            await command(c, "NICK " + nick, "CONFIRM NICK " + nick)
        for i in intents:
            await command(c, "SUBEVENT " + i, "CONFIRM SUBEVENT " + i)
        return c

    def assert_in_journal(self, db, line, who=""):
        """line (an EVENT) is the journal row with its seq, byte for byte."""
        typ, action, resource, obj = parse_event(line)
        row = db.event(obj["seq"])
        self.assertIsNotNone(row, "%s received %r but the journal has no "
                             "event with seq %d" % (who, line, obj["seq"]))
        self.assertEqual(wire(row), line,
                         "%s received an event that differs from journal "
                         "row %d" % (who, obj["seq"]))
        self.assertEqual(row[1], obj["ts"])
        self.assertEqual(row[5], obj["username"],
                         "journal actor differs from the event's username")

    # -- every event is a journal row ----------------------------------------

    async def test_events_match_journal(self):
        srv = Server(self).start()
        db = DB(self, srv.db)
        watcher = await self.connect(srv, "watcher", ALL_INTENTS)
        alice = await self.connect(srv, "alice")
        bob = await self.connect(srv, "bob")
        texts = {}
        steps = [
            (alice, "CREATE general", "CONFIRM CREATE general"),
            (alice, "CREATE random", "CONFIRM CREATE random"),
            (watcher, "SUB general", "CONFIRM SUB general"),
            (watcher, "SUB random", "CONFIRM SUB random"),
            (alice, "SUB general", "CONFIRM SUB general"),
            (bob, "SUB general", "CONFIRM SUB general"),
            (bob, "SUB random", "CONFIRM SUB random"),
        ]
        got = []

        async def watch(before_reply=()):
            # Each event is checked against the journal as soon as it is read.
            for line in list(before_reply) + await sync(watcher):
                self.assert_in_journal(db, line, "watcher")
                got.append(line)

        for c, line, reply in steps:
            own = []
            await command(c, line, reply, own)
            await watch(own if c is watcher else ())
        samples = [
            "hello, world",
            'quotes " and \\ backslash',
            "tab\there",
            "unicode: h\u00e9llo \u4e16\u754c \U0001F600",
            "json-ish {\"seq\":1} [1,2]",
            "several words, with spaces between them",
            "</script><b>html</b>&amp;",
        ]
        for i, text in enumerate(samples):
            c = alice if i % 2 == 0 else bob
            reply = await command(c, "MSG general " + text,
                                  re.compile(r"CONFIRM MSG general (\d+)"))
            texts[int(reply.split()[-1])] = text
            await watch()
        reply = await command(bob, "MSG random in random",
                              re.compile(r"CONFIRM MSG random (\d+)"))
        texts[int(reply.split()[-1])] = "in random"
        await watch()
        await command(bob, "UNSUB random", "CONFIRM UNSUB random")
        await watch()
        await command(alice, "DELETE random", "CONFIRM DELETE random")
        await watch()

        seqs = [seq_of(l) for l in got]
        self.assertEqual(len(seqs), len(set(seqs)), "an event came twice")
        self.assertEqual(seqs, sorted(seqs), "events out of seq order")
        # ... and nothing in the journal was left out (it has every intent
        # and was a member of both channels).
        self.assertEqual([wire(r) for r in db.events()], got,
                         "the journal and the watcher's events differ")
        # Text through the messages view.
        for s, text in texts.items():
            self.assertEqual(db.one("SELECT json_extract(data, '$.text') "
                                    "FROM events WHERE seq = ?", s), text)
            self.assertEqual(db.q("SELECT text, channel, user FROM messages "
                                  "WHERE seq = ?", s)[0][0], text)
        self.assertEqual(
            sorted(r[0] for r in db.q("SELECT seq FROM messages")),
            sorted(texts), "messages view lists other seqs than the MSGs")
        # The PART of a deleted channel carries the reason in the journal.
        parts = db.q("SELECT actor, json_extract(data, '$.reason') FROM events"
                     " WHERE type = 'user' AND action = 'PART' AND "
                     "resource = 'random' ORDER BY seq")
        self.assertEqual(parts, [("bob", None), ("watcher", "deleted")])

    # -- HELLO and the database ----------------------------------------------

    async def test_hello_head_and_epoch_survive_restart(self):
        srv = Server(self).start()
        db = DB(self, srv.db)
        c = await self.connect(srv, "hank")
        self.assertEqual(c.head, 0, "a new journal's HELLO head is not 0: %r"
                         % c.hello)
        self.assertEqual(c.epoch, db.one("SELECT value FROM meta WHERE "
                                         "key = 'epoch'"),
                         "HELLO epoch is not meta.epoch")
        await command(c, "CREATE h1", "CONFIRM CREATE h1")
        await command(c, "SUB h1", "CONFIRM SUB h1")
        for i in range(5):
            await command(c, "MSG h1 m%d" % i,
                          re.compile(r"CONFIRM MSG h1 \d+"))
        head = db.head()
        self.assertEqual(head, 7)
        c2 = await self.connect(srv, name="hello-check")
        self.assertEqual(c2.head, head, "HELLO head %d, journal max(seq) %d"
                         % (c2.head, head))
        self.assertEqual(c2.epoch, c.epoch)
        epoch = c.epoch
        await c.close()
        await c2.close()

        await srv.stop_async()
        await srv.start_async()
        c3 = await self.connect(srv, name="after-restart")
        self.assertEqual((c3.epoch, c3.head), (epoch, head),
                         "HELLO after a restart on the same db: %r" % c3.hello)
        await command(c3, "NICK hank", "CONFIRM NICK hank")
        await command(c3, "SUBEVENT message", "CONFIRM SUBEVENT message")
        # Membership survived; the next event is head+1, no seq reused.
        ev = []
        await command(c3, "MSG h1 after", "CONFIRM MSG h1 %d" % (head + 1), ev)
        self.assertEqual(len(ev), 1)
        self.assertEqual(seq_of(ev[0]), head + 1)
        self.assert_in_journal(db, ev[0])
        await command(c3, "CREATE h2", "CONFIRM CREATE h2")
        self.assertEqual(db.head(), head + 2)
        self.assertEqual(db.one("SELECT count(*) FROM events"), head + 2)
        c4 = await self.connect(srv, name="hello-check2")
        self.assertEqual(c4.head, head + 2)

    async def test_new_database_new_epoch(self):
        a = Server(self).start()
        b = Server(self).start()
        ca = await self.connect(a, name="a")
        cb = await self.connect(b, name="b")
        self.assertRegex(ca.epoch, r"^[0-9a-f]+$")
        self.assertNotEqual(ca.epoch, cb.epoch,
                            "two new databases have the same epoch")
        self.assertEqual(ca.epoch, DB(self, a.db).one(
            "SELECT value FROM meta WHERE key = 'epoch'"))
        self.assertEqual(cb.epoch, DB(self, b.db).one(
            "SELECT value FROM meta WHERE key = 'epoch'"))
        # Deleting the file and starting over is a new epoch, too.
        await ca.close()
        await a.stop_async()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(a.db + suffix)
            except FileNotFoundError:
                pass
        await a.start_async()
        cc = await self.connect(a, name="c")
        self.assertNotEqual(cc.epoch, ca.epoch,
                            "a recreated database kept the old epoch")
        self.assertEqual(cc.head, 0)

    # -- CONFIRM after commit ------------------------------------------------

    async def test_confirm_after_commit(self):
        srv = Server(self).start()
        db = DB(self, srv.db)
        c = await self.connect(srv, "carl")
        other = await self.connect(srv, "other")
        # Another client keeps the writer busy so batches group up.
        busy_stop = asyncio.Event()

        await command(other, "CREATE noise", "CONFIRM CREATE noise")
        await command(other, "SUB noise", "CONFIRM SUB noise")

        async def noise():
            n = 0
            while not busy_stop.is_set() and n < 5000:
                await command(other, "MSG noise n%d" % n,
                              re.compile(r"CONFIRM MSG noise \d+"))
                n += 1
            return n

        task = asyncio.ensure_future(noise())
        try:
            await command(c, "CREATE conf", "CONFIRM CREATE conf")
            self.assertEqual(db.q("SELECT creator FROM channels WHERE "
                                  "name = 'conf'"), [("carl",)],
                             "CONFIRM CREATE before the channel row")
            self.assertEqual(db.one("SELECT count(*) FROM events WHERE "
                                    "type = 'channel' AND action = 'CREATE' "
                                    "AND resource = 'conf'"), 1)
            await command(c, "SUB conf", "CONFIRM SUB conf")
            self.assertEqual(db.one("SELECT count(*) FROM memberships WHERE "
                                    "channel = 'conf' AND user = 'carl'"), 1,
                             "CONFIRM SUB before the membership row")
            for i in range(100):
                reply = await command(c, "MSG conf c%d" % i,
                                      re.compile(r"CONFIRM MSG conf (\d+)"))
                s = int(reply.split()[-1])
                row = db.q("SELECT channel, user, text FROM messages "
                           "WHERE seq = ?", s)
                self.assertEqual(row, [("conf", "carl", "c%d" % i)],
                                 "%r arrived before seq %d was committed"
                                 % (reply, s))
            await command(c, "UNSUB conf", "CONFIRM UNSUB conf")
            self.assertEqual(db.one("SELECT count(*) FROM memberships WHERE "
                                    "channel = 'conf' AND user = 'carl'"), 0)
            await command(c, "DELETE conf", "CONFIRM DELETE conf")
            self.assertEqual(db.one("SELECT count(*) FROM channels WHERE "
                                    "name = 'conf'"), 0)
        finally:
            busy_stop.set()
            n = await asyncio.wait_for(task, TIMEOUT)
        self.assertGreater(n, 0)

    # -- kill -9 -------------------------------------------------------------

    async def test_crash_loses_nothing_seen(self):
        srv = Server(self).start()
        db = DB(self, srv.db)
        pub = await self.connect(srv, "pub")
        await command(pub, "CREATE room", "CONFIRM CREATE room")
        await command(pub, "SUB room", "CONFIRM SUB room")
        subs = {}
        for name in ("s1", "s2"):
            c = await self.connect(srv, name, ALL_INTENTS)
            await command(c, "SUB room", "CONFIRM SUB room")
            subs[name] = c
        for c in subs.values():
            await sync(c)
        epoch = pub.epoch
        start_head = db.head()

        received = {n: [] for n in subs}
        confirmed = []
        enough = asyncio.Event()
        KILL_AFTER, MAX_MSGS, WINDOW = 400, 3000, 32

        async def reader(name, c):
            while True:
                try:
                    msg = await asyncio.wait_for(c.ws.recv(), TIMEOUT)
                except websockets.exceptions.ConnectionClosed:
                    return
                received[name].append(msg)
                if len(received[name]) >= KILL_AFTER:
                    enough.set()

        window = asyncio.Semaphore(WINDOW)
        pub_closed = []

        async def pub_reader():
            while True:
                try:
                    msg = await asyncio.wait_for(pub.ws.recv(), TIMEOUT)
                except websockets.exceptions.ConnectionClosed:
                    # The kill: wake a publisher waiting for a CONFIRM that
                    # will never come, so it sees the closed connection.
                    pub_closed.append(True)
                    for _ in range(WINDOW):
                        window.release()
                    return
                m = re.fullmatch(r"CONFIRM MSG room (\d+)", msg)
                if not m:
                    raise AssertionError("publisher got %r" % msg)
                confirmed.append(int(m.group(1)))
                window.release()

        async def publisher():
            for i in range(MAX_MSGS):
                await asyncio.wait_for(window.acquire(), TIMEOUT)
                if pub_closed:
                    return i
                try:
                    await pub.ws.send("MSG room crash %d" % i)
                except websockets.exceptions.ConnectionClosed:
                    return i
            return MAX_MSGS

        tasks = [asyncio.ensure_future(reader(n, c)) for n, c in subs.items()]
        tasks.append(asyncio.ensure_future(pub_reader()))
        ptask = asyncio.ensure_future(publisher())
        try:
            await asyncio.wait_for(enough.wait(), 3 * TIMEOUT)
        except asyncio.TimeoutError:
            raise AssertionError("subscribers got only %r events"
                                 % {n: len(v) for n, v in received.items()})
        await srv.kill9()
        sent = await asyncio.wait_for(ptask, TIMEOUT)
        await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
        self.assertLess(sent, MAX_MSGS, "the publisher finished before the "
                        "kill; nothing was in flight")

        # Restart on the same database.
        await srv.start_async()
        hello = await self.connect(srv, name="hello-after-crash")
        self.assertEqual(hello.epoch, epoch)
        head = db.head()
        self.assertEqual(hello.head, head, "HELLO head %d, journal max(seq) %d"
                         % (hello.head, head))

        highest = 0
        for name, lines in received.items():
            prev = 0
            for line in lines:
                self.assert_in_journal(db, line, name)
                s = seq_of(line)
                self.assertGreater(s, prev, "%s: seq %d after %d" % (name, s, prev))
                prev = s
            highest = max(highest, prev)
            self.assertGreater(len(lines), 0)
        for s in confirmed:
            self.assertIsNotNone(db.event(s), "CONFIRM MSG room %d was sent "
                                 "but seq %d is not in the journal" % (s, s))
        highest = max([highest] + confirmed)
        self.assertGreaterEqual(head, highest,
                                "restarted HELLO head %d is below seq %d, "
                                "which a client received" % (head, highest))
        seqs = [r[0] for r in db.q("SELECT seq FROM events ORDER BY seq")]
        self.assertEqual(len(seqs), len(set(seqs)))
        # Each subscriber saw a prefix of the journal's events after setup
        # (all of them are messages in room, which both receive).
        for name, lines in received.items():
            want = [wire(r) for r in db.events(start_head)][:len(lines)]
            self.assertEqual(lines, want, "%s's events are not the journal's "
                             "in order" % name)

        # Resume each subscriber from its last seen seq: exact replay.
        for name, lines in received.items():
            last = seq_of(lines[-1])
            c = await Client.connect(srv.url, name=name + "-resumed",
                                     timeout=TIMEOUT)
            self.clients.append(c)
            for line in ["NICK " + name] + ["SUBEVENT " + i for i in ALL_INTENTS] \
                    + ["RESUME %d %s" % (last, epoch)]:
                await c.send(line)
            await c.expect("CONFIRM NICK " + name, TIMEOUT)
            for i in ALL_INTENTS:
                await c.expect("CONFIRM SUBEVENT " + i, TIMEOUT)
            got = await read_until(c, lambda l: not l.startswith("EVENT "),
                                   "RESUMED")
            self.assertEqual(got[-1], "RESUMED %d %d" % (head, len(got) - 1),
                             "%s: RESUME %d %s after the crash (expected a "
                             "replay, not a snapshot)" % (name, last, epoch))
            self.assertEqual(got[:-1], [wire(r) for r in db.events(last)],
                             "%s: replay after the crash" % name)
            subs[name] = c

        # New events continue from head+1 without gaps.
        pub2 = await self.connect(srv, "pub")
        for i in range(20):
            await command(pub2, "MSG room after %d" % i,
                          "CONFIRM MSG room %d" % (head + 1 + i))
        for name, c in subs.items():
            lines = await sync(c)
            self.assertEqual([seq_of(l) for l in lines],
                             list(range(head + 1, head + 21)),
                             "%s: events after the restart" % name)
            for line in lines:
                self.assert_in_journal(db, line, name)

        if ctl_path() is not None:
            rc, out, err = run_ctl(srv.db, "check")
            self.assertEqual(rc, 0, "wschatctl check after a crash: rc=%d\n%s%s"
                             % (rc, out, err))

    # -- failed journal writes -----------------------------------------------

    async def fault_client(self, srv, user, ch1, ch2, nmsgs):
        c = await Client.connect(srv.url, name=user, timeout=TIMEOUT)
        self.clients.append(c)
        cmds = ["NICK " + user] + ["SUBEVENT " + i for i in ALL_INTENTS] + \
            ["CREATE " + ch1, "SUB " + ch1] + \
            ["MSG %s hello-%s-%d" % (ch1, user, i) for i in range(nmsgs)] + \
            ["CREATE " + ch2]
        return c, cmds

    async def fault_exchange(self, c, cmds, mode):
        """Send cmds (pipelined or one at a time) and PING end; returns
        every line up to PONG end."""
        lines = []
        if mode == "sequential":
            for line in cmds:
                await c.send(line)
                lines += await read_until(c, lambda l: not l.startswith(
                    "EVENT "), "the reply to %r" % line)
            cmds = []
        for line in cmds + ["PING end"]:
            await c.send(line)
        lines += await read_until(c, lambda l: l == "PONG end", "PONG end")
        return lines[:-1]

    def fault_check(self, db, user, cmds, lines, ctx):
        """Exactly one reply per command, in order; what was confirmed is in
        the journal, what failed left no trace. Returns (confirmed state
        commands, failed commands)."""
        events = [l for l in lines if l.startswith("EVENT ")]
        replies = [l for l in lines if not l.startswith("EVENT ")]
        ctx = "%s; %s sent %r, got %r" % (ctx, user, cmds, lines)
        self.assertEqual(len(replies), len(cmds), "not one reply per command; "
                         + ctx)
        self.assertEqual(replies[:4], ["CONFIRM NICK " + user] + [
            "CONFIRM SUBEVENT " + i for i in ALL_INTENTS], ctx)
        created, member = set(), set()
        confirmed, failed = 0, 0

        def count(sql, *a):
            return db.one(sql, *a)
        for cmd, reply in zip(cmds[4:], replies[4:]):
            if reply.startswith("ERROR INTERNAL"):
                self.internal_texts.add(reply)
                reply = INTERNAL
                failed += 1
            verb, ch = cmd.split(" ")[:2]
            if verb == "CREATE":
                ok = reply == "CONFIRM CREATE " + ch
                self.assertTrue(ok or reply == INTERNAL, ctx)
                self.assertEqual(count(
                    "SELECT count(*) FROM events WHERE type = 'channel' AND "
                    "action = 'CREATE' AND resource = ?", ch), int(ok),
                    "%s -> %s; %s" % (cmd, reply, ctx))
                self.assertEqual(count("SELECT count(*) FROM channels WHERE "
                                       "name = ?", ch), int(ok),
                                 "%s -> %s; %s" % (cmd, reply, ctx))
                if ok:
                    created.add(ch)
            elif verb == "SUB":
                ok = reply == "CONFIRM SUB " + ch
                allowed = [INTERNAL] + ([] if ch in created else
                                        ["ERROR NOSUCHCHANNEL "])
                self.assertTrue(ok or any(reply.startswith(a)
                                          for a in allowed),
                                "%s -> %s; %s" % (cmd, reply, ctx))
                self.assertEqual(count(
                    "SELECT count(*) FROM events WHERE type = 'user' AND "
                    "action = 'JOIN' AND resource = ? AND actor = ?",
                    ch, user), int(ok), "%s -> %s; %s" % (cmd, reply, ctx))
                self.assertEqual(count(
                    "SELECT count(*) FROM memberships WHERE channel = ? AND "
                    "user = ?", ch, user), int(ok),
                    "%s -> %s; %s" % (cmd, reply, ctx))
                if ok:
                    member.add(ch)
            else:
                text = cmd.split(" ", 2)[2]
                m = re.fullmatch(r"CONFIRM MSG %s (\d+)" % re.escape(ch), reply)
                allowed = [INTERNAL]
                if ch not in created:
                    allowed.append("ERROR NOSUCHCHANNEL ")
                elif ch not in member:
                    allowed.append("ERROR NOTMEMBER ")
                self.assertTrue(m or any(reply.startswith(a) for a in allowed),
                                "%s -> %s; %s" % (cmd, reply, ctx))
                rows = db.q("SELECT seq FROM messages WHERE channel = ? AND "
                            "text = ?", ch, text)
                self.assertEqual(rows, [(int(m.group(1)),)] if m else [],
                                 "%s -> %s; %s" % (cmd, reply, ctx))
                ok = m is not None
            confirmed += int(ok)
        # Its own confirmed commands each produced an event it received
        # (it has every intent); every event it received is a journal row.
        for line in events:
            self.assert_in_journal(db, line, user)
        seqs = [seq_of(l) for l in events]
        self.assertEqual(seqs, sorted(set(seqs)), ctx)
        own = [l for l in events if parse_event(l)[3]["username"] == user]
        self.assertEqual(len(own), confirmed, "events of %s's commands: %r; "
                         % (user, own) + ctx)
        return confirmed, failed

    async def fault_run(self, n, mode):
        """One fresh server whose n-th journal write step fails (debug
        builds). mode: 'pipelined' (one client sends everything at once),
        'sequential' (it waits for each reply), 'concurrent' (two clients
        pipeline at once, so batches queue behind each other). Returns the
        number of commands that got ERROR INTERNAL."""
        srv = Server(self)
        await srv.start_async({"WSCHAT_FAIL_STEP": str(n)})
        db = DB(self, srv.db)
        ctx = "WSCHAT_FAIL_STEP=%d, %s" % (n, mode)
        if mode == "concurrent":
            runs = [await self.fault_client(srv, u, u + "1", u + "2", 5)
                    for u in ("f", "g")]
        else:
            runs = [await self.fault_client(srv, "f", "c1", "c2", 1)]
        results = await asyncio.gather(*[self.fault_exchange(c, cmds, mode)
                                         for c, cmds in runs])
        confirmed = failed = 0
        for (c, cmds), lines in zip(runs, results):
            ok, bad = self.fault_check(db, c.name, cmds, lines, ctx)
            confirmed += ok
            failed += bad
        self.assertEqual(db.one("SELECT count(*) FROM events"), confirmed,
                         "journal events vs confirmed commands; " + ctx)

        # The server's view agrees with the journal.
        c = runs[0][0]
        chans = db.channels()
        await command(c, "LIST", " ".join(["LIST %d" % len(chans)] + chans))
        for cl, _ in runs:
            subs = db.subs(cl.name)
            await command(cl, "LSSUBS", " ".join(["LSSUBS %d" % len(subs)]
                                                 + subs))
        if failed:
            # It keeps serving after the failure.
            ev = []
            await command(c, "CREATE c3", "CONFIRM CREATE c3", ev)
            self.assertEqual(len(ev), 1, ev)
            self.assert_in_journal(db, ev[0])
            self.assertEqual(db.channels(), chans + ["c3"])
            ev = []
            await command(c, "SUB c3", "CONFIRM SUB c3", ev)
            await command(c, "MSG c3 still here",
                          re.compile(r"CONFIRM MSG c3 \d+"), ev)
            self.assertEqual(len(ev), 2, ev)
            for line in ev:
                self.assert_in_journal(db, line)
        for cl, _ in runs:
            await cl.close()
        # (Without a failure the countdown may still be pending: stop.)
        await srv.stop_async()
        return failed

    async def test_failed_journal_write_leaves_no_trace(self):
        debug = debug_build_expected()
        self.internal_texts = set()
        if not await self.fault_run(1, "pipelined"):
            if debug:
                self.fail("config.h next to WSCHATD defines WSCHAT_DEBUG, but "
                          "WSCHAT_FAIL_STEP=1 did not make the first CREATE "
                          "fail with ERROR INTERNAL")
            self.skipTest("release build: WSCHAT_FAIL_STEP is ignored")
        for mode, limit in (("pipelined", 30), ("sequential", 30),
                            ("concurrent", 15)):
            clean = None
            for n in range(1, limit + 1):
                if not await self.fault_run(n, mode):
                    clean = n
                    break
            if mode != "concurrent":
                self.assertIsNotNone(clean, "%s: every WSCHAT_FAIL_STEP from "
                                     "1 to %d made a command fail; the "
                                     "sequence takes ~20 steps" % (mode, limit))
        self.assertEqual(self.internal_texts, {INTERNAL},
                         "PROTOCOL.md: a failed journal write is answered "
                         "exactly %r" % INTERNAL)

    # -- wschatctl -----------------------------------------------------------

    async def test_wschatctl_smoke(self):
        if ctl_path() is None:
            self.fail("WSCHATCTL (%r) is not an executable"
                      % os.environ.get("WSCHATCTL"))
        srv = Server(self).start()
        db = DB(self, srv.db)
        c = await self.connect(srv, "admin")
        await command(c, "CREATE ops", "CONFIRM CREATE ops")
        await command(c, "SUB ops", "CONFIRM SUB ops")
        texts = ["ctl message %d" % i for i in range(8)]
        for t in texts:
            await command(c, "MSG ops " + t, re.compile(r"CONFIRM MSG ops \d+"))
        head = db.head()
        nevents = db.one("SELECT count(*) FROM events")

        rc, out, err = run_ctl(srv.db, "stats")
        self.assertEqual(rc, 0, "wschatctl stats: rc=%d\n%s%s" % (rc, out, err))
        self.assertTrue(out.strip(), "wschatctl stats printed nothing")
        nums = re.findall(r"\b\d+\b", out)
        self.assertIn(str(head), nums, "stats does not show the head %d:\n%s"
                      % (head, out))
        self.assertIn(str(nevents), nums, "stats does not show the event "
                      "count %d:\n%s" % (nevents, out))

        rc, out, err = run_ctl(srv.db, "tail", "-n", "5")
        self.assertEqual(rc, 0, "wschatctl tail -n 5: rc=%d\n%s%s"
                         % (rc, out, err))
        lines = [l for l in out.splitlines() if l.strip()]
        self.assertEqual(lines, [wire(r) for r in db.events(head - 5)],
                         "wschatctl tail -n 5 is not the last 5 events as "
                         "EVENT lines")

        rc, out, err = run_ctl(srv.db, "history", "ops")
        self.assertEqual(rc, 0, "wschatctl history ops: rc=%d\n%s%s"
                         % (rc, out, err))
        for t in texts:
            self.assertIn(t, out, "wschatctl history ops lacks %r:\n%s"
                          % (t, out))

        rc, out, err = run_ctl(srv.db, "check")
        self.assertEqual(rc, 0, "wschatctl check: rc=%d\n%s%s" % (rc, out, err))

        backup = os.path.join(srv.dir, "backup.db")
        rc, out, err = run_ctl(srv.db, "backup", backup)
        self.assertEqual(rc, 0, "wschatctl backup: rc=%d\n%s%s" % (rc, out, err))
        self.assertTrue(os.path.isfile(backup), "backup wrote no file")
        con = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(backup),
                              uri=True)
        try:
            self.assertEqual(con.execute("SELECT %s FROM events ORDER BY seq"
                                         % DB.COLS).fetchall(), db.events())
            self.assertEqual(con.execute("SELECT value FROM meta WHERE key = "
                                         "'epoch'").fetchall(),
                             [(c.epoch,)])
        finally:
            con.close()
        # The server was not disturbed.
        await command(c, "MSG ops after the admin",
                      "CONFIRM MSG ops %d" % (head + 1))


def main():
    path = os.environ.get("WSCHATD")
    if not path or not os.access(path, os.X_OK):
        print("FAIL: WSCHATD is not set to an executable", file=sys.stderr)
        sys.exit(1)
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() and prog.result.testsRun > 0
             else 1)


if __name__ == "__main__":
    main()
