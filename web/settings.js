// Settings: cameras (add, edit, delete; detection zones and masks drawn on the picture), storage
// and retention, users, the device, system figures with live graphs, network, updates, and the
// user's own password. Each form checks what it can on the client and shows the server's field
// errors next to the fields.

import { api } from './api.js';
import { h, clear, field, input, select, showErrors, keepDraft, fmtBytes, fmtDuration, sparkline, toast } from './ui.js';
import { app, onLeave } from './app.js';

const TABS = [
  ['cameras', 'Cameras', 'admin'],
  ['storage', 'Storage', 'admin'],
  ['users', 'Users', 'admin'],
  ['device', 'Device', 'admin'],
  ['system', 'System', 'view'],
  ['account', 'My account', 'view'],
];

export function settingsView(el, parts, params) {
  const tabs = TABS.filter(([, , perm]) => app.can(perm));
  const tab = tabs.some(([t]) => t === parts[0]) ? parts[0] : tabs[0][0];
  const body = h('div.tab-body');
  clear(el, h('h1', 'Settings'),
    h('nav.tabs', tabs.map(([t, label]) => h('a', { href: `#/settings/${t}`, class: t === tab ? 'active' : '' }, label))),
    body);
  ({ cameras: camerasTab, storage: storageTab, users: usersTab, device: deviceTab, system: systemTab, account: accountTab })[tab](body, parts.slice(1), params);
}

// ---- cameras ----------------------------------------------------------------------------------

async function camerasTab(el, parts, params) {
  if (parts[0]) return cameraForm(el, parts[0] === 'new' ? null : decodeURIComponent(parts[0]), params.get('first') === '1');
  let cams;
  try {
    cams = await api('GET', '/api/cameras');
  } catch (e) {
    clear(el, h('p.notice', e.message));
    return;
  }
  const table = h('table.list#camera-list', h('tr', h('th', 'Id'), h('th', 'Name'), h('th', 'Source'), h('th', 'Recording'), h('th', 'PTZ'), h('th', '')));
  for (const c of cams) {
    table.append(h('tr', { 'data-camera': c.id }, h('td', c.id), h('td', c.name || ''), h('td', `${c.source} ${c.url || ''}`), h('td', c.recording),
      h('td', c.ptz ? `${c.ptz.transport} ${c.ptz.addr || c.ptz.path || ''}` : '—'),
      h('td', h('a', { href: `#/settings/cameras/${encodeURIComponent(c.id)}` }, 'edit'), ' ',
        h('button.link', { type: 'button', on: { click: async () => {
          if (!confirm(`Delete camera ${c.id}? Its recordings stay.`)) return;
          try {
            await api('DELETE', `/api/cameras/${encodeURIComponent(c.id)}`);
            camerasTab(el, [], params);
          } catch (e) {
            toast(e.message, true);
          }
        } } }, 'delete'))));
  }
  const again = () => camerasTab(el, [], params);
  clear(el, table, h('a.button#add-camera', { href: '#/settings/cameras/new' }, 'Add a camera'), localCard(cams, again), discoverCard(again));
}

/** The size a plugged-in camera is added at: 1280×720 where it offers it, else the largest it
 *  offers up to 1920×1080 (resolutions come largest first). */
function addSize(resolutions) {
  const sizes = resolutions.map((r) => r.split('x').map(Number)).filter(([w, hh]) => w > 0 && hh > 0);
  return sizes.find(([w, hh]) => w === 1280 && hh === 720) || sizes.find(([w, hh]) => w <= 1920 && hh <= 1080) || [1280, 720];
}

/** USB and CSI cameras plugged into the appliance, kept current as they are plugged in and
 *  pulled out (the server's `camera.device_added` / `camera.device_removed`), each added in one
 *  click or shown as the camera it already is. */
