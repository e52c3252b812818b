// wschat.test.mjs: the protocol module (www/wschat.js) alone, in Node,
// against a scripted WebSocket and a fake clock: no browser, no DOM, no
// server. What the lines on the wire are on a reconnect, how events are
// ordered and deduplicated, what a snapshot replaces, and the back-off.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { WschatClient } from '../../www/wschat.js';

const tick = () => new Promise((r) => setImmediate(r));

// A WebSocket whose peer is the test: sent lines are recorded, and
// serve() delivers lines from the server.
class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.sentInTask = [];	// the lines sent, grouped per open() task
    FakeSocket.all.push(this);
  }
  send(line) { this.sent.push(line); }
  close() { this.readyState = 3; }
  accept(epoch = 'e1', head = 0) {
    this.readyState = 1;
    this.onopen();
    this.sentInTask = [...this.sent];
    this.serve(`HELLO wschatd/0.1.0 ${epoch} ${head}`);
  }
  serve(...lines) { for (const l of lines) this.onmessage({ data: l }); }
  drop() { this.readyState = 3; this.onclose({ code: 1006 }); }
}

class Storage {
  constructor() { this.m = new Map(); }
  getItem(k) { return this.m.has(k) ? this.m.get(k) : null; }
  setItem(k, v) { this.m.set(k, String(v)); }
  removeItem(k) { this.m.delete(k); }
}

// Timers that run only when the test says so.
class Clock {
  constructor() { this.timers = new Map(); this.id = 0; this.delays = []; }
  setTimeout(fn, ms) {
    this.timers.set(++this.id, fn);
    this.delays.push(ms);
    return this.id;
  }
  clearTimeout(id) { this.timers.delete(id); }
  runAll() {
    const fns = [...this.timers.values()];
    this.timers.clear();
    for (const fn of fns) fn();
  }
}

function client(storage = new Storage(), opts = {}) {
  FakeSocket.all = [];
  const clock = new Clock();
  const events = [];
  const snaps = [];
  const c = new WschatClient({ url: 'ws://x/ws', storage, WebSocket: FakeSocket,
    timers: clock, random: () => 0.999, ...opts });
  c.on('event', (e) => events.push(e.seq));
  c.on('snapshot', (s) => snaps.push(s));
  return { c, clock, events, snaps, storage };
}

const ev = (seq, ch = 'general', text = 't' + seq) =>
  `EVENT message CREATE ${ch} ${JSON.stringify({ seq, ts: 1, username: 'bob', text })}`;

async function signedIn() {
  const t = client();
  const p = t.c.guest('alice');
  const ws = FakeSocket.all[0];
  ws.accept('e1', 5);
  await tick();
  assert.deepEqual(ws.sent, ['NICK alice']);
  ws.serve('CONFIRM NICK alice TOKEN43');
  await p;
  assert.deepEqual(ws.sent.slice(1), ['SUBEVENT channel', 'SUBEVENT user',
    'SUBEVENT message', 'SNAPSHOT']);
  ws.serve('CONFIRM SUBEVENT channel', 'CONFIRM SUBEVENT user',
    'CONFIRM SUBEVENT message', 'SNAPSHOT BEGIN 5',
    'SNAPSHOT CHANNEL general {"creator":"bob","seq":1}',
    'SNAPSHOT SUB general', 'SNAPSHOT MEMBER general alice',
    'SNAPSHOT END 5');
  await tick();
  return { ...t, ws };
}

test('a guest: NICK, then the intents and a SNAPSHOT; the token is stored', async () => {
  const { c, snaps, storage } = await signedIn();
  assert.equal(snaps.length, 1);
  assert.deepEqual(snaps[0].subs, ['general']);
  assert.equal(c.status, 'connected');
  assert.deepEqual(JSON.parse(storage.getItem('wschat.session')),
    { name: 'alice', token: 'TOKEN43' });
  c.save(true);
  const cur = JSON.parse(storage.getItem('wschat.cursor'));
  assert.equal(cur.epoch, 'e1');
  assert.equal(cur.seq, 5);
});

test('a reconnect sends AUTH, the SUBEVENTs and RESUME <seq> <epoch> at once', async () => {
  const { c, clock, ws, events } = await signedIn();
  ws.serve(ev(7), ev(9));
  assert.deepEqual(events, [7, 9]);
  ws.drop();
  assert.equal(c.status, 'reconnecting');
  clock.runAll();
  const ws2 = FakeSocket.all[1];
  ws2.accept('e1', 12);
  assert.deepEqual(ws2.sentInTask, ['AUTH TOKEN43', 'SUBEVENT channel',
    'SUBEVENT user', 'SUBEVENT message', 'RESUME 9 e1']);
});

