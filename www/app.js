// app.js: the page. Wires the protocol client (wschat.js), the state
// (store.js) and the drawing (view.js) to the forms and buttons, and to
// the browser's signals: online, offline and a tab becoming visible.

import { WschatClient } from './wschat.js';
import { Store } from './store.js';
import { View } from './view.js';

const NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;
const HISTORY_PAGE = 50;

// Server errors, in words; the server's own text follows where it helps.
const WORDS = {
  NAMEINUSE: 'That name is taken. Pick another, or log in if it is yours.',
  BADLOGIN: 'Wrong name or password.',
  NOSUCHCHANNEL: 'There is no such channel.',
  CHANNELEXISTS: 'A channel by that name exists already.',
  NOTMEMBER: 'You are not in that channel.',
  FORBIDDEN: 'You may not do that.',
  RATELIMITED: 'Too fast. Wait a moment and try again.',
  TOOLONG: 'That is too long.',
  LIMIT: 'A server limit is reached',
  INTERNAL: 'The server could not do it; nothing happened. Try again.',
  NOTIDENTIFIED: 'Sign in first.',
  CLOSED: 'Not connected. It will go through once the connection is back; try again then.',
};

function words(e) {
  if (!e) return '';
  const base = WORDS[e.code];
  if (e.code === 'BADARGS') return e.message || 'That was not understood.';
  if (e.code === 'LIMIT' || e.code === 'FORBIDDEN')
    return base + (e.message ? ': ' + e.message + '.' : '.');
  return base || e.message || String(e);
}

const store = new Store();
const client = new WschatClient({
  url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
    '/ws',
  storage: window.localStorage,
  saveState: () => store.save(),
  loadState: (saved) => store.load(saved),
});
store.me = client.name;

const $ = (id) => document.getElementById(id);

const view = new View(store, {
  open(name) {
    store.open(name);
    view.schedule();
    client.save(false);
    $('composer-text').focus();
  },
  async join(name) {
    view.error('others-error', '');
    try {
      await client.join(name);
      store.open(name);
      view.schedule();
    } catch (e) {
      view.error('others-error', words(e));
    }
  },
  async kick(ch, user) {
    view.error('channel-error', '');
    try {
      await client.kick(ch, user);
    } catch (e) {
      view.error('channel-error', words(e));
    }
  },
  async older(name) {
    try {
      const rows = await client.history(name, store.oldest(name) ?? undefined,
        HISTORY_PAGE);
      store.history(name, rows, HISTORY_PAGE);
    } catch (e) {
      if (e.code !== 'CLOSED') view.error('channel-error', words(e));
    }
  },
});

function screen() {
  const inside = client.signedIn;
  $('signin').hidden = inside;
  $('chat').hidden = !inside;
  $('logout').hidden = !inside;
  $('whoami').hidden = !inside;
  $('whoami').textContent = inside ? client.name : '';
  if (!inside) $('signin-name').focus();
}

client.on('status', (s) => view.status(s));
client.on('identity', (name) => {
  store.clear();
  store.me = name;
  view.schedule();
  screen();
});
client.on('snapshot', (snap) => {
  store.snapshot(snap);
  view.schedule();
});
client.on('event', (ev) => {
  store.event(ev);
  view.schedule();
});
client.on('error', (e) => {
  if (!client.signedIn) view.error('signin-error', words(e));
  else view.error('channel-error', words(e));
});

// --- sign in ------------------------------------------------------------------

$('signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('signin-name').value.trim();
  const password = $('signin-password').value;
  let how = ev.submitter ? ev.submitter.value : (password ? 'login' : 'guest');
  view.error('signin-error', '');
  if (!NAME_RE.test(name)) {
    view.error('signin-error', 'A name is 1 to 32 letters, digits, _ - or .');
    $('signin-name').focus();
    return;
  }
  if (how !== 'guest' && !password) {
    view.error('signin-error', 'Type your password first.');
    $('signin-password').focus();
    return;
  }
  const buttons = [...ev.target.querySelectorAll('button')];
  for (const b of buttons) b.disabled = true;
  try {
    if (how === 'guest') await client.guest(name);
    else if (how === 'login') await client.login(name, password);
    else await client.register(name, password);
    $('signin-password').value = '';
    $('composer-text').focus();
  } catch (e) {
    view.error('signin-error', words(e));
  } finally {
    for (const b of buttons) b.disabled = false;
  }
});

$('logout').addEventListener('click', async () => {
  try {
    await client.logout();
  } catch {
    /* the token is forgotten here anyway */
  }
});

// --- channels -------------------------------------------------------------------

$('create-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('create-name');
  const name = input.value.trim().replace(/^#/, '');
  view.error('create-error', '');
  if (!NAME_RE.test(name)) {
    view.error('create-error',
      'A channel name is 1 to 32 letters, digits, _ - or .');
    return;
  }
  try {
    await client.create(name);
    await client.join(name);
    input.value = '';
    store.open(name);
    view.schedule();
  } catch (e) {
    view.error('create-error', words(e));
  }
});

$('leave').addEventListener('click', async () => {
  view.error('channel-error', '');
  try {
    await client.leave(store.current);
  } catch (e) {
    view.error('channel-error', words(e));
  }
});

$('delete').addEventListener('click', async () => {
  const name = store.current;
  view.error('channel-error', '');
  if (!window.confirm('Delete #' + name + ' and its history for everyone?'))
    return;
  try {
    await client.remove(name);
  } catch (e) {
    view.error('channel-error', words(e));
  }
});

// --- the composer --------------------------------------------------------------------

$('composer').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('composer-text');
  const text = input.value.replace(/[\r\n]+/g, ' ');
  if (!text.trim() || !store.current) return;
  view.error('composer-error', '');
  input.value = '';
  try {
    await client.send(store.current, text);
  } catch (e) {
    // Give the text back, so nothing typed is lost.
    if (!input.value) input.value = text;
    view.error('composer-error', words(e));
  }
});

// Alt+Up / Alt+Down: the previous or next channel.
document.addEventListener('keydown', (ev) => {
  if (!ev.altKey || (ev.key !== 'ArrowUp' && ev.key !== 'ArrowDown')) return;
  const names = store.joined().map((c) => c.name);
  const i = names.indexOf(store.current);
  const next = names[(i + (ev.key === 'ArrowUp' ? -1 : 1) + names.length) %
    names.length];
  if (next) {
    ev.preventDefault();
    view.actions.open(next);
  }
});

// --- the browser's signals ---------------------------------------------------------------

window.addEventListener('online', () => client.reconnectNow());
window.addEventListener('offline', () => client.suspend('offline'));
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') client.reconnectNow();
  else client.save(true);
});
window.addEventListener('pagehide', () => client.save(true));

screen();
view.status(client.status);
view.schedule();
// Offline at load: wait for the online event instead of failing.
if (client.signedIn) client.start(navigator.onLine !== false);
