"""
Intents and events: SUBEVENT / UNSUBEVENT / LSEVENTS and who receives which
EVENT, as docs/PROTOCOL.md ("Events") specifies.

A client that must receive nothing is checked with nothing_pending(): it
sends PING and the next line must be the PONG, because a client receives
its events and replies in order.
"""

import re
import time

import harness


class IntentsTest(harness.WschatTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.d = self.daemon()

    def assert_event_json(self, ev, username, **extra):
        now = int(time.time() * 1000)
        self.assertGreater(ev["seq"], 0, "seq is a journal seq: %r" % ev)
        self.assertLess(abs(ev["ts"] - now), 60000,
                        "ts is milliseconds since the epoch (now %d): %r"
                        % (now, ev))
        self.assertEqual(ev["username"], username, "event username: %r" % ev)
        for k, v in extra.items():
            self.assertEqual(ev.get(k), v, "event %s: %r" % (k, ev))

    # --- SUBEVENT / UNSUBEVENT / LSEVENTS -------------------------------------

    async def test_subevent_channel_confirms(self):
        c = await self.client(self.d)
        await c.cmd("SUBEVENT channel", "CONFIRM SUBEVENT channel")
        await c.cmd("SUBEVENT user", "CONFIRM SUBEVENT user")
        await c.cmd("SUBEVENT message", "CONFIRM SUBEVENT message")

    async def test_subevent_without_type(self):
        c = await self.client(self.d)
        await c.cmd("SUBEVENT",
                     "ERROR BADARGS SUBEVENT requires event type argument")

    async def test_subevent_unknown_type(self):
        c = await self.client(self.d)
        await c.cmd("SUBEVENT bogus",
                    "ERROR BADARGS Unsupported event type: bogus")
        await c.cmd("LSEVENTS", "LSEVENTS 0")

    async def test_unsubevent_unknown_type(self):
        c = await self.client(self.d)
        await c.cmd_prefix("UNSUBEVENT bogus", "ERROR BADARGS ")

    async def test_lsevents(self):
        c = await self.client(self.d)
        await c.cmd("LSEVENTS", "LSEVENTS 0")
        await c.cmd("SUBEVENT message", "CONFIRM SUBEVENT message")
        await c.cmd("SUBEVENT channel", "CONFIRM SUBEVENT channel")
        await c.send("LSEVENTS")
        got = (await c.recv()).split(" ")
        self.assertEqual(got[:2], ["LSEVENTS", "2"], "LSEVENTS: %r" % got)
        self.assertEqual(sorted(got[2:]), ["channel", "message"],
                         "LSEVENTS lists the intents held: %r" % got)
        await c.cmd("UNSUBEVENT message", "CONFIRM UNSUBEVENT message")
        await c.cmd("LSEVENTS", "LSEVENTS 1 channel")

    # --- channel events -------------------------------------------------------

    async def test_channel_create_goes_to_intent_holders_only(self):
        watcher = await self.client(self.d, name="watcher")	# no NICK needed
        await watcher.cmd("SUBEVENT channel", "CONFIRM SUBEVENT channel")
        other = await self.client(self.d, nick="other")
        alice = await self.client(self.d, nick="alice")
        await alice.cmd("CREATE example", "CONFIRM CREATE example")
        ev = await watcher.expect_event("channel", "CREATE", "example")
        self.assert_event_json(ev, "alice")
        # Neither the creator nor another client without the intent
        # gets the event.
        await alice.nothing_pending()
        await other.nothing_pending()
        await watcher.nothing_pending()

    async def test_own_event_precedes_confirm(self):
        c = await self.client(self.d, nick="glitchy")
        await c.cmd("SUBEVENT channel", "CONFIRM SUBEVENT channel")
        await c.send("CREATE general")
        ev = await c.expect_event("channel", "CREATE", "general")
        self.assert_event_json(ev, "glitchy")
        await c.expect("CONFIRM CREATE general")

    async def test_unsubevent_stops_delivery(self):
        watcher = await self.client(self.d, name="watcher")
        await watcher.cmd("SUBEVENT channel", "CONFIRM SUBEVENT channel")
        alice = await self.client(self.d, nick="alice")
        await alice.cmd("CREATE first", "CONFIRM CREATE first")
        await watcher.expect_event("channel", "CREATE", "first")
        await watcher.cmd("UNSUBEVENT channel", "CONFIRM UNSUBEVENT channel")
        await alice.cmd("CREATE second", "CONFIRM CREATE second")
        await alice.cmd("DELETE first", "CONFIRM DELETE first")
        await watcher.nothing_pending()

    async def test_channel_delete_event(self):
        watcher = await self.client(self.d)
        await watcher.cmd("SUBEVENT channel", "CONFIRM SUBEVENT channel")
        alice = await self.client(self.d, nick="alice")
        await alice.cmd("CREATE gone", "CONFIRM CREATE gone")
        created = await watcher.expect_event("channel", "CREATE", "gone")
        await alice.cmd("DELETE gone", "CONFIRM DELETE gone")
        deleted = await watcher.expect_event("channel", "DELETE", "gone")
        self.assert_event_json(deleted, "alice")
        self.assertGreater(deleted["seq"], created["seq"])

    # --- user events ----------------------------------------------------------

    async def test_user_join_and_part(self):
        watcher = await self.client(self.d)
        await watcher.cmd("SUBEVENT user", "CONFIRM SUBEVENT user")
        alice = await self.client(self.d, nick="alice")
        bob = await self.client(self.d, nick="bob")
        await alice.cmd("CREATE room", "CONFIRM CREATE room")
        await bob.sub("room")
        join = await watcher.expect_event("user", "JOIN", "room")
        self.assert_event_json(join, "bob")
        await bob.cmd("UNSUB room", "CONFIRM UNSUB room")
        part = await watcher.expect_event("user", "PART", "room")
        self.assert_event_json(part, "bob")
        self.assertNotIn("reason", part,
                         "only a PART caused by DELETE carries a reason")
        self.assertGreater(part["seq"], join["seq"])
        # The channel intent was not asked for: no CREATE event came.
        await watcher.nothing_pending()
        await bob.nothing_pending()

    # --- message events -------------------------------------------------------

    async def test_message_events_to_members_with_intent_only(self):
        alice = await self.client(self.d, nick="alice")	# member + intent
        bob = await self.client(self.d, nick="bob")		# member + intent
        carol = await self.client(self.d, nick="carol")	# intent only
        dave = await self.client(self.d, nick="dave")		# member only
        await alice.cmd("CREATE room", "CONFIRM CREATE room")
        for c in (alice, bob, dave):
            await c.sub("room")
        for c in (alice, bob, carol):
            await c.cmd("SUBEVENT message", "CONFIRM SUBEVENT message")

        await bob.send("MSG room hi there")
        own = await bob.expect_event("message", "CREATE", "room")
        m = await bob.expect_match(r"CONFIRM MSG room (\d+)")
        self.assertEqual(int(m.group(1)), own["seq"])
        self.assert_event_json(own, "bob", text="hi there")
        ev = await alice.expect_event("message", "CREATE", "room")
        self.assertEqual(ev, own, "every receiver gets the same event")
        await carol.nothing_pending()	# not a member
        await dave.nothing_pending()	# no intent
        await alice.nothing_pending()
        await bob.nothing_pending()

    async def test_message_events_stop_after_unsub(self):
        alice = await self.client(self.d, nick="alice")
        bob = await self.client(self.d, nick="bob")
        await alice.cmd("CREATE room", "CONFIRM CREATE room")
        for c in (alice, bob):
            await c.sub("room")
            await c.cmd("SUBEVENT message", "CONFIRM SUBEVENT message")
        await alice.cmd("UNSUB room", "CONFIRM UNSUB room")
        await bob.send("MSG room after alice left")
        await bob.expect_event("message", "CREATE", "room")
        await bob.expect_prefix("CONFIRM MSG room ")
        await alice.nothing_pending()

    async def test_message_events_only_for_that_channel(self):
        alice = await self.client(self.d, nick="alice")
        await alice.cmd("SUBEVENT message", "CONFIRM SUBEVENT message")
        await alice.sub("mine", create=True)
        await alice.cmd("CREATE theirs", "CONFIRM CREATE theirs")
        bob = await self.client(self.d, nick="bob")
        await bob.sub("theirs")
        await bob.cmd_prefix("MSG theirs elsewhere", "CONFIRM MSG theirs ")
        await alice.nothing_pending()

    async def test_pipelined_msgs_event_before_its_confirm(self):
        a = await self.client(self.d, nick="alice")
        await a.cmd("SUBEVENT message", "CONFIRM SUBEVENT message")
        await a.sub("burst", create=True)
        for i in range(20):
            await a.send("MSG burst n%d" % i)
        await a.send("PING done")
        events, confirms = [], []
        while True:
            line = await a.recv()
            if line == "PONG done":
                break
            if line.startswith("EVENT "):
                _, _, _, ev = harness.parse_event(line, "alice")
                events.append((ev["seq"], ev["text"]))
            else:
                m = re.fullmatch(r"CONFIRM MSG burst (\d+)", line)
                self.assertTrue(m, "unexpected line %r" % line)
                seq = int(m.group(1))
                self.assertIn(seq, [e[0] for e in events],
                              "CONFIRM MSG %d came before its event" % seq)
                confirms.append(seq)
        self.assertEqual([t for _, t in events],
                         ["n%d" % i for i in range(20)],
                         "events in command order")
        self.assertEqual(confirms, [s for s, _ in events],
                         "one CONFIRM per MSG, in order, with the event seq")
        self.assertEqual(confirms, sorted(set(confirms)))

    # --- DELETE ---------------------------------------------------------------

    async def test_delete_parts_every_member_then_deletes(self):
        watcher = await self.client(self.d)
        await watcher.cmd("SUBEVENT user", "CONFIRM SUBEVENT user")
        await watcher.cmd("SUBEVENT channel", "CONFIRM SUBEVENT channel")
        owner = await self.client(self.d, nick="owner")
        m1 = await self.client(self.d, nick="m1")
        m2 = await self.client(self.d, nick="m2")
        await owner.cmd("CREATE doomed", "CONFIRM CREATE doomed")
        await watcher.expect_event("channel", "CREATE", "doomed")
        for c in (owner, m1, m2):
            await c.sub("doomed")
            await watcher.expect_event("user", "JOIN", "doomed")
        await owner.cmd("DELETE doomed", "CONFIRM DELETE doomed")
        parted, seqs = set(), []
        for _ in range(3):
            ev = await watcher.expect_event("user", "PART", "doomed")
            self.assertEqual(ev.get("reason"), "deleted",
                             "a PART caused by DELETE says reason deleted: %r"
                             % ev)
            parted.add(ev["username"])
            seqs.append(ev["seq"])
        self.assertEqual(parted, {"owner", "m1", "m2"},
                         "DELETE parts every member")
        deleted = await watcher.expect_event("channel", "DELETE", "doomed")
        self.assert_event_json(deleted, "owner")
        seqs.append(deleted["seq"])
        self.assertEqual(seqs, sorted(set(seqs)),
                         "PARTs then DELETE, in seq order: %r" % seqs)
        await watcher.nothing_pending()
        await m1.cmd("LSSUBS", "LSSUBS 0")
        await m2.cmd_prefix("MSG doomed hello?", "ERROR NOSUCHCHANNEL ")

    # --- ordering and lifetime ------------------------------------------------

    async def test_seq_strictly_increasing_across_event_types(self):
        w = await self.client(self.d, nick="watcher")
        a = await self.client(self.d, nick="a")
        b = await self.client(self.d, nick="b")
        await a.cmd("CREATE s1", "CONFIRM CREATE s1")
        await w.sub("s1")
        for t in ("channel", "user", "message"):
            await w.cmd("SUBEVENT " + t, "CONFIRM SUBEVENT " + t)
        await a.sub("s1")
        await b.sub("s1")
        # Pipeline a burst from two connections.
        for i in range(10):
            await a.send("MSG s1 from a %d" % i)
            await b.send("MSG s1 from b %d" % i)
        await b.send("CREATE s2")
        await a.send("UNSUB s1")
        for i in range(11):
            await a.recv()
            await b.recv()
        # 2 JOINs, 20 messages, CREATE s2, PART = 24
        seqs = []
        kinds = []
        for _ in range(24):
            t, action, res, ev = harness.parse_event(await w.recv(), "watcher")
            seqs.append(ev["seq"])
            kinds.append((t, action))
        self.assertEqual(seqs, sorted(set(seqs)),
                         "a client receives events in strictly increasing "
                         "seq order: %r" % seqs)
        self.assertEqual(kinds.count(("message", "CREATE")), 20, kinds)
        await w.nothing_pending()

    async def test_intents_die_with_connection(self):
        c = await self.client(self.d, nick="alice")
        await c.cmd("SUBEVENT channel", "CONFIRM SUBEVENT channel")
        await c.cmd("SUBEVENT user", "CONFIRM SUBEVENT user")
        await c.wait_closed()
        c2 = await self.client(self.d, nick="alice")
        await c2.cmd("LSEVENTS", "LSEVENTS 0")
        other = await self.client(self.d, nick="other")
        await other.cmd("CREATE later", "CONFIRM CREATE later")
        await c2.nothing_pending()


if __name__ == "__main__":
    harness.main()
