"""
test_epoch.py: when a restart takes a new epoch (docs/SCHEMA.md, "When the
epoch changes"). After an unclean end with journal_sync = normal and a
reboot, the last commits may be lost and their seqs handed out again: a
client that saw them must get a snapshot, not a replay of other events
under the same numbers. A kill -9 on a machine that stays up, a clean
shutdown, or journal_sync = full lose nothing: the epoch stays and RESUME
replays exactly. A restored wschatctl backup, and a run_state this wschatd
does not know, take a new epoch too.

A reboot is simulated by rewriting meta.run_boot while the daemon is down
(the boot id the last run recorded then differs from this boot's), and a
power loss by putting back a copy of the database taken a few commits
before the kill.

Nothing here sleeps: every wait is for a line, an event, a close or a
process exit, and fails the test when its timeout runs out.
"""

import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (ALL_INTENTS, DB, SLOW_TIMEOUT,  # noqa: E402
                     JournalTestCase, command, expected_events, main,
                     parse_snapshot, read_replay, read_snapshot, seq_of,
                     sync, wschatctl)

TIMEOUT = SLOW_TIMEOUT
OTHER_BOOT = "00000000-0000-4000-8000-000000000000"


def set_meta(path, key, value):
    """Write a meta row while the daemon is down, as an admin would."""
    con = sqlite3.connect(path, timeout=TIMEOUT, isolation_level=None)
    try:
        con.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    finally:
        con.close()


def meta(path, key):
    uri = "file:%s?mode=ro" % os.path.abspath(path)
    con = sqlite3.connect(uri, uri=True, timeout=TIMEOUT)
    try:
        row = con.execute("SELECT value FROM meta WHERE key = ?",
                          (key,)).fetchone()
    finally:
        con.close()
    return row[0] if row else None


def copy_db(path, dst):
    """A consistent copy of the live database (SQLite's backup API)."""
    uri = "file:%s?mode=ro" % os.path.abspath(path)
    src = sqlite3.connect(uri, uri=True, timeout=TIMEOUT)
    out = sqlite3.connect(dst)
    try:
        src.backup(out)
    finally:
        out.close()
        src.close()


