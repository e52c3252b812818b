// view.js: draws the store into the page, at most once a frame. Every
// name and message goes in as text (textContent), never as HTML. The
// message view holds a window of the newest WINDOW items of the channel
// (more while the user scrolls back), so a busy channel keeps a small DOM.

const WINDOW = 200;		// items in the DOM while at the bottom
const MORE = 100;		// items added to the window per scroll back
const NEAR = 48;		// px from an edge that count as at it
const FRAME_MS = 100;		// the shortest time between two draws

const timeFmt = new Intl.DateTimeFormat(undefined,
  { hour: '2-digit', minute: '2-digit' });

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// Make a list's children match keys, reusing each key's node (so focus and
// scroll stay), creating with make(key) and refreshing with update(node, key).
function syncList(ul, keys, make, update) {
  const old = new Map();
  for (const li of [...ul.children]) old.set(li.dataset.key, li);
  let i = 0;
  for (const key of keys) {
    let li = old.get(key);
    if (!li) {
      li = make(key);
      li.dataset.key = key;
    }
    old.delete(key);
    update(li, key);
    if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null);
    i++;
  }
  for (const li of old.values()) li.remove();
}

export class View {
  constructor(store, actions) {
    this.store = store;
    this.actions = actions;
    this.$ = (id) => document.getElementById(id);
    this.drawn = -1;
    this.frame = 0;
    this.lastDraw = -Infinity;
    this.rendered = [];		// [{seq, node}] in the message list, by seq
    this.renderedChannel = null;
    this.renderedReset = -1;
    this.limit = WINDOW;
    this.stick = true;		// keep the view at the newest message
    this.loading = false;
    const box = this.$('messages');
    box.addEventListener('scroll', () => this.scrolled());
  }

