// Recordings (a day's timeline per camera with segments and events marked; playback in the
// browser straight from the recording files, which the appliance serves with HTTP Range; a
// snapshot gallery) and events (filters, thumbnails, detail with snapshot and clip).

import { api } from './api.js';
import { h, clear, select, input, fmtTime, fmtBytes, toast } from './ui.js';
import { app, onLeave } from './app.js';

const DAY = 86400000;
const iso = (ms) => new Date(ms).toISOString();

function dayStart(dateStr) {
  const [y, m, d] = dateStr.split('-').map(Number);
  return new Date(y, m - 1, d).getTime();
}

function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

async function cameraOptions() {
  try {
    return (await api('GET', '/api/cameras')).map((c) => [c.id, c.name || c.id]);
  } catch {
    return [];
  }
}

export async function recordingsView(el, params) {
  const cams = await cameraOptions();
  if (!cams.length) {
    clear(el, h('p.notice', 'No camera, so no recording.'));
    return;
  }
  const cam = select(cams, params.get('camera') || cams[0][0], { id: 'rec-camera', 'aria-label': 'camera' });
  const day = input({ type: 'date', value: params.get('day') || today(), id: 'rec-day', 'aria-label': 'day' });
  const timeline = h('div.timeline#timeline');
  const player = h('div.player#player');
  const list = h('table.list#recordings');
  const gallery = h('div.gallery#snapshots');
  const go = () => {
    location.hash = `#/recordings?camera=${encodeURIComponent(cam.value)}&day=${day.value}`;
  };
  cam.onchange = go;
  day.onchange = go;
  clear(el, h('h1', 'Recordings'), h('div.row', cam, day), timeline, player, list, h('h2', 'Snapshots'), gallery);

  const from = dayStart(day.value);
  const to = from + DAY;
  const q = `camera=${encodeURIComponent(cam.value)}&from=${iso(from)}&to=${iso(to)}&limit=500`;
  let recs = [];
  let events = [];
  try {
    [recs, events] = await Promise.all([
      api('GET', `/api/recordings?${q}`).then((r) => r.recordings),
      api('GET', `/api/events?${q}`).then((r) => r.events).catch(() => []),
    ]);
  } catch (e) {
    clear(timeline, h('p.notice', e.message));
    return;
  }
  const pos = (ms) => `${(Math.max(0, Math.min(DAY, ms - from)) / DAY) * 100}%`;
  const bar = h('div.bar');
  for (let hr = 0; hr <= 24; hr += 3) bar.append(h('span.tick', { style: { left: `${(hr / 24) * 100}%` } }, `${hr}:00`));
  const play = (r, offsetSecs) => {
    const v = h('video#playback', { controls: true, autoplay: true, muted: true, playsInline: true, src: r.download_url + (offsetSecs ? `#t=${offsetSecs}` : '') });
    clear(player, h('p', `${r.filename} · ${fmtTime(r.start_ms)} · `, h('a', { href: r.download_url, download: `${r.filename}.mp4` }, 'download')), v);
    onLeave(() => v.removeAttribute('src'));
  };
  for (const r of recs) {
    const end = r.end_ms || Date.now();
    bar.append(h('button.segment', {
      type: 'button', title: `${fmtTime(r.start_ms)} (${r.trigger})`, 'data-file': r.filename,
      style: { left: pos(r.start_ms), width: `max(3px, calc(${pos(end)} - ${pos(r.start_ms)}))` },
      on: { click: () => play(r) },
    }));
  }
  for (const e of events) {
    bar.append(h('a.event-mark', { href: `#/events/${e.id}`, title: `${e.label} ${fmtTime(e.start_ms)}`, style: { left: pos(e.start_ms) } }));
  }
  clear(timeline, bar, h('p.meta', `${recs.length} segment(s), ${events.length} event(s) on this day.`));
  clear(list, h('tr', h('th', 'Start'), h('th', 'Length'), h('th', 'Trigger'), h('th', 'Size'), h('th', '')));
  for (const r of recs) {
    list.append(h('tr',
      h('td', fmtTime(r.start_ms)),
      h('td', r.duration ? `${Math.round(r.duration)} s` : r.state),
      h('td', r.trigger), h('td', fmtBytes(r.file_size)),
      h('td', h('button.link.play', { type: 'button', on: { click: () => play(r) } }, 'play'), ' ',
        h('a', { href: r.download_url, download: `${r.filename}.mp4` }, 'download'),
        app.can('admin') ? h('button.link', { type: 'button', on: { click: async () => {
          if (!confirm(`Delete ${r.filename}?`)) return;
          try {
            await api('DELETE', `/api/recordings/${encodeURIComponent(r.filename)}`);
            go();
            window.dispatchEvent(new HashChangeEvent('hashchange'));
          } catch (e) {
            toast(e.message, true);
          }
        } } }, 'delete') : null)));
  }
  try {
    const snaps = (await api('GET', `/api/snapshots?${q}`)).snapshots;
    clear(gallery, snaps.length ? null : h('p.meta', 'No snapshot on this day.'));
    for (const s of snaps) {
      gallery.append(h('a.thumb', { href: s.download_url, target: '_blank', rel: 'noopener' },
        h('img', { src: s.download_url, alt: s.filename, loading: 'lazy' }), h('span', fmtTime(Date.parse(s.timestamp)))));
    }
  } catch (e) {
    clear(gallery, h('p.meta', e.message));
  }
}

