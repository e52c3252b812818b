// wschat.js: a client of wschatd's line protocol (docs/PROTOCOL.md), with no
// knowledge of the DOM. It owns the connection, the identity (a token),
// the resume cursor (epoch, last seq) and the order of events: every event
// is handed on once, in seq order, and a SNAPSHOT replaces what came before.
// docs/WEBCLIENT.md documents the API.
//
// Persistence: the token is kept under "<prefix>session", and the cursor
// together with whatever the application's state saver returns under
// "<prefix>cursor", in one value, so that state and cursor always agree:
// after a reload the page loads that state and RESUMEs from that cursor.

const INTENTS = ['channel', 'user', 'message'];
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 20000;
const SAVE_EVERY_MS = 500;

// The reply a line is, for the verb of the oldest command waiting: a
// streamed line (HISTORY rows, SNAPSHOT rows, replayed EVENTs) is not one.
function parseError(line) {
  const m = /^ERROR (\S+) ?(.*)$/.exec(line);
  return m ? { code: m[1], message: m[2] } : null;
}

export class WschatError extends Error {
  constructor(code, message, verb) {
    super(message || code);
    this.code = code;
    this.verb = verb;
  }
}

export class WschatClient {
  // opts: url (ws://host/ws), storage (localStorage-like; default none),
  // prefix (storage keys, default "wschat."), WebSocket (constructor),
  // random (() => [0,1)), saveState (() => JSON-able), loadState (fn),
  // timers ({setTimeout, clearTimeout}).
  constructor(opts) {
    this.url = opts.url;
    this.storage = opts.storage || null;
    this.prefix = opts.prefix || 'wschat.';
    this.WebSocket = opts.WebSocket || globalThis.WebSocket;
    this.random = opts.random || Math.random;
    this.saveState = opts.saveState || (() => null);
    this.loadState = opts.loadState || (() => {});
    this.timers = opts.timers || globalThis;
    this.handlers = new Map();
    this.ws = null;
    this.status = 'offline';	// connecting, connected, reconnecting, offline
    this.name = null;
    this.token = null;
    this.epoch = null;
    this.seq = 0;
    this.pending = [];		// commands waiting for their reply, in order
    this.buffer = null;		// events held while a RESUME or SNAPSHOT runs
    this.snapshot = null;	// the snapshot being read
    this.attempt = 0;
    this.retryTimer = null;
    this.saveTimer = null;
    this.suspended = false;
    this.wanted = false;	// keep a connection open
    this.restore();
  }

  // --- events to the application ------------------------------------------

