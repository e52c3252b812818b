// store.js: the state the events build, for the page: channels (those the
// user may see, and whether it is in them), their members, each joined
// channel's timeline (messages, and joins and parts as system lines, by
// seq), unread counts, and the channel on screen. No DOM here either:
// view.js draws it. A SNAPSHOT replaces it all; events change it.

const KEEP_ITEMS = 5000;	// per channel in memory; older ones come back with HISTORY
const KEEP_SLACK = 500;		// trimmed in batches, not one at a time
const SAVE_ITEMS = 200;		// per channel kept across a reload

function channel(name) {
  return { name, creator: null, priv: false, joined: false,
    members: new Set(), items: [], seqs: new Set(), unread: 0,
    historyDone: false };
}

export class Store {
  constructor() {
    this.me = null;
    this.current = null;
    this.channels = new Map();
    this.version = 0;		// bumped on every change the view must see
    this.reset = 0;		// bumped when timelines were rebuilt
  }

  changed() { this.version++; }

  clear() {
    this.channels = new Map();
    this.current = null;
    this.reset++;
    this.changed();
  }

  get(name) {
    let c = this.channels.get(name);
    if (!c) {
      c = channel(name);
      this.channels.set(name, c);
    }
    return c;
  }

  joined() {
    return [...this.channels.values()].filter((c) => c.joined);
  }

  others() {
    return [...this.channels.values()].filter((c) => !c.joined);
  }

  // Put an item in a timeline by seq, once.
  insert(c, item) {
    if (c.seqs.has(item.seq)) return false;
    c.seqs.add(item.seq);
    const items = c.items;
    if (items.length === 0 || items[items.length - 1].seq < item.seq) {
      items.push(item);
    } else {
      let lo = 0, hi = items.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (items[mid].seq < item.seq) lo = mid + 1;
        else hi = mid;
      }
      items.splice(lo, 0, item);
    }
    if (items.length > KEEP_ITEMS + KEEP_SLACK) {
      for (const old of items.splice(0, items.length - KEEP_ITEMS))
        c.seqs.delete(old.seq);
      c.historyDone = false;
    }
    return true;
  }

  // A snapshot: everything is rebuilt from it.
  snapshot(s) {
    const current = this.current;
    this.channels = new Map();
    for (const ch of s.channels) {
      const c = this.get(ch.name);
      c.creator = ch.creator || null;
      c.priv = ch.visibility === 'private';
    }
    for (const name of s.subs) this.get(name).joined = true;
    for (const m of s.members) this.get(m.channel).members.add(m.user);
    for (const m of s.messages)
      this.insert(this.get(m.channel), { seq: m.seq, ts: m.ts, kind: 'msg',
        user: m.username, text: m.text });
    this.current = this.channels.get(current)?.joined ? current :
      (this.joined()[0]?.name ?? null);
    this.reset++;
    this.changed();
  }

  // One event, in seq order, once (wschat.js sees to that).
  event(ev) {
    const d = ev.data, name = ev.resource;
    const key = ev.type + ' ' + ev.action;
    let c;
    switch (key) {
    case 'channel CREATE':
      c = this.get(name);
      c.creator = d.username;
      c.priv = d.visibility === 'private';
      break;
    case 'channel DELETE':
      this.channels.delete(name);
      if (this.current === name) this.current = this.joined()[0]?.name ?? null;
      break;
    case 'channel INVITE':
      if (d.username === this.me) this.get(name);
      break;
    case 'channel BAN':
      c = this.channels.get(name);
      if (c && c.priv && d.username === this.me && !c.joined)
        this.channels.delete(name);
      break;
    case 'user JOIN':
      c = this.get(name);
      c.members.add(d.username);
      if (d.username === this.me && !c.joined) {
        c.joined = true;
        if (!this.current) this.current = name;
      }
      if (c.joined)
        this.insert(c, { seq: d.seq, ts: d.ts, kind: 'join', user: d.username });
      break;
    case 'user PART':
      c = this.channels.get(name);
      if (!c) break;
      c.members.delete(d.username);
      if (c.joined)
        this.insert(c, { seq: d.seq, ts: d.ts, kind: 'part', user: d.username,
          reason: d.reason, by: d.by });
      if (d.username === this.me) {
        c.joined = false;
        c.items = [];
        c.seqs = new Set();
        c.unread = 0;
        c.historyDone = false;
        if (c.priv) this.channels.delete(name);	// it needs an invite again
        if (this.current === name)
          this.current = this.joined()[0]?.name ?? null;
        this.reset++;
      }
      break;
    case 'message CREATE':
      c = this.get(name);
      if (this.insert(c, { seq: d.seq, ts: d.ts, kind: 'msg',
        user: d.username, text: d.text }) && name !== this.current &&
        d.username !== this.me)
        c.unread++;
      break;
    default:
      return;
    }
    this.changed();
  }

  // Older messages from HISTORY (oldest first); complete when fewer came
  // than were asked for.
  history(name, rows, limit) {
    const c = this.channels.get(name);
    if (!c) return;
    for (const m of rows)
      this.insert(c, { seq: m.seq, ts: m.ts, kind: 'msg', user: m.username,
        text: m.text });
    if (rows.length < limit) c.historyDone = true;
    this.changed();
  }

  // The oldest seq a channel's timeline holds (for HISTORY BEFORE).
  oldest(name) {
    const c = this.channels.get(name);
    return c && c.items.length ? c.items[0].seq : null;
  }

  open(name) {
    const c = this.channels.get(name);
    if (!c || !c.joined) return;
    this.current = name;
    c.unread = 0;
    this.changed();
  }

  // What is kept across a reload, with the cursor it goes with.
  save() {
    const channels = [];
    for (const c of this.channels.values())
      channels.push({ name: c.name, creator: c.creator, priv: c.priv,
        joined: c.joined, members: [...c.members], unread: c.unread,
        historyDone: c.historyDone && c.items.length <= SAVE_ITEMS,
        items: c.items.slice(-SAVE_ITEMS) });
    return { current: this.current, channels };
  }

  load(saved) {
    this.channels = new Map();
    if (!saved || !Array.isArray(saved.channels)) return;
    for (const s of saved.channels) {
      const c = this.get(s.name);
      c.creator = s.creator;
      c.priv = !!s.priv;
      c.joined = !!s.joined;
      c.members = new Set(s.members || []);
      c.unread = s.unread | 0;
      c.historyDone = !!s.historyDone;
      for (const it of s.items || []) this.insert(c, it);
    }
    this.current = saved.current ?? null;
    this.reset++;
    this.changed();
  }
}