export async function eventsView(el, params, id) {
  if (id) return eventDetail(el, id);
  const cams = await cameraOptions();
  const cam = select([['', 'all cameras'], ...cams], params.get('camera') || '', { id: 'ev-camera', 'aria-label': 'camera' });
  const label = input({ placeholder: 'label, e.g. face', value: params.get('label') || '', id: 'ev-label', 'aria-label': 'label' });
  const from = input({ type: 'date', value: params.get('day') || '', id: 'ev-day', 'aria-label': 'day' });
  const form = h('form.row', cam, label, from, h('button', { type: 'submit' }, 'Filter'));
  form.onsubmit = (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (cam.value) q.set('camera', cam.value);
    if (label.value.trim()) q.set('label', label.value.trim());
    if (from.value) q.set('day', from.value);
    location.hash = '#/events?' + q;
  };
  const list = h('div.events#events');
  clear(el, h('h1', 'Events'), form, list);
  const q = new URLSearchParams({ limit: '100' });
  if (cam.value) q.set('camera', cam.value);
  if (label.value.trim()) q.set('label', label.value.trim());
  if (from.value) {
    q.set('from', iso(dayStart(from.value)));
    q.set('to', iso(dayStart(from.value) + DAY));
  }
  const load = async () => {
    try {
      const r = await api('GET', `/api/events?${q}`);
      clear(list, r.events.length ? null : h('p.meta', 'No event.'));
      for (const e of r.events) {
        list.append(h('a.event', { href: `#/events/${e.id}`, 'data-label': e.label },
          e.snapshot ? h('img', { src: `/files/snapshots/${encodeURIComponent(e.snapshot)}`, alt: '', loading: 'lazy' }) : h('div.noimg', e.kind),
          h('div', h('strong', `${e.label} ${Math.round(e.score * 100)}%`), h('div.meta', `${e.camera_id} · ${fmtTime(e.start_ms)}`),
            h('div.meta', e.end_ms ? `${Math.round((e.end_ms - e.start_ms) / 1000)} s` : 'in progress'))));
      }
      if (r.total > r.events.length) list.append(h('p.meta', `${r.events.length} of ${r.total} shown.`));
    } catch (e) {
      clear(list, h('p.notice', e.message));
    }
  };
  load();
  // New events appear as they happen.
  let pending = null;
  const off = app.rpc.listen((m) => {
    if (m === 'detection.start' || m === 'detection.end') {
      clearTimeout(pending);
      pending = setTimeout(load, 500);
    }
  });
  onLeave(() => {
    off();
    clearTimeout(pending);
  });
}

async function eventDetail(el, id) {
  let e;
  try {
    e = await api('GET', `/api/events/${encodeURIComponent(id)}`);
  } catch (err) {
    clear(el, h('p.notice', err.message), h('a', { href: '#/events' }, 'Back'));
    return;
  }
  const clip = h('div.player#event-clip', h('p.meta', 'Looking for the recording…'));
  clear(el, h('a', { href: '#/events' }, '← Events'),
    h('h1', `${e.label} on ${e.camera_id}`),
    h('p.meta', `${fmtTime(e.start_ms)} → ${e.end_ms ? fmtTime(e.end_ms) : 'in progress'} · best score ${Math.round(e.score * 100)}% · ${e.kind}`),
    h('div.camera-view', e.snapshot_url ? h('img.preview.big', { src: e.snapshot_url, alt: 'event snapshot' }) : h('p.meta', 'No snapshot.'), clip));
  try {
    const r = await api('GET', `/api/recordings?camera=${encodeURIComponent(e.camera_id)}&from=${iso(e.start_ms - 3600000)}&to=${iso((e.end_ms || e.start_ms) + 1)}&limit=50`);
    const rec = r.recordings.find((x) => x.start_ms <= e.start_ms && (!x.end_ms || x.end_ms >= e.start_ms));
    if (!rec) {
      clear(clip, h('p.meta', 'No recording covers this event.'));
      return;
    }
    const offset = Math.max(0, (e.start_ms - rec.start_ms) / 1000 - 2);
    clear(clip, h('video', { controls: true, muted: true, src: `${rec.download_url}#t=${offset.toFixed(1)}` }),
      h('p', h('a', { href: rec.download_url, download: `${rec.filename}.mp4` }, 'download the recording')));
  } catch (err) {
    clear(clip, h('p.meta', err.message));
  }
}
