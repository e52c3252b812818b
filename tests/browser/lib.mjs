// lib.mjs: what the browser tests share. A real wschatd on a free port
// (Daemon: start, stop with SIGTERM and insist on exit 0, start again on
// the same database), Debian's chromium through playwright-core (one
// browser per run, a context per user), pages that fail their test on any
// console error or uncaught exception and leave a screenshot when it
// fails, and a bot that speaks the protocol over Node's WebSocket.
//
// Nothing waits on a timer: every wait is for a line of the daemon's log,
// a reply, or a condition in the page (Playwright's expect polls it).

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SRCDIR = process.env.WSCHAT_SRCDIR || path.resolve(HERE, '../..');
export const RESULTS = path.join(process.env.WSCHAT_BROWSER_RESULTS ||
  path.join(process.cwd(), 'tests/browser/results'));
export const TIMEOUT = 20000;

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

// --- the daemon -----------------------------------------------------------------

export class Daemon {
  constructor(settings = {}) {
    this.bin = process.env.WSCHATD;
    if (!this.bin) throw new Error('WSCHATD is not set');
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wschat-browser-'));
    this.db = path.join(this.dir, 'wschat.db');
    this.settings = { listen: '127.0.0.1:0', db: this.db, ...settings };
    this.lines = [];
    this.waiters = [];
    this.proc = null;
    this.port = null;
  }

  writeConf() {
    const conf = path.join(this.dir, 'wschatd.conf');
    fs.writeFileSync(conf, Object.entries(this.settings)
      .map(([k, v]) => `${k} = ${v}\n`).join(''));
    return conf;
  }

  // Start (again), on the same port after the first start.
  async start() {
    if (this.port !== null) this.settings.listen = '127.0.0.1:' + this.port;
    const conf = this.writeConf();
    const mark = this.lines.length;
    const wrapper = (process.env.WSCHATD_WRAPPER || '').split(' ').filter(Boolean);
    const argv = [...wrapper, this.bin, '-f', conf];
    this.proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit',
      (code, sig) => resolve({ code, sig })));
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop();
        for (const l of parts) this.line(l);
      });
    }
    const m = await this.waitLog(/listening on 127\.0\.0\.1:(\d+)/, mark);
    this.port = Number(m[1]);
    return this;
  }

  line(l) {
    this.lines.push(l);
    if (process.env.WSCHAT_BROWSER_VERBOSE) console.log('wschatd: ' + l);
    for (const w of [...this.waiters]) w();
  }

  // The first line from index `since` on that matches re.
  waitLog(re, since = 0, timeout = TIMEOUT) {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = since; i < this.lines.length; i++) {
          const m = re.exec(this.lines[i]);
          if (m) {
            done();
            resolve(m);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no log line ${re} within ${timeout} ms:\n` +
          this.lines.slice(-20).join('\n')));
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  mark() { return this.lines.length; }

  get url() { return `http://127.0.0.1:${this.port}/`; }
  get wsUrl() { return `ws://127.0.0.1:${this.port}/ws`; }

  // SIGTERM, and the exit must be 0 with no sanitizer report.
  async stop() {
    if (!this.proc) return;
    const proc = this.proc;
    this.proc = null;
    proc.kill('SIGTERM');
    const { code, sig } = await this.exited;
    const report = this.lines.find((l) =>
      /ERROR: AddressSanitizer|LeakSanitizer|runtime error:/.test(l));
    if (report) throw new Error('wschatd: ' + report);
    if (code !== 0) throw new Error(`wschatd exited ${code ?? sig}:\n` +
      this.lines.slice(-20).join('\n'));
  }

  async kill() {
    if (!this.proc) return;
    this.proc.kill('SIGKILL');
    this.proc = null;
    await this.exited;
  }

  ctl(...args) {
    return execFileSync(process.env.WSCHATCTL, ['-d', this.db, ...args],
      { encoding: 'utf8' });
  }

  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// --- a protocol bot (Node's WebSocket) ----------------------------------------------

export class Bot {
  constructor(url) {
    this.url = url;
    this.lines = [];
    this.waiters = [];
  }

  async open() {
    this.ws = new WebSocket(this.url);
    this.ws.onmessage = (m) => {
      this.lines.push(m.data);
      for (const w of [...this.waiters]) w();
    };
    await new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = () => reject(new Error('bot: cannot connect'));
    });
    await this.next(/^HELLO /);
    return this;
  }

  // The next line (from the read position on) that matches re.
  next(re, timeout = TIMEOUT) {
    return new Promise((resolve, reject) => {
      const check = () => {
        while (this.pos < this.lines.length) {
          const l = this.lines[this.pos++];
          const m = re.exec(l);
          if (m) {
            done();
            resolve(m);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`bot: no line ${re}; last: ${this.lines.slice(-5)}`));
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.pos ??= 0;
      this.waiters.push(check);
      check();
    });
  }

  send(line) { this.ws.send(line); }

  // A command and its reply (CONFIRM or ERROR), in order.
  async cmd(line, want = /^(CONFIRM|ERROR|LIST|LSSUBS|PONG|RESUMED)/) {
    this.send(line);
    const m = await this.next(want);
    if (m[0].startsWith('ERROR')) throw new Error(`bot: ${line}: ${m[0]}`);
    return m[0];
  }

  async nick(name) {
    await this.cmd('NICK ' + name);
    this.name = name;
    return this;
  }

  close() { this.ws?.close(); }
}

// --- the browser -------------------------------------------------------------------

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: CHROMIUM_ARGS });
}

