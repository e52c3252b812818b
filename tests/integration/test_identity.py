"""
Identity (docs/PROTOCOL.md, "Identity"): guests made by NICK and their
tokens, registered accounts (REGISTER, LOGIN, PASSWD), AUTH, LOGOUT, the
failure buckets, expiry on the test clock (WSCHAT_CLOCK_FILE, debug
builds), revocation closing sessions, and that nobody becomes somebody
else: every refused attempt leaves the identity and the journal as they
were.
"""

import os
import re
import tempfile
import time

import harness
from harness import (ALL_INTENTS, DB, TOKENS, JournalTestCase,  # noqa: E402
                     command, read_until, sync)

TOKEN = r"[A-Za-z0-9_-]{43}"
# Cheap Argon2id for tests (the defaults are OWASP's: 19 MiB, 2 passes).
FAST = {"pwhash_memlimit": "64K", "pwhash_opslimit": "1",
        "login_burst": "1000", "password_min": "8"}
DAY_MS = 86400 * 1000


class IdentityTest(JournalTestCase):

    def srv(self, **over):
        settings = dict(FAST)
        settings.update(over)
        return self.server(settings)

    def account_rows(self, db):
        return db.q("SELECT name, kind, admin, disabled FROM accounts "
                    "ORDER BY name")

    async def state(self, c):
        """What the connection is, as the server says: LSSUBS or NOTIDENTIFIED."""
        await c.send("LSSUBS")
        return await c.recv(what="the reply to LSSUBS")

    # --- NICK: guests --------------------------------------------------------

    async def test_nick_makes_a_guest_with_a_token(self):
        d = self.srv()
        db = DB(self, d.db)
        c = await self.client(d)
        await c.send("NICK gus")
        m = await c.expect_match(r"CONFIRM NICK gus (%s)" % TOKEN)
        token = m.group(1)
        self.assertEqual(self.account_rows(db), [("gus", "guest", 0, 0)])
        # Only the SHA-256 of the token is stored, never the token.
        import hashlib
        import base64
        raw = base64.urlsafe_b64decode(token + "=")
        self.assertEqual(len(raw), 32)
        self.assertEqual(db.q("SELECT hash, account FROM tokens"),
                         [(hashlib.sha256(raw).hexdigest(), "gus")])
        # The account event carries no secret and nobody receives it.
        rows = db.q("SELECT type, action, resource, data FROM events")
        self.assertEqual([r[:3] for r in rows], [("account", "GUEST", "gus")])
        for r in rows:
            self.assertNotIn(token, r[3])
        with open(d.db, "rb") as f:
            self.assertNotIn(token.encode(), f.read())
        self.assertNotIn(token, "\n".join(d.lines()))
        # Taken now: by anyone, also after the holder leaves.
        b = await self.client(d)
        await b.cmd("NICK gus", "ERROR NAMEINUSE gus is taken")
        await c.wait_closed()
        await b.cmd("NICK gus", "ERROR NAMEINUSE gus is taken")
        await b.cmd("LSSUBS", "ERROR NOTIDENTIFIED LSSUBS needs an identity: "
                    "send NICK, REGISTER, LOGIN or AUTH first")

    async def test_guests_no(self):
        d = self.srv(guests="no")
        c = await self.client(d)
        await c.cmd_prefix("NICK gus", "ERROR FORBIDDEN ")
        self.assertEqual(self.account_rows(DB(self, d.db)), [])

    async def test_guest_comes_back_with_auth_and_resumes_exactly(self):
        d = self.srv()
        db = DB(self, d.db)
        g = await self.client(d, "gina", ALL_INTENTS)
        await command(g, "CREATE room", "CONFIRM CREATE room")
        await command(g, "SUB room", "CONFIRM SUB room")
        await sync(g)
        cursor = db.head()
        await g.wait_closed()
        o = await self.client(d, "olaf")
        await o.cmd("SUB room", "CONFIRM SUB room")
        seqs = await o.post("room", ["one", "two"])
        # Back with AUTH (and nothing else), then RESUME: exactly what
        # was missed, by the rule.
        c = await self.reconnect(d, "gina", ALL_INTENTS,
                                 "RESUME %d %s" % (cursor, g.epoch))
        self.assertTrue(c.last_sent.startswith("RESUME"))
        want = harness.expected_events(db, "gina", ALL_INTENTS, cursor,
                                       db.head())
        lines = await read_until(c, lambda l: l.startswith("RESUMED "),
                                 "RESUMED")
        self.assertEqual(lines[:-1], want)
        self.assertEqual(lines[-1], "RESUMED %d %d" % (db.head(), len(want)))
        self.assertEqual([harness.seq_of(l) for l in want
                          if " message " in l], seqs)
        await c.cmd("LSSUBS", "LSSUBS 1 room")

    async def test_one_account_on_two_connections(self):
        d = self.srv()
        a = await self.client(d, "pat", ["message"])
        await a.sub("both", create=True)
        b = await self.client(d, name="pat-phone")
        await b.cmd("AUTH " + TOKENS["pat"], "CONFIRM AUTH pat")
        await b.cmd("SUBEVENT message", "CONFIRM SUBEVENT message")
        await b.cmd("LSSUBS", "LSSUBS 1 both")
        await b.send("MSG both hi")
        # Both connections of the account receive it.
        await b.expect_prefix("EVENT message CREATE both ")
        await b.expect_match(r"CONFIRM MSG both \d+")
        await a.expect_prefix("EVENT message CREATE both ")

    # --- REGISTER, LOGIN -----------------------------------------------------

    async def test_register_login_and_bad_input(self):
        d = self.srv()
        db = DB(self, d.db)
        c = await self.client(d)
        await c.send("REGISTER rose correct horse")
        m = await c.expect_match(r"CONFIRM REGISTER rose (%s)" % TOKEN)
        self.assertEqual(self.account_rows(db), [("rose", "registered", 0, 0)])
        h = db.one("SELECT pwhash FROM accounts WHERE name = 'rose'")
        self.assertTrue(h.startswith("$argon2id$"), h)
        self.assertNotIn("correct horse", "\n".join(d.lines()))
        # A second connection logs in: a new token each time.
        b = await self.client(d)
        await b.send("LOGIN rose correct horse")
        m2 = await b.expect_match(r"CONFIRM LOGIN rose (%s)" % TOKEN)
        self.assertNotEqual(m.group(1), m2.group(1))
        self.assertEqual(db.one("SELECT count(*) FROM tokens"), 2)
        before = db.q("SELECT * FROM accounts"), db.q("SELECT * FROM tokens")
        head = db.head()
        x = await self.client(d, "xavier")
        head = db.head()
        bad = [
            ("LOGIN rose wrong horse", "ERROR BADLOGIN invalid name or password"),
            ("LOGIN nobody correct horse",
             "ERROR BADLOGIN invalid name or password"),
            ("LOGIN xavier whatever12", "ERROR BADLOGIN invalid name or password"),
            ("REGISTER rose another password", "ERROR NAMEINUSE rose is taken"),
            ("REGISTER new short", "ERROR BADARGS a password is 8 to 256 "
             "bytes of UTF-8"),
            ("REGISTER new " + "p" * 257, "ERROR BADARGS a password is 8 to "
             "256 bytes of UTF-8"),
            ("REGISTER bad!name longenough", None),
            ("REGISTER new", "ERROR BADARGS REGISTER requires name and "
             "password arguments"),
            ("LOGIN rose", "ERROR BADARGS LOGIN requires name and password "
             "arguments"),
            ("AUTH", "ERROR BADARGS AUTH requires token argument"),
            ("AUTH a b", "ERROR BADARGS usage: AUTH <token>"),
        ]
        for line, want in bad:
            await x.send(line)
            got = await x.recv(what="the reply to %r" % line)
            if want is None:
                self.assertTrue(got.startswith("ERROR BADARGS "), got)
            else:
                self.assertEqual(got, want, line)
            # Nothing changed: still xavier, no new event.
            self.assertEqual(await self.state(x), "LSSUBS 0")
        self.assertEqual(db.head(), head)
        self.assertEqual((db.q("SELECT * FROM accounts WHERE name <> 'xavier'"),
                          db.q("SELECT * FROM tokens WHERE account <> "
                               "'xavier'")), before)
        # A password that is not UTF-8 cannot even arrive: the frame is
        # refused by the WebSocket layer (1007). The length counts bytes.
        await x.cmd_prefix("REGISTER new " + "\u00e9" * 128 + "x",
                           "ERROR BADARGS ")
        await x.cmd_prefix("REGISTER utf " + "\u00e9" * 128,
                           "CONFIRM REGISTER utf ")

    async def test_registration_closed(self):
        d = self.srv(registration="closed")
        c = await self.client(d)
        await c.cmd("REGISTER rose correct horse",
                    "ERROR FORBIDDEN registration is closed")
        self.assertEqual(self.account_rows(DB(self, d.db)), [])

    async def test_guest_upgrades_and_keeps_its_channels_and_tokens(self):
        d = self.srv()
        db = DB(self, d.db)
        g = await self.client(d, "gwen")
        old = TOKENS["gwen"]
        await g.sub("kept", create=True)
        await g.cmd_prefix("REGISTER gwen my password", "CONFIRM REGISTER gwen ")
        self.assertEqual(self.account_rows(db), [("gwen", "registered", 0, 0)])
        await g.cmd("LSSUBS", "LSSUBS 1 kept")
        # The old guest token opens the registered account.
        b = await self.client(d)
        await b.cmd("AUTH " + old, "CONFIRM AUTH gwen")
        await b.cmd("LSSUBS", "LSSUBS 1 kept")
        c = await self.client(d)
        await c.cmd_prefix("LOGIN gwen my password", "CONFIRM LOGIN gwen ")
        # Another guest cannot take it over by REGISTER.
        h = await self.client(d, "hugo")
        await h.cmd("REGISTER gwen my password", "ERROR NAMEINUSE gwen is taken")

    # --- AUTH and impersonation ----------------------------------------------

    async def test_impersonation_is_refused(self):
        d = self.srv()
        db = DB(self, d.db)
        v = await self.client(d, "victim")
        await v.sub("secret", create=True)
        await v.post("secret", ["for members"])
        await v.cmd_prefix("REGISTER victim victim password",
                           "CONFIRM REGISTER victim ")
        g = await self.client(d, "ghost")	# a guest, then disconnected
        ghost_token = TOKENS["ghost"]
        await g.wait_closed()
        m = await self.client(d, "mallory")
        head = db.head()
        tok = TOKENS["mallory"]
        garbage = [
            "", "x", "A" * 42, "A" * 44, "A" * 43 + "=", "+" * 43, "/" * 43,
            "A" * 42 + "B",		# not canonical base64url
            "A" * 43,		# well-formed, nobody's
            tok[:-1] + ("A" if tok[-1] != "A" else "Q"),
            "A" * 4000,
        ]
        for t in garbage:
            line = ("AUTH " + t) if t else "AUTH"
            await m.send(line)
            got = await m.recv(what="the reply to AUTH")
            if t:
                self.assertEqual(got, "ERROR BADLOGIN invalid or expired token",
                                 line[:60])
            else:
                self.assertTrue(got.startswith("ERROR BADARGS "), got)
            self.assertEqual(await self.state(m), "LSSUBS 0")
        for line in ("NICK victim", "NICK ghost"):
            await m.cmd(line, "ERROR NAMEINUSE %s is taken" % line[5:])
        await m.cmd("LOGIN victim not the password",
                    "ERROR BADLOGIN invalid name or password")
        # After every failure: still mallory; HISTORY and RESUME show
        # nothing of the victim's.
        await m.cmd_prefix("HISTORY secret", "ERROR NOTMEMBER ")
        await m.cmd("RESUME 0 " + m.epoch, "RESUMED %d 0" % db.head())
        self.assertEqual(db.head(), head)
        # A token opens only its own account.
        await m.cmd("AUTH " + ghost_token, "CONFIRM AUTH ghost")
        await m.cmd_prefix("HISTORY secret", "ERROR NOTMEMBER ")
        # A revoked token opens nothing.
        await m.cmd("LOGOUT", "CONFIRM LOGOUT")
        await m.cmd("AUTH " + ghost_token,
                    "ERROR BADLOGIN invalid or expired token")
        await m.cmd_prefix("HISTORY secret", "ERROR NOTIDENTIFIED ")
        await m.cmd_prefix("RESUME 0", "ERROR NOTIDENTIFIED ")

    async def test_switch_and_failed_switch(self):
        d = self.srv()
        db = DB(self, d.db)
        a = await self.client(d, "ann")
        await a.sub("annroom", create=True)
        await a.post("annroom", ["ann's"])
        b = await self.client(d, "ben")
        await b.sub("benroom", create=True)
        await b.post("benroom", ["ben's"])
        for i in ALL_INTENTS:
            await b.cmd("SUBEVENT " + i, "CONFIRM SUBEVENT " + i)
        # A failed identity command leaves ben exactly as he was.
        await b.cmd("AUTH " + "A" * 43, "ERROR BADLOGIN invalid or expired token")
        await b.cmd("NICK ann", "ERROR NAMEINUSE ann is taken")
        await b.cmd("LSSUBS", "LSSUBS 1 benroom")
        # Switching to ann: RESUME from 0 replays exactly ann's events,
        # also those b had already received live as ben.
        await b.cmd("AUTH " + TOKENS["ann"], "CONFIRM AUTH ann")
        await b.cmd("LSSUBS", "LSSUBS 1 annroom")
        head = db.head()
        await b.send("RESUME 0 " + b.epoch)
        lines = await read_until(b, lambda l: l.startswith("RESUMED "),
                                 "RESUMED")
        want = harness.expected_events(db, "ann", ALL_INTENTS, 0, head)
        self.assertEqual(lines[:-1], want)
        # ben's token still works.
        c = await self.client(d)
        await c.cmd("AUTH " + TOKENS["ben"], "CONFIRM AUTH ben")

    # --- LOGOUT, PASSWD: revocation ------------------------------------------

    async def test_logout_releases_a_guest_and_closes_its_other_sessions(self):
        d = self.srv()
        db = DB(self, d.db)
        g = await self.client(d, "gil")
        await g.sub("r1", create=True)
        await g.sub("r2", create=True)
        w = await self.client(d, "watcher", ["user"])
        other = await self.client(d)
        await other.cmd("AUTH " + TOKENS["gil"], "CONFIRM AUTH gil")
        await g.send("LOGOUT")
        # The parts come before CONFIRM LOGOUT.
        got = []
        for _ in range(2):
            got.append(harness.parse_event(await w.recv()))
        self.assertEqual(sorted((e[1], e[2], e[3]["reason"]) for e in got),
                         [("PART", "r1", "released"), ("PART", "r2",
                                                       "released")])
        await g.expect("CONFIRM LOGOUT")
        reason, _ = await other.expect_close(1008)
        self.assertEqual(reason, "token revoked")
        self.assertEqual(db.q("SELECT * FROM accounts WHERE name = 'gil'"), [])
        self.assertEqual(db.one("SELECT count(*) FROM tokens WHERE account = "
                                "'gil'"), 0)
        await g.cmd_prefix("LSSUBS", "ERROR NOTIDENTIFIED ")
        await g.cmd("LOGOUT", "ERROR FORBIDDEN not logged in")
        # The name is free again.
        n = await self.client(d)
        await n.cmd_prefix("NICK gil", "CONFIRM NICK gil ")
        await n.cmd("LSSUBS", "LSSUBS 0")

    async def test_logout_of_a_registered_account_keeps_it(self):
        d = self.srv()
        db = DB(self, d.db)
        a = await self.client(d)
        await a.cmd_prefix("REGISTER reg1 password1", "CONFIRM REGISTER reg1 ")
        await a.cmd("LOGOUT", "CONFIRM LOGOUT")
        self.assertEqual(self.account_rows(db), [("reg1", "registered", 0, 0)])
        await a.cmd_prefix("LOGIN reg1 password1", "CONFIRM LOGIN reg1 ")

    async def test_passwd(self):
        d = self.srv()
        db = DB(self, d.db)
        a = await self.client(d)
        await a.cmd_prefix("LOGOUT", "ERROR FORBIDDEN ")
        await a.cmd_prefix("PASSWD whatever12", "ERROR FORBIDDEN ")
        await a.cmd_prefix("REGISTER pam first password",
                           "CONFIRM REGISTER pam ")
        b = await self.client(d)
        await b.cmd_prefix("LOGIN pam first password", "CONFIRM LOGIN pam ")
        c = await self.client(d)
        await c.cmd("AUTH " + TOKENS["pam"], "CONFIRM AUTH pam")
        # From AUTH, or a guest: FORBIDDEN.
        await c.cmd("PASSWD new password",
                    "ERROR FORBIDDEN PASSWD needs a LOGIN with the password")
        g = await self.client(d, "guest1")
        await g.cmd_prefix("PASSWD new password", "ERROR FORBIDDEN ")
        await b.cmd("PASSWD short", "ERROR BADARGS a password is 8 to 256 "
                    "bytes of UTF-8")
        await b.cmd("PASSWD second password", "CONFIRM PASSWD")
        for other in (a, c):
            reason, _ = await other.expect_close(1008)
            self.assertEqual(reason, "token revoked")
        self.assertEqual(db.one("SELECT count(*) FROM tokens WHERE account = "
                                "'pam'"), 1)
        await b.cmd("LSSUBS", "LSSUBS 0")
        e = await self.client(d)
        await e.cmd("LOGIN pam first password",
                    "ERROR BADLOGIN invalid name or password")
        await e.cmd_prefix("LOGIN pam second password", "CONFIRM LOGIN pam ")

    # --- rate limits ---------------------------------------------------------

    async def test_login_buckets(self):
        d = self.srv(login_burst="3", login_rate="1")
        a = await self.client(d)
        await a.cmd_prefix("REGISTER rick right password",
                           "CONFIRM REGISTER rick ")
        t = TOKENS["rick"]
        x = await self.client(d)
        for _ in range(3):
            await x.cmd("LOGIN rick wrong password",
                        "ERROR BADLOGIN invalid name or password")
        # Both buckets (address, name) are empty: even the right password
        # and a good token are refused, without being checked.
        await x.cmd_prefix("LOGIN rick right password", "ERROR RATELIMITED ")
        await x.cmd_prefix("AUTH " + t, "ERROR RATELIMITED ")
        await x.cmd_prefix("LOGIN other right password", "ERROR RATELIMITED ")
        await x.cmd_prefix("LSSUBS", "ERROR NOTIDENTIFIED ")
        # NICK is no guess: it works.
        await x.cmd_prefix("NICK newbie", "CONFIRM NICK newbie ")

    async def test_full_password_queue_refuses_and_holds_nothing(self):
        # auth_queue = 1 and a hash that takes a while: a second LOGIN sent
        # while the first is under way is refused with RATELIMITED, leaves
        # its connection as it was (anonymous, reading its next lines), and
        # the first one still logs in.
        d = self.srv(auth_queue="1", auth_threads="1",
                     pwhash_memlimit="64M", pwhash_opslimit="3")
        a = await self.client(d)
        await a.cmd_prefix("REGISTER slow right password",
                           "CONFIRM REGISTER slow ")
        x = await self.client(d)
        y = await self.client(d)
        await x.send("LOGIN slow right password")
        await y.send("LOGIN slow right password")
        await y.expect_prefix("ERROR RATELIMITED too many logins under way")
        await y.cmd("PING after", "PONG after")
        await y.cmd_prefix("LSSUBS", "ERROR NOTIDENTIFIED ")
        await x.expect_prefix("CONFIRM LOGIN slow ")
        await x.cmd("LSSUBS", "LSSUBS 0")

    # --- expiry, on the test clock -------------------------------------------

    def clock(self, ms, d=None):
        """Move the server's wall clock (its sweep reads the file once a
        second) and, with d, wait until the server says it has."""
        mark = d.mark() if d is not None else 0
        with open(self.clock_path + ".tmp", "w") as f:
            f.write("%d\n" % ms)
        os.replace(self.clock_path + ".tmp", self.clock_path)
        if d is not None:
            d.wait_log(r"test clock: %d$" % ms, since=mark)

    def clocked_server(self, **over):
        if not harness.debug_build():
            self.skipTest("release build: no test clock")
        tmp = tempfile.mkdtemp(prefix="wschat-clock-")
        self.addCleanup(lambda: __import__("shutil").rmtree(tmp, True))
        self.clock_path = os.path.join(tmp, "clock")
        self.now = int(time.time() * 1000)
        self.clock(self.now)
        settings = dict(FAST)
        settings.update(over)
        d = self.server(settings, start=False)
        d.start({"WSCHAT_CLOCK_FILE": self.clock_path})
        return d

    async def test_guest_ttl_expires_and_frees_the_name(self):
        d = self.clocked_server(guest_ttl="3600")
        db = DB(self, d.db)
        g = await self.client(d, "eve")
        await g.sub("eden", create=True)
        await g.wait_closed()
        w = await self.client(d, "watch", ["user"])
        # Within the ttl: still taken.
        self.clock(self.now + 3000 * 1000, d)
        n = await self.client(d)
        await n.cmd("NICK eve", "ERROR NAMEINUSE eve is taken")
        # Past it: released through the journal, with "expired".
        self.clock(self.now + 3601 * 1000, d)
        ev = harness.parse_event(await w.recv(timeout=harness.SLOW_TIMEOUT))
        self.assertEqual((ev[1], ev[2], ev[3]["username"], ev[3]["reason"]),
                         ("PART", "eden", "eve", "expired"))
        d.wait_until(lambda: db.q("SELECT 1 FROM accounts WHERE name = "
                                  "'eve'") == [], "eve's account released")
        await n.cmd("AUTH " + TOKENS["eve"],
                    "ERROR BADLOGIN invalid or expired token")
        await n.cmd_prefix("NICK eve", "CONFIRM NICK eve ")
        await n.cmd("LSSUBS", "LSSUBS 0")

    async def test_token_ttl_slides_with_use(self):
        d = self.clocked_server(token_ttl="3600")
        a = await self.client(d)
        await a.cmd_prefix("REGISTER tom tom password", "CONFIRM REGISTER tom ")
        t = TOKENS["tom"]
        await a.wait_closed()
        # Used at 3000 s: the hour starts again from there.
        self.clock(self.now + 3000 * 1000, d)
        b = await self.client(d)
        await b.cmd("AUTH " + t, "CONFIRM AUTH tom")
        await b.wait_closed()
        self.clock(self.now + 6000 * 1000, d)
        c = await self.client(d)
        await c.cmd("AUTH " + t, "CONFIRM AUTH tom")
        await c.wait_closed()
        # Unused for more than an hour: expired (the account stays).
        self.clock(self.now + 9700 * 1000, d)
        e = await self.client(d)
        await e.cmd("AUTH " + t, "ERROR BADLOGIN invalid or expired token")
        await e.cmd_prefix("LOGIN tom tom password", "CONFIRM LOGIN tom ")

    # --- crash with a registration in flight ---------------------------------

    async def test_kill9_with_registration_in_flight(self):
        d = self.srv()
        db = DB(self, d.db)
        for i in range(3):
            c = await self.client(d)
            await c.send("REGISTER crash%d some password" % i)
            await c.send("NICK guest%d" % i)
            d.kill9()
            await d.start_async()
            # Taken or free, never half: an account has its event and its
            # token, or none of them exists.
            acc = db.one("SELECT count(*) FROM accounts WHERE name = ?",
                         "crash%d" % i)
            ev = db.one("SELECT count(*) FROM events WHERE type = 'account' "
                        "AND resource = ?", "crash%d" % i)
            tok = db.one("SELECT count(*) FROM tokens WHERE account = ?",
                         "crash%d" % i)
            self.assertEqual((acc, ev, tok), (acc, acc, acc))
            n = await self.client(d)
            if acc:
                await n.cmd("NICK crash%d" % i, "ERROR NAMEINUSE crash%d is "
                            "taken" % i)
            else:
                await n.cmd_prefix("REGISTER crash%d some password" % i,
                                   "CONFIRM REGISTER crash%d " % i)
            r = harness.wschatctl(d.db, "check")
            if r is not None:
                self.assertEqual(r[0], 0, r)

    # --- wschatctl user and tokens, on the running daemon --------------------

    def ctl(self, d, *args, stdin=None):
        r = harness.wschatctl(d.db, *args, stdin=stdin)
        if r is None:
            self.fail("WSCHATCTL is not an executable")
        return r

    async def test_wschatctl_user_and_tokens(self):
        d = self.srv()
        db = DB(self, d.db)
        # add: the password comes from stdin, never argv.
        rc, out, err = self.ctl(d, "user", "add", "ops", stdin=b"ops password\n")
        self.assertEqual(rc, 0, err)
        d.wait_until(lambda: self.account_rows(db) ==
                     [("ops", "registered", 0, 0)], "user add applied")
        self.assertEqual(db.one("SELECT count(*) FROM requests"), 0)
        a = await self.client(d)
        await a.cmd_prefix("LOGIN ops ops password", "CONFIRM LOGIN ops ")
        rc, out, err = self.ctl(d, "user", "add", "ops", stdin=b"ops password\n")
        self.assertNotEqual(rc, 0)
        rc, out, err = self.ctl(d, "user", "add", "short", stdin=b"short\n")
        self.assertNotEqual(rc, 0)
        rc, out, err = self.ctl(d, "user", "disable", "nobody")
        self.assertNotEqual(rc, 0)
        # admin: the role on the account.
        self.assertEqual(self.ctl(d, "user", "admin", "ops")[0], 0)
        d.wait_until(lambda: db.one("SELECT admin FROM accounts WHERE name = "
                                    "'ops'") == 1, "user admin applied")
        rc, out, err = self.ctl(d, "user", "list")
        self.assertEqual(rc, 0, err)
        self.assertIn("ops", out)
        self.assertIn("admin", out)
        self.assertNotIn("argon2", out)
        self.assertEqual(self.ctl(d, "user", "unadmin", "ops")[0], 0)
        d.wait_until(lambda: db.one("SELECT admin FROM accounts WHERE name = "
                                    "'ops'") == 0, "user unadmin applied")
        # passwd: the old password and every session end.
        self.assertEqual(self.ctl(d, "user", "passwd", "ops",
                                  stdin=b"new ops password\n")[0], 0)
        reason, _ = await a.expect_close(1008)
        self.assertEqual(reason, "token revoked")
        b = await self.client(d)
        await b.cmd("LOGIN ops ops password",
                    "ERROR BADLOGIN invalid name or password")
        await b.cmd_prefix("LOGIN ops new ops password", "CONFIRM LOGIN ops ")
        # tokens revoke: its sessions close within a second.
        c = await self.client(d)
        await c.cmd("AUTH " + TOKENS["ops"], "CONFIRM AUTH ops")
        self.assertEqual(self.ctl(d, "tokens", "revoke", "ops")[0], 0)
        for x in (b, c):
            reason, _ = await x.expect_close(1008)
            self.assertEqual(reason, "token revoked")
        e = await self.client(d)
        await e.cmd("AUTH " + TOKENS["ops"],
                    "ERROR BADLOGIN invalid or expired token")
        # disable: sessions close, LOGIN is refused; enable lets it in again.
        await e.cmd_prefix("LOGIN ops new ops password", "CONFIRM LOGIN ops ")
        self.assertEqual(self.ctl(d, "user", "disable", "ops")[0], 0)
        reason, _ = await e.expect_close(1008)
        self.assertEqual(reason, "account disabled")
        f = await self.client(d)
        await f.cmd("LOGIN ops new ops password",
                    "ERROR BADLOGIN invalid name or password")
        self.assertEqual(self.ctl(d, "user", "enable", "ops")[0], 0)
        d.wait_until(lambda: db.one("SELECT disabled FROM accounts WHERE "
                                    "name = 'ops'") == 0, "user enable applied")
        await f.cmd_prefix("LOGIN ops new ops password", "CONFIRM LOGIN ops ")
        # A guest's tokens revoked: it is released.
        g = await self.client(d, "guesty")
        await g.sub("gr", create=True)
        self.assertEqual(self.ctl(d, "tokens", "revoke", "guesty")[0], 0)
        reason, _ = await g.expect_close(1008)
        d.wait_until(lambda: db.q("SELECT 1 FROM accounts WHERE name = "
                                  "'guesty'") == [], "guest released")
        r = harness.wschatctl(d.db, "check")
        self.assertEqual(r[0], 0, r)

    async def test_admin_role_moderates_any_channel(self):
        # The role given with wschatctl reaches a session already logged
        # in: it may kick and ban in a channel it does not own, and sees a
        # private channel; taken back, the same commands are forbidden.
        d = self.srv()
        db = DB(self, d.db)
        rc, out, err = self.ctl(d, "user", "add", "ops", stdin=b"ops password\n")
        self.assertEqual(rc, 0, err)
        d.wait_until(lambda: db.one("SELECT count(*) FROM accounts WHERE "
                                    "name = 'ops'") == 1, "user add applied")
        alice = await self.client(d, "alice")
        await alice.sub("room", create=True)
        await alice.cmd("CREATE hidden private", "CONFIRM CREATE hidden")
        bob = await self.client(d, "bob")
        await bob.cmd("SUB room", "CONFIRM SUB room")
        ops = await self.client(d)
        await ops.cmd_prefix("LOGIN ops ops password", "CONFIRM LOGIN ops ")
        await ops.cmd_prefix("KICK room bob", "ERROR FORBIDDEN ")
        await ops.cmd_prefix("INVITE hidden bob", "ERROR NOSUCHCHANNEL ")
        self.assertEqual(self.ctl(d, "user", "admin", "ops")[0], 0)
        d.wait_until(lambda: db.one("SELECT admin FROM accounts WHERE name = "
                                    "'ops'") == 1, "user admin applied")
        await ops.cmd("KICK room bob", "CONFIRM KICK room bob")
        await ops.cmd("BAN room bob", "CONFIRM BAN room bob")
        await bob.cmd_prefix("SUB room", "ERROR FORBIDDEN ")
        await ops.cmd("UNBAN room bob", "CONFIRM UNBAN room bob")
        await ops.cmd("INVITE hidden bob", "CONFIRM INVITE hidden bob")
        await bob.cmd("SUB hidden", "CONFIRM SUB hidden")
        self.assertEqual(self.ctl(d, "user", "unadmin", "ops")[0], 0)
        d.wait_until(lambda: db.one("SELECT admin FROM accounts WHERE name = "
                                    "'ops'") == 0, "user unadmin applied")
        await ops.cmd_prefix("BAN room alice", "ERROR FORBIDDEN ")
        await ops.cmd_prefix("KICK hidden bob", "ERROR NOSUCHCHANNEL ")

    async def test_database_is_private(self):
        d = self.srv()
        await self.client(d, "x")
        self.assertEqual(os.stat(d.db).st_mode & 0o777, 0o600)


if __name__ == "__main__":
    harness.main()
