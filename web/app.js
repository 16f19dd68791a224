// The Pinhole web page: first-run setup, login, live grid, one camera with PTZ, recordings
// timeline and playback, events, settings. Plain ES modules, no framework and no build step:
// the appliance embeds these files and serves them itself (no CDN, works offline).
// Live state arrives as JSON-RPC notifications on /ws; the page never polls for it.

import { api, hooks, Rpc } from './api.js';
import { h, clear, field, input, select, showErrors, keepDraft, fmtTime, fmtBytes, fmtDuration, sparkline, badge, toast } from './ui.js';
import { cameraView } from './camera.js';
import { recordingsView, eventsView } from './archive.js';
import { settingsView } from './settings.js';
import { broadcastView } from './broadcast.js';

const main = () => document.getElementById('main');
export const app = {
  me: null,
  rpc: null,
  device: 'Pinhole',
  can(perm) {
    return !!this.me && this.me.permissions.includes(perm);
  },
};

const TOPICS = ['camera.*', 'recording.*', 'snapshot.*', 'ptz.*', 'detection.*', 'system.*'];

function banner(text) {
  const b = document.getElementById('banner');
  b.textContent = text || '';
  b.hidden = !text;
}

async function boot() {
  hooks.onUnauthorized = () => sessionExpired();
  let setup;
  try {
    setup = await api('GET', '/api/auth/setup');
  } catch (e) {
    banner('The appliance cannot be reached. Retrying…');
    setTimeout(boot, 2000);
    return;
  }
  banner('');
  app.device = setup.device_name || 'Pinhole';
  document.title = app.device;
  if (setup.setup_required) return setupView();
  try {
    app.me = await api('GET', '/api/auth/me');
  } catch {
    return loginView();
  }
  startShell();
}

function sessionExpired() {
  if (!app.me) return;
  app.me = null;
  if (app.rpc) app.rpc.close();
  sessionStorage.setItem('return-to', location.hash);
  loginView('Your session expired. Log in again to continue where you were.');
}

// ---- first run ------------------------------------------------------------------------------

function setupView() {
  document.getElementById('nav').hidden = true;
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : ['UTC'];
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const form = h('form.card.narrow#setup-form', { novalidate: true },
    h('h1', 'Welcome to Pinhole'),
    h('p', 'No account exists yet. Create the administrator, then name this device.'),
    field('Administrator name', 'username', input({ value: 'admin', required: true, autocomplete: 'username' })),
    field('Password', 'password', input({ type: 'password', required: true, minLength: 10, autocomplete: 'new-password' }), 'At least 10 characters.'),
    field('Repeat password', 'password2', input({ type: 'password', required: true, autocomplete: 'new-password' })),
    field('Device name', 'device_name', input({ value: app.device || 'pinhole', required: true })),
    field('Time zone', 'timezone', select(zones, zones.includes(here) ? here : 'UTC')),
    field('Recordings folder', 'recordings_dir', input({ placeholder: 'default: on this device' }), 'An SSD mount point, for example /mnt/ssd/recordings. Leave empty for the default.'),
    h('p.form-message'),
    h('button', { type: 'submit' }, 'Create administrator'));
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    const errs = {};
    if (f.password.length < 10) errs.password = 'at least 10 characters';
    if (f.password !== f.password2) errs.password2 = 'the passwords differ';
    if (!f.username.trim()) errs.username = 'required';
    if (Object.keys(errs).length) return showErrors(form, { fields: errs, message: '' });
    try {
      await api('POST', '/api/auth/setup', {
        username: f.username.trim(),
        password: f.password,
        device_name: f.device_name || undefined,
        timezone: f.timezone || undefined,
        recordings_dir: f.recordings_dir || undefined,
      });
      await api('POST', '/api/auth/session', { username: f.username.trim(), password: f.password });
      app.me = await api('GET', '/api/auth/me');
      app.device = f.device_name || app.device;
      location.hash = '#/settings/cameras/new?first=1';
      startShell();
    } catch (e) {
      showErrors(form, e);
    }
  };
  clear(main(), form);
}

// ---- login ------------------------------------------------------------------------------------

function loginView(message) {
  document.getElementById('nav').hidden = true;
  const form = h('form.card.narrow#login-form', { novalidate: true },
    h('h1', app.device),
    message ? h('p.notice', message) : null,
    field('User', 'username', input({ required: true, autocomplete: 'username' })),
    field('Password', 'password', input({ type: 'password', required: true, autocomplete: 'current-password' })),
    h('p.form-message'),
    h('button', { type: 'submit' }, 'Log in'));
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    try {
      await api('POST', '/api/auth/session', f);
      app.me = await api('GET', '/api/auth/me');
      const back = sessionStorage.getItem('return-to');
      sessionStorage.removeItem('return-to');
      if (back) location.hash = back;
      startShell();
    } catch (e) {
      showErrors(form, e.status === 401 ? { message: 'Wrong user or password' } : e);
    }
  };
  clear(main(), form);
  form.elements.username.focus();
}

async function logout() {
  try {
    await api('DELETE', '/api/auth/session');
  } catch {}
  app.me = null;
  if (app.rpc) app.rpc.close();
  loginView();
}

