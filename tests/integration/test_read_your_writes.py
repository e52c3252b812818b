"""
Read your own writes (docs/PROTOCOL.md, "Reply order"): on one
connection, a command that reads state answers with every earlier command
of that connection in effect, if its change committed, and with none whose
commit failed.

Every write (MSG, SUB, UNSUB, CREATE, DELETE) is pipelined with every read
(HISTORY, LSSUBS, LIST, SNAPSHOT, RESUME) in one TCP write, on our raw
client, so the read is in the server's buffer before the write commits. In
debug builds every commit is also reported late (WSCHAT_COMMIT_DELAY_MS),
so the read cannot pass by luck of timing: without the rule it would run
while the write still waits for its commit. Failed commits come from
WSCHAT_FAIL_STEP, on a restart of a server whose state was built first.
"""

import json

import harness

DELAY_MS = 60

WRITES = ("MSG", "SUB", "UNSUB", "CREATE", "DELETE")
READS = ("HISTORY", "LSSUBS", "LIST", "SNAPSHOT", "RESUME")


def write_line(verb, chan):
    if verb == "MSG":
        return "MSG %s fresh message" % chan
    return "%s %s" % (verb, chan)


def read_line(verb, chan, epoch):
    return {
        "HISTORY": "HISTORY %s LIMIT 1" % chan,
        "LSSUBS": "LSSUBS",
        "LIST": "LIST",
        "SNAPSHOT": "SNAPSHOT",
        "RESUME": "RESUME 0 %s" % epoch,
    }[verb]


def answer_done(verb, line):
    """Is line the last line of the answer to read verb?"""
    if line.startswith("ERROR "):
        return True
    if verb == "HISTORY":
        return line.startswith("CONFIRM HISTORY ")
    if verb in ("LSSUBS", "LIST"):
        return True
    if verb == "SNAPSHOT":
        return line.startswith("SNAPSHOT END ")
    if verb == "RESUME":
        return line.startswith("RESUMED ") or line.startswith("SNAPSHOT END ")
    return True		# every other command answers in one line


