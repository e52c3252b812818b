// chat.test.mjs: the web client in a real browser (Debian's chromium) on
// a real wschatd, one scenario per test, as issue 11 lists them. Each test
// starts its own daemon on a free port, fails on any console error or
// uncaught exception in its pages, and leaves screenshots in
// tests/browser/results/ when it fails.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { Bot, Daemon, RESULTS, SRCDIR, Session, TIMEOUT, create, guest,
  launch, messageTexts, say, ui } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// A WebSocket that cannot connect while the server is down or the page
// offline: Chromium itself logs it as a console error.
const WS_DOWN = /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws' failed/;

// Run one scenario with its own daemon and pages.
function scenario(name, settings, fn) {
  test(name, { timeout: 120000 }, async () => {
    const d = new Daemon(settings);
    const s = new Session(browser, name.replace(/[^a-z0-9]+/gi, '-'));
    let failed = true;
    try {
      await d.start();
      await fn(d, s);
      failed = false;
    } finally {
      try {
        await s.finish(failed);
      } finally {
        await d.stop();
        d.cleanup();
      }
    }
  });
}

// Wait until the page shows n messages (not counting system lines).
async function waitMessages(page, n, timeout = TIMEOUT) {
  await page.waitForFunction((want) => document.querySelectorAll(
    '#message-list li:not(.system)').length >= want, n, { timeout });
}

scenario('two browsers chat in one channel, each sees the other once', {},
  async (d, s) => {
    const a = await s.page(d.url);
    const b = await s.page(d.url);
    await guest(a, 'alice');
    await create(a, 'general');
    await guest(b, 'bob');
    await ui(b).join('general').click();
    await b.locator('#channel-title', { hasText: '#general' }).waitFor();
    await ui(a).members.getByText('bob').waitFor();
    await say(a, 'hello bob');
    await waitMessages(b, 1);
    await say(b, 'hi alice');
    await waitMessages(a, 2);
    await waitMessages(b, 2);
    // One more round trip: nothing else is on its way.
    await say(a, 'bye');
    await waitMessages(b, 3);
    await waitMessages(a, 3);
    const want = ['alice: hello bob', 'bob: hi alice', 'alice: bye'];
    assert.deepEqual(await messageTexts(a), want);
    assert.deepEqual(await messageTexts(b), want);
    await ui(a).log.getByText('bob joined').waitFor();
  });