function localCard(cams, onAdded) {
  const list = h('div#local-devices');
  const show = async () => {
    let devices;
    try {
      devices = (await api('GET', '/api/devices')).devices || [];
    } catch (e) {
      clear(list, h('p.notice', e.message));
      return;
    }
    clear(list, devices.length ? null : h('p.meta', 'No USB or CSI camera is plugged in.'), ...devices.map((d) => {
      const cam = cams.find((c) => c.source === d.source && c.url === d.url);
      const [width, height] = addSize(d.resolutions || []);
      const add = cam
        ? h('p.meta', `Added as ${cam.name || cam.id}`)
        : h('button.add-local', { type: 'button', on: { click: async () => {
          try {
            await api('POST', '/api/cameras', { name: d.name, source: d.source, url: d.url, width, height, recording: 'continuous' });
            toast('Camera added');
            onAdded();
          } catch (err) {
            toast(err.message, true);
          }
        } } }, 'Add this camera');
      return h('div.device', { 'data-local-device': d.url },
        h('h3', d.name || d.url),
        h('p.meta', [d.url, (d.formats || []).join(', '), (d.resolutions || []).slice(0, 4).join(', ')].filter(Boolean).join(' — ')),
        add);
    }));
  };
  show();
  onLeave(app.rpc.listen((m) => {
    if (m === 'camera.device_added' || m === 'camera.device_removed') show();
  }));
  return h('section.card#local-card', h('h2', 'USB and CSI cameras'),
    h('p.meta', 'Cameras plugged into the appliance show here as they are plugged in.'), list);
}

/** "Discover cameras": ONVIF devices on the network, a connection test with the camera's
 *  credentials, and adding it with its main stream in one click. */
function discoverCard(onAdded) {
  const list = h('div#discovered');
  const run = h('button#discover', { type: 'button' }, 'Discover cameras');
  run.onclick = async () => {
    run.disabled = true;
    clear(list, h('p.meta', 'Looking for ONVIF cameras…'));
    try {
      const r = await app.rpc.call('discover_external_streams', { force_rescan: true });
      const found = r.discovered_streams || [];
      clear(list,
        found.length ? null : h('p.meta', 'No ONVIF camera answered. Cameras on another network can be listed in discovery.unicast.'),
        ...(r.errors || []).map((e) => h('p.notice', e)),
        ...found.map((d) => deviceRow(d, onAdded)));
    } catch (e) {
      clear(list, h('p.notice', e.message));
    } finally {
      run.disabled = false;
    }
  };
  return h('section.card#discover-card', h('h2', 'Discover cameras'),
    h('p.meta', 'Finds ONVIF cameras on the network (WS-Discovery). Test the connection with the camera\'s user and password, then add it.'),
    run, list);
}

function deviceRow(d, onAdded) {
  const result = h('div.test-result');
  const form = h('form.device-test', { novalidate: true, 'data-url': d.url },
    h('div.row',
      field('User', 'username', input({ autocomplete: 'off' })),
      field('Password', 'password', input({ type: 'password', autocomplete: 'new-password' })),
      h('button', { type: 'submit' }, 'Test connection')),
    h('p.form-message'));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    clear(result, h('p.meta', 'Connecting…'));
    let t;
    try {
      t = await app.rpc.call('test_onvif_device', { device_url: d.url, username: f.username || null, password: f.password || null });
    } catch (err) {
      // The device's own words, and what to do about them.
      const why = (err.data && err.data.details) || err.message;
      clear(result, h('p.notice', why, err.data && err.data.suggestion ? `. ${err.data.suggestion}.` : ''));
      return;
    }
    const main = (t.profiles || []).find((p) => p.token === t.main_profile);
    const sub = (t.profiles || []).find((p) => p.token === t.sub_profile && p.token !== t.main_profile);
    const rows = (t.profiles || []).map((p) => h('tr', { 'data-profile': p.token },
      h('td', p.name), h('td', (p.encoding || '?') + (p.audio ? ` + ${p.audio}` : '')), h('td', `${p.width}×${p.height}`), h('td', `${p.fps} fps`),
      h('td', p.token === t.main_profile ? 'main (recording)' : p.token === t.sub_profile ? 'sub' : '')));
    const add = h('button.add-device', { type: 'button', disabled: !main || !main.stream_url }, 'Add this camera');
    add.onclick = async () => {
      try {
        await api('POST', '/api/cameras', {
          name: d.name, source: 'rtsp', url: main.stream_url,
          // The sub stream, when the device has a smaller one: previews and detection decode it.
          sub_url: sub && sub.stream_url && sub.stream_url !== main.stream_url ? sub.stream_url : null,
          username: f.username || null, password: f.password || null, recording: 'continuous',
          // Steered over ONVIF with the same account.
          ptz: t.ptz ? { transport: 'onvif', addr: d.url } : null,
        });
        toast('Camera added');
        onAdded();
      } catch (err) {
        toast(err.message, true);
      }
    };
    clear(result,
      h('p', `${t.manufacturer} ${t.model}, firmware ${t.firmware_version}`, t.ptz ? ', PTZ' : '',
        // Media2 names H.265 and audio codecs reliably; Media (ver10) as the camera pleases.
        t.media_service === 'media2' ? ', Media2' : '',
        Math.abs(t.clock_offset_secs) > 60 ? ` (its clock is ${t.clock_offset_secs} s off)` : ''),
      h('table.list.profiles', h('tr', h('th', 'Profile'), h('th', 'Codec'), h('th', 'Size'), h('th', 'Rate'), h('th', '')), ...rows),
      t.snapshot && t.snapshot.ok
        ? h('img.device-snapshot', { src: t.snapshot.jpeg, alt: 'a picture from the camera', width: 320 })
        : h('p.meta', `No picture from the camera: ${(t.snapshot && t.snapshot.error) || 'not offered'}`),
      add);
  };
  return h('div.device', { 'data-device': d.url },
    h('h3', d.name || d.url), h('p.meta', `${d.url} — ${d.status}`), form, result);
}