class ReadYourWritesTest(harness.WschatTestCase):

    def start(self, d, env=None):
        env = dict(env or {})
        if harness.debug_build():
            env["WSCHAT_COMMIT_DELAY_MS"] = str(DELAY_MS)
        d.start(env)

    def connect(self, d, name):
        r = self.raw(d)
        # A name comes back (after a restart too) with the token its first
        # NICK was given.
        if name in harness.TOKENS:
            r.send_text("AUTH " + harness.TOKENS[name])
            r.expect("CONFIRM AUTH " + name)
        else:
            r.send_text("NICK " + name)
            r.expect("CONFIRM NICK " + name)
        return r, r.hello.split()[2]

    def run_cmd(self, r, line, verb=None):
        """One command, sent alone; its whole answer."""
        r.send_text(line)
        return self.answer(r, verb or line.split()[0])

    def answer(self, r, verb):
        lines = [r.read_text()]
        while not answer_done(verb, lines[-1]):
            lines.append(r.read_text())
        return lines

    def prepare(self, r, write, chan):
        """The state a write needs: chan exists unless CREATE makes it; the
        user is a member where MSG, UNSUB or DELETE expect one; chan has a
        message already, so a stale HISTORY would show that one."""
        if write == "CREATE":
            return
        r.send_text("CREATE " + chan)
        r.expect("CONFIRM CREATE " + chan)
        r.send_text("SUB " + chan)
        r.expect("CONFIRM SUB " + chan)
        r.send_text("MSG %s older message" % chan)
        self.assertTrue(r.read_text().startswith("CONFIRM MSG "))
        if write == "SUB":
            r.send_text("UNSUB " + chan)
            r.expect("CONFIRM UNSUB " + chan)

    def pipeline(self, r, wline, rverb, rline):
        """The write and the read in one TCP write: (write's reply, read's
        answer)."""
        r.send_lines((wline, rline))
        return r.read_text(), self.answer(r, rverb)

    def test_every_read_sees_every_write(self):
        """Each read answers as it does once the write is confirmed."""
        # 25 pairs of reads, SNAPSHOT and RESUME among them, as fast as
        # the server answers: more than the rate limit's costs allow, and
        # this is about order, not rate.
        d = self.new_daemon({"rate_limit": "0"}, start=False)
        self.start(d)
        r, epoch = self.connect(d, "rita")
        n = 0
        for write in WRITES:
            for read in READS:
                n += 1
                chan = "c%d" % n
                self.prepare(r, write, chan)
                wline = write_line(write, chan)
                rline = read_line(read, chan, epoch)
                wreply, got = self.pipeline(r, wline, read, rline)
                self.assertTrue(wreply.startswith("CONFIRM %s %s" % (write, chan)),
                                "%s: %r" % (wline, wreply))
                again = self.run_cmd(r, rline, read)
                self.assertEqual(got, again, "%r right behind %r answered "
                                 "as if the write had not happened"
                                 % (rline, wline))

    def test_history_holds_the_message_just_confirmed(self):
        """The reported case: MSG then HISTORY in one write, on a fresh
        channel and on one with an older message."""
        d = self.new_daemon(start=False)
        self.start(d)
        r, _ = self.connect(d, "rita")
        for chan, older in (("fresh", False), ("busy", True)):
            self.run_cmd(r, "CREATE " + chan)
            self.run_cmd(r, "SUB " + chan)
            if older:
                self.run_cmd(r, "MSG %s older message" % chan)
            for i in range(5):
                text = "message %d" % i
                wreply, got = self.pipeline(r, "MSG %s %s" % (chan, text),
                                            "HISTORY", "HISTORY %s LIMIT 1" % chan)
                seq = int(wreply.split()[3])
                self.assertEqual(got[-1], "CONFIRM HISTORY %s 1" % chan, got)
                ev = json.loads(got[0].split(" ", 2)[2])
                self.assertEqual((ev["seq"], ev["text"]), (seq, text),
                                 "HISTORY right after %r shows %r" % (wreply, got))

    def failed_write(self, write, read, check):
        """Build the state, restart with the next commit failing, pipeline
        write and read: the write fails, and check(answer) holds for the
        read's answer right behind it and for the same read after it."""
        if not harness.debug_build():
            self.skipTest("release build: WSCHAT_FAIL_STEP is ignored")
        d = self.new_daemon(start=False)
        self.start(d)
        r, _ = self.connect(d, "rita")
        self.prepare(r, write, "g")
        r.close()
        d.stop()
        self.start(d, {"WSCHAT_FAIL_STEP": "1"})
        r, _ = self.connect(d, "rita")
        verb = read.split()[0]
        wreply, got = self.pipeline(r, write_line(write, "g"), verb, read)
        self.assertEqual(wreply, "ERROR INTERNAL journal write failed")
        check(got, "%r right behind a failed %s" % (read, write))
        # The connection goes on, with the state the journal holds.
        check(self.run_cmd(r, read, verb), "%r after a failed %s"
              % (read, write))

    def answers(self, want):
        return lambda got, what: self.assertEqual(got, want, what)

    def test_failed_create_is_not_listed(self):
        self.failed_write("CREATE", "LIST", self.answers(["LIST 0"]))

    def test_failed_delete_leaves_the_channel(self):
        self.failed_write("DELETE", "LIST", self.answers(["LIST 1 g"]))

    def test_failed_sub_is_not_a_subscription(self):
        self.failed_write("SUB", "LSSUBS", self.answers(["LSSUBS 0"]))

    def test_failed_unsub_keeps_the_subscription(self):
        self.failed_write("UNSUB", "LSSUBS", self.answers(["LSSUBS 1 g"]))

    def test_failed_msg_is_not_history(self):
        def only_the_older(got, what):
            self.assertEqual(len(got), 2, "%s: %r" % (what, got))
            self.assertEqual(got[1], "CONFIRM HISTORY g 1", what)
            self.assertEqual(json.loads(got[0].split(" ", 2)[2])["text"],
                             "older message", what)
        self.failed_write("MSG", "HISTORY g LIMIT 5", only_the_older)


if __name__ == "__main__":
    harness.main()