// A test's pages: every console error and page exception is kept, and
// finish() fails the test on them. allow: patterns of console errors the
// test causes on purpose (a WebSocket that cannot connect while the
// server is down is reported by Chromium itself as one).
export class Session {
  constructor(browser, name) {
    this.browser = browser;
    this.name = name;
    this.contexts = [];
    this.pages = [];
    this.problems = [];
    this.allow = [];
  }

  async page(url, opts = {}) {
    const context = await this.browser.newContext({
      viewport: { width: 1100, height: 680 }, ...opts });
    this.contexts.push(context);
    return this.pageIn(context, url);
  }

  async pageIn(context, url) {
    const page = await context.newPage();
    const label = 'page ' + (this.pages.length + 1);
    this.watch(page, label);
    this.pages.push(page);
    if (url) await page.goto(url);
    return page;
  }

  watch(page, label) {
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = msg.text();
      if (this.allow.some((re) => re.test(text))) return;
      this.problems.push(`${label}: console error: ${text}`);
    });
    page.on('pageerror', (err) => this.problems.push(
      `${label}: uncaught exception: ${err.stack || err}`));
  }

  // End of a test: screenshots if it failed, then close everything.
  async finish(failed) {
    const problems = this.problems;
    if (failed || problems.length) {
      fs.mkdirSync(RESULTS, { recursive: true });
      let i = 0;
      for (const p of this.pages) {
        i++;
        if (p.isClosed()) continue;
        try {
          await p.screenshot({ path: path.join(RESULTS,
            `${this.name}-page${i}.png`), timeout: 5000 });
        } catch { /* the page may be gone */ }
      }
    }
    for (const c of this.contexts) await c.close().catch(() => {});
    if (problems.length)
      throw new Error('the page reported errors:\n' + problems.join('\n'));
  }
}

// --- the page's controls, by role and name (as a screen reader sees them) ---------

export function ui(page) {
  return {
    name: page.getByRole('textbox', { name: 'Name' }),
    password: page.getByRole('textbox', { name: 'Password' }),
    guest: page.getByRole('button', { name: 'Join as guest' }),
    login: page.getByRole('button', { name: 'Log in' }),
    register: page.getByRole('button', { name: 'Register' }),
    logout: page.getByRole('button', { name: 'Log out' }),
    newChannel: page.getByRole('textbox', { name: 'New channel' }),
    create: page.getByRole('button', { name: 'Create', exact: true }),
    channels: page.getByRole('list', { name: 'Channels', exact: true }),
    channel: (n) => page.getByRole('list', { name: 'Channels', exact: true })
      .getByRole('button', { name: n, exact: true }),
    channelItem: (n) => page.getByRole('list', { name: 'Channels', exact: true })
      .getByRole('listitem').filter({ has: page.getByRole('button',
        { name: n, exact: true }) }),
    join: (n) => page.getByRole('button', { name: 'Join ' + n, exact: true }),
    log: page.getByRole('log', { name: 'Messages' }),
    messages: page.getByRole('log', { name: 'Messages' }).getByRole('listitem'),
    message: page.getByRole('textbox', { name: 'Message', exact: true }),
    send: page.getByRole('button', { name: 'Send' }),
    members: page.getByRole('list', { name: 'Members' }),
    status: page.getByRole('status'),
  };
}

// Sign in as a guest and wait for the chat.
export async function guest(page, name) {
  const u = ui(page);
  await u.name.fill(name);
  await u.guest.click();
  await u.status.filter({ hasText: /^connected$/ }).waitFor();
  await u.newChannel.waitFor();
}

// Create a channel (the page joins it) and wait until it is the current one.
export async function create(page, channel) {
  const u = ui(page);
  await u.newChannel.fill(channel);
  await u.create.click();
  await page.locator('#channel-title', { hasText: '#' + channel }).waitFor();
}

export async function say(page, text) {
  const u = ui(page);
  await u.message.fill(text);
  await u.message.press('Enter');
}

// The text of every message item (author and text) in the view, in order.
export async function messageTexts(page, filter) {
  const all = await ui(page).messages.evaluateAll((lis) => lis
    .filter((li) => !li.classList.contains('system'))
    .map((li) => li.querySelector('.author').textContent + ': ' +
      li.querySelector('.text').textContent));
  return filter ? all.filter((t) => filter.test(t)) : all;
}