async function cameraForm(el, id, first) {
  let c = { enabled: true, source: 'test', recording: 'continuous', width: 1280, height: 720, fps: 15, bitrate_kbps: 2000 };
  if (id) {
    try {
      c = await api('GET', `/api/cameras/${encodeURIComponent(id)}`);
    } catch (e) {
      clear(el, h('p.notice', e.message));
      return;
    }
  }
  const det = c.detection || {};
  let devices = [];
  try {
    devices = (await api('GET', '/api/devices')).devices || [];
  } catch {}
  let models = [];
  try {
    models = (await app.rpc.call('get_detection_status', {})).models || [];
  } catch {}
  const num = (name, v, attrs) => input({ type: 'number', value: v ?? '', ...attrs });
  const url = input({ value: c.url || '', list: 'device-list' });
  const datalist = h('datalist#device-list', devices.map((d) => h('option', { value: d.path || d.url || d.device || '' }, d.name || '')));
  const form = h('form.card#camera-form', { novalidate: true },
    h('h2', id ? `Camera ${id}` : first ? 'Add your first camera' : 'Add a camera'),
    first ? h('p', 'The appliance is ready. Add a camera now, or ', h('a', { href: '#/' }, 'skip this step'), '.') : null,
    h('fieldset', h('legend', 'Source'),
      field('Id', 'id', input({ value: c.id || '', required: true, pattern: '[a-z][a-z0-9_-]{0,31}', disabled: !!id }), 'a-z, 0-9, - and _, starting with a letter'),
      field('Name', 'name', input({ value: c.name || '' })),
      field('Kind', 'source', select([['test', 'test pattern'], ['v4l2', 'V4L2 / USB'], ['libcamera', 'CSI (libcamera)'], ['rtsp', 'RTSP IP camera'], ['mjpeg', 'HTTP MJPEG camera']], c.source)),
      field('URL or device', 'url', url, 'rtsp://host/path, /dev/video0, or a picture for a test camera'), datalist,
      field('Sub stream', 'sub_url', input({ value: c.sub_url || '', placeholder: 'rtsp://host/sub (optional)' }), 'an RTSP camera\'s smaller stream, for previews and detection'),
      field('User', 'username', input({ value: c.username || '', autocomplete: 'off' })),
      field('Password', 'password', input({ type: 'password', placeholder: c.has_password ? '(unchanged)' : '', autocomplete: 'new-password' })),
      field('Enabled', 'enabled', select([['true', 'yes'], ['false', 'no']], String(c.enabled !== false)))),
    h('fieldset', h('legend', 'Picture'),
      h('div.row',
        field('Width', 'width', num('width', c.width, { min: 160, max: 3840 })),
        field('Height', 'height', num('height', c.height, { min: 120, max: 2160 })),
        field('FPS', 'fps', num('fps', c.fps, { min: 1, max: 60 })),
        field('Bitrate kbit/s', 'bitrate_kbps', num('bitrate_kbps', c.bitrate_kbps, { min: 100, max: 20000 })),
        field('Keyframe every ms', 'keyframe_ms', num('keyframe_ms', c.keyframe_ms, { min: 250, max: 2000 })))),
    h('fieldset', h('legend', 'Recording'),
      field('Mode', 'recording', select([['continuous', 'continuous'], ['events', 'on events'], ['off', 'off']], c.recording))),
    h('fieldset', h('legend', 'PTZ'),
      h('div.row',
        field('Link', 'ptz.transport', select([['', 'none'], ['sony-udp', 'VISCA over IP (Sony, UDP 52381)'], ['raw-tcp', 'raw VISCA TCP (5678)'], ['raw-udp', 'raw VISCA UDP (1259)'], ['serial', 'serial RS-232/422'], ['onvif', 'ONVIF PTZ (the camera\'s account)']], c.ptz ? c.ptz.transport : '')),
        field('Address or port', 'ptz.addr', input({ value: c.ptz ? c.ptz.addr || c.ptz.path || '' : '', placeholder: '192.168.1.20:52381, /dev/ttyUSB0 or http://192.168.1.64/onvif/device_service' })),
        field('Profile', 'ptz.profile', select([['generic', 'generic'], ['sony', 'Sony'], ['ptzoptics', 'PTZOptics']], c.ptz ? c.ptz.profile : 'generic')))),
    h('fieldset', h('legend', 'Detection'),
      h('div.row',
        field('Detection', 'detection.enabled', select([['', 'default'], ['true', 'on'], ['false', 'off']], det.enabled === undefined || det.enabled === null ? '' : String(det.enabled))),
        field('Model', 'detection.model', select([['', 'default model'], ...models.map((m) => [m, m])], det.model || '')),
        field('Threshold', 'detection.threshold', num('threshold', det.threshold, { min: 0, max: 1, step: 0.05 })),
        field('Labels', 'detection.labels', input({ value: (det.labels || []).join(', '), placeholder: 'all' }))),
      id ? zoneEditor(id, det) : h('p.meta', 'Zones and masks can be drawn once the camera exists.')),
    h('p.form-message'),
    h('button', { type: 'submit' }, id ? 'Save' : 'Add camera'));
  const forget = keepDraft(form, 'camera:' + (id || 'new'));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    const errs = {};
    if (!id && !/^[a-z][a-z0-9_-]{0,31}$/.test(f.id || '')) errs.id = 'a-z, 0-9, - and _, starting with a letter, at most 32';
    if (f.source === 'rtsp' && !/^rtsps?:\/\//.test(f.url)) errs.url = 'an RTSP camera needs an rtsp:// URL';
    if ((f.source === 'v4l2') && !f.url) errs.url = 'the device, e.g. /dev/video0';
    if (f['ptz.transport'] && !f['ptz.addr']) errs['ptz.addr'] = 'required for a PTZ link';
    if (Object.keys(errs).length) return showErrors(form, { fields: errs });
    const n = (v) => (v === '' || v === undefined ? null : Number(v));
    const body = {
      name: f.name || null, source: f.source, url: f.url, username: f.username || null,
      sub_url: f.source === 'rtsp' ? f.sub_url || '' : '',
      enabled: f.enabled === 'true', width: n(f.width), height: n(f.height), fps: n(f.fps),
      bitrate_kbps: n(f.bitrate_kbps), keyframe_ms: n(f.keyframe_ms), recording: f.recording,
    };
    if (!id) body.id = f.id;
    if (f.password) body.password = f.password;
    if (f['ptz.transport']) {
      const serial = f['ptz.transport'] === 'serial';
      const onvif = f['ptz.transport'] === 'onvif';
      body.ptz = { transport: f['ptz.transport'], profile: onvif ? null : f['ptz.profile'], [serial ? 'path' : 'addr']: f['ptz.addr'] };
    }
    const d = { ...(c.detection || {}) };
    d.enabled = f['detection.enabled'] === '' ? null : f['detection.enabled'] === 'true';
    d.model = f['detection.model'] || null;
    d.threshold = n(f['detection.threshold']);
    d.labels = f['detection.labels'].split(',').map((s) => s.trim()).filter(Boolean);
    const zones = form.querySelector('.zones');
    if (zones) Object.assign(d, zones.value());
    for (const k of Object.keys(d)) if (d[k] === null) delete d[k];
    body.detection = d;
    try {
      if (id) await api('PUT', `/api/cameras/${encodeURIComponent(id)}`, body);
      else await api('POST', '/api/cameras', body);
      forget();
      toast('Saved');
      location.hash = first ? '#/' : '#/settings/cameras';
    } catch (err) {
      showErrors(form, err);
    }
  };
  clear(el, form);
}