test('events during a RESUME are applied in seq order, once each', async () => {
  const { c, clock, ws, events } = await signedIn();
  ws.serve(ev(7));
  ws.drop();
  clock.runAll();
  const ws2 = FakeSocket.all[1];
  ws2.accept('e1', 20);
  ws2.serve('CONFIRM AUTH alice', 'CONFIRM SUBEVENT channel',
    'CONFIRM SUBEVENT user', 'CONFIRM SUBEVENT message');
  // A live event before the replay, then the replay (which skips it), a
  // duplicate of one seen before the drop, then RESUMED.
  ws2.serve(ev(15), ev(7), ev(8), ev(12), ev(8), 'RESUMED 20 2');
  await tick();
  assert.deepEqual(events, [7, 8, 12, 15]);
  ws2.serve(ev(15), ev(21));
  assert.deepEqual(events, [7, 8, 12, 15, 21]);
  assert.equal(c.status, 'connected');
  assert.equal(c.seq, 21);
});

test('a RESUME answered with a snapshot replaces the state and the epoch', async () => {
  const { c, clock, ws, events, snaps } = await signedIn();
  ws.serve(ev(7));
  ws.drop();
  clock.runAll();
  const ws2 = FakeSocket.all[1];
  ws2.accept('e2', 3);
  ws2.serve('CONFIRM AUTH alice', 'CONFIRM SUBEVENT channel',
    'CONFIRM SUBEVENT user', 'CONFIRM SUBEVENT message',
    'SNAPSHOT BEGIN 3', 'SNAPSHOT SUB general',
    'SNAPSHOT MESSAGE general {"seq":2,"ts":1,"username":"bob","text":"x"}',
    'SNAPSHOT END 3');
  await tick();
  assert.equal(snaps.length, 2);
  assert.deepEqual(snaps[1].messages.map((m) => m.seq), [2]);
  assert.equal(c.epoch, 'e2');
  assert.equal(c.seq, 3);
  // seq 4 in the new epoch is new, though 7 was seen in the old one.
  ws2.serve(ev(4));
  assert.deepEqual(events, [7, 4]);
});

test('replies go to their commands in order; ERROR rejects with its code', async () => {
  const { c, ws } = await signedIn();
  const a = c.send('general', 'hi');
  const b = c.join('nope');
  const h = c.history('general', 10, 2);
  ws.serve('CONFIRM MSG general 11', 'ERROR NOSUCHCHANNEL no channel nope',
    'HISTORY general {"seq":9,"ts":1,"username":"bob","text":"b"}',
    'HISTORY general {"seq":8,"ts":1,"username":"bob","text":"a"}',
    'CONFIRM HISTORY general 2');
  assert.equal(await a, 'CONFIRM MSG general 11');
  await assert.rejects(b, (e) => e.code === 'NOSUCHCHANNEL' &&
    e.message === 'no channel nope');
  assert.deepEqual((await h).map((m) => m.seq), [8, 9]);
});

test('the back-off: full jitter from 0.5 s doubling to 20 s, reset once back', async () => {
  const { c, clock, ws } = await signedIn();
  ws.drop();
  for (let i = 0; i < 8; i++) {
    clock.runAll();
    FakeSocket.all.at(-1).drop();
  }
  const caps = clock.delays.slice(-9).map((d) => Math.round(d / 0.999));
  assert.deepEqual(caps, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000,
    20000]);
  clock.runAll();
  const ws2 = FakeSocket.all.at(-1);
  ws2.accept('e1', 5);
  ws2.serve('CONFIRM AUTH alice', 'CONFIRM SUBEVENT channel',
    'CONFIRM SUBEVENT user', 'CONFIRM SUBEVENT message', 'RESUMED 5 0');
  await tick();
  assert.equal(c.status, 'connected');
  ws2.drop();
  assert.equal(Math.round(clock.delays.at(-1) / 0.999), 500);
  // reconnectNow() does not wait for the timer.
  const n = FakeSocket.all.length;
  c.reconnectNow();
  assert.equal(FakeSocket.all.length, n + 1);
});

test('a refused token signs out and forgets it', async () => {
  const { c, clock, ws, storage } = await signedIn();
  let who = 'x';
  c.on('identity', (n) => { who = n; });
  ws.drop();
  clock.runAll();
  const ws2 = FakeSocket.all[1];
  ws2.accept('e1', 5);
  ws2.serve('ERROR BADLOGIN invalid or expired token');
  await tick();
  assert.equal(who, null);
  assert.equal(c.signedIn, false);
  assert.equal(storage.getItem('wschat.session'), null);
  assert.equal(storage.getItem('wschat.cursor'), null);
});

test('a reload: the saved cursor and state come back, and RESUME starts there', async () => {
  const { c, ws, storage } = await signedIn();
  ws.serve(ev(8));
  c.save(true);
  let loaded = null;
  const t = client(storage, { loadState: (s) => { loaded = s; },
    saveState: () => ({ mine: 1 }) });
  assert.equal(t.c.name, 'alice');
  assert.equal(t.c.seq, 8);
  assert.equal(loaded, null, 'the first page saved no state of its own');
  t.c.start();
  FakeSocket.all[0].accept('e1', 9);
  assert.equal(FakeSocket.all[0].sentInTask.at(-1), 'RESUME 8 e1');
});
