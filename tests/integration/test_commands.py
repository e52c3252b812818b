"""
The line protocol: greeting, every command's replies and errors, line
syntax and reply ordering, as docs/PROTOCOL.md ("Lines", "Greeting",
"Commands") specifies them.
"""

import re

import harness

SEQ = r"(0|[1-9][0-9]*)"


class CommandsTest(harness.WschatTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.d = self.daemon()

    # --- greeting -------------------------------------------------------------

    async def test_hello_format(self):
        c = await self.client(self.d)
        m = re.fullmatch(r"HELLO wschatd/(\d+\.\d+\.\d+\S*) ([0-9a-f]+) (\d+)",
                         c.hello)
        self.assertTrue(m, "HELLO must be 'HELLO wschatd/<ver> <epoch-hex> "
                        "<seq>': %r" % c.hello)
        version = harness.expected_version()
        if version:
            self.assertEqual(m.group(1), version, "HELLO version: %r" % c.hello)
        self.assertEqual(int(m.group(3)), 0,
                         "a fresh journal has head 0: %r" % c.hello)

    async def test_hello_head_follows_committed_events(self):
        a = await self.client(self.d, nick="alice")
        await a.cmd("SUBEVENT channel", "CONFIRM SUBEVENT channel")
        await a.send("CREATE headtest")
        ev = await a.expect_event("channel", "CREATE", "headtest")
        await a.expect("CONFIRM CREATE headtest")
        b = await self.client(self.d)
        self.assertEqual(b.epoch, a.epoch,
                         "the epoch names the journal; it does not change "
                         "between connections: %r vs %r" % (a.hello, b.hello))
        self.assertEqual(b.head, ev["seq"],
                         "HELLO head must be the seq of the last committed "
                         "event (%d): %r" % (ev["seq"], b.hello))

    # --- NICK -----------------------------------------------------------------

    async def test_nick_valid(self):
        c = await self.client(self.d)
        await c.cmd("NICK alice", "CONFIRM NICK alice")
        await c.cmd("NICK Al_ice-1.x", "CONFIRM NICK Al_ice-1.x")

    async def test_nick_invalid_charset(self):
        c = await self.client(self.d)
        for bad in ("al!ce", "al/ce", "al:ce", "\u00e5lice", "a,b", "a@b"):
            await c.cmd_prefix("NICK " + bad, "ERROR BADARGS ")

    async def test_nick_length_limit(self):
        c = await self.client(self.d)
        await c.cmd("NICK " + "n" * 32, "CONFIRM NICK " + "n" * 32)
        await c.cmd_prefix("NICK " + "n" * 33, "ERROR BADARGS ")

    async def test_nick_taken_after_holder_leaves(self):
        """A guest's name stays taken when it disconnects (until its token
        expires); only its token brings it back (test_identity.py)."""
        a = await self.client(self.d, nick="bob")
        b = await self.client(self.d)
        await b.cmd("NICK bob", "ERROR NAMEINUSE bob is taken")
        # Also for the holder itself: its name is taken.
        await a.cmd("NICK bob", "ERROR NAMEINUSE bob is taken")
        await a.wait_closed()
        await b.cmd("NICK bob", "ERROR NAMEINUSE bob is taken")

    async def test_nick_switch_keeps_old_name(self):
        a = await self.client(self.d, nick="carol")
        await a.cmd("NICK dave", "CONFIRM NICK dave")
        b = await self.client(self.d)
        await b.cmd("NICK carol", "ERROR NAMEINUSE carol is taken")
        await b.cmd("NICK dave", "ERROR NAMEINUSE dave is taken")

    async def test_names_are_case_sensitive(self):
        await self.client(self.d, nick="erin")
        b = await self.client(self.d)
        await b.cmd("NICK Erin", "CONFIRM NICK Erin")

    # --- needs a name ---------------------------------------------------------

    async def test_commands_need_nick(self):
        c = await self.client(self.d)
        for line in ("CREATE chan", "DELETE chan", "SUB chan", "UNSUB chan",
                     "LSSUBS", "MSG chan hello", "HISTORY chan", "RESUME 0"):
            await c.cmd_prefix(line, "ERROR NOTIDENTIFIED ")

    async def test_commands_without_nick(self):
        c = await self.client(self.d)
        await c.cmd("PING", "PONG")
        await c.cmd("LIST", "LIST 0")
        await c.cmd("LSEVENTS", "LSEVENTS 0")
        await c.cmd("SUBEVENT user", "CONFIRM SUBEVENT user")
        await c.cmd("UNSUBEVENT user", "CONFIRM UNSUBEVENT user")

    # --- CREATE / DELETE / LIST -----------------------------------------------

    async def test_create_and_delete(self):
        a = await self.client(self.d, nick="alice")
        await a.cmd("CREATE general", "CONFIRM CREATE general")
        await a.cmd("LIST", "LIST 1 general")
        await a.cmd_prefix("CREATE general", "ERROR CHANNELEXISTS ")
        await a.cmd("DELETE general", "CONFIRM DELETE general")
        await a.cmd("LIST", "LIST 0")
        await a.cmd_prefix("DELETE general", "ERROR NOSUCHCHANNEL ")
        # The name is free again once deleted.
        await a.cmd("CREATE general", "CONFIRM CREATE general")

    async def test_create_invalid_name(self):
        a = await self.client(self.d, nick="alice")
        await a.cmd_prefix("CREATE bad!name", "ERROR BADARGS ")
        await a.cmd_prefix("CREATE " + "c" * 33, "ERROR BADARGS ")
        await a.cmd("LIST", "LIST 0")

    async def test_delete_by_non_creator_is_forbidden(self):
        a = await self.client(self.d, nick="alice")
        b = await self.client(self.d, nick="bob")
        await a.cmd("CREATE mine", "CONFIRM CREATE mine")
        await b.cmd_prefix("DELETE mine", "ERROR FORBIDDEN ")
        await b.cmd("LIST", "LIST 1 mine")

    async def test_list_in_creation_order(self):
        a = await self.client(self.d, nick="alice")
        for ch in ("zeta", "alpha", "mid"):
            await a.cmd("CREATE " + ch, "CONFIRM CREATE " + ch)
        await a.cmd("LIST", "LIST 3 zeta alpha mid")
        await a.cmd("DELETE alpha", "CONFIRM DELETE alpha")
        await a.cmd("LIST", "LIST 2 zeta mid")

    async def test_max_channels_limit(self):
        d = self.daemon(max_channels=2)
        a = await self.client(d, nick="alice")
        await a.cmd("CREATE one", "CONFIRM CREATE one")
        await a.cmd("CREATE two", "CONFIRM CREATE two")
        await a.cmd_prefix("CREATE three", "ERROR LIMIT ")
        await a.cmd("LIST", "LIST 2 one two")
        await a.cmd("DELETE one", "CONFIRM DELETE one")
        await a.cmd("CREATE three", "CONFIRM CREATE three")
        await a.cmd("LIST", "LIST 2 two three")

    # --- SUB / UNSUB / LSSUBS -------------------------------------------------

    async def test_sub_and_unsub(self):
        a = await self.client(self.d, nick="alice")
        await a.cmd_prefix("SUB nochan", "ERROR NOSUCHCHANNEL ")
        await a.cmd("CREATE room", "CONFIRM CREATE room")
        await a.cmd("LSSUBS", "LSSUBS 0")	# creating does not join
        await a.cmd("SUB room", "CONFIRM SUB room")
        await a.cmd_prefix("SUB room", "ERROR BADARGS ")
        await a.cmd("LSSUBS", "LSSUBS 1 room")
        await a.cmd("UNSUB room", "CONFIRM UNSUB room")
        await a.cmd_prefix("UNSUB room", "ERROR NOTMEMBER ")
        await a.cmd_prefix("UNSUB nochan", "ERROR NOSUCHCHANNEL ")
        await a.cmd("LSSUBS", "LSSUBS 0")

    async def test_lssubs_in_join_order(self):
        a = await self.client(self.d, nick="alice")
        for ch in ("a1", "b2", "c3"):
            await a.cmd("CREATE " + ch, "CONFIRM CREATE " + ch)
        await a.cmd("SUB c3", "CONFIRM SUB c3")
        await a.cmd("SUB a1", "CONFIRM SUB a1")
        await a.cmd("SUB b2", "CONFIRM SUB b2")
        await a.cmd("LSSUBS", "LSSUBS 3 c3 a1 b2")

    async def test_membership_survives_disconnect(self):
        a = await self.client(self.d, nick="mallory")
        await a.cmd("CREATE r1", "CONFIRM CREATE r1")
        await a.cmd("CREATE r2", "CONFIRM CREATE r2")
        await a.cmd("SUB r2", "CONFIRM SUB r2")
        await a.cmd("SUB r1", "CONFIRM SUB r1")
        await a.wait_closed()
        b = await self.client(self.d, nick="mallory")
        await b.cmd("LSSUBS", "LSSUBS 2 r2 r1")
        # Membership belongs to the name, not the connection.
        c = await self.client(self.d, nick="trent")
        await c.cmd("LSSUBS", "LSSUBS 0")

    async def test_channel_names_are_case_sensitive(self):
        a = await self.client(self.d, nick="alice")
        await a.cmd("CREATE Room", "CONFIRM CREATE Room")
        await a.cmd("CREATE room", "CONFIRM CREATE room")
        await a.cmd("SUB room", "CONFIRM SUB room")
        await a.cmd("LSSUBS", "LSSUBS 1 room")
        await a.cmd("CREATE " + "c" * 32, "CONFIRM CREATE " + "c" * 32)

    async def test_recreated_channel_has_no_old_members(self):
        owner = await self.client(self.d, nick="owner")
        bob = await self.client(self.d, nick="bob")
        await owner.cmd("CREATE again", "CONFIRM CREATE again")
        await bob.cmd("SUB again", "CONFIRM SUB again")
        await owner.cmd("DELETE again", "CONFIRM DELETE again")
        await bob.cmd("LSSUBS", "LSSUBS 0")
        await owner.cmd("CREATE again", "CONFIRM CREATE again")
        await bob.cmd("LSSUBS", "LSSUBS 0")
        await bob.cmd_prefix("MSG again hello", "ERROR NOTMEMBER ")
        await bob.cmd("SUB again", "CONFIRM SUB again")
        # The new channel's creator is owner again, not bob.
        await bob.cmd_prefix("DELETE again", "ERROR FORBIDDEN ")

    async def test_membership_follows_the_account(self):
        a = await self.client(self.d, nick="first")
        await a.sub("club", create=True)
        await a.cmd("NICK second", "CONFIRM NICK second")
        await a.cmd("LSSUBS", "LSSUBS 0")
        await a.cmd_prefix("MSG club hi", "ERROR NOTMEMBER ")
        await a.cmd_prefix("DELETE club", "ERROR FORBIDDEN ")
        b = await self.client(self.d, nick="first")	# AUTH with its token
        await b.cmd("LSSUBS", "LSSUBS 1 club")
        await b.cmd_prefix("MSG club hi", "CONFIRM MSG club ")

    async def test_pipelined_nick_switch_applies_in_order(self):
        """Commands after a NICK in the same write run as the new name."""
        ws = self.raw(self.d)
        cmds = [("NICK amy", "CONFIRM NICK amy"),
                ("CREATE amys", "CONFIRM CREATE amys"),
                ("NICK ben", "CONFIRM NICK ben"),
                ("DELETE amys", "ERROR FORBIDDEN "),
                ("SUB amys", "CONFIRM SUB amys"),
                ("NICK amy", "ERROR NAMEINUSE "),
                ("LSSUBS", "LSSUBS 1 amys"),
                ("DELETE amys", "ERROR FORBIDDEN ")]
        ws.send_lines(c for c, _ in cmds)
        for line, want in cmds:
            got = ws.read_text()
            ok = got.startswith(want) if want.endswith(" ") else \
                got == want or harness.token_reply(want, got)
            self.assertTrue(ok, "pipelined %r: expected %r, got %r"
                            % (line, want, got))

    # --- MSG ------------------------------------------------------------------

    async def test_msg_needs_membership(self):
        a = await self.client(self.d, nick="alice")
        await a.cmd_prefix("MSG nochan hi", "ERROR NOSUCHCHANNEL ")
        await a.cmd("CREATE talk", "CONFIRM CREATE talk")
        await a.cmd_prefix("MSG talk hi", "ERROR NOTMEMBER ")
        await a.cmd("SUB talk", "CONFIRM SUB talk")
        m = await a.cmd_prefix("MSG talk hi", "CONFIRM MSG talk ")
        self.assertRegex(m, r"^CONFIRM MSG talk %s$" % SEQ,
                         "CONFIRM MSG <channel> <seq>")

    async def test_msg_text_with_spaces_and_tab(self):
        a = await self.client(self.d, nick="alice")
        await a.cmd("SUBEVENT message", "CONFIRM SUBEVENT message")
        await a.sub("talk", create=True)
        seqs = []
        for text in ("hello, world and more", "tab\there", "x",
                     "ends with dot.", "MSG talk nested",
                     "quote \" backslash \\ unicode \u00e9\u20ac"):
            await a.send("MSG talk " + text)
            ev = await a.expect_event("message", "CREATE", "talk")
            self.assertEqual(ev.get("text"), text,
                             "message text must be the rest of the line")
            self.assertEqual(ev.get("username"), "alice")
            m = await a.expect_match(r"CONFIRM MSG talk %s" % SEQ)
            self.assertEqual(int(m.group(1)), ev["seq"],
                             "CONFIRM MSG seq must be the event's seq")
            seqs.append(ev["seq"])
        self.assertEqual(seqs, sorted(set(seqs)),
                         "message seqs must strictly increase: %r" % seqs)

    async def test_msg_without_text_is_badargs(self):
        a = await self.client(self.d, nick="alice")
        await a.sub("talk", create=True)
        await a.cmd("MSG talk",
                    "ERROR BADARGS MSG requires channel and text arguments")

    # --- PING, unknown, arity -------------------------------------------------

    async def test_ping(self):
        c = await self.client(self.d)
        await c.cmd("PING", "PONG")
        await c.cmd("PING token-1", "PONG token-1")

    async def test_unknown_verb(self):
        c = await self.client(self.d)
        got = await c.cmd_prefix("FROB", "ERROR UNKNOWN ")
        self.assertIn("FROB", got, "the error names the unknown verb")
        await c.cmd_prefix("FROB with args", "ERROR UNKNOWN ")
        # Verbs are upper case.
        await c.cmd_prefix("ping", "ERROR UNKNOWN ")

    async def test_wrong_arity_gives_usage(self):
        c = await self.client(self.d, nick="alice")
        wrong = []
        # Too few arguments name what is missing; too many show the usage.
        for line, want in (("NICK", "ERROR BADARGS NICK requires name argument"),
                           ("CREATE", "ERROR BADARGS CREATE requires channel argument"),
                           ("DELETE", "ERROR BADARGS DELETE requires channel argument"),
                           ("SUB", "ERROR BADARGS SUB requires channel argument"),
                           ("UNSUB", "ERROR BADARGS UNSUB requires channel argument"),
                           ("MSG", "ERROR BADARGS MSG requires channel and text arguments"),
                           ("SUBEVENT", "ERROR BADARGS SUBEVENT requires event type argument"),
                           ("UNSUBEVENT", "ERROR BADARGS UNSUBEVENT requires event type argument")):
            await c.send(line)
            got = await c.recv()
            if got != want:
                wrong.append("%r -> %r, want %r" % (line, got, want))
        for line, verb in (("NICK a b", "NICK"), ("CREATE a b", "CREATE"),
                           ("LIST x", "LIST"), ("LSSUBS x", "LSSUBS"),
                           ("PING a b", "PING"), ("LSEVENTS x", "LSEVENTS"),
                           ("SUBEVENT channel user", "SUBEVENT")):
            await c.send(line)
            got = await c.recv()
            if not got.startswith("ERROR BADARGS usage: " + verb):
                wrong.append("%r -> %r" % (line, got))
        self.assertEqual(wrong, [], "too few arguments must read 'ERROR BADARGS "
                         "<VERB> requires <what> argument', too many 'ERROR "
                         "BADARGS usage: <usage line>'")
        await c.nothing_pending()

    # --- line syntax ----------------------------------------------------------

    async def test_line_too_long(self):
        d = self.daemon(max_line=256)
        c = await self.client(d)
        await c.cmd_prefix("PING " + "x" * 300, "ERROR TOOLONG ")
        token = "y" * (256 - len("PING "))
        await c.cmd("PING " + token, "PONG " + token)
        await c.cmd("PING still-open", "PONG still-open")

    async def test_malformed_lines(self):
        c = await self.client(self.d)
        for line in ("", " ", "PING  x", " PING", "PING x  y",
                     "PING a\x01b", "PING \x7f", "PING a\tb"):
            await c.cmd_prefix(line, "ERROR BADARGS ")
        await c.cmd("PING ok", "PONG ok")

    async def test_control_characters_in_verb(self):
        c = await self.client(self.d)
        wrong = []
        for line in ("PING\tx", "PI\x01NG", "LIST\x1b"):
            await c.send(line)
            got = await c.recv()
            if not got.startswith("ERROR BADARGS "):
                wrong.append("%r -> %r" % (line, got))
        self.assertEqual(wrong, [], "a line with a control character (not "
                         "MSG text) gets ERROR BADARGS")

    async def test_control_characters_in_msg_text(self):
        a = await self.client(self.d, nick="alice")
        await a.sub("talk", create=True)
        for text in ("bell\x07", "nul\x00byte", "esc\x1b[31m", "cr\rin"):
            await a.cmd_prefix("MSG talk " + text, "ERROR BADARGS ")
        await a.cmd_prefix("MSG talk tab\tok", "CONFIRM MSG talk ")

    async def test_trailing_newline_ignored(self):
        c = await self.client(self.d)
        await c.cmd("PING a\n", "PONG a")
        await c.cmd("PING b\r\n", "PONG b")
        await c.cmd("PING\n", "PONG")

    # --- ordering -------------------------------------------------------------

    async def test_pipelined_replies_in_order(self):
        """50 mixed commands in one TCP write: 50 replies, in order."""
        ws = self.raw(self.d)
        cmds = [("NICK piper", r"CONFIRM NICK piper [A-Za-z0-9_-]{43}")]
        i = 0
        while len(cmds) < 50:
            ch = "p%d" % i
            group = [
                ("CREATE " + ch, re.escape("CONFIRM CREATE " + ch)),
                ("PING n%d" % i, re.escape("PONG n%d" % i)),
                ("SUB " + ch, re.escape("CONFIRM SUB " + ch)),
                ("LIST", r"LIST %d( p\d+)*" % (i + 1)),
                ("MSG %s text %d" % (ch, i), r"CONFIRM MSG %s \d+" % ch),
                ("FROB", r"ERROR UNKNOWN .*"),
                ("LSSUBS", r"LSSUBS %d( p\d+)*" % (i + 1)),
                ("SUB " + ch, r"ERROR BADARGS .*"),
            ]
            cmds += group
            i += 1
        cmds = cmds[:50]
        ws.send_lines(c for c, _ in cmds)
        seqs = []
        for n, (line, pattern) in enumerate(cmds):
            got = ws.read_text()
            self.assertRegex(got, "^%s$" % pattern,
                             "reply %d (to %r) out of order or wrong"
                             % (n, line))
            if got.startswith("CONFIRM MSG"):
                seqs.append(int(got.rsplit(" ", 1)[1]))
        self.assertEqual(seqs, sorted(set(seqs)),
                         "MSG seqs must increase in command order: %r" % seqs)
        ws.send_text("PING end")
        ws.expect("PONG end")


if __name__ == "__main__":
    harness.main()