/** Zones (an object must be inside) and motion masks, drawn as polygons on a still picture. */
function zoneEditor(id, det) {
  const shapes = { zones: (det.zones || []).map((p) => p.slice()), masks: (det.masks || []).map((p) => p.slice()) };
  let mode = 'zones';
  let current = null;
  const img = h('img', { src: `/api/cameras/${encodeURIComponent(id)}/preview.jpg`, alt: 'camera picture' });
  const canvas = h('canvas', { width: 640, height: 360 });
  const draw = () => {
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (const [kind, color] of [['zones', '#3bd16f'], ['masks', '#ff3b3b']]) {
      for (const p of shapes[kind].concat(kind === mode && current ? [current] : [])) {
        ctx.beginPath();
        p.forEach(([x, y], i) => (i ? ctx.lineTo(x * canvas.width, y * canvas.height) : ctx.moveTo(x * canvas.width, y * canvas.height)));
        if (p !== current) ctx.closePath();
        ctx.strokeStyle = color;
        ctx.lineWidth = 3;
        ctx.stroke();
        ctx.fillStyle = color + '33';
        if (p !== current) ctx.fill();
      }
    }
  };
  canvas.addEventListener('click', (e) => {
    const r = canvas.getBoundingClientRect();
    const pt = [Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (e.clientY - r.top) / r.height))];
    current = current || [];
    current.push(pt.map((v) => Math.round(v * 1000) / 1000));
    draw();
  });
  const finish = () => {
    if (current && current.length >= 3) shapes[mode].push(current);
    current = null;
    draw();
  };
  const modeSel = select([['zones', 'zone (objects count only inside)'], ['masks', 'mask (motion ignored)']], mode, { 'aria-label': 'shape kind' });
  modeSel.onchange = () => {
    finish();
    mode = modeSel.value;
  };
  const wrap = h('div.zones',
    h('p.meta', 'Click on the picture to add points; "Close shape" ends a polygon (3 points at least).'),
    h('div.row', modeSel,
      h('button', { type: 'button', on: { click: finish } }, 'Close shape'),
      h('button', { type: 'button', on: { click: () => { shapes[mode] = []; current = null; draw(); } } }, 'Clear')),
    h('div.zone-canvas', img, canvas));
  img.onload = () => {
    canvas.width = img.naturalWidth || 640;
    canvas.height = img.naturalHeight || 360;
    draw();
  };
  wrap.value = () => {
    finish();
    return { zones: shapes.zones, masks: shapes.masks };
  };
  draw();
  return wrap;
}