  // Draw on the next frame, but at most every FRAME_MS: a busy channel
  // then costs a few layouts a second, not sixty.
  schedule() {
    if (this.frame) return;
    const wait = this.lastDraw + FRAME_MS - performance.now();
    const go = () => {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.lastDraw = performance.now();
        this.draw();
      });
    };
    if (wait > 0) {
      this.frame = setTimeout(go, wait);
    } else {
      go();
    }
  }

  status(s) {
    const st = this.$('status');
    st.textContent = s;
    st.className = 'status ' + s;
  }

  error(id, text) {
    this.$(id).textContent = text || '';
  }

  draw() {
    const s = this.store;
    if (this.drawn === s.version) return;
    this.drawn = s.version;
    this.drawChannels();
    this.drawOthers();
    this.drawHead();
    this.drawMembers();
    this.drawMessages();
  }

  drawChannels() {
    const s = this.store;
    const names = s.joined().map((c) => c.name);
    syncList(this.$('channels'), names, (name) => {
      const li = el('li');
      const b = el('button', null, name);
      b.type = 'button';
      b.addEventListener('click', () => this.actions.open(name));
      const badge = el('span', 'unread');
      li.append(b, badge);
      return li;
    }, (li, name) => {
      const c = s.channels.get(name);
      li.classList.toggle('current', name === s.current);
      li.firstChild.setAttribute('aria-current',
        name === s.current ? 'true' : 'false');
      const badge = li.lastChild;
      const text = c.unread ? String(c.unread) : '';
      if (badge.textContent !== text) badge.textContent = text;
      badge.title = c.unread ? c.unread + ' unread' : '';
    });
  }

  drawOthers() {
    const s = this.store;
    const names = s.others().map((c) => c.name);
    syncList(this.$('others'), names, (name) => {
      const li = el('li');
      const b = el('button', null, 'Join');
      b.type = 'button';
      b.setAttribute('aria-label', 'Join ' + name);
      b.addEventListener('click', () => this.actions.join(name));
      li.append(el('span', null, name), b);
      return li;
    }, () => {});
    this.$('others-title').hidden = names.length === 0;
  }

  drawHead() {
    const s = this.store;
    const c = s.current && s.channels.get(s.current);
    const key = (c ? c.name : '') + ' ' + (c && c.creator === s.me);
    if (this.head === key) return;
    this.head = key;
    this.$('channel-title').textContent = c ? '#' + c.name : 'No channel';
    this.$('leave').hidden = !c;
    this.$('delete').hidden = !c || c.creator !== s.me;
    const input = this.$('composer-text');
    input.disabled = this.$('send').disabled = !c;
    input.placeholder = c ? 'Message #' + c.name : 'Join a channel to talk';
  }

  drawMembers() {
    const s = this.store;
    const c = s.current && s.channels.get(s.current);
    const names = c ? [...c.members].sort() : [];
    const owner = c && c.creator === s.me;
    syncList(this.$('members'), names.map((n) => (owner ? '+' : '-') + n),
      (key) => {
        const name = key.slice(1);
        const li = el('li');
        li.append(el('span', null, name));
        if (key[0] === '+' && name !== s.me) {
          const b = el('button', 'danger', 'Kick');
          b.type = 'button';
          b.setAttribute('aria-label', 'Kick ' + name);
          b.addEventListener('click', () => this.actions.kick(s.current, name));
          li.append(b);
        }
        return li;
      }, (li, key) => li.classList.toggle('me', key.slice(1) === s.me));
  }

  item(it) {
    const li = el('li');
    const time = el('time', 'time', timeFmt.format(new Date(it.ts)));
    time.dateTime = new Date(it.ts).toISOString();
    if (it.kind === 'msg') {
      if (it.user === this.store.me) li.className = 'mine';
      li.append(time, el('span', 'author', it.user),
        el('span', 'text', it.text));
    } else {
      li.className = 'system';
      let what = it.kind === 'join' ? ' joined' : ' left';
      if (it.reason === 'kicked') what = ' was kicked by ' + it.by;
      else if (it.reason === 'banned') what = ' was banned by ' + it.by;
      else if (it.reason === 'deleted') what = ' left: the channel was deleted';
      else if (it.reason) what = ' left (' + it.reason + ')';
      li.append(time, el('span', 'text', it.user + what));
    }
    return li;
  }

  // The message list: the window of the timeline, changed in place.
  drawMessages() {
    const s = this.store;
    const box = this.$('messages');
    const list = this.$('message-list');
    const c = s.current && s.channels.get(s.current);
    if (this.renderedChannel !== s.current || this.renderedReset !== s.reset) {
      list.textContent = '';
      this.rendered = [];
      if (this.renderedChannel !== s.current) {
        this.limit = WINDOW;
        this.stick = true;
      }
      this.renderedChannel = s.current;
      this.renderedReset = s.reset;
    }
    const items = c ? c.items : [];
    if (this.stick) this.limit = WINDOW;
    const want = items.slice(Math.max(0, items.length - this.limit));
    // Layout is read only to keep the place of a user who scrolled back.
    const before = this.stick ? 0 : box.scrollHeight;
    const top = this.stick ? 0 : box.scrollTop;
    // Merge two lists sorted by seq: drop what left the window, add what
    // entered it.
    const out = [];
    let i = 0, j = 0, prepended = false;
    const old = this.rendered;
    while (i < old.length || j < want.length) {
      if (j >= want.length || (i < old.length && old[i].seq < want[j].seq)) {
        old[i].node.remove();
        i++;
      } else if (i < old.length && old[i].seq === want[j].seq) {
        out.push(old[i]);
        i++;
        j++;
      } else {
        const node = this.item(want[j]);
        const next = i < old.length ? old[i].node : null;
        if (next && out.length === 0) prepended = true;
        list.insertBefore(node, next);
        out.push({ seq: want[j].seq, node });
        j++;
      }
    }
    this.rendered = out;
    const hs = this.$('history-state');
    const state = !c ? '' : c.historyDone && want.length === items.length ?
      'The beginning of #' + c.name : this.loading ? 'Loading older messages…' :
      '';
    if (hs.textContent !== state) hs.textContent = state;
    if (this.stick)
      box.scrollTop = box.scrollHeight;
    else if (prepended)
      box.scrollTop = top + (box.scrollHeight - before);
    // Too few to scroll: fetch older ones until the view is full.
    if (c && !c.historyDone && box.scrollHeight <= box.clientHeight + NEAR)
      queueMicrotask(() => this.older());
  }

  scrolled() {
    const box = this.$('messages');
    this.stick = box.scrollHeight - box.scrollTop - box.clientHeight < NEAR;
    if (box.scrollTop < NEAR) this.older();
  }

  // At the top: show more of what is in memory, or ask for older messages.
  async older() {
    const s = this.store;
    const c = s.current && s.channels.get(s.current);
    if (!c || this.loading) return;
    if (c.items.length > this.limit) {
      this.limit += MORE;
      this.stick = false;
      this.store.changed();
      this.schedule();
      return;
    }
    if (c.historyDone) return;
    this.loading = true;
    if (!this.stick) this.limit += MORE;
    try {
      await this.actions.older(c.name);
    } finally {
      this.loading = false;
      this.store.changed();
      this.schedule();
    }
  }
}