// ---- shell ------------------------------------------------------------------------------------

let expiryTimer = null;

function startShell() {
  const nav = document.getElementById('nav');
  nav.hidden = false;
  clear(nav,
    h('a.brand', { href: '#/' }, app.device),
    h('a', { href: '#/' }, 'Live'),
    h('a', { href: '#/recordings' }, 'Recordings'),
    h('a', { href: '#/events' }, 'Events'),
    h('a', { href: '#/broadcast' }, 'Broadcast'),
    h('a', { href: '#/settings' }, 'Settings'),
    h('span.spacer'),
    h('span.who', { title: 'role: ' + app.me.role }, `${app.me.username} · ${app.me.role}`),
    h('button.link#logout', { on: { click: logout } }, 'Log out'));
  if (app.rpc) app.rpc.close();
  app.rpc = new Rpc();
  app.rpc.listen((m) => {
    if (m === 'close') banner('Connection to the appliance lost. Reconnecting…');
    if (m === 'open') banner('');
  });
  app.rpc.connect(TOPICS);
  clearTimeout(expiryTimer);
  const left = Date.parse(app.me.expires_at) - Date.now();
  if (left > 0) expiryTimer = setTimeout(sessionExpired, Math.min(left, 2 ** 31 - 1));
  route();
}

let cleanup = [];

/** Runs `fn` when the view is left (listeners, timers, streams). */
export function onLeave(fn) {
  cleanup.push(fn);
}

function route() {
  if (!app.me) return;
  for (const fn of cleanup.splice(0)) {
    try {
      fn();
    } catch {}
  }
  const [path, query] = (location.hash.slice(1) || '/').split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.getAttribute('href') === '#/' + (parts[0] || ''));
  }
  // Each navigation renders into its own container: a view still waiting for its data when
  // the user moves on finishes into a detached element instead of over the new view.
  const el = h('div.view');
  clear(main(), el);
  switch (parts[0]) {
    case undefined:
      return gridView(el);
    case 'camera':
      return cameraView(el, decodeURIComponent(parts[1] || ''));
    case 'recordings':
      return recordingsView(el, params);
    case 'events':
      return eventsView(el, params, parts[1]);
    case 'settings':
      return settingsView(el, parts.slice(1), params);
    case 'broadcast':
      return broadcastView(el);
    default:
      clear(el, h('p', 'Not found. ', h('a', { href: '#/' }, 'Back to the cameras')));
  }
}

window.addEventListener('hashchange', route);

// ---- camera grid --------------------------------------------------------------------------------

function statusLine(s) {
  if (!s) return [];
  return [badge(s.state || s.status),
    s.encoder ? h('span.meta', s.encoder) : null,
    s.fps ? h('span.meta', `${Math.round(s.fps)} fps`) : null,
    s.bitrate_kbps ? h('span.meta', `${Math.round(s.bitrate_kbps)} kbit/s`) : null,
    // The camera's own audio (kept as AAC in recordings, RTSP and streams).
    s.audio ? h('span.meta.audio', `audio ${s.audio.toUpperCase()}`) : null,
    s.error ? h('span.meta.bad', s.error) : null];
}

export function preview(id, cls) {
  // MJPEG from the appliance's gated JPEG branch; it stops when the element goes.
  const img = h('img.preview' + (cls || ''), { alt: `live view of ${id}`, src: `/api/cameras/${encodeURIComponent(id)}/mjpeg` });
  onLeave(() => img.removeAttribute('src'));
  return img;
}

async function gridView(el) {
  let cams;
  let status;
  try {
    [cams, status] = await Promise.all([api('GET', '/api/cameras'), api('GET', '/api/status/cameras').catch(() => null)]);
  } catch (e) {
    clear(el, h('p.notice', e.message));
    return;
  }
  if (!cams.length) {
    clear(el, h('div.card', h('h2', 'No camera yet'),
      app.can('admin') ? h('a.button', { href: '#/settings/cameras/new' }, 'Add a camera') : h('p', 'Ask an administrator to add one.')));
    return;
  }
  const byId = Object.fromEntries(((status && status.cameras) || []).map((s) => [s.device, s]));
  const lines = {};
  const grid = h('div.grid#grid');
  for (const c of cams) {
    const line = h('div.status', statusLine(byId[c.id]));
    lines[c.id] = line;
    grid.append(h('a.tile', { href: `#/camera/${encodeURIComponent(c.id)}`, 'data-camera': c.id },
      c.enabled ? preview(c.id) : h('div.preview.off', 'disabled'),
      h('div.caption', h('strong', c.name || c.id), line)));
  }
  clear(el, grid);
  if (!status) el.prepend(h('p.notice', 'Live video is not available in this build.'));
  const off = app.rpc.listen((m, p) => {
    if (m === 'camera_status_update' && lines[p.device]) {
      api('GET', '/api/status/cameras').then((s) => {
        for (const x of s.cameras) if (lines[x.device]) clear(lines[x.device], statusLine(x));
      }).catch(() => {});
    }
  });
  onLeave(off);
}

export { statusLine, fmtTime, fmtBytes, fmtDuration, sparkline, keepDraft };

boot();