// ---- storage ----------------------------------------------------------------------------------

async function storageTab(el) {
  let info = null;
  let settings;
  try {
    [info, settings] = await Promise.all([app.rpc.call('get_storage_info', {}).catch(() => null), api('GET', '/api/settings')]);
  } catch (e) {
    clear(el, h('p.notice', e.message));
    return;
  }
  const p = settings.settings.retention_policy || {};
  const form = h('form.card#retention-form', { novalidate: true }, h('h2', 'Retention'),
    field('Delete old recordings', 'enabled', select([['true', 'yes'], ['false', 'no']], String(p.enabled !== false))),
    field('Keep at most (days, 0 = no limit)', 'max_age_days', input({ type: 'number', min: 0, step: 0.5, value: p.max_age_days ?? 0 })),
    field('Use at most (GB, 0 = no limit)', 'max_size_gb', input({ type: 'number', min: 0, step: 0.5, value: p.max_size_gb ?? 0 })),
    field('Keep free (MB)', 'min_free_mb', input({ type: 'number', min: 0, step: 64, value: p.min_free_mb ?? 1024 })),
    h('p.form-message'), h('button', { type: 'submit' }, 'Save'));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    const value = { enabled: f.enabled === 'true', max_age_days: Number(f.max_age_days), max_size_gb: Number(f.max_size_gb), min_free_mb: Number(f.min_free_mb) };
    const errs = {};
    for (const k of ['max_age_days', 'max_size_gb', 'min_free_mb']) if (!(value[k] >= 0)) errs[k] = 'a number, 0 or more';
    if (Object.keys(errs).length) return showErrors(form, { fields: errs });
    try {
      await api('PUT', '/api/settings', { retention_policy: value });
      toast('Saved');
    } catch (err) {
      showErrors(form, { ...err, fields: Object.fromEntries(Object.entries(err.fields).map(([k, v]) => [k.replace(/^retention_policy\.?/, '') || 'enabled', v])), message: err.message });
    }
  };
  const usage = info
    ? h('section.card#storage-usage', h('h2', 'Usage'),
      h('meter', { min: 0, max: 100, value: info.usage_percentage || 0 }),
      h('p', `${fmtBytes(info.used_space)} used of ${fmtBytes(info.total_space)} (${(info.usage_percentage || 0).toFixed(1)} %), ${fmtBytes(info.available_space)} free`),
      h('p', `Recordings ${fmtBytes(info.recordings_size)}, snapshots ${fmtBytes(info.snapshots_size)}`),
      info.low_space_warning ? h('p.notice', 'Low on space') : null)
    : h('p.meta', 'Storage figures are not available.');
  clear(el, usage, form);
}

