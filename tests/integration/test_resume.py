"""
test_resume.py: RESUME, SNAPSHOT and HISTORY against the journal.

A resuming client must get, line for line, exactly the events it would have
received live since its cursor with its name and intents (membership taken
as it was at each event): that is computed from the journal with the rule in
docs/PROTOCOL.md and compared with a twin connection that stayed online.
Live events during a replay follow it with no gap and no duplicate. When the
journal cannot replay exactly (future cursor, other epoch, pruned, too far
behind) a snapshot consistent with one seq comes instead.

Nothing here sleeps: every wait is for a line, an event, a close or a
process exit, and fails the test when its timeout runs out.
"""

import asyncio
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (ALL_INTENTS, DB, SLOW_TIMEOUT,  # noqa: E402
                     Client, ClientClosed, JournalTestCase, command,
                     expected_events, main, parse_event, parse_snapshot,
                     post_until, read_replay, read_snapshot, read_until,
                     seq_of, sync, wire)

TIMEOUT = SLOW_TIMEOUT


def texts_of(lines):
    out = []
    for line in lines:
        obj = parse_event(line)[3]
        if "text" in obj:
            out.append(obj["text"])
    return out


class ResumeTest(JournalTestCase):

    def check_snapshot(self, db, lines, user, nmsgs, seq=None):
        """Compare a snapshot with the journal as of its seq."""
        snap = parse_snapshot(lines)
        s = snap["BEGIN"]
        if seq is not None:
            self.assertEqual(s, seq, "snapshot seq")
        chans = [(n, {"creator": cr, "seq": cs}) for n, cr, cs in db.q(
            "SELECT name, creator, created_seq FROM channels "
            "WHERE created_seq <= ? ORDER BY created_seq", s)]
        self.assertEqual(snap["channels"], chans, "SNAPSHOT CHANNEL lines")
        subs = db.subs(user) if user else []
        self.assertEqual(snap["subs"], subs, "SNAPSHOT SUB lines for %r" % user)
        for ch in subs:
            want = sorted(r[0] for r in db.q(
                "SELECT user FROM memberships WHERE channel = ?", ch))
            self.assertEqual(sorted(snap["members"].get(ch, [])), want,
                             "SNAPSHOT MEMBER lines of %s" % ch)
            want = [r[0] for r in db.q(
                "SELECT data FROM (SELECT seq, data FROM events WHERE "
                "type = 'message' AND action = 'CREATE' AND resource = ? "
                "AND seq <= ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                ch, s, nmsgs)]
            got = snap["messages"].get(ch, [])
            self.assertEqual(sorted(got, key=lambda d: json.loads(d)["seq"]),
                             want, "SNAPSHOT MESSAGE lines of %s" % ch)
        self.assertEqual(set(snap["members"]) - set(subs), set(),
                         "MEMBER lines for channels the user is not in")
        self.assertEqual(set(snap["messages"]) - set(subs), set(),
                         "MESSAGE lines for channels the user is not in")
        return snap

    # -- the scenario for replay exactness -------------------------------------

    async def offline_scenario(self, srv, db, bulk, pete=False, pad=""):
        """rita goes offline with a cursor; others act; rita comes back
        briefly to change her own membership; others act again. tina, the
        twin, stays online with rita's intents and memberships throughout.
        Returns a dict describing it."""
        s = {"events_T": [], "events_M": []}
        olga = await self.client(srv, "olga")
        uma = await self.client(srv, "uma")
        for ch in ("a", "b", "c", "d", "x"):
            await olga.sub(ch, create=True)
        if pete:
            s["pete"] = await self.client(srv, "pete")
            await s["pete"].sub("a")
        r1_events = []
        r1 = await self.client(srv, "rita", ALL_INTENTS)
        for ch in ("a", "b", "c", "x"):
            await command(r1, "SUB " + ch, "CONFIRM SUB " + ch, r1_events)
        T = await self.client(srv, "tina", ALL_INTENTS)
        for ch in ("a", "b", "c", "x"):
            await command(T, "SUB " + ch, "CONFIRM SUB " + ch, s["events_T"])
        await sync(r1, r1_events)
        # rita saw tina's last JOIN: her cursor is the last seq she saw.
        self.assertTrue(r1_events[-1].startswith("EVENT user JOIN x ")
                        and '"username":"tina"' in r1_events[-1], r1_events)
        s["cursor"] = seq_of(r1_events[-1])
        s["epoch"] = r1.epoch
        await r1.wait_closed()
        T_ev = s["events_T"]

        async def act(c, line, reply):
            await command(c, line, reply)
            await sync(T, T_ev)

        msg = lambda ch: re.compile(r"CONFIRM MSG %s \d+" % ch)  # noqa: E731
        # Offline, part 1.
        await act(olga, "MSG a p1 in a", msg("a"))
        await act(olga, "MSG d p1 in d", msg("d"))
        await act(uma, "SUB b", "CONFIRM SUB b")
        await act(uma, "MSG b p1 uma in b", msg("b"))
        await act(olga, "CREATE e", "CONFIRM CREATE e")
        await act(olga, "SUB e", "CONFIRM SUB e")
        await act(olga, "MSG e p1 in e before rita", msg("e"))
        await act(olga, "MSG c p1 last in c", msg("c"))
        await act(olga, "DELETE c", "CONFIRM DELETE c")
        await act(uma, "UNSUB b", "CONFIRM UNSUB b")
        await act(olga, "MSG x p1 in x", msg("x"))
        # rita comes back briefly and changes her own membership; tina
        # mirrors it with nothing posted in between.
        M = await self.client(srv, "rita", ALL_INTENTS, name="rita-mid")
        M_ev = s["events_M"]
        await command(M, "UNSUB x", "CONFIRM UNSUB x", M_ev)
        await command(M, "SUB e", "CONFIRM SUB e", M_ev)
        await command(T, "UNSUB x", "CONFIRM UNSUB x", T_ev)
        await command(T, "SUB e", "CONFIRM SUB e", T_ev)
        await sync(M, M_ev)
        await sync(T, T_ev)
        self.assertEqual(len(M_ev), 4, "rita's brief connection: %r" % M_ev)
        await M.wait_closed()
        # Offline, part 2.
        await act(olga, "MSG x p2 in x", msg("x"))
        await act(olga, "MSG e p2 in e", msg("e"))
        await act(uma, "SUB a", "CONFIRM SUB a")
        await act(uma, "MSG a p2 uma in a", msg("a"))
        await act(olga, "CREATE f", "CONFIRM CREATE f")
        await act(olga, "DELETE d", "CONFIRM DELETE d")
        # Bulk, pipelined in chunks the twin drains: several replay pages.
        for k in range(0, bulk, 100):
            n = min(100, bulk - k)
            await olga.post("a", ("bulk %d%s" % (i, pad)
                                  for i in range(k, k + n)))
            await sync(T, T_ev)
        await act(olga, "MSG b p2 in b", msg("b"))
        s["T"] = T
        s["olga"] = olga
        return s

    def check_meaningful(self, replay):
        """The scenario's own expectations, independent of the rule."""
        texts = texts_of(replay)
        for t in ("p1 in a", "p1 uma in b", "p1 last in c", "p1 in x",
                  "p2 in e", "p2 uma in a", "p2 in b"):
            self.assertIn(t, texts, "the replay lacks message %r" % t)
        for t in ("p1 in d", "p1 in e before rita", "p2 in x"):
            self.assertNotIn(t, texts, "the replay has message %r, posted "
                             "where rita was not a member" % t)
        self.assertTrue(any(l.startswith("EVENT user PART c ") and
                            '"username":"rita"' in l and
                            '"reason":"deleted"' in l for l in replay),
                        "the replay lacks rita's PART of deleted channel c")
        self.assertTrue(any(l.startswith("EVENT channel DELETE d ")
                            for l in replay))

    async def test_replay_is_exact(self):
        srv = self.server()
        db = DB(self, srv.db)
        s = await self.offline_scenario(srv, db, bulk=20)
        cursor, epoch = s["cursor"], s["epoch"]
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        replay, head, count = await read_replay(
            F, "RESUME %d %s" % (cursor, epoch))
        self.assertEqual(head, db.head(), "RESUMED head is not the journal's")
        want = expected_events(db, "rita", ALL_INTENTS, cursor, head)
        self.assertEqual(replay, want, "replay differs from the journal by "
                         "the documented rule")
        twin = [l for l in s["events_T"] if cursor < seq_of(l) <= head]
        self.assertEqual(replay, twin, "replay differs from what the twin "
                         "(online all along, same memberships) received")
        self.assertEqual(count, len(replay), "RESUMED count")
        M = s["events_M"]
        lo, hi = seq_of(M[0]), seq_of(M[-1])
        self.assertEqual([l for l in replay if lo <= seq_of(l) <= hi], M,
                         "replay differs from what rita's brief connection "
                         "received live")
        self.check_meaningful(replay)
        await F.nothing_pending()	# nothing more after RESUMED

    async def test_replay_with_live_publisher(self):
        srv = self.server()
        db = DB(self, srv.db)
        # Big enough events that each replay page fills over half of
        # max_output (default 1M): the replay then waits for the client
        # between pages, and the publisher's events land meanwhile.
        s = await self.offline_scenario(srv, db, bulk=1560, pete=True,
                                        pad=" " + "x" * 1500)
        cursor, epoch = s["cursor"], s["epoch"]
        await s["pete"].wait_closed()
        # The publisher runs in a thread with its own event loop, so it
        # keeps posting while this loop reads rita's replay.
        stop = threading.Event()
        started = threading.Event()
        result = {}

        async def publish():
            pete = await Client.connect(srv.url, name="pete", timeout=TIMEOUT)
            try:
                await command(pete, "AUTH " + harness.TOKENS["pete"],
                              "CONFIRM AUTH pete")
                n = 0
                while not stop.is_set() and n < 3000:
                    await pete.post("a", ("live %d" % i
                                          for i in range(n, n + 5)))
                    n += 5
                    if n >= 10:
                        started.set()
                return n
            finally:
                await pete.close()

        def publisher():
            try:
                result["n"] = asyncio.run(publish())
            except BaseException as e:  # reported by the main thread
                result["error"] = e
            finally:
                started.set()

        T_ev = s["events_T"]
        # The twin keeps reading until told to stop by a PING.
        ttask = asyncio.ensure_future(read_until(
            s["T"], lambda l: l == "PONG twin-end", "PONG twin-end", 4 * TIMEOUT))
        pthread = threading.Thread(target=publisher, daemon=True)
        pthread.start()
        loop = asyncio.get_running_loop()
        try:
            self.assertTrue(await loop.run_in_executor(None, started.wait,
                                                       TIMEOUT))
            if "error" in result:
                raise result["error"]
            # A small receive buffer: the server must wait for rita to read
            # the replay, so it lasts while the publisher posts.
            F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                     "RESUME %d %s" % (cursor, epoch),
                                     rcvbuf=8192)
            pre, head, count = await read_replay(
                F, "RESUME %d %s" % (cursor, epoch))
            post = []
            while len(post) < 30 and pthread.is_alive():
                line = await F.recv(what="live events after RESUMED")
                self.assertTrue(line.startswith("EVENT "), line)
                post.append(line)
        finally:
            stop.set()
            await loop.run_in_executor(None, pthread.join, TIMEOUT)
        if "error" in result:
            raise result["error"]
        self.assertFalse(pthread.is_alive(), "the publisher did not stop")
        n = result["n"]
        post += await sync(F)
        await s["T"].send("PING twin-end")
        tl = await asyncio.wait_for(ttask, 4 * TIMEOUT)
        self.assertTrue(all(l.startswith("EVENT ") for l in tl[:-1]), tl[-5:])
        T_ev += tl[:-1]
        final = db.head()

        # Before RESUMED: exactly the events up to its head. Live ones that
        # reached the connection before the RESUME ran may come first; the
        # replay proper is in order after them.
        seqs = [seq_of(l) for l in pre]
        self.assertEqual(len(seqs), len(set(seqs)), "duplicates before RESUMED")
        want = expected_events(db, "rita", ALL_INTENTS, cursor, head)
        self.assertEqual(sorted(pre, key=seq_of), want, "events up to RESUMED "
                         "%d differ from the journal by the documented rule"
                         % head)
        drops = [i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1]]
        self.assertLessEqual(len(drops), 1, "replay out of order")
        early = drops[0] if drops else 0
        self.assertEqual(count, len(pre) - early, "RESUMED count")
        self.check_meaningful(pre)
        self.assertTrue(any(t.startswith("live ") for t in texts_of(pre)),
                        "no live message was posted between the cursor and "
                        "RESUMED; the test did not overlap")
        # After RESUMED: every later event she should get, once, in order.
        self.assertGreater(len(post), 0, "no live events after RESUMED")
        self.assertTrue(all(seq_of(l) > head for l in post),
                        "an event at or below RESUMED's head %d came after it"
                        % head)
        self.assertEqual(post, expected_events(db, "rita", ALL_INTENTS, head,
                                               final),
                         "live events after RESUMED %d: gap, duplicate or "
                         "disorder" % head)
        # And the twin saw the very same lines.
        twin = [l for l in T_ev if cursor < seq_of(l) <= final]
        self.assertEqual(sorted(pre, key=seq_of) + post, twin,
                         "rita (resumed) and the twin differ")
        self.assertGreater(n, 5)

    async def rita_left_a(self, overrides=None):
        """A server where olga made channel a and rita (every intent)
        joined it, then left. Returns (srv, db, olga, rita's cursor: the
        head when she left, epoch)."""
        srv = self.server(overrides)
        db = DB(self, srv.db)
        olga = await self.client(srv, "olga")
        await olga.sub("a", create=True)
        rita = await self.client(srv, "rita", ALL_INTENTS)
        await command(rita, "SUB a", "CONFIRM SUB a")
        cursor, epoch = db.head(), rita.epoch
        await rita.wait_closed()
        return srv, db, olga, cursor, epoch

    async def test_replay_of_large_messages(self):
        # Messages near max_line (4096): a replay of 600 of them is 2.4 MB,
        # more than max_output (1 MB). A client that reads must still get
        # it all; the server paces the replay instead of overflowing.
        srv, db, olga, cursor, epoch = await self.rita_left_a()
        big = "y" * 4000
        for k in range(0, 600, 50):
            await olga.post("a", ("%04d %s" % (i, big)
                                  for i in range(k, k + 50)))
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        try:
            replay, head, count = await read_replay(
                F, "RESUME %d over 600 messages of 4 KB" % cursor)
        except ClientClosed as e:
            raise AssertionError(
                "RESUME %d %s (600 events of ~4 KB to replay, within "
                "resume_max_events): the server closed the connection with "
                "%s %r instead of replaying them; PROTOCOL.md promises the "
                "replay (1013 is for clients that do not read)"
                % (cursor, epoch, e.code, e.reason)) from None
        self.assertEqual((head, count), (db.head(), 600))
        self.assertEqual(replay, [wire(r) for r in db.events(cursor)])

    async def post_to_a(self, olga, n):
        """olga posts n short messages to channel a, 100 at a time."""
        for k in range(0, n, 100):
            await olga.post("a", ("%04d" % i for i in range(k, min(k + 100, n))))

    async def test_stream_rate_paces_a_replay(self):
        # stream_rate 200 lines/s: a replay of 400 events cannot take less
        # than (400 - 3) / 200 s (the bucket holds 10 ms of the rate, 2
        # lines, and a page may overdraw it by one); unpaced it is out
        # within milliseconds. Meanwhile another
        # client's MSG is committed and confirmed (the replay does not hold
        # the server up), and it reaches rita after RESUMED, exactly once.
        srv, db, olga, cursor, epoch = await self.rita_left_a(
            {"stream_rate": "200"})
        await self.post_to_a(olga, 400)
        t0 = time.monotonic()
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        first = await F.recv(what="the replay's first event")
        self.assertTrue(first.startswith("EVENT message CREATE a "), first)
        replay = asyncio.ensure_future(read_replay(
            F, "RESUME %d at stream_rate 200" % cursor))
        live_seq, = await olga.post("a", ["during the replay"])
        self.assertFalse(replay.done(), "RESUMED came before olga's MSG, "
                         "sent after the replay's first event, was "
                         "confirmed: 400 events at stream_rate 200 should "
                         "take about 2 s")
        rest, head, count = await replay
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 1.9, "a replay of 400 events at "
                                "stream_rate 200 ended after %.3f s" % took)
        events = [first] + rest
        self.assertEqual((head, count), (live_seq - 1, 400))
        self.assertEqual(events, [wire(r) for r in db.events(cursor)
                                  if r[0] <= head])
        live = await F.recv(what="olga's live message after RESUMED")
        self.assertEqual(seq_of(live), live_seq, live)
        await F.nothing_pending()	# nothing after the live one

    async def test_keepalive_during_a_long_replay(self):
        # A replay of 300 events at stream_rate 100 takes about 3 s, longer
        # than ping_interval 1 + ping_timeout 1. The client answers the
        # server's pings (websockets does), but its PONGs wait unparsed
        # behind the replay like its commands: they must still count, so
        # the replay ends in RESUMED, not in a 1008 ping timeout.
        srv, db, olga, cursor, epoch = await self.rita_left_a(
            {"stream_rate": "100", "ping_interval": "1",
             "ping_timeout": "1"})
        await self.post_to_a(olga, 300)
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        try:
            replay, head, count = await read_replay(
                F, "RESUME %d at stream_rate 100" % cursor)
        except ClientClosed as e:
            raise AssertionError("closed with %s %r during a replay the "
                                 "client kept reading and answering pings "
                                 "for" % (e.code, e.reason)) from None
        self.assertEqual(count, 300)
        self.assertEqual(replay, [wire(r) for r in db.events(cursor)])

    async def test_input_waits_in_tcp_behind_a_replay(self):
        # While a replay streams, the connection's input is not parsed.
        # The server must leave it in TCP (read at most about max_message
        # + max_line ahead), not buffer whatever the client sends: here
        # 64 KB messages for as long as a 3 s replay runs, up to 256 MB.
        # While the server holds the input, the flood blocks after a few
        # MB (kernel buffers on both sides) and this reader runs: what had
        # been sent when the replay's middle line came (1.5 s in) is
        # bounded. Unbounded, the flood never blocks, and the server read
        # all 256 MB before this reader saw its first line. (Lines at the
        # end may be read after the replay let the flood through.)
        srv, db, olga, cursor, epoch = await self.rita_left_a(
            {"stream_rate": "100"})
        await self.post_to_a(olga, 300)
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        sent = [0]
        blob = "PING " + "x" * 65000

        async def flood():
            while sent[0] < 256 << 20:
                await F.ws.send(blob)
                sent[0] += len(blob)

        pusher = asyncio.ensure_future(flood())
        seen = []
        try:
            while True:
                line = await F.recv(what="the replay and RESUMED")
                if not line.startswith("EVENT "):
                    break
                seen.append(sent[0])
        finally:
            pusher.cancel()
        self.assertRegex(line, r"^RESUMED \d+ 300$")
        self.assertEqual(len(seen), 300)
        self.assertLess(seen[150], 32 << 20, "%d MB of input had gone in "
                        "halfway through the replay" % (seen[150] >> 20))

    # -- RESUME at the head ----------------------------------------------------

    async def test_resume_at_head(self):
        srv = self.server()
        db = DB(self, srv.db)
        olga = await self.client(srv, "olga")
        await olga.sub("a", create=True)
        # olga's guest account, CREATE, SUB, then the message.
        await command(olga, "MSG a one", "CONFIRM MSG a 4")
        head = db.head()
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (head, olga.epoch))
        self.assertEqual(F.head, head)
        # rita's NICK made a guest account (an event nobody receives): the
        # RESUME, which waits for it, replays nothing up to the new head.
        head += 1
        self.assertEqual(db.head(), head)
        await F.expect("RESUMED %d 0" % head)
        await command(F, "RESUME %d" % head, "RESUMED %d 0" % head)
        await F.nothing_pending()
        # The HELLO cursor of a fresh connection works the same.
        G = await self.reconnect(srv, "sam", ALL_INTENTS, None)
        await command(G, "RESUME %d %s" % (G.head, G.epoch),
                      "RESUMED %d 0" % (head + 1))

    # -- snapshots -------------------------------------------------------------

    async def world(self, srv):
        """Channels a, b, c; rita in a and b; messages everywhere."""
        olga = await self.client(srv, "olga")
        uma = await self.client(srv, "uma")
        rita = await self.client(srv, "rita", ALL_INTENTS)
        for ch in ("a", "b", "c"):
            await command(olga, "CREATE " + ch, "CONFIRM CREATE " + ch)
        await olga.sub("a")
        await olga.sub("c")
        await uma.sub("b")
        await command(rita, "SUB b", "CONFIRM SUB b")
        await command(rita, "SUB a", "CONFIRM SUB a")
        for i in range(25):
            await olga.post("a", ["a%d" % i])
        for i in range(3):
            await uma.post("b", ["b%d" % i])
        await olga.post("c", ["c0"])
        await sync(rita)
        return olga, uma, rita

    async def test_snapshot_for_future_cursor(self):
        srv = self.server()
        db = DB(self, srv.db)
        olga, uma, rita = await self.world(srv)
        epoch = rita.epoch
        await rita.wait_closed()
        head = db.head()
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (head + 100, epoch))
        lines = await read_snapshot(F, "RESUME %d (future)" % (head + 100))
        snap = self.check_snapshot(db, lines, "rita", 20, head)
        self.assertEqual(snap["subs"], ["b", "a"])
        self.assertEqual(len(snap["messages"]["a"]), 20)
        self.assertEqual(len(snap["messages"]["b"]), 3)
        # Live events continue from seq+1.
        ev = []
        await command(olga, "MSG a after", "CONFIRM MSG a %d" % (head + 1))
        ev = await sync(F)
        self.assertEqual([seq_of(l) for l in ev], [head + 1])

    async def test_snapshot_for_other_epoch(self):
        srv = self.server()
        db = DB(self, srv.db)
        olga, uma, rita = await self.world(srv)
        epoch = rita.epoch
        other = "%016x" % (int(epoch, 16) ^ 0xffff) if len(epoch) <= 16 \
            else epoch[::-1]
        self.assertNotEqual(other, epoch)
        await rita.wait_closed()
        head = db.head()
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (head - 2, other))
        lines = await read_snapshot(F, "RESUME with another epoch")
        self.check_snapshot(db, lines, "rita", 20, head)
        await F.nothing_pending()

    async def test_snapshot_after_pruning(self):
        srv, db, olga, cursor, epoch = await self.rita_left_a(
            {"retain_events": 5})
        for i in range(30):
            await olga.post("a", ["m%d" % i])
        head = db.head()
        # The server prunes when idle and logs each time it did: look again
        # at every line it prints.

        def pruned():
            first = db.one("SELECT min(seq) FROM events")
            return first is not None and first > cursor + 1
        await srv.wait_until_async(pruned, "retain_events = 5 to prune the "
                                   "journal past seq %d (head %d)"
                                   % (cursor + 1, head), 3 * TIMEOUT)
        self.assertLessEqual(db.one("SELECT count(*) FROM events"), 5 + 0,
                             "more than retain_events kept")
        self.assertEqual(db.head(), head)
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        lines = await read_snapshot(F, "RESUME from a pruned cursor")
        self.check_snapshot(db, lines, "rita", 20, head)
        await F.wait_closed()
        # The oldest cursor still fully retained replays exactly.
        first = db.one("SELECT min(seq) FROM events")
        G = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (first - 1, epoch))
        replay, h, count = await read_replay(G, "RESUME %d" % (first - 1))
        self.assertEqual(h, head)
        self.assertEqual(replay, [wire(r) for r in db.events(first - 1)])
        self.assertEqual(count, len(replay))

    async def test_snapshot_when_too_far_behind(self):
        srv, db, olga, _, epoch = await self.rita_left_a(
            {"resume_max_events": 10})
        for i in range(60):
            await olga.post("a", ["m%d" % i])
        head = db.head()
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (head - 50, epoch))
        lines = await read_snapshot(F, "RESUME 50 behind")
        self.check_snapshot(db, lines, "rita", 20, head)
        await F.wait_closed()
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (head - 11, epoch))
        await read_snapshot(F, "RESUME 11 behind")
        await F.wait_closed()
        # Exactly resume_max_events behind still replays.
        G = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (head - 10, epoch))
        replay, h, count = await read_replay(G, "RESUME 10 behind")
        self.assertEqual((h, count), (head, 10))
        self.assertEqual(replay, [wire(r) for r in db.events(head - 10)])

    async def test_snapshot_command(self):
        srv = self.server()
        db = DB(self, srv.db)
        olga, uma, rita = await self.world(srv)
        head = db.head()
        # Before NICK: SNAPSHOT needs an identity. A new guest: channels,
        # no SUB lines.
        anon = await self.client(srv, name="anon")
        await command(anon, "SNAPSHOT", re.compile(r"ERROR NOTIDENTIFIED .+"))
        await anon.identify("anon")
        head = db.head()
        await anon.send("SNAPSHOT")
        lines = await read_snapshot(anon, "SNAPSHOT of a new guest")
        snap = self.check_snapshot(db, lines, "anon", 20, head)
        self.assertEqual(snap["subs"], [])
        self.assertEqual([c for c, _ in snap["channels"]], ["a", "b", "c"])
        # With a name, while a publisher posts in one of rita's channels:
        # live events after the snapshot start at its seq + 1.
        stop = asyncio.Event()
        started = asyncio.Event()
        ptask = asyncio.ensure_future(post_until(olga, "a", stop, 3000,
                                                 started))
        try:
            await asyncio.wait_for(started.wait(), TIMEOUT)
            await rita.send("SNAPSHOT")
            before = await read_until(rita, lambda l: l.startswith("SNAPSHOT "),
                                      "SNAPSHOT BEGIN")
            lines = before[-1:]
            lines += await read_until(rita, lambda l: not l.startswith(
                "SNAPSHOT ") or l.startswith("SNAPSHOT END"), "SNAPSHOT END")
            after = []
            while len(after) < 20 and not ptask.done():
                after.append(await rita.recv(what="events after SNAPSHOT"))
        finally:
            stop.set()
            await asyncio.wait_for(ptask, TIMEOUT)
        after += await sync(rita)
        snap = parse_snapshot(lines)
        s = snap["BEGIN"]
        self.check_snapshot(db, lines, "rita", 20, s)
        for line in before[:-1]:
            self.assertLessEqual(seq_of(line), s, "event %r before SNAPSHOT "
                                 "BEGIN %d is newer than it" % (line, s))
        self.assertGreater(len(after), 0)
        self.assertEqual([seq_of(l) for l in after],
                         list(range(s + 1, db.head() + 1)),
                         "events after SNAPSHOT END %d" % s)
        self.assertEqual(after, [wire(r) for r in db.events(s)])

    async def test_snapshot_of_large_messages(self):
        # rita is in 15 channels, each with 20 messages near max_line: the
        # snapshot (snapshot_messages = 20) is about 1.2 MB, more than
        # max_output. A client that reads must still get all of it.
        srv = self.server()
        db = DB(self, srv.db)
        olga = await self.client(srv, "olga")
        rita = await self.client(srv, "rita", ALL_INTENTS)
        big = "z" * 4000
        chans = ["big%02d" % i for i in range(15)]
        for ch in chans:
            await olga.sub(ch, create=True)
            await command(rita, "SUB " + ch, "CONFIRM SUB " + ch)
        await rita.wait_closed()
        for ch in chans:
            await olga.post(ch, ("%02d %s" % (i, big) for i in range(20)))
        F = await self.reconnect(srv, "rita", ALL_INTENTS, "SNAPSHOT")
        try:
            lines = await read_snapshot(F, "SNAPSHOT of 300 messages of "
                                             "4 KB")
        except ClientClosed as e:
            raise AssertionError(
                "SNAPSHOT for a user in 15 channels with 20 messages of ~4 KB "
                "each (~1.2 MB): the server closed the connection with %s %r "
                "instead of sending it; PROTOCOL.md: 'A client may send "
                "SNAPSHOT at any time' (1013 is for clients that do not read)"
                % (e.code, e.reason)) from None
        snap = self.check_snapshot(db, lines, "rita", 20, db.head())
        self.assertEqual(sum(len(v) for v in snap["messages"].values()), 300)

    # -- malformed -------------------------------------------------------------

    async def test_malformed_resume(self):
        srv = self.server()
        c = await self.client(srv, name="nobody")
        await command(c, "RESUME 0", re.compile(r"ERROR NOTIDENTIFIED .+"))
        await command(c, "NICK rita", "CONFIRM NICK rita")
        for line in ("RESUME abc", "RESUME -1", "RESUME", "RESUME 1x",
                     "RESUME 0 abc extra", "RESUME +1", "RESUME 0x10"):
            await command(c, line, re.compile(r"ERROR BADARGS .+"))
        await c.nothing_pending()
        # The only event is the guest account rita's NICK made, which no
        # connection receives.
        await command(c, "RESUME 0", "RESUMED 1 0")

    # -- across a restart ------------------------------------------------------

    async def test_resume_across_restart(self):
        srv = self.server()
        db = DB(self, srv.db)
        olga = await self.client(srv, "olga")
        for ch in ("a", "b", "c"):
            await olga.sub(ch, create=True)
        rita = await self.client(srv, "rita", ALL_INTENTS)
        seen = []
        await command(rita, "SUB a", "CONFIRM SUB a", seen)
        await command(rita, "SUB b", "CONFIRM SUB b", seen)
        await sync(rita, seen)
        cursor, epoch = seq_of(seen[-1]), rita.epoch
        await rita.wait_closed()
        await olga.post("a", ["before restart"])
        await olga.post("c", ["not for rita"])
        await command(olga, "UNSUB b", "CONFIRM UNSUB b")
        await olga.close()
        await srv.stop_async()

        await srv.start_async()
        olga = await self.client(srv, "olga")
        self.assertEqual(olga.epoch, epoch)
        await olga.post("a", ["after restart"])
        await olga.sub("b")
        await olga.post("b", ["in b"])
        await command(olga, "CREATE d", "CONFIRM CREATE d")
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        replay, head, count = await read_replay(F, "RESUME across a "
                                                       "restart")
        self.assertEqual(head, db.head())
        self.assertEqual(replay, expected_events(db, "rita", ALL_INTENTS,
                                                 cursor, head))
        self.assertEqual(count, len(replay))
        self.assertEqual(texts_of(replay), ["before restart", "after restart",
                                            "in b"])
        await F.nothing_pending()

    # -- HISTORY ---------------------------------------------------------------

    async def history(self, c, args, ch):
        await c.send("HISTORY %s%s" % (ch, args))
        lines = await read_until(c, lambda l: not l.startswith(
            "HISTORY %s " % ch), "CONFIRM HISTORY %s" % ch)
        self.assertEqual(lines[-1], "CONFIRM HISTORY %s %d"
                         % (ch, len(lines) - 1), "HISTORY %s%s" % (ch, args))
        return [l[len("HISTORY %s " % ch):] for l in lines[:-1]]

    async def test_history_before_0_is_empty(self):
        """No message has a seq below 0 (or 1): BEFORE 0 and BEFORE 1 are
        empty pages, not the newest messages (issue 10, item 11)."""
        srv = self.server()
        olga = await self.client(srv, "olga")
        await olga.sub("z", create=True)
        await olga.post("z", ["first", "second"])
        self.assertEqual(len(await self.history(olga, "", "z")), 2)
        self.assertEqual(await self.history(olga, " BEFORE 0", "z"), [],
                         "HISTORY z BEFORE 0 returned messages")
        self.assertEqual(await self.history(olga, " BEFORE 1 LIMIT 5", "z"),
                         [], "HISTORY z BEFORE 1 returned messages")

    async def test_history(self):
        srv = self.server({"history_max": 10})
        db = DB(self, srv.db)
        olga = await self.client(srv, "olga")
        anon = await self.client(srv, name="anon")
        await command(anon, "HISTORY h", re.compile(r"ERROR NOTIDENTIFIED .+"))
        for ch in ("h", "o"):
            await olga.sub(ch, create=True)
        for i in range(37):
            await olga.post("h", ["h%d" % i])
            if i % 3 == 0:
                await olga.post("o", ["o%d" % i])
        all_h = [r[0] for r in db.q(
            "SELECT data FROM events WHERE type = 'message' AND "
            "resource = 'h' ORDER BY seq DESC")]
        self.assertEqual(len(all_h), 37)
        rita = await self.client(srv, "rita")
        await command(rita, "HISTORY h", re.compile(r"ERROR NOTMEMBER .+"))
        await command(rita, "HISTORY nosuch", re.compile(r"ERROR NOSUCHCHANNEL .+"))
        await command(olga, "HISTORY nosuch", re.compile(r"ERROR NOSUCHCHANNEL .+"))
        # Default: history_max newest, newest first.
        self.assertEqual(await self.history(olga, "", "h"), all_h[:10])
        self.assertEqual(await self.history(olga, " LIMIT 3", "h"), all_h[:3])
        self.assertEqual(await self.history(olga, " LIMIT 10", "h"), all_h[:10])
        await command(olga, "HISTORY h LIMIT 11", re.compile(r"ERROR BADARGS .+"))
        await command(olga, "HISTORY h LIMIT abc", re.compile(r"ERROR BADARGS .+"))
        await command(olga, "HISTORY h BEFORE", re.compile(r"ERROR BADARGS .+"))
        # Paging with BEFORE reaches every message exactly once.
        pages, got, before = 0, [], None
        while True:
            args = " LIMIT 7" if before is None else " BEFORE %d LIMIT 7" % before
            page = await self.history(olga, args, "h")
            pages += 1
            self.assertLess(pages, 20, "paging does not end")
            if not page:
                break
            got += page
            before = min(json.loads(d)["seq"] for d in page)
        self.assertEqual(got, all_h, "paging back with BEFORE")
        self.assertEqual(pages, 7)
        # Option order does not matter; BEFORE alone uses history_max.
        mid = json.loads(all_h[15])["seq"]
        self.assertEqual(await self.history(olga, " LIMIT 4 BEFORE %d" % mid,
                                            "h"), all_h[16:20])
        self.assertEqual(await self.history(olga, " BEFORE %d" % mid, "h"),
                         all_h[16:26])
        # Members only: rita after joining sees it all; olga after leaving not.
        await rita.sub("h")
        self.assertEqual(await self.history(rita, "", "h"), all_h[:10])
        await command(olga, "UNSUB o", "CONFIRM UNSUB o")
        await command(olga, "HISTORY o", re.compile(r"ERROR NOTMEMBER .+"))


if __name__ == "__main__":
    main(daemon_required=True)
