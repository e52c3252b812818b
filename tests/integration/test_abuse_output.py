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
import re
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
        env = {}
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


if __name__ == "__main__":
    harness.main()
