"""
test_faults.py: journal faults are noticed (issue 10, items 8 and 10).

A database file deleted under the running server, or with its pages
overwritten, makes the journal refuse every write: ERROR INTERNAL and never
a CONFIRM for a write that is not durable in the file at the path, one
critical log line, and /healthz answering 503 with the state. A database
with a row the schema should never have allowed (a NULL channel name) is
refused at start with a line naming the file, the table and the row, not
a crash.

Nothing here sleeps: every wait is for a line, a reply or a process exit.
"""

import glob
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (SLOW_TIMEOUT, JournalTestCase, command,  # noqa: E402
                     http_request, main, plain_request, read_until)

CRIT = r"CRITICAL: journal \S+: "
REFUSED = re.compile(r"^ERROR INTERNAL .+")


class FaultTest(JournalTestCase):

    def healthz(self, d):
        resp = http_request(d.port, plain_request(d.hostport, "/healthz"))
        return resp.status, json.loads(resp.body)

    async def history(self, c, ch):
        await c.send("HISTORY %s" % ch)
        lines = await read_until(c, lambda l: not l.startswith(
            "HISTORY %s " % ch), "CONFIRM HISTORY %s" % ch)
        self.assertEqual(lines[-1], "CONFIRM HISTORY %s %d"
                         % (ch, len(lines) - 1))
        return [json.loads(l.split(" ", 2)[2])["text"] for l in lines[:-1]]

    def assert_broken(self, d, why, attempted=True):
        """/healthz says broken, why; attempted: a write reached the
        writer after start-up and was refused there (once the fault is
        known, the dispatcher refuses writes before they get so far)."""
        status, h = self.healthz(d)
        self.assertEqual(status, 503, "/healthz of a broken journal: %r" % h)
        self.assertEqual(h["status"], "broken", h)
        self.assertRegex(h["journal"]["broken"] or "", why, h)
        last = h["journal"]["last_commit"]
        if not attempted:
            self.assertIsNone(last, h)
            return
        self.assertIsNotNone(last, h)
        self.assertIs(last["ok"], False, h)
        self.assertIsInstance(last["age_ms"], int, h)
        self.assertRegex(last["error"] or "", "refused", h)

    async def test_healthz_ok_reports_last_commit(self):
        srv = self.server()
        status, h = self.healthz(srv)
        self.assertEqual((status, h["status"]), (200, "ok"), h)
        self.assertEqual(h["journal"], {"broken": None, "last_commit": None})
        c = await self.client(srv, "ola")
        await c.sub("ok", create=True)
        status, h = self.healthz(srv)
        self.assertEqual((status, h["status"]), (200, "ok"), h)
        last = h["journal"]["last_commit"]
        self.assertIs(last["ok"], True, h)
        self.assertGreaterEqual(last["age_ms"], 0, h)
        self.assertIsNone(last["error"], h)

    async def test_healthz_failing_after_a_failed_commit(self):
        """One failed commit (debug builds: WSCHAT_FAIL_STEP) is 'failing'
        with 503, not 'broken': the next commit succeeds, and /healthz
        is 'ok' again."""
        if not harness.debug_build():
            self.skipTest("release build: WSCHAT_FAIL_STEP is ignored")
        srv = self.server(start=False)
        await srv.start_async({"WSCHAT_FAIL_STEP": "1"})
        # The first write fails: since guest accounts, that is the NICK.
        c = await self.client(srv, name="fay")
        await command(c, "NICK fay", "ERROR INTERNAL journal write failed")
        status, h = self.healthz(srv)
        self.assertEqual((status, h["status"]), (503, "failing"), h)
        self.assertIsNone(h["journal"]["broken"], h)
        last = h["journal"]["last_commit"]
        self.assertIs(last["ok"], False, h)
        self.assertRegex(last["error"] or "", "disk I/O error", h)
        await command(c, "NICK fay", "CONFIRM NICK fay")
        await command(c, "CREATE f", "CONFIRM CREATE f")
        status, h = self.healthz(srv)
        self.assertEqual((status, h["status"]), (200, "ok"), h)
        self.assertIs(h["journal"]["last_commit"]["ok"], True, h)
        self.assertIsNone(srv.log_search(CRIT))

    async def test_deleted_database(self):
        srv = self.server()
        c = await self.client(srv, "dora")
        await c.sub("d", create=True)
        await c.post("d", ["one", "two", "three"])
        status, h = self.healthz(srv)
        self.assertEqual(status, 200, h)

        os.unlink(srv.db)
        await command(c, "MSG d lost", REFUSED)
        srv.wait_log(CRIT + "the database file was moved or deleted")
        # Once the journal is known broken, a write is refused by the
        # dispatcher, before anything is applied or sent to the writer.
        for line in ("MSG d lost too", "CREATE other", "SUB d",
                     "UNSUB d", "DELETE d"):
            await command(c, line, "ERROR INTERNAL the journal refuses "
                          "writes until it is restored; nothing was changed")
        n = await self.client(srv, name="nobody")
        await command(n, "NICK nobody", "ERROR INTERNAL the journal refuses "
                      "writes until it is restored; nothing was changed")
        await command(n, "PING", "PONG")
        await n.close()
        self.assert_broken(srv, "moved or deleted")
        # The copy it made of what it still had open.
        m = srv.wait_log(CRIT + r"what this process had committed is "
                         r"saved in (\S+)$")
        rescued = m.group(1)
        self.assertTrue(os.path.isfile(rescued), rescued)
        self.assertEqual(len(srv.log_matches(CRIT + "the database file")), 1,
                         "the fault is not logged critically exactly once")
        # Reads still work, from what the process has open.
        self.assertEqual(await self.history(c, "d"), ["three", "two", "one"])
        await c.close()
        await srv.stop_async()

        # Put the copy back: everything confirmed is there, nothing else.
        for suffix in ("-wal", "-shm"):
            if os.path.exists(srv.db + suffix):
                os.unlink(srv.db + suffix)
        os.replace(rescued, srv.db)
        await srv.start_async()
        c = await self.client(srv, "dora")
        self.assertEqual(await self.history(c, "d"), ["three", "two", "one"])
        await command(c, "LIST", "LIST 1 d")
        await command(c, "MSG d back", re.compile(r"^CONFIRM MSG d \d+$"))

    async def test_deleted_wal(self):
        """The WAL deleted under the server: commits into it would be lost
        by a crash, and another process does not see them. Refused."""
        srv = self.server()
        c = await self.client(srv, "walt")
        await c.sub("w", create=True)
        await c.post("w", ["kept"])
        self.assertTrue(os.path.exists(srv.db + "-wal"))
        os.unlink(srv.db + "-wal")
        await command(c, "MSG w lost", REFUSED)
        srv.wait_log(CRIT + "the database's WAL file was moved or deleted")
        self.assert_broken(srv, "WAL file was moved or deleted")
        m = srv.wait_log(CRIT + r"what this process had committed is "
                         r"saved in (\S+)$")
        con = sqlite3.connect("file:%s?mode=ro" % m.group(1), uri=True)
        texts = [r[0] for r in con.execute(
            "SELECT text FROM messages ORDER BY seq")]
        con.close()
        self.assertEqual(texts, ["kept"])
        await c.close()
        await srv.stop_async()

    async def test_corrupt_pages(self):
        srv = self.server()
        c = await self.client(srv, "cora")
        await c.sub("c", create=True)
        await c.post("c", ["m%d" % i for i in range(20)])
        await c.close()
        await srv.stop_async()		# a clean stop: all of it in the file
        self.assertFalse(os.path.exists(srv.db + "-wal"))
        await srv.start_async()
        c = await self.client(srv, "cora")

        # Overwrite every page after the first (the schema) with garbage.
        with sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True) as db:
            page = db.execute("PRAGMA page_size").fetchone()[0]
        db.close()
        size = os.path.getsize(srv.db)
        self.assertGreater(size, page)
        with open(srv.db, "r+b") as f:
            f.seek(page)
            f.write(bytes([0xa5]) * (size - page))
            f.flush()
            os.fsync(f.fileno())

        # The periodic check notices within a second, without any traffic.
        srv.wait_log(CRIT + r"[a-z ]+: database disk image is malformed")
        status, h = self.healthz(srv)
        self.assertEqual((status, h["status"]), (503, "broken"), h)
        await command(c, "MSG c after", REFUSED)
        await command(c, "MSG c after again", REFUSED)
        self.assert_broken(srv, "malformed", attempted=False)
        self.assertEqual(len(srv.log_matches(CRIT)), 1,
                         "the fault is not logged critically exactly once")
        await c.close()
        await srv.stop_async()

        # A restart refuses the malformed file, clearly, without a crash.
        r = subprocess.run([srv.path, "-f", srv.conf], cwd=srv.dir,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=SLOW_TIMEOUT)
        out = r.stdout.decode("utf-8", "replace")
        self.assertGreater(r.returncode, 0, "restart on a malformed file: "
                           "rc %d\n%s" % (r.returncode, out))
        self.assertRegex(out, re.escape(srv.db) + ".*malformed", out)

    # -- a NULL name in the state tables (item 10) ------------------------

    def old_database(self, path):
        """A database as migrations 0001 to 0003 left it (the schema
        before NOT NULL), with one channel a, and a row with a NULL
        name, written by hand."""
        top = os.environ.get("WSCHAT_SRCDIR") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..")
        con = sqlite3.connect(path, isolation_level=None)
        for name in ("0001-init.sql", "0002-run-state.sql",
                     "0003-accounts.sql"):
            with open(os.path.join(top, "migrations", name),
                      encoding="utf-8") as f:
                con.executescript(f.read())
        ts = 1764000000000
        con.execute("INSERT INTO events VALUES (1, ?, 'channel', 'CREATE', "
                    "'a', 'olga', ?)",
                    (ts, '{"seq":1,"ts":%d,"username":"olga"}' % ts))
        con.execute("INSERT INTO channels VALUES ('a', 'olga', 1, ?)", (ts,))
        con.execute("INSERT INTO users VALUES ('olga', 1, ?, 1, ?)", (ts, ts))
        con.execute("INSERT INTO channels VALUES (NULL, 'olga', 1, ?)", (ts,))
        con.execute("PRAGMA user_version = 3")
        con.close()

    def start_refused(self, srv, pattern):
        """Start wschatd on srv's files; it must exit with a status, not
        a signal, and print a line matching pattern."""
        r = subprocess.run([srv.path, "-f", srv.conf], cwd=srv.dir,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=SLOW_TIMEOUT)
        out = r.stdout.decode("utf-8", "replace")
        self.assertGreater(r.returncode, 0, "start: rc %d (a negative rc "
                           "is a signal)\n%s" % (r.returncode, out))
        self.assertRegex(out, pattern, out)
        self.assertIsNone(harness.sanitizer_report(out.splitlines()), out)
        return out

    async def test_null_channel_name_in_old_schema(self):
        """The migration to NOT NULL refuses the bad row, clearly, and
        leaves the database as it was."""
        srv = self.server(start=False)
        self.old_database(srv.db)
        self.start_refused(srv, r"migration 0004-not-null: CHECK constraint "
                           r"failed: channels has a row with a NULL name")
        con = sqlite3.connect(srv.db)
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 3)
        # Fixed by hand, as the refusal says, it starts and migrates.
        con.execute("DELETE FROM channels WHERE name IS NULL")
        con.commit()
        con.close()
        await srv.start_async()
        c = await self.client(srv, "olga")
        await command(c, "LIST", "LIST 1 a")

    async def test_null_channel_name_past_the_constraint(self):
        """A NULL name that got in anyway (the schema edited around the
        constraint) is refused at load as file: table row: reason, and
        wschatctl check names the row."""
        srv = self.server()
        c = await self.client(srv, "olga")
        await c.sub("a", create=True)
        await c.close()
        await srv.stop_async()
        con = sqlite3.connect(srv.db, isolation_level=None)
        con.execute("PRAGMA writable_schema = ON")
        con.execute("UPDATE sqlite_schema SET sql = replace(sql, "
                    "'TEXT NOT NULL PRIMARY KEY', 'TEXT PRIMARY KEY') "
                    "WHERE name = 'channels'")
        con.close()
        con = sqlite3.connect(srv.db, isolation_level=None)
        con.execute("INSERT INTO channels (name, creator, created_seq, "
                    "created_ts) VALUES (NULL, 'olga', 1, 1)")
        rowid = con.execute("SELECT rowid FROM channels WHERE name IS NULL"
                            ).fetchone()[0]
        con.close()
        self.start_refused(srv, re.escape(srv.db) + r": channels row %d: "
                           r"name is NULL" % rowid)
        r = harness.wschatctl(srv.db, "check")
        if r is not None:
            rc, out, err = r
            self.assertNotEqual(rc, 0, (out, err))
            self.assertRegex(out + err, r"NULL where a value is needed: "
                             r"channels %d name" % rowid, (out, err))


if __name__ == "__main__":
    main(daemon_required=True)