// ---- users ------------------------------------------------------------------------------------

async function usersTab(el) {
  let users;
  try {
    users = await api('GET', '/api/users');
  } catch (e) {
    clear(el, h('p.notice', e.message));
    return;
  }
  users = users.users || users;
  const roles = ['viewer', 'operator', 'admin'];
  const table = h('table.list#user-list', h('tr', h('th', 'User'), h('th', 'Role'), h('th', '')));
  for (const u of users) {
    const role = select(roles, u.role, { 'aria-label': `role of ${u.username}` });
    role.onchange = async () => {
      try {
        await api('PUT', `/api/users/${encodeURIComponent(u.username)}`, { role: role.value });
        toast(`${u.username} is now ${role.value}`);
      } catch (e) {
        toast(e.message, true);
        role.value = u.role;
      }
    };
    table.append(h('tr', { 'data-user': u.username }, h('td', u.username), h('td', role),
      h('td',
        h('button.link', { type: 'button', on: { click: async () => {
          const password = prompt(`New password for ${u.username} (at least 10 characters)`);
          if (!password) return;
          try {
            await api('PUT', `/api/users/${encodeURIComponent(u.username)}`, { password });
            toast('Password changed');
          } catch (e) {
            toast(e.message, true);
          }
        } } }, 'set password'), ' ',
        u.username === app.me.username ? null : h('button.link', { type: 'button', on: { click: async () => {
          if (!confirm(`Delete ${u.username}?`)) return;
          try {
            await api('DELETE', `/api/users/${encodeURIComponent(u.username)}`);
            usersTab(el);
          } catch (e) {
            toast(e.message, true);
          }
        } } }, 'delete'))));
  }
  const form = h('form.card#user-form', { novalidate: true }, h('h2', 'Add a user'),
    h('div.row',
      field('User', 'username', input({ required: true, autocomplete: 'off' })),
      field('Password', 'password', input({ type: 'password', required: true, minLength: 10, autocomplete: 'new-password' })),
      field('Role', 'role', select(roles, 'viewer'))),
    h('p.form-message'), h('button', { type: 'submit' }, 'Add user'));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    const errs = {};
    if (!f.username.trim()) errs.username = 'required';
    if (f.password.length < 10) errs.password = 'at least 10 characters';
    if (Object.keys(errs).length) return showErrors(form, { fields: errs });
    try {
      await api('POST', '/api/users', { ...f, username: f.username.trim() });
      usersTab(el);
    } catch (err) {
      showErrors(form, err);
    }
  };
  clear(el, table, form);
}

