"""
Output and CPU under abuse (issue 10, items 2, 3 and 7): what one client
can make the server hold or compute is bounded.

- Replies queued behind a pending commit count against max_output and stop
  the connection's input past reply_budget; HISTORY pages like SNAPSHOT.
- A stream that does not drain for stream_stall_timeout is closed 1013, so
  an unread SNAPSHOT cannot pin the WAL; held input is life only while
  output moves.
- Expensive commands cost more of the rate limit; RESUME's membership test
  is a hash set.

Every resource figure is read from /proc/<pid> of the daemon: VmHWM (peak
RSS) and the CPU time in /proc/<pid>/stat. Waits are for lines and
conditions, never sleeps.
"""

import asyncio
import os
import random
import re
import struct
import threading
import time

import harness

BIG = "x" * 4000		# a 4 KB message


def vm_kb(pid, field):
    with open("/proc/%d/status" % pid, encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def cpu_s(pid):
    """User + system CPU seconds the process has used."""
    with open("/proc/%d/stat" % pid, encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class AbuseOutputTest(harness.WschatTestCase):

    def start(self, d, delay_ms=None):
        """Start d for a test of its memory: with commits delay_ms late
        (debug builds), and, under AddressSanitizer, no quarantine of
        freed memory, which would count in VmHWM as if it were kept."""
        env = {"ASAN_OPTIONS": ":".join(filter(None, (
            os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=0",
            "thread_local_quarantine_size_kb=0")))}
        if delay_ms is not None and harness.debug_build():
            env["WSCHAT_COMMIT_DELAY_MS"] = str(delay_ms)
        d.start(env)
        return d

    async def big_channel(self, d, nick="filler", n=100):
        """Channel big with n 4 KB messages, posted by nick."""
        c = await self.client(d, nick=nick)
        await c.sub("big", create=True)
        for i in range(0, n, 50):
            await c.post("big", ("%d %s" % (j, BIG) for j in range(i, min(n, i + 50))))
        return c

    # --- item 2: replies behind a commit --------------------------------------

    async def test_replies_behind_commit_are_bounded(self):
        d = self.new_daemon({"rate_limit": 0, "ping_interval": 0},
                            start=False)
        self.start(d, delay_ms=200)
        await self.big_channel(d)
        before = vm_kb(d.pid, "VmHWM")
        r = self.raw(d)
        r.send_text("NICK abuser")
        r.expect("CONFIRM NICK abuser")
        r.send_text("SUB big")
        r.expect("CONFIRM SUB big")
        n = 190
        r.send_lines(["MSG big hello"] + ["HISTORY big LIMIT 100"] * n)
        got = r.read_text()
        self.assertRegex(got, r"^CONFIRM MSG big \d+$")
        for i in range(n):
            rows = 0
            while True:
                line = r.read_text()
                if line.startswith("CONFIRM HISTORY"):
                    break
                self.assertTrue(line.startswith("HISTORY big "), line[:80])
                rows += 1
            self.assertEqual(line, "CONFIRM HISTORY big 100",
                             "reply %d of %d" % (i, n))
            self.assertEqual(rows, 100)
        after = vm_kb(d.pid, "VmHWM")
        print("VmHWM before %d kB, after %d kB (+%d)" % (before, after, after - before))
        self.assertLess(after - before, 16 * 1024)

    async def test_deferred_replies_hold_input(self):
        """PINGs pipelined behind a MSG whose commit is late: their PONGs
        wait for it. They count against max_output, and past reply_budget
        the server stops reading, so it keeps about that much, and every
        reply still arrives, in order."""
        d = self.new_daemon({"rate_limit": 0, "ping_interval": 0,
                             "reply_budget": "64K"}, start=False)
        self.start(d, delay_ms=300)
        c = await self.client(d, nick="poster")
        await c.sub("room", create=True)
        r = self.raw(d)
        r.send_text("NICK piper")
        r.expect("CONFIRM NICK piper")
        r.send_text("SUB room")
        r.expect("CONFIRM SUB room")
        before = vm_kb(d.pid, "VmHWM")
        n, pad = 2000, "p" * 3000
        data = harness.frame(harness.OP_TEXT, b"MSG room hello") + b"".join(
            harness.frame(harness.OP_TEXT, ("PING %d%s" % (i, pad)).encode())
            for i in range(n))
        errors = []

        def writer():
            try:
                r.send(data)
            except OSError as e:
                errors.append(e)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        try:
            self.assertRegex(r.read_text(), r"^CONFIRM MSG room \d+$")
            for i in range(n):
                got = r.read_text()
                if got != "PONG %d%s" % (i, pad):
                    self.fail("reply %d: %r" % (i, got[:60]))
        finally:
            t.join(harness.TIMEOUT)
        self.assertEqual(errors, [])
        after = vm_kb(d.pid, "VmHWM")
        print("VmHWM before %d kB, after %d kB (+%d)"
              % (before, after, after - before))
        self.assertLess(after - before, 4 * 1024,
                        "%d PINGs of 3 KB behind a late commit" % n)
        await self.assert_alive(d)

    # --- item 3: an unread stream -----------------------------------------

    STALL = dict(rate_limit=0, ping_interval=0, max_output="64K",
                 send_buffer="4K", snapshot_messages=100)

    def pin_snapshot(self, d, nick="abuser", pings=3500, begun=False,
                     pad=100):
        """A raw client with a 4 KB receive buffer, in channel big, sends
        SNAPSHOT and many PINGs and never reads again. Returns it and the
        thread that writes (it blocks once the server stops reading): the
        PINGs are more than the server reads ahead of held input."""
        r = self.raw(d, rcvbuf=4096)
        for line in ("NICK " + nick, "SUB big"):
            r.send_text(line)
            r.expect("CONFIRM " + line)
        if begun:	# its cursor is open once SNAPSHOT BEGIN is out
            r.send_text("SNAPSHOT")
            self.assertRegex(r.read_text(), r"^SNAPSHOT BEGIN \d+$")
        data = (b"" if begun else harness.frame(harness.OP_TEXT, b"SNAPSHOT")) + b"".join(
            harness.frame(harness.OP_TEXT, b"PING %d%s" % (i, b"p" * pad))
            for i in range(pings))

        def writer():
            try:
                r.send(data)
            except OSError:
                pass		# closed under us: that is the point
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        self.addCleanup(t.join, harness.TIMEOUT)
        return r, t

    def wal_header(self, d):
        """The WAL's checkpoint sequence and first salt: both change when
        the WAL is recycled (written again from its start)."""
        with open(d.db + "-wal", "rb") as f:
            return struct.unpack(">IIIIII", f.read(24))[3:5]

    def wal_bytes(self, d):
        try:
            return os.path.getsize(d.db + "-wal")
        except OSError:
            return 0

    async def test_unread_snapshot_closed_1013(self):
        """A client that sends SNAPSHOT and never reads is closed 1013
        within stream_stall_timeout, and the WAL it pinned is recycled
        while others post."""
        stall = 2
        d = self.daemon(stream_stall_timeout=stall, **self.STALL)
        poster = await self.big_channel(d, nick="poster")
        mark = d.mark()
        t0 = time.monotonic()
        r, t = self.pin_snapshot(d)
        posted = 0
        closed = None
        while closed is None and time.monotonic() - t0 < stall + 10:
            await poster.post("big", ("%d %s" % (i, BIG) for i in range(20)))
            posted += 20
            closed = d.log_search(r"closing: 1013 slow consumer: stream did "
                                  r"not drain", since=mark)
        self.assertIsNotNone(closed, "an unread SNAPSHOT was not closed "
                             "within %ds (stream_stall_timeout = %d)"
                             % (stall + 10, stall))
        elapsed = time.monotonic() - t0
        wal_pinned = self.wal_bytes(d)
        header = self.wal_header(d)
        self.assertLess(elapsed, stall + 3, "closed after %.1fs" % elapsed)
        # What the client reads now ends with our close frame.
        reason, _ = r.expect_close(1013, allow_data=True)
        self.assertIn("stream_stall_timeout", reason)
        # The WAL is recycled: 12 MB more of posts start it over, and
        # grow it by much less than they add (while pinned, each post
        # adds more than its 4 KB).
        for _ in range(15):
            await poster.post("big", ("%d %s" % (i, BIG) for i in range(200)))
        wal_after = self.wal_bytes(d)
        self.assertNotEqual(self.wal_header(d), header,
                            "the WAL was not recycled after the close")
        print("closed after %.2fs; %d posts while pinned; WAL %d kB then, "
              "%d kB after 3000 more posts" % (elapsed, posted,
                                              wal_pinned // 1024,
                                              wal_after // 1024))
        # journal_size_limit (16 MiB) is what a recycled WAL keeps.
        self.assertLessEqual(wal_after, max(wal_pinned, 16 << 20) + (4 << 20),
                             "the WAL grew after the pinning client was "
                             "closed")
        await self.assert_alive(d)

    async def test_unread_stream_input_is_not_life(self):
        """Held input keeps a connection alive only while its output
        moves: a client that sends SNAPSHOT and PINGs and never reads is
        closed by keepalive (1008), whatever the stall timeout."""
        d = self.daemon(**dict(self.STALL, stream_stall_timeout=3600,
                               ping_interval=1, ping_timeout=2))
        await self.big_channel(d, nick="poster")
        mark = d.mark()
        t0 = time.monotonic()
        self.pin_snapshot(d)
        d.wait_log(r"client \d+ \(127\.0\.0\.1:\d+ abuser\): closing: "
                   r"1008 ping timeout", since=mark, timeout=8)
        self.assertLess(time.monotonic() - t0, 6)

    async def test_snapshot_readers_are_capped(self):
        """Over max_snapshots open at once, SNAPSHOT gets ERROR LIMIT."""
        d = self.daemon(max_snapshots=1, stream_stall_timeout=60,
                        **self.STALL)
        await self.big_channel(d, nick="poster")
        mark = d.mark()
        self.pin_snapshot(d, pings=10, begun=True)
        other = await self.client(d, nick="other")
        got = await other.cmd_prefix("SNAPSHOT", "ERROR ")
        self.assertRegex(got, r"^ERROR LIMIT .*max_snapshots.*try again")
        await other.cmd("PING after", "PONG after")

    # --- item 7: CPU amplification -----------------------------------------

    async def pipeline(self, c, lines, reply_rx):
        """Send lines in rounds of 500, each reply matching reply_rx."""
        lines = list(lines)
        for i in range(0, len(lines), 500):
            chunk = lines[i:i + 500]
            await asyncio.wait_for(asyncio.gather(
                *[c.ws.send(line) for line in chunk]), c.timeout)
            for _ in chunk:
                await c.expect_match(reply_rx)

    async def resume_cpu(self, d, nick, cursor, epoch):
        """CPU seconds the server spends on one RESUME of nick from cursor
        (with the message intent), from the send to RESUMED."""
        c = await self.client(d, nick=nick)
        await c.cmd("SUBEVENT message", "CONFIRM SUBEVENT message")
        t0 = cpu_s(d.pid)
        await c.send("RESUME %d %s" % (cursor, epoch))
        got = await c.recv(timeout=60, what="RESUMED")
        used = cpu_s(d.pid) - t0
        self.assertRegex(got, r"^RESUMED \d+ 0$")
        await c.close()
        return used

    async def test_resume_membership_is_not_a_scan(self):
        """RESUME by a user in many channels, over many events of another
        channel, costs about what it costs a user in one channel: the
        replay's membership test is a set lookup, not a scan."""
        nchan, nev = 3000, 30000
        d = self.daemon(rate_limit=0, ping_interval=0,
                        max_channels=nchan + 10, stream_rate=0,
                        max_creates_per_hour=0, max_channels_owned=0,
                        max_channels_joined=0)
        prefix = "c" * 24
        member = await self.client(d, nick="member")
        await self.pipeline(member, ("CREATE %s%04d" % (prefix, i)
                                     for i in range(nchan)),
                            r"CONFIRM CREATE \S+")
        await self.pipeline(member, ("SUB %s%04d" % (prefix, i)
                                     for i in range(nchan)),
                            r"CONFIRM SUB \S+")
        await member.close()
        loner = await self.client(d, nick="loner")
        await loner.sub(prefix + "0000")
        await loner.close()
        poster = await self.client(d, nick="poster")
        await poster.sub(prefix + "zzzz", create=True)
        cursor = poster.head	# before every event of the channel
        await self.pipeline(poster, ("MSG %szzzz m%d" % (prefix, i)
                                     for i in range(nev)),
                            r"CONFIRM MSG \S+ \d+")
        epoch = poster.epoch
        base = await self.resume_cpu(d, "loner", cursor, epoch)
        many = await self.resume_cpu(d, "member", cursor, epoch)
        print("RESUME over %d events: %.3f s CPU in 1 channel, %.3f s in %d"
              % (nev, base, many, nchan))
        self.assertLess(many, 3 * base + 0.1,
                        "a user in %d channels: %.3f s of CPU against %.3f s "
                        "in one" % (nchan, many, base))

    async def test_resume_membership_set_churn(self):
        """The membership set stays right through many JOINs and PARTs
        inside the replay (inserts, growth, removals inside probe runs):
        the replay is exactly what the documented rule says."""
        nchan, nops = 300, 3000
        d = self.daemon(rate_limit=0, ping_interval=0, max_channels=nchan,
                        max_creates_per_hour=0, max_channels_owned=0,
                        max_channels_joined=0)
        names = ["ch%03d" % i for i in range(nchan)]
        churn = await self.client(d, nick="churn")
        await self.pipeline(churn, ("CREATE " + n for n in names),
                            r"CONFIRM CREATE \S+")
        poster = await self.client(d, nick="poster")
        await self.pipeline(poster, ("SUB " + n for n in names),
                            r"CONFIRM SUB \S+")
        joined = set(random.Random(7).sample(names, nchan // 2))
        await self.pipeline(churn, ("SUB " + n for n in sorted(joined)),
                            r"CONFIRM SUB \S+")
        cursor = (await self.client(d)).head
        rng = random.Random(10)
        for _ in range(nops):
            n = rng.choice(names)
            if rng.random() < 0.6:
                await poster.post(n, ["m"])
            elif n in joined:
                await churn.cmd("UNSUB " + n, "CONFIRM UNSUB " + n)
                joined.discard(n)
            else:
                await churn.cmd("SUB " + n, "CONFIRM SUB " + n)
                joined.add(n)
        await churn.close()
        await churn.ws.wait_closed()
        head = (await self.client(d)).head
        back = await self.client(d, nick="churn", intents=("message",))
        await back.send("RESUME %d %s" % (cursor, back.epoch))
        events, rhead, count = await harness.read_replay(back, "RESUME")
        want = harness.expected_events(harness.DB(self, d.db), "churn",
                                       ("message",), cursor, head)
        self.assertEqual(rhead, head)
        self.assertEqual(count, len(want))
        self.assertEqual(events, want)

    async def test_rate_limit_weighs_expensive_commands(self):
        """The same burst of the same number of commands: PINGs all pass,
        SNAPSHOTs (each a database connection and a read) are refused
        after a few, because each costs more of the token bucket."""
        d = self.daemon(rate_limit=1, rate_burst=50, rate_strikes=1000,
                        ping_interval=0)
        n = 50

        def answers(lines, done, nick=None):
            r = self.raw(d)
            if nick is not None:	# SNAPSHOT needs an identity
                r.send_text("NICK " + nick)
                r.expect("CONFIRM NICK " + nick)
            r.send_lines(lines)
            out = []
            while len(out) < n:
                line = r.read_text()
                if done(line):
                    out.append(line)
            r.close()
            return out
        pings = answers(["PING %d" % i for i in range(n)],
                        lambda l: l.startswith(("PONG", "ERROR")))
        self.assertEqual(pings, ["PONG %d" % i for i in range(n)])
        snaps = answers(["SNAPSHOT"] * n,
                        lambda l: l.startswith(("SNAPSHOT END", "ERROR")),
                        nick="flood")
        served = sum(l.startswith("SNAPSHOT END") for l in snaps)
        refused = sum(l.startswith("ERROR RATELIMITED") for l in snaps)
        print("of %d pipelined SNAPSHOTs %d served, %d refused"
              % (n, served, refused))
        self.assertEqual(served + refused, n, snaps)
        self.assertLessEqual(served, 5, "rate_burst 50 let %d SNAPSHOTs "
                             "through" % served)

    async def test_stream_rate_counts_skipped_rows(self):
        """stream_rate is a budget of the work of all streams: a replay of
        events the client does not want reads rows at that rate too, not
        as fast as the loop turns."""
        rate, nev = 2000, 4000
        d = self.daemon(rate_limit=0, ping_interval=0, stream_rate=rate)
        loner = await self.client(d, nick="loner")
        await loner.sub("quiet", create=True)
        await loner.close()
        poster = await self.client(d, nick="poster")
        await poster.sub("busy", create=True)
        cursor = poster.head
        await self.pipeline(poster, ("MSG busy m%d" % i for i in range(nev)),
                            r"CONFIRM MSG \S+ \d+")
        c = await self.client(d, nick="loner", intents=("message",))
        t0 = time.monotonic()
        await c.send("RESUME %d %s" % (cursor, c.epoch))
        got = await c.recv(timeout=30, what="RESUMED")
        took = time.monotonic() - t0
        self.assertRegex(got, r"^RESUMED \d+ 0$")
        print("a replay of %d unwanted events at stream_rate %d: %.2f s"
              % (nev, rate, took))
        self.assertGreater(took, 0.5 * nev / rate)


if __name__ == "__main__":
    harness.main()
