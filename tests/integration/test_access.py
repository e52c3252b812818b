"""
test_access.py: channel access, as docs/PROTOCOL.md ("Channel access")
specifies it. CREATE public|private; a private channel exists only for its
owner, its members, the names invited to it (and admins): LIST, SNAPSHOT,
events live and replayed, RESUME, HISTORY, SUB, MSG and INVITE tell nobody
else it exists, with exactly the error a missing channel gets. INVITE,
KICK, BAN, UNBAN and DELETE are the owner's (or an admin's: see test_cmd,
which can set the role) and FORBIDDEN for everyone else. Invites, bans and
the private flag are journaled and survive a restart.

Nothing here sleeps: every wait is for a line, an event or a process exit.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (ALL_INTENTS, DB, JournalTestCase, command,  # noqa: E402
                     main, parse_event, parse_snapshot, read_replay,
                     read_snapshot, sync, wschatctl)

# Two names of the same length: a private channel and one that does not
# exist, so that their errors can be compared character for character.
SECRET = "secret"
ABSENT = "absent"


def expected_replay(db, user, intents, after=0):
    """The EVENT lines user, holding intents, receives for seqs after
    `after`, by the documented rule: channel and user events by intent,
    message events to members as of the event; an event of a private
    channel only to its members as of the event and to its actor."""
    member = set()
    out = []
    for seq, typ, action, res, actor, data, priv in db.q(
            "SELECT seq, type, action, resource, actor, data, private "
            "FROM events ORDER BY seq"):
        was = res in member
        if typ == "user" and actor == user:
            if action == "JOIN":
                member.add(res)
            elif action == "PART":
                member.discard(res)
        if seq <= after or typ not in intents:
            continue
        if typ == "message":
            want = was
        else:
            want = not priv or was or actor == user
        if want:
            out.append("EVENT %s %s %s %s" % (typ, action, res, data))
    return out


def about(lines, channel):
    """The EVENT lines in lines whose resource is channel."""
    return [l for l in lines if parse_event(l)[2] == channel]


class AccessTest(JournalTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.d = self.server()

    async def private(self, owner, name=SECRET):
        await command(owner, "CREATE %s private" % name,
                      "CONFIRM CREATE %s" % name)

    async def same_as_absent(self, c, line):
        """line about SECRET gets exactly the reply the same line about a
        channel that does not exist gets."""
        await c.send(line)
        got = await c.recv(what="the reply to %r" % line)
        absent = line.replace(SECRET, ABSENT)
        await c.send(absent)
        want = await c.recv(what="the reply to %r" % absent)
        self.assertTrue(want.startswith("ERROR NOSUCHCHANNEL "), want)
        self.assertEqual(got.replace(SECRET, ABSENT), want,
                         "%r must be refused as if %s did not exist"
                         % (line, SECRET))

    # --- CREATE and LIST ------------------------------------------------------

    async def test_create_modes(self):
        a = await self.client(self.d, nick="alice")
        await a.cmd("CREATE c1 secretive", "ERROR BADARGS usage: CREATE "
                    "<channel> [public|private]")
        await a.cmd("CREATE c1 public", "CONFIRM CREATE c1")
        await a.cmd("CREATE c2", "CONFIRM CREATE c2")
        await a.cmd("CREATE %s private" % SECRET, "CONFIRM CREATE " + SECRET)
        await a.cmd("LIST", "LIST 3 c1 c2 " + SECRET)
        b = await self.client(self.d, nick="bob")
        await b.cmd("LIST", "LIST 2 c1 c2")
        anon = await self.client(self.d)
        await anon.cmd("LIST", "LIST 2 c1 c2")
        db = DB(self, self.d.settings["db"])
        self.assertEqual(db.q("SELECT name, private FROM channels ORDER BY "
                              "created_seq"),
                         [("c1", 0), ("c2", 0), (SECRET, 1)])
        ev = json.loads(db.one("SELECT data FROM events WHERE resource = ?",
                               SECRET))
        self.assertEqual(ev.get("visibility"), "private", ev)

    # --- a non-member never learns it exists ---------------------------------

    async def test_private_channel_does_not_leak(self):
        bob = await self.client(self.d, nick="bob", intents=ALL_INTENTS)
        anon = await self.client(self.d, intents=ALL_INTENTS)
        alice = await self.client(self.d, nick="alice")
        carol = await self.client(self.d, nick="carol")
        await self.private(alice)
        await alice.cmd("SUB " + SECRET, "CONFIRM SUB " + SECRET)
        await alice.cmd("INVITE %s carol" % SECRET,
                        "CONFIRM INVITE %s carol" % SECRET)
        await carol.cmd("SUB " + SECRET, "CONFIRM SUB " + SECRET)
        await alice.post(SECRET, ["hush"])
        await alice.cmd("KICK %s carol bye" % SECRET,
                        "CONFIRM KICK %s carol" % SECRET)
        await alice.cmd("BAN %s dave" % SECRET, "CONFIRM BAN %s dave" % SECRET)

        # Events: none of them reached bob or an anonymous connection.
        for c in (bob, anon):
            self.assertEqual(about(await sync(c), SECRET), [],
                             "%s got events of a private channel" % c.name)
        await bob.cmd("LIST", "LIST 0")
        await anon.cmd("LIST", "LIST 0")
        for line in ("SUB %s", "HISTORY %s", "HISTORY %s LIMIT 5",
                     "INVITE %s bob", "MSG %s hi", "UNSUB %s", "KICK %s alice",
                     "BAN %s alice", "UNBAN %s dave", "DELETE %s"):
            await self.same_as_absent(bob, line % SECRET)

        # SNAPSHOT and RESUME: not a line about it.
        await bob.send("SNAPSHOT")
        snap = parse_snapshot(await read_snapshot(bob, "SNAPSHOT"))
        self.assertEqual(snap["channels"], [], "bob's snapshot")
        await bob.send("RESUME 0")
        events, _, _ = await read_replay(bob, "RESUME 0")
        self.assertEqual(about(events, SECRET), [], "bob's replay")
        await anon.cmd_prefix("SNAPSHOT", "ERROR NOTIDENTIFIED ")

        # carol, kicked (her invite was used by her SUB), lost it too.
        await alice.send("SNAPSHOT")
        snap = parse_snapshot(await read_snapshot(alice, "SNAPSHOT"))
        seq = DB(self, self.d.settings["db"]).one(
            "SELECT created_seq FROM channels WHERE name = ?", SECRET)
        self.assertEqual(snap["channels"], [(SECRET, {
            "creator": "alice", "seq": seq, "visibility": "private"})],
            "the owner's snapshot")
        await carol.cmd("LIST", "LIST 0")
        await self.same_as_absent(carol, "SUB " + SECRET)
        await self.same_as_absent(carol, "HISTORY " + SECRET)

    # --- invite: who sees what, live and on replay ---------------------------

    async def test_invite_and_events_as_of_each_event(self):
        alice = await self.client(self.d, nick="alice", intents=ALL_INTENTS)
        bob = await self.client(self.d, nick="bob", intents=ALL_INTENTS)
        carol = await self.client(self.d, nick="carol")
        bob_live = []
        await self.private(alice)
        await command(alice, "SUB " + SECRET, "CONFIRM SUB " + SECRET)
        await command(alice, "MSG %s before" % SECRET,
                      re.compile(r"CONFIRM MSG %s \d+" % SECRET))
        await sync(bob, bob_live)
        self.assertEqual(about(bob_live, SECRET), [])

        # Only the owner (or an admin) invites; a member may not.
        await carol.cmd_prefix("INVITE %s bob" % SECRET,
                               "ERROR NOSUCHCHANNEL ")
        await command(alice, "INVITE %s bob" % SECRET,
                      "CONFIRM INVITE %s bob" % SECRET)
        await command(alice, "INVITE %s bob" % SECRET,
                      re.compile(r"ERROR BADARGS .*"))
        await command(alice, "INVITE %s b!d" % SECRET,
                      re.compile(r"ERROR BADARGS .*"))
        bob_live.append(await bob.recv(what="EVENT channel INVITE"))
        ev = parse_event(bob_live[-1])
        self.assertEqual(ev[:3], ("channel", "INVITE", SECRET))
        self.assertEqual((ev[3]["username"], ev[3]["by"]), ("bob", "alice"))
        await bob.cmd("LIST", "LIST 1 " + SECRET)
        await command(bob, "HISTORY " + SECRET,
                      re.compile(r"ERROR NOTMEMBER .*"), bob_live)
        await command(bob, "SUB " + SECRET, "CONFIRM SUB " + SECRET,
                      bob_live)
        await command(bob, "INVITE %s carol" % SECRET,
                      re.compile(r"ERROR FORBIDDEN .*"), bob_live)
        await command(alice, "MSG %s during" % SECRET,
                      re.compile(r"CONFIRM MSG %s \d+" % SECRET))
        await command(alice, "INVITE %s carol" % SECRET,
                      "CONFIRM INVITE %s carol" % SECRET)
        await command(alice, "KICK %s bob" % SECRET,
                      "CONFIRM KICK %s bob" % SECRET)
        await command(alice, "MSG %s after" % SECRET,
                      re.compile(r"CONFIRM MSG %s \d+" % SECRET))
        await carol.cmd("SUB " + SECRET, "CONFIRM SUB " + SECRET)
        await sync(bob, bob_live)
        await command(bob, "HISTORY " + SECRET, re.compile(
            r"ERROR NOSUCHCHANNEL .*"), bob_live)

        # Live: bob's JOIN, "during", carol's INVITE, his kick; not
        # "before", "after" or carol's JOIN.
        db = DB(self, self.d.settings["db"])
        want = expected_replay(db, "bob", ALL_INTENTS)
        self.assertEqual(bob_live, want, "bob's live events")
        texts = [parse_event(l)[3].get("text") for l in about(want, SECRET)]
        self.assertEqual([t for t in texts if t], ["during"])
        kinds = [parse_event(l)[:2] for l in about(want, SECRET)]
        self.assertEqual(kinds, [("channel", "INVITE"), ("user", "JOIN"),
                                 ("message", "CREATE"), ("channel", "INVITE"),
                                 ("user", "PART")])
        # The replay is the same, line for line.
        again = await self.client(self.d, name="bob-again",
                                  intents=ALL_INTENTS)
        await bob.wait_closed()
        await again.identify("bob")
        await again.send("RESUME 0")
        events, _, _ = await read_replay(again, "bob's RESUME 0")
        self.assertEqual(events, want, "bob's replay")
        # Another name replays nothing of it.
        a2 = await self.client(self.d, nick="alice2", intents=ALL_INTENTS)
        await a2.send("RESUME 0")
        events, _, _ = await read_replay(a2, "alice2's RESUME 0")
        self.assertEqual(about(events, SECRET), [])

    # --- kick -----------------------------------------------------------------

    async def test_kick(self):
        alice = await self.client(self.d, nick="alice")
        bob = await self.client(self.d, nick="bob", intents=("user",))
        carol = await self.client(self.d, nick="carol")
        await alice.sub("room", create=True)
        await command(bob, "SUB room", "CONFIRM SUB room")
        await carol.cmd("SUB room", "CONFIRM SUB room")
        await sync(bob)
        await carol.cmd_prefix("KICK room bob", "ERROR FORBIDDEN ")
        await command(bob, "KICK room carol", re.compile(r"ERROR FORBIDDEN .*"))
        await alice.cmd_prefix("KICK room dave", "ERROR NOTMEMBER ")
        await alice.cmd_prefix("KICK room", "ERROR BADARGS ")
        await alice.cmd_prefix("KICK nowhere bob", "ERROR NOSUCHCHANNEL ")
        await alice.cmd("KICK room bob stop  spamming, please",
                        "CONFIRM KICK room bob")
        ev = await bob.expect_event("user", "PART", "room")
        self.assertEqual(ev["username"], "bob")
        self.assertEqual((ev["reason"], ev["by"], ev["text"]),
                         ("kicked", "alice", "stop  spamming, please"))
        await alice.cmd("KICK room carol", "CONFIRM KICK room carol")
        ev = await bob.expect_event("user", "PART", "room")
        self.assertEqual((ev["username"], ev["reason"], ev["by"]),
                         ("carol", "kicked", "alice"))
        self.assertNotIn("text", ev)
        await alice.cmd_prefix("KICK room bob", "ERROR NOTMEMBER ")
        await carol.cmd("LSSUBS", "LSSUBS 0")
        # A kick from a public channel is not a ban.
        await carol.cmd("SUB room", "CONFIRM SUB room")

    # --- ban and unban --------------------------------------------------------

    async def test_ban_and_unban(self):
        alice = await self.client(self.d, nick="alice")
        bob = await self.client(self.d, nick="bob", intents=("user", "channel"))
        carol = await self.client(self.d, nick="carol")
        await alice.sub("room", create=True)
        await command(bob, "SUB room", "CONFIRM SUB room")
        await carol.cmd_prefix("BAN room bob", "ERROR FORBIDDEN ")
        await carol.cmd_prefix("UNBAN room bob", "ERROR FORBIDDEN ")
        await alice.cmd_prefix("BAN room b!b", "ERROR BADARGS ")
        await alice.cmd("BAN room bob", "CONFIRM BAN room bob")
        ev = await bob.expect_event("user", "PART", "room")
        self.assertEqual((ev["username"], ev["reason"], ev["by"]),
                         ("bob", "banned", "alice"))
        ev = await bob.expect_event("channel", "BAN", "room")
        self.assertEqual((ev["username"], ev["by"]), ("bob", "alice"))
        await alice.cmd_prefix("BAN room bob", "ERROR BADARGS ")
        await bob.cmd("LSSUBS", "LSSUBS 0")
        await bob.cmd_prefix("SUB room", "ERROR FORBIDDEN ")
        await alice.cmd_prefix("UNBAN room carol", "ERROR BADARGS ")
        # A name that is not a member can be banned before it comes.
        await alice.cmd("BAN room carol", "CONFIRM BAN room carol")
        ev = await bob.expect_event("channel", "BAN", "room")
        self.assertEqual((ev["username"], ev["by"]), ("carol", "alice"))
        await carol.cmd_prefix("SUB room", "ERROR FORBIDDEN ")
        await alice.cmd("UNBAN room bob", "CONFIRM UNBAN room bob")
        ev = await bob.expect_event("channel", "UNBAN", "room")
        self.assertEqual((ev["username"], ev["by"]), ("bob", "alice"))
        await command(bob, "SUB room", "CONFIRM SUB room")
        await carol.cmd_prefix("SUB room", "ERROR FORBIDDEN ")

    async def test_ban_in_a_private_channel(self):
        alice = await self.client(self.d, nick="alice")
        bob = await self.client(self.d, nick="bob")
        await self.private(alice)
        await alice.cmd("INVITE %s bob" % SECRET,
                        "CONFIRM INVITE %s bob" % SECRET)
        await bob.cmd("SUB " + SECRET, "CONFIRM SUB " + SECRET)
        await alice.cmd("BAN %s bob" % SECRET, "CONFIRM BAN %s bob" % SECRET)
        # Banned, and no longer invited: the channel is gone for bob.
        await self.same_as_absent(bob, "SUB " + SECRET)
        await alice.cmd_prefix("INVITE %s bob" % SECRET, "ERROR BADARGS ")
        await alice.cmd("UNBAN %s bob" % SECRET,
                        "CONFIRM UNBAN %s bob" % SECRET)
        await self.same_as_absent(bob, "SUB " + SECRET)
        await alice.cmd("INVITE %s bob" % SECRET,
                        "CONFIRM INVITE %s bob" % SECRET)
        await bob.cmd("SUB " + SECRET, "CONFIRM SUB " + SECRET)

    # --- delete ---------------------------------------------------------------

    async def test_delete_is_the_owners(self):
        alice = await self.client(self.d, nick="alice")
        bob = await self.client(self.d, nick="bob")
        await alice.cmd("CREATE room", "CONFIRM CREATE room")
        await bob.cmd("SUB room", "CONFIRM SUB room")
        await bob.cmd_prefix("DELETE room", "ERROR FORBIDDEN ")
        await alice.cmd("DELETE room", "CONFIRM DELETE room")

    async def test_deleted_history(self):
        """A deleted channel's messages are nobody's HISTORY, not even a
        new channel's of the same name; a member who missed them still
        gets them on RESUME, as live."""
        alice = await self.client(self.d, nick="alice")
        bob = await self.client(self.d, nick="bob")
        await self.private(alice)
        await alice.cmd("SUB " + SECRET, "CONFIRM SUB " + SECRET)
        await alice.cmd("INVITE %s bob" % SECRET,
                        "CONFIRM INVITE %s bob" % SECRET)
        await bob.cmd("SUB " + SECRET, "CONFIRM SUB " + SECRET)
        head = bob.head
        await bob.wait_closed()
        await alice.post(SECRET, ["old one", "old two"])
        await alice.cmd("DELETE " + SECRET, "CONFIRM DELETE " + SECRET)
        await alice.cmd_prefix("HISTORY " + SECRET, "ERROR NOSUCHCHANNEL ")
        carol = await self.client(self.d, nick="carol")
        await carol.sub(SECRET, create=True)
        await carol.post(SECRET, ["new"])
        await carol.send("HISTORY " + SECRET)
        line = await carol.recv(what="HISTORY")
        self.assertEqual(json.loads(line.split(" ", 2)[2])["text"], "new")
        await carol.expect("CONFIRM HISTORY %s 1" % SECRET)
        await carol.send("SNAPSHOT")
        snap = parse_snapshot(await read_snapshot(carol, "SNAPSHOT"))
        self.assertEqual([json.loads(m)["text"] for m in
                          snap["messages"][SECRET]], ["new"])
        # bob, back: his replay has what he missed while a member.
        bob = await self.client(self.d, nick="bob", intents=("message",))
        await bob.send("RESUME %d" % head)
        events, _, _ = await read_replay(bob, "RESUME")
        self.assertEqual([parse_event(l)[3]["text"] for l in events],
                         ["old one", "old two"])

    # --- durable --------------------------------------------------------------

    async def test_access_survives_restart(self):
        alice = await self.client(self.d, nick="alice")
        await self.private(alice)
        await alice.cmd("INVITE %s carol" % SECRET,
                        "CONFIRM INVITE %s carol" % SECRET)
        await alice.cmd("CREATE room", "CONFIRM CREATE room")
        await alice.cmd("BAN room dave", "CONFIRM BAN room dave")
        await alice.cmd("BAN %s erin" % SECRET, "CONFIRM BAN %s erin" % SECRET)
        await alice.wait_closed()
        await self.d.stop_async()
        await self.d.start_async()
        carol = await self.client(self.d, nick="carol")
        await carol.cmd("LIST", "LIST 2 %s room" % SECRET)
        bob = await self.client(self.d, nick="bob")
        await bob.cmd("LIST", "LIST 1 room")
        await self.same_as_absent(bob, "SUB " + SECRET)
        dave = await self.client(self.d, nick="dave")
        await dave.cmd_prefix("SUB room", "ERROR FORBIDDEN ")
        await carol.cmd("SUB " + SECRET, "CONFIRM SUB " + SECRET)
        alice = await self.client(self.d, nick="alice")
        await alice.cmd("UNBAN %s erin" % SECRET,
                        "CONFIRM UNBAN %s erin" % SECRET)
        await alice.cmd("KICK %s carol" % SECRET,
                        "CONFIRM KICK %s carol" % SECRET)
        check = wschatctl(self.d.db, "check")
        if check is not None:
            self.assertEqual(check[:2], (0, "ok\n"), check)


    async def test_access_survives_kill9(self):
        """A confirmed INVITE, BAN or UNBAN was committed: kill -9 loses
        none of them, and the private flag stays."""
        alice = await self.client(self.d, nick="alice")
        await self.private(alice)
        await alice.cmd("CREATE room", "CONFIRM CREATE room")
        await alice.cmd("BAN room bob", "CONFIRM BAN room bob")
        await alice.cmd("BAN room carol", "CONFIRM BAN room carol")
        await alice.cmd("UNBAN room carol", "CONFIRM UNBAN room carol")
        await alice.cmd("INVITE %s carol" % SECRET,
                        "CONFIRM INVITE %s carol" % SECRET)
        await self.d.kill9_async()
        await self.d.start_async()
        carol = await self.client(self.d, nick="carol")
        await carol.cmd("LIST", "LIST 2 %s room" % SECRET)
        await carol.cmd("SUB room", "CONFIRM SUB room")
        await carol.cmd("SUB " + SECRET, "CONFIRM SUB " + SECRET)
        bob = await self.client(self.d, nick="bob")
        await bob.cmd("LIST", "LIST 1 room")
        await bob.cmd_prefix("SUB room", "ERROR FORBIDDEN ")


if __name__ == "__main__":
    main(daemon_required=True)