// ---- device -----------------------------------------------------------------------------------

// The ONVIF switch: Pinhole answering as an ONVIF camera, so recorders and home automation find
// it. Saved as soon as it is flipped.
function onvifCard(s) {
  const service = `http://${location.hostname}${location.port ? `:${location.port}` : ''}/onvif/device_service`;
  const box = h('input#onvif-enabled', { type: 'checkbox', checked: !!s.onvif_enabled });
  const state = h('p.meta#onvif-state');
  const show = (on) => clear(state, on
    ? [h('span', 'On: network video recorders and home-automation systems can find this device and use its cameras, with their motion and person events. Device service: '), h('code', service),
      h('span', '. They sign in with a Pinhole account; viewers watch, operators also steer.')]
    : 'Off: nothing answers ONVIF requests or discovery probes.');
  show(box.checked);
  box.onchange = async () => {
    box.disabled = true;
    try {
      const r = await api('PUT', '/api/settings', { onvif_enabled: box.checked });
      box.checked = !!r.settings.onvif_enabled;
      show(box.checked);
      toast(box.checked ? 'ONVIF is on' : 'ONVIF is off');
    } catch (err) {
      box.checked = !box.checked;
      toast(err.message, true);
    } finally {
      box.disabled = false;
    }
  };
  return h('section.card#onvif-card', h('h2', 'ONVIF'),
    h('label.switch', box, ' Answer as an ONVIF camera (Profile S with PTZ and events; Media2)'), state);
}

async function deviceTab(el) {
  let s;
  try {
    s = (await api('GET', '/api/settings')).settings;
  } catch (e) {
    clear(el, h('p.notice', e.message));
    return;
  }
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [s.timezone];
  const form = h('form.card#device-form', { novalidate: true }, h('h2', 'Device'),
    field('Device name', 'device_name', input({ value: s.device_name || '', required: true })),
    field('Time zone', 'timezone', select(zones.includes(s.timezone) ? zones : [s.timezone, ...zones], s.timezone)),
    field('Recordings folder', 'recordings_dir', input({ value: s.recordings_dir || '' })),
    h('p.form-message'), h('button', { type: 'submit' }, 'Save'));
  keepDraft(form, 'device');
  form.onsubmit = async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    if (!f.device_name.trim()) return showErrors(form, { fields: { device_name: 'required' } });
    try {
      await api('PUT', '/api/settings', f);
      sessionStorage.removeItem('draft:device');
      toast('Saved');
    } catch (err) {
      showErrors(form, err);
    }
  };
  const updates = h('div#update-status', h('p.meta', '…'));
  clear(el, form, onvifCard(s), h('section.card', h('h2', 'Updates'), updates));
  const showUpdate = async () => {
    try {
      const u = await app.rpc.call('get_update_status', {});
      if (!u.enabled) {
        clear(updates, h('p.meta', 'Over-the-air updates are off on this device ([ota] enabled = false).'));
        return;
      }
      // RAUC names the booted slot by its boot name (B) and the primary by its slot name
      // (rootfs.1): show both the same way.
      const slot = (n) => {
        const s = (u.slots || []).find((x) => x.name === n || x.bootname === n);
        return s ? `${s.bootname} (${s.name})` : n || '?';
      };
      clear(updates,
        h('p', h('strong', u.state.replaceAll('_', ' ')), u.detail ? ` — ${u.detail}` : ''),
        u.progress !== null && u.progress !== undefined && ['downloading', 'installing'].includes(u.state)
          ? h('progress', { max: 100, value: u.progress }) : null,
        h('p.meta', `booted slot ${slot(u.booted)}, next boot ${slot(u.primary)}, ${u.compatible || ''}`),
        h('p.meta', `source: ${u.source || 'none (pinhole update install by hand)'}`
          + (u.available ? `, offers version ${u.available}` : '')),
        h('table.list', h('tr', h('th', 'Slot'), h('th', 'State'), h('th', 'Boot status'), h('th', 'Bundle')),
          (u.slots || []).map((s) => h('tr', h('td', `${s.name} (${s.bootname || ''})`), h('td', s.state || ''),
            h('td', s.boot_status || ''), h('td', s.bundle_version || '—')))));
    } catch (e) {
      clear(updates, h('p.meta', e.message));
    }
  };
  showUpdate();
  onLeave(app.rpc.listen((m) => m === 'update.status' && showUpdate()));
}