def put_back(path, copy):
    """The database as it was at the copy: the commits after it are lost,
    as a power loss loses the WAL's tail."""
    for suffix in ("-wal", "-shm"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass
    os.replace(copy, path)


class EpochTest(JournalTestCase):

    async def replay(self, c, what):
        """A RESUME's replay, which must end in RESUMED; returns the events
        and the RESUMED line's head."""
        events, head, count = await read_replay(c, what)
        self.assertEqual(count, len(events))
        return events, head

    async def chat(self, srv, nmsgs):
        """olga makes channel a and talks; rita, in a with every intent,
        sees it all. Returns (olga, rita, rita's events)."""
        olga = await self.client(srv, "olga")
        await olga.sub("a", create=True)
        rita = await self.client(srv, "rita", ALL_INTENTS)
        seen = []
        await command(rita, "SUB a", "CONFIRM SUB a", seen)
        await self.talk(olga, nmsgs, "m")
        await sync(rita, seen)
        return olga, rita, seen

    async def talk(self, olga, n, prefix):
        for i in range(n):
            await olga.post("a", ["%s%d" % (prefix, i)])

    async def crashed_and_back(self, srv, epoch):
        """After a kill -9 and a restart that must keep the epoch."""
        mark = srv.mark()
        await srv.start_async()
        await srv.wait_log_async(r"did not shut down cleanly, but .*: epoch "
                                 "%s kept" % epoch, since=mark)
        self.assertIsNone(srv.log_search(r"new epoch", since=mark))

    # -- the epoch changes -------------------------------------------------

    async def test_power_loss_new_epoch(self):
        srv = self.server()
        db = DB(self, srv.db)
        olga, rita, seen = await self.chat(srv, 3)
        epoch = rita.epoch
        # The disk has everything up to here...
        kept = db.head()
        copy = os.path.join(srv.dir, "at-power-loss.db")
        copy_db(srv.db, copy)
        # ... rita sees more, but the power goes before it reaches the disk.
        await self.talk(olga, 4, "lost")
        await sync(rita, seen)
        cursor = seq_of(seen[-1])
        self.assertEqual(cursor, kept + 4)
        db.con.close()
        await srv.kill9_async()
        put_back(srv.db, copy)
        set_meta(srv.db, "run_boot", OTHER_BOOT)

        mark = srv.mark()
        await srv.start_async()
        m = await srv.wait_log_async(
            r"new epoch ([0-9a-f]{16}) \(was %s\): the last run "
            r"\(journal_sync = normal\) did not shut down cleanly and the "
            r"system has restarted since" % epoch, since=mark)
        new = m.group(1)
        self.assertNotEqual(new, epoch)
        db = DB(self, srv.db)
        self.assertEqual(db.one("SELECT value FROM meta WHERE key = 'epoch'"),
                         new)
        olga = await self.client(srv, "olga")
        self.assertEqual((olga.epoch, olga.head), (new, kept),
                         "HELLO after the power loss: %r" % olga.hello)
        # Seqs go on from the head: the lost ones number other events now,
        # up to and past rita's cursor.
        await command(olga, "MSG a after", "CONFIRM MSG a %d" % (kept + 1))
        await self.talk(olga, 5, "again")
        self.assertEqual(db.head(), kept + 6)
        self.assertGreater(db.head(), cursor)

        # rita's cursor names events of the old epoch: a snapshot.
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        snap = parse_snapshot(await read_snapshot(
            F, "RESUME %d %s after the power loss" % (cursor, epoch)))
        self.assertEqual(snap["BEGIN"], kept + 6)
        self.assertEqual(snap["subs"], ["a"])
        await F.nothing_pending()
        await F.close()

        # A cursor of the new epoch replays exactly.
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (kept, new))
        got, head = await self.replay(F, "RESUME in the new epoch")
        self.assertEqual(head, kept + 6)
        self.assertEqual(got, expected_events(db, "rita", ALL_INTENTS, kept,
                                              head))
        self.assertEqual(len(got), 6)
        check = wschatctl(srv.db, "check")
        if check is not None:
            self.assertEqual(check, (0, "ok\n", ""))

    async def test_restored_backup_new_epoch(self):
        """Clients saw events after the backup: a server started on the
        restored copy must not replay other events under their seqs."""
        srv = self.server()
        olga, rita, seen = await self.chat(srv, 3)
        epoch = rita.epoch
        copy = os.path.join(srv.dir, "backup.db")
        r = wschatctl(srv.db, "backup", copy)
        if r is None:
            self.skipTest("WSCHATCTL is not set to an executable")
        self.assertEqual(r[0], 0, r[1] + r[2])
        self.assertEqual(meta(copy, "run_state"), "backup")
        kept = DB(self, copy).head()
        await self.talk(olga, 3, "later")
        await sync(rita, seen)
        cursor = seq_of(seen[-1])
        await olga.close()
        await rita.close()
        await srv.stop_async()
        put_back(srv.db, copy)

        mark = srv.mark()
        await srv.start_async()
        m = await srv.wait_log_async(
            r"new epoch ([0-9a-f]{16}) \(was %s\): the database is a copy "
            r"made by wschatctl backup" % epoch, since=mark)
        olga = await self.client(srv, "olga")
        self.assertEqual((olga.epoch, olga.head), (m.group(1), kept))
        await self.talk(olga, 4, "again")
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        snap = parse_snapshot(await read_snapshot(
            F, "RESUME after restoring a backup"))
        self.assertEqual(snap["BEGIN"], kept + 4)

    async def test_unknown_run_state(self):
        """A run_state this wschatd does not know counts as a loss, and
        wschatctl check reports it."""
        srv = self.server()
        c = await self.client(srv, "olga")
        await command(c, "CREATE a", "CONFIRM CREATE a")
        epoch = c.epoch
        await c.close()
        await srv.stop_async()
        set_meta(srv.db, "run_state", "paused")
        r = wschatctl(srv.db, "check")
        if r is not None:
            self.assertEqual(r, (1, "run state missing or unknown in meta: "
                                 "run_state paused\n", ""))
        mark = srv.mark()
        await srv.start_async()
        m = await srv.wait_log_async(
            r"new epoch ([0-9a-f]{16}) \(was %s\): meta run_state is "
            r"'paused'" % epoch, since=mark)
        c = await self.client(srv, name="hello")
        self.assertEqual((c.epoch, c.head), (m.group(1), 2))	# the guest account, CREATE
        r = wschatctl(srv.db, "check")
        if r is not None:
            self.assertEqual(r, (0, "ok\n", ""))

    async def test_from_schema_1(self):
        """A database a wschatd before schema version 2 wrote: how its last
        run ended is unknown, so a new epoch if it ever had an event."""
        init = os.path.join(os.environ.get("WSCHAT_SRCDIR") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", ".."),
            "migrations", "0001-init.sql")
        with open(init, encoding="utf-8") as f:
            sql = f.read()
        for events in (0, 1):
            srv = self.server(start=False)
            con = sqlite3.connect(srv.db, isolation_level=None)
            con.executescript(sql)
            if events:
                ts = 1764000000000
                con.execute("INSERT INTO events VALUES (1, ?, 'channel', "
                            "'CREATE', 'a', 'olga', ?)",
                            (ts, '{"seq":1,"ts":%d,"username":"olga"}' % ts))
                con.execute("INSERT INTO channels VALUES ('a', 'olga', 1, ?)",
                            (ts,))
                con.execute("INSERT INTO users VALUES ('olga', 1, ?, 1, ?)",
                            (ts, ts))
            con.execute("PRAGMA user_version = 1")
            epoch = con.execute("SELECT value FROM meta WHERE "
                                "key = 'epoch'").fetchone()[0]
            con.close()

            await srv.start_async()
            await srv.wait_log_async(r"applied migration 0002-run-state")
            c = await self.client(srv, name="hello")
            self.assertEqual(c.head, events)
            if events:
                await srv.wait_log_async(
                    r"new epoch %s \(was %s\): the last run was by a wschatd "
                    r"that did not record how it ended" % (c.epoch, epoch))
                self.assertNotEqual(c.epoch, epoch)
            else:
                self.assertEqual(c.epoch, epoch)
                self.assertIsNone(srv.log_search(r"new epoch"))
            self.assertEqual(meta(srv.db, "run_state"), "running")
            await c.close()
            await srv.stop_async()
            self.assertEqual(meta(srv.db, "run_state"), "stopped")

    # -- the epoch stays -----------------------------------------------------

    async def test_kill9_keeps_epoch(self):
        """A crash of wschatd alone: the kernel kept every commit."""
        srv = self.server()
        db = DB(self, srv.db)
        olga, rita, seen = await self.chat(srv, 3)
        cursor, epoch = seq_of(seen[-2]), rita.epoch
        await srv.kill9_async()
        self.assertEqual(meta(srv.db, "run_state"), "running")
        await self.crashed_and_back(srv, epoch)
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        self.assertEqual(F.epoch, epoch)
        got, head = await self.replay(F, "RESUME after a kill -9")
        self.assertEqual(got, seen[-1:])
        self.assertEqual(got, expected_events(db, "rita", ALL_INTENTS, cursor,
                                              head))

    async def test_clean_restart_keeps_epoch(self):
        """An orderly shutdown marks the run stopped after its last commit:
        even after a reboot the next start keeps the epoch."""
        srv = self.server()
        db = DB(self, srv.db)
        olga, rita, seen = await self.chat(srv, 3)
        cursor, epoch = seq_of(seen[0]), rita.epoch
        await olga.close()
        await rita.close()
        await srv.stop_async()
        self.assertEqual(meta(srv.db, "run_state"), "stopped")
        self.assertEqual(meta(srv.db, "run_sync"), "normal")
        set_meta(srv.db, "run_boot", OTHER_BOOT)

        mark = srv.mark()
        await srv.start_async()
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        self.assertEqual(F.epoch, epoch)
        got, head = await self.replay(F, "RESUME after a clean restart")
        self.assertEqual(got, seen[1:])
        self.assertEqual(got, expected_events(db, "rita", ALL_INTENTS, cursor,
                                              head))
        self.assertIsNone(srv.log_search(r"new epoch|did not shut down",
                                         since=mark))

    async def test_full_sync_crash_keeps_epoch(self):
        """journal_sync = full: every commit was on disk, reboot or not."""
        srv = self.server({"journal_sync": "full"})
        db = DB(self, srv.db)
        olga, rita, seen = await self.chat(srv, 3)
        cursor, epoch = seq_of(seen[0]), rita.epoch
        await srv.kill9_async()
        self.assertEqual(meta(srv.db, "run_sync"), "full")
        set_meta(srv.db, "run_boot", OTHER_BOOT)
        await self.crashed_and_back(srv, epoch)
        self.assertIsNotNone(srv.log_search(r"journal_sync = full, so every "
                                            r"commit was on disk"))
        F = await self.reconnect(srv, "rita", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, epoch))
        got, head = await self.replay(F, "RESUME after a crash with full")
        self.assertEqual(got, seen[1:])
        self.assertEqual(got, expected_events(db, "rita", ALL_INTENTS, cursor,
                                              head))


if __name__ == "__main__":
    main(daemon_required=True)