  // on(type, fn): 'status' (status), 'identity' (name or null), 'event'
  // (ev), 'snapshot' (snap), 'error' (WschatError, for an unasked error).
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
    return this;
  }

  emit(type, arg) {
    for (const fn of this.handlers.get(type) || []) fn(arg);
  }

  setStatus(s) {
    if (this.status === s) return;
    this.status = s;
    this.emit('status', s);
  }

  // --- storage ---------------------------------------------------------------

  read(key) {
    try {
      const v = this.storage && this.storage.getItem(this.prefix + key);
      return v ? JSON.parse(v) : null;
    } catch {
      return null;
    }
  }

  write(key, value) {
    if (!this.storage) return;
    if (value === null) this.storage.removeItem(this.prefix + key);
    else this.storage.setItem(this.prefix + key, JSON.stringify(value));
  }

  restore() {
    const session = this.read('session');
    if (!session || typeof session.token !== 'string') return;
    this.name = session.name;
    this.token = session.token;
    const cursor = this.read('cursor');
    if (cursor && cursor.name === this.name && typeof cursor.seq === 'number') {
      this.epoch = cursor.epoch;
      this.seq = cursor.seq;
      this.loadState(cursor.state);
    }
  }

  // Save the cursor and the state now, or soon (at most every SAVE_EVERY_MS).
  save(now) {
    if (now) {
      if (this.saveTimer) this.timers.clearTimeout(this.saveTimer);
      this.saveTimer = null;
      if (this.token && this.epoch !== null)
        this.write('cursor', { name: this.name, epoch: this.epoch,
          seq: this.seq, state: this.saveState() });
      return;
    }
    if (!this.saveTimer)
      this.saveTimer = this.timers.setTimeout(() => this.save(true),
        SAVE_EVERY_MS);
  }

  forget() {
    if (this.saveTimer) this.timers.clearTimeout(this.saveTimer);
    this.saveTimer = null;
    this.write('session', null);
    this.write('cursor', null);
    this.name = this.token = this.epoch = null;
    this.seq = 0;
  }

  get signedIn() {
    return this.token !== null;
  }

  // --- the connection ----------------------------------------------------------

  // Open the connection (if not open) and come back as the stored identity;
  // start(false): not before reconnectNow() (the browser is offline).
  start(now = true) {
    this.wanted = true;
    if (!now) {
      this.suspend('offline');
      return;
    }
    this.suspended = false;
    if (!this.ws) this.open();
  }

  // Close and stay closed until start() or reconnectNow() (the browser went
  // offline, or the user signed out).
  suspend(status = 'offline') {
    this.suspended = true;
    this.clearRetry();
    this.close();
    this.setStatus(status);
  }

  // Reconnect at once, without waiting for the back-off (online, visible).
  reconnectNow() {
    if (!this.wanted) return;
    this.suspended = false;
    if (this.ws) return;
    this.clearRetry();
    this.open();
  }

  clearRetry() {
    if (this.retryTimer) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  close() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000, 'bye'); } catch { /* not open yet */ }
    }
    this.failPending(new WschatError('CLOSED', 'the connection was lost'));
    this.buffer = null;
    this.snapshot = null;
  }

  open() {
    this.setStatus(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let ws;
    try {
      ws = new this.WebSocket(this.url);
    } catch {
      this.lost();
      return;
    }
    this.ws = ws;
    this.lastHello = null;
    this.readyPromise = new Promise((resolve) => { this.readyResolve = resolve; });
    ws.onopen = () => this.opened();
    ws.onmessage = (m) => this.line(typeof m.data === 'string' ? m.data : '');
    ws.onclose = () => { if (this.ws === ws) this.lost(); };
    ws.onerror = () => {};	// onclose follows
  }

  opened() {
    // Come back: AUTH, the intents and RESUME (or SNAPSHOT) in one write.
    if (this.token) {
      this.cmd('AUTH ' + this.token).then(() => {}, (e) => this.authFailed(e));
      this.resync();
    } else {
      this.setStatus('connected');
      this.attempt = 0;
    }
    this.readyResolve();
  }

  // Ask for what was missed: the intents, then RESUME from the cursor, or
  // a SNAPSHOT when there is none.
  resync() {
    for (const t of INTENTS) this.cmd('SUBEVENT ' + t).catch(() => {});
    this.buffer = [];
    const done = (p) => p.then(() => {
      this.attempt = 0;
      this.setStatus('connected');
    }, (e) => {
      if (e.code === 'CLOSED') return;
      this.emit('error', e);
      // A refused RESUME (a snapshot was busy, say): try again later.
      this.retryLater();
    });
    if (this.epoch !== null)
      done(this.cmd('RESUME ' + this.seq + ' ' + this.epoch));
    else
      done(this.cmd('SNAPSHOT'));
  }

  retryLater() {
    this.close();
    this.lost();
  }

  authFailed(e) {
    if (e.code === 'CLOSED') return;
    if (e.code !== 'BADLOGIN') {	// RATELIMITED, say: the token may be good
      this.retryLater();
      return;
    }
    // The token is gone (expired, revoked): sign in again.
    this.forget();
    this.wanted = false;
    this.close();
    this.setStatus('offline');
    this.emit('identity', null);
    this.emit('error', e);
  }

  // The connection is gone: try again after a back-off with full jitter.
  lost() {
    this.close();
    if (!this.wanted || this.suspended || !this.token) {
      this.setStatus('offline');
      return;
    }
    this.setStatus('reconnecting');
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt++;
    const delay = Math.max(BACKOFF_MIN_MS / 10, this.random() * cap);
    this.clearRetry();
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      if (!this.ws && !this.suspended) this.open();
    }, delay);
  }

  failPending(err) {
    const p = this.pending;
    this.pending = [];
    for (const c of p) c.reject(err);
  }

  // --- commands ----------------------------------------------------------------

  // Send one command line; resolves with its reply (the line, or for
  // streamed replies an object), rejects with a WschatError.
  cmd(line) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== 1) {
        reject(new WschatError('CLOSED', 'not connected'));
        return;
      }
      const verb = line.split(' ', 1)[0];
      this.pending.push({ verb, line, resolve, reject, rows: [] });
      this.ws.send(line);
    });
  }

  async ready() {
    this.wanted = true;
    this.suspended = false;
    if (!this.ws) this.open();
    if (this.ws.readyState === 1) return;
    await this.readyPromise;
  }

  // Take an identity: NICK (guest), LOGIN or REGISTER. The state is then
  // read afresh with a SNAPSHOT.
  async identify(verb, name, password) {
    await this.ready();
    const line = verb === 'NICK' ? 'NICK ' + name :
      verb + ' ' + name + ' ' + password;
    const reply = await this.cmd(line);
    const token = reply.split(' ')[3];
    this.name = name;
    this.token = token;
    this.epoch = null;
    this.seq = 0;
    this.write('session', { name, token });
    this.write('cursor', null);
    this.emit('identity', name);
    this.resync();
    return name;
  }

  guest(name) { return this.identify('NICK', name); }
  login(name, password) { return this.identify('LOGIN', name, password); }
  register(name, password) { return this.identify('REGISTER', name, password); }

  // Revoke the token and forget everything this browser keeps.
  async logout() {
    try {
      if (this.ws && this.ws.readyState === 1) await this.cmd('LOGOUT');
    } finally {
      this.forget();
      this.wanted = false;
      this.close();
      this.setStatus('offline');
      this.emit('identity', null);
    }
  }

  create(ch, visibility) {
    return this.cmd('CREATE ' + ch + (visibility ? ' ' + visibility : ''));
  }
  join(ch) { return this.cmd('SUB ' + ch); }
  leave(ch) { return this.cmd('UNSUB ' + ch); }
  send(ch, text) { return this.cmd('MSG ' + ch + ' ' + text); }
  remove(ch) { return this.cmd('DELETE ' + ch); }
  kick(ch, user) { return this.cmd('KICK ' + ch + ' ' + user); }

  // Older messages of a channel: resolves with them, oldest first.
  async history(ch, before, limit) {
    let line = 'HISTORY ' + ch;
    if (before !== undefined && before !== null) line += ' BEFORE ' + before;
    if (limit) line += ' LIMIT ' + limit;
    const r = await this.cmd(line);
    return r.rows.reverse();
  }

  // --- lines from the server -------------------------------------------------------

  line(text) {
    if (text.startsWith('EVENT ')) return this.eventLine(text);
    if (text.startsWith('HELLO ')) {
      const [, , epoch, head] = text.split(' ');
      this.lastHello = { epoch, head: Number(head) };
      return;
    }
    const head = this.pending[0];
    if (this.snapshot || text.startsWith('SNAPSHOT BEGIN '))
      return this.snapshotLine(text, head);
    if (head && head.verb === 'HISTORY' && text.startsWith('HISTORY ')) {
      const sp = text.indexOf(' ', 8);
      head.rows.push({ channel: text.slice(8, sp),
        ...JSON.parse(text.slice(sp + 1)) });
      return;
    }
    if (!head) {
      this.emit('error', new WschatError('UNEXPECTED', text));
      return;
    }
    this.pending.shift();
    const err = parseError(text);
    if (err) {
      head.reject(new WschatError(err.code, err.message, head.verb));
      return;
    }
    if (head.verb === 'RESUME' && text.startsWith('RESUMED ')) {
      this.flush();
      head.resolve(text);
      return;
    }
    if (head.verb === 'HISTORY') {
      head.resolve({ line: text, rows: head.rows });
      return;
    }
    head.resolve(text);
  }

  eventLine(text) {
    // EVENT <type> <action> <resource> <json>
    const parts = text.split(' ', 4);
    const json = text.slice(parts.join(' ').length + 1);
    let data;
    try {
      data = JSON.parse(json);
    } catch {
      return;
    }
    const ev = { type: parts[1], action: parts[2], resource: parts[3], data,
      seq: data.seq };
    if (this.buffer) this.buffer.push(ev);
    else this.apply(ev);
  }

  // Events held during a RESUME: in seq order, once each (a live event may
  // come before replayed ones of lower seq).
  flush() {
    const held = this.buffer || [];
    this.buffer = null;
    held.sort((a, b) => a.seq - b.seq);
    for (const ev of held) this.apply(ev);
    this.save(true);
  }

  apply(ev) {
    if (typeof ev.seq !== 'number' || ev.seq <= this.seq) return;
    this.seq = ev.seq;
    this.emit('event', ev);
    this.save(false);
  }

  snapshotLine(text, head) {
    let m;
    if ((m = /^SNAPSHOT BEGIN (\d+)$/.exec(text))) {
      this.snapshot = { seq: Number(m[1]), channels: [], subs: [], members: [],
        messages: [] };
      if (!this.buffer) this.buffer = [];
      return;
    }
    const s = this.snapshot;
    if ((m = /^SNAPSHOT END (\d+)$/.exec(text))) {
      this.snapshot = null;
      if (head && (head.verb === 'SNAPSHOT' || head.verb === 'RESUME'))
        this.pending.shift();
      this.seq = s.seq;
      this.epoch = this.helloEpoch();
      this.emit('snapshot', s);
      // Held events the snapshot covers are dropped by apply().
      this.flush();
      if (head) head.resolve(text);
      return;
    }
    if ((m = /^SNAPSHOT CHANNEL (\S+) (.*)$/.exec(text)))
      s.channels.push({ name: m[1], ...JSON.parse(m[2]) });
    else if ((m = /^SNAPSHOT SUB (\S+)$/.exec(text)))
      s.subs.push(m[1]);
    else if ((m = /^SNAPSHOT MEMBER (\S+) (\S+)$/.exec(text)))
      s.members.push({ channel: m[1], user: m[2] });
    else if ((m = /^SNAPSHOT MESSAGE (\S+) (.*)$/.exec(text)))
      s.messages.push({ channel: m[1], ...JSON.parse(m[2]) });
  }

  helloEpoch() {
    return this.lastHello ? this.lastHello.epoch : this.epoch;
  }
}
