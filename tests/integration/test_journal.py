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
import sqlite3
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets.exceptions  # noqa: E402

import harness  # noqa: E402
from harness import (ALL_INTENTS, DB, SLOW_TIMEOUT,  # noqa: E402
                     JournalTestCase, command, main, parse_event,
                     post_until, read_replay, read_until, seq_of, sync,
                     wire, wschatctl, wschatctl_path)

TIMEOUT = SLOW_TIMEOUT
INTERNAL = "ERROR INTERNAL journal write failed"




# --- the tests ---------------------------------------------------------------

class JournalTest(JournalTestCase):

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
        srv = self.server()
        db = DB(self, srv.db)
        watcher = await self.client(srv, "watcher", ALL_INTENTS)
        alice = await self.client(srv, "alice")
        bob = await self.client(srv, "bob")
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
            seq, = await c.post("general", [text])
            texts[seq] = text
            await watch()
        seq, = await bob.post("random", ["in random"])
        texts[seq] = "in random"
        await watch()
        await command(bob, "UNSUB random", "CONFIRM UNSUB random")
        await watch()
        await command(alice, "DELETE random", "CONFIRM DELETE random")
        await watch()

        seqs = [seq_of(l) for l in got]
        self.assertEqual(len(seqs), len(set(seqs)), "an event came twice")
        self.assertEqual(seqs, sorted(seqs), "events out of seq order")
        # ... and nothing in the journal was left out (it has every intent
        # and was a member of both channels), but the account events, which
        # no connection receives.
        self.assertEqual([wire(r) for r in db.events() if r[2] != "account"],
                         got, "the journal and the watcher's events differ")
        self.assertEqual(db.q("SELECT action, resource FROM events WHERE "
                              "type = 'account' ORDER BY seq"),
                         [("GUEST", "watcher"), ("GUEST", "alice"),
                          ("GUEST", "bob")])
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
        srv = self.server()
        db = DB(self, srv.db)
        c = await self.client(srv, "hank")
        self.assertEqual(c.head, 0, "a new journal's HELLO head is not 0: %r"
                         % c.hello)
        self.assertEqual(c.epoch, db.one("SELECT value FROM meta WHERE "
                                         "key = 'epoch'"),
                         "HELLO epoch is not meta.epoch")
        await c.sub("h1", create=True)
        for i in range(5):
            await c.post("h1", ["m%d" % i])
        head = db.head()
        self.assertEqual(head, 8)	# the guest account, CREATE, SUB, 5 MSG
        c2 = await self.client(srv, name="hello-check")
        self.assertEqual(c2.head, head, "HELLO head %d, journal max(seq) %d"
                         % (c2.head, head))
        self.assertEqual(c2.epoch, c.epoch)
        epoch = c.epoch
        await c.close()
        await c2.close()

        await srv.stop_async()
        await srv.start_async()
        c3 = await self.client(srv, name="after-restart")
        self.assertEqual((c3.epoch, c3.head), (epoch, head),
                         "HELLO after a restart on the same db: %r" % c3.hello)
        await command(c3, "AUTH " + harness.TOKENS["hank"], "CONFIRM AUTH hank")
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
        c4 = await self.client(srv, name="hello-check2")
        self.assertEqual(c4.head, head + 2)

    async def test_new_database_new_epoch(self):
        a = self.server()
        b = self.server()
        ca = await self.client(a, name="a")
        cb = await self.client(b, name="b")
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
        cc = await self.client(a, name="c")
        self.assertNotEqual(cc.epoch, ca.epoch,
                            "a recreated database kept the old epoch")
        self.assertEqual(cc.head, 0)

    # -- CONFIRM after commit ------------------------------------------------

    async def test_confirm_after_commit(self):
        srv = self.server()
        db = DB(self, srv.db)
        c = await self.client(srv, "carl")
        other = await self.client(srv, "other")
        # Another client keeps the writer busy so batches group up.
        busy_stop = asyncio.Event()
        await other.sub("noise", create=True)
        task = asyncio.ensure_future(post_until(other, "noise", busy_stop,
                                                5000))
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
                s, = await c.post("conf", ["c%d" % i])
                row = db.q("SELECT channel, user, text FROM messages "
                           "WHERE seq = ?", s)
                self.assertEqual(row, [("conf", "carl", "c%d" % i)],
                                 "CONFIRM MSG conf %d arrived before seq %d "
                                 "was committed" % (s, s))
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
        srv = self.server()
        db = DB(self, srv.db)
        pub = await self.client(srv, "pub")
        await pub.sub("room", create=True)
        subs = {}
        for name in ("s1", "s2"):
            c = await self.client(srv, name, ALL_INTENTS)
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
        await srv.kill9_async()
        sent = await asyncio.wait_for(ptask, TIMEOUT)
        await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
        self.assertLess(sent, MAX_MSGS, "the publisher finished before the "
                        "kill; nothing was in flight")

        # Restart on the same database.
        await srv.start_async()
        hello = await self.client(srv, name="hello-after-crash")
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
            what = "%s: RESUME %d %s after the crash" % (name, last, epoch)
            c = await self.reconnect(srv, name, ALL_INTENTS,
                                     "RESUME %d %s" % (last, epoch),
                                     name=name + "-resumed")
            got, got_head, count = await read_replay(c, what)
            self.assertEqual((got_head, count), (head, len(got)), what)
            self.assertEqual(got, [wire(r) for r in db.events(last)],
                             "%s: replay after the crash" % name)
            subs[name] = c

        # New events continue from head+1 without gaps.
        pub2 = await self.client(srv, "pub")
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

        r = wschatctl(srv.db, "check")
        if r is not None:
            rc, out, err = r
            self.assertEqual(rc, 0, "wschatctl check after a crash: rc=%d\n%s%s"
                             % (rc, out, err))

    # -- failed journal writes -----------------------------------------------

    async def fault_client(self, srv, user, ch1, ch2, nmsgs):
        c = await self.client(srv, name=user)
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

    def fault_check(self, db, user, cmds, lines, ctx, c_named):
        """Exactly one reply per command, in order; what was confirmed is in
        the journal, what failed left no trace. Returns (confirmed state
        commands, failed commands)."""
        events = [l for l in lines if l.startswith("EVENT ")]
        replies = [l for l in lines if not l.startswith("EVENT ")]
        ctx = "%s; %s sent %r, got %r" % (ctx, user, cmds, lines)
        self.assertEqual(len(replies), len(cmds), "not one reply per command; "
                         + ctx)
        self.assertEqual(replies[1:4], [
            "CONFIRM SUBEVENT " + i for i in ALL_INTENTS], ctx)
        created, member = set(), set()
        confirmed, failed = 0, 0
        # NICK is a journaled change too (a guest account): if it failed,
        # the connection stayed anonymous and its state commands are
        # refused, and the name has no account.
        named = harness.token_reply("CONFIRM NICK " + user, replies[0])
        if not named:
            self.assertEqual(replies[0], INTERNAL, ctx)
            self.internal_texts.add(replies[0])
            failed += 1
        self.assertEqual(db.one("SELECT count(*) FROM accounts WHERE name = ?",
                                user), int(named), ctx)
        c_named[user] = named

        def count(sql, *a):
            return db.one(sql, *a)
        for cmd, reply in zip(cmds[4:], replies[4:]):
            if not named:
                # In the NICK's failed batch, or after it, anonymous.
                self.assertTrue(reply == INTERNAL or reply.startswith(
                    "ERROR NOTIDENTIFIED "), "%s -> %s; %s" % (cmd, reply, ctx))
                if reply == INTERNAL:
                    self.internal_texts.add(reply)
                    failed += 1
                continue
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
        srv = self.server(start=False)
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
        named = {}
        for (c, cmds), lines in zip(runs, results):
            ok, bad = self.fault_check(db, c.name, cmds, lines, ctx, named)
            confirmed += ok
            failed += bad
        self.assertEqual(db.one("SELECT count(*) FROM events WHERE type <> "
                                "'account'"), confirmed,
                         "journal events vs confirmed commands; " + ctx)
        self.assertEqual(db.one("SELECT count(*) FROM events WHERE type = "
                                "'account'"), sum(named.values()),
                         "account events vs confirmed NICKs; " + ctx)
        for cl, _ in runs:
            if not named[cl.name]:
                # Its intents are on: others' events may come first.
                await cl.identify(cl.name, events=[])

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
        debug = harness.debug_build()
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
        if wschatctl_path() is None:
            self.fail("WSCHATCTL (%r) is not an executable"
                      % os.environ.get("WSCHATCTL"))
        srv = self.server()
        db = DB(self, srv.db)
        c = await self.client(srv, "admin")
        await c.sub("ops", create=True)
        texts = ["ctl message %d" % i for i in range(8)]
        for t in texts:
            await c.post("ops", [t])
        head = db.head()
        nevents = db.one("SELECT count(*) FROM events")

        rc, out, err = wschatctl(srv.db, "stats")
        self.assertEqual(rc, 0, "wschatctl stats: rc=%d\n%s%s" % (rc, out, err))
        self.assertTrue(out.strip(), "wschatctl stats printed nothing")
        nums = re.findall(r"\b\d+\b", out)
        self.assertIn(str(head), nums, "stats does not show the head %d:\n%s"
                      % (head, out))
        self.assertIn(str(nevents), nums, "stats does not show the event "
                      "count %d:\n%s" % (nevents, out))

        rc, out, err = wschatctl(srv.db, "tail", "-n", "5")
        self.assertEqual(rc, 0, "wschatctl tail -n 5: rc=%d\n%s%s"
                         % (rc, out, err))
        lines = [l for l in out.splitlines() if l.strip()]
        self.assertEqual(lines, [wire(r) for r in db.events(head - 5)],
                         "wschatctl tail -n 5 is not the last 5 events as "
                         "EVENT lines")

        rc, out, err = wschatctl(srv.db, "history", "ops")
        self.assertEqual(rc, 0, "wschatctl history ops: rc=%d\n%s%s"
                         % (rc, out, err))
        for t in texts:
            self.assertIn(t, out, "wschatctl history ops lacks %r:\n%s"
                          % (t, out))

        rc, out, err = wschatctl(srv.db, "check")
        self.assertEqual(rc, 0, "wschatctl check: rc=%d\n%s%s" % (rc, out, err))

        backup = os.path.join(srv.dir, "backup.db")
        rc, out, err = wschatctl(srv.db, "backup", backup)
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


if __name__ == "__main__":
    main(daemon_required=True)