// ---- system -----------------------------------------------------------------------------------

async function systemTab(el) {
  let sys;
  let info;
  try {
    [sys, info] = await Promise.all([api('GET', '/api/status/system'), api('GET', '/api/status/system/info')]);
  } catch (e) {
    clear(el, h('p.notice', e.message));
    return;
  }
  const history = (sys.history || []).slice(-60);
  const figures = h('div.figures#system-figures');
  const render = () => {
    const l = history[history.length - 1] || {};
    const graph = (label, key, max, fmt) => h('div.figure', h('span.meta', label), h('strong', fmt(l[key])),
      sparkline(history.map((x) => x[key] || 0), max(history), label));
    clear(figures,
      graph('CPU', 'cpu_percent', () => 100, (v) => `${(v || 0).toFixed(1)} %`),
      graph('Memory', 'memory_percent', () => 100, (v) => `${(v || 0).toFixed(1)} %`),
      graph('Pinhole RSS', 'process_rss_bytes', (hs) => Math.max(1, ...hs.map((x) => x.process_rss_bytes || 0)), (v) => fmtBytes(v)),
      l.temperature_c !== null && l.temperature_c !== undefined
        ? graph('Temperature', 'temperature_c', () => 90, (v) => `${(v || 0).toFixed(1)} °C`)
        : h('div.figure', h('span.meta', 'Temperature'), h('strong', 'not reported')));
  };
  render();
  const off = app.rpc.listen((m, p) => {
    if (m === 'system.health' && p.at_ms) {
      history.push(p);
      if (history.length > 60) history.shift();
      render();
    }
  });
  onLeave(off);
  const d = sys.disk || {};
  clear(el, h('section.card', h('h2', 'System'), figures,
    h('dl',
      h('dt', 'Version'), h('dd', `${info.name} ${info.version} (${info.architecture})`),
      h('dt', 'Service uptime'), h('dd', fmtDuration(sys.service_uptime_secs)),
      h('dt', 'Machine uptime'), h('dd', fmtDuration((sys.latest || {}).uptime_secs)),
      h('dt', 'Disk'), h('dd', d.total_bytes ? `${fmtBytes(d.used_bytes)} of ${fmtBytes(d.total_bytes)} used` : '—'))),
  h('section.card#network', h('h2', 'Network'),
    h('dl',
      h('dt', 'Web page'), h('dd', location.origin),
      h('dt', 'RTSP'), h('dd', h('span#rtsp-info', '…')))));
  try {
    const streams = await api('GET', '/api/live');
    const first = (streams.streams || [])[0];
    document.getElementById('rtsp-info').textContent = first ? first.rtsp_url || first.url || JSON.stringify(first) : 'no stream';
  } catch {
    document.getElementById('rtsp-info').textContent = 'not available';
  }
}

// ---- my account -------------------------------------------------------------------------------

function accountTab(el) {
  const form = h('form.card.narrow#password-form', { novalidate: true }, h('h2', 'Change my password'),
    field('Current password', 'current_password', input({ type: 'password', required: true, autocomplete: 'current-password' })),
    field('New password', 'new_password', input({ type: 'password', required: true, minLength: 10, autocomplete: 'new-password' })),
    field('Repeat', 'repeat', input({ type: 'password', required: true, autocomplete: 'new-password' })),
    h('p.form-message'), h('button', { type: 'submit' }, 'Change password'));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    const errs = {};
    if (f.new_password.length < 10) errs.new_password = 'at least 10 characters';
    if (f.new_password !== f.repeat) errs.repeat = 'the passwords differ';
    if (Object.keys(errs).length) return showErrors(form, { fields: errs });
    try {
      await api('POST', '/api/auth/change-password', { current_password: f.current_password, new_password: f.new_password });
      toast('Password changed; log in again');
      form.reset();
    } catch (err) {
      showErrors(form, err);
    }
  };
  clear(el, h('p', `Logged in as ${app.me.username} (${app.me.role}).`), form);
}
