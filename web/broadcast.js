// Broadcast: streams to live platforms with their live status (start, stop, take another camera), the values
// text overlays show (pushed live), destinations (admins add them; keys go in, never come out),
// and a form for a new stream. The status is polled every 2 s while the view is open.

import { api } from './api.js';
import { h, clear, field, input, select, showErrors, toast } from './ui.js';
import { app, onLeave } from './app.js';

const SIZES = [['1280x720', '720p'], ['1920x1080', '1080p'], ['854x480', '480p'], ['640x360', '360p']];

export async function broadcastView(el) {
  const streamsBox = h('section.card#streams');
  const overlaysBox = h('section.card#overlays');
  const destBox = h('section.card#destinations');
  const formBox = h('section.card#new-stream');
  clear(el, h('h1', 'Broadcast'), streamsBox, overlaysBox,
    app.can('control') ? destBox : null, app.can('control') ? formBox : null);
  let data;
  async function load() {
    const [streams, overlays, destinations, cameras] = await Promise.all([
      api('GET', '/api/streams'),
      api('GET', '/api/overlays'),
      app.can('control') ? api('GET', '/api/destinations') : [],
      api('GET', '/api/cameras'),
    ]);
    data = { streams, overlays, destinations, cameras };
  }
  try {
    await load();
  } catch (e) {
    clear(el, h('p.notice', e.message));
    return;
  }
  function renderAll() {
    renderStreams(streamsBox, data.streams, data.cameras, refresh);
    renderOverlays(overlaysBox, data.overlays);
    if (app.can('control')) {
      renderDestinations(destBox, data.destinations, reloadAll);
      renderForm(formBox, data, reloadAll);
    }
  }
  async function refresh() {
    try {
      renderStreams(streamsBox, await api('GET', '/api/streams'), data.cameras, refresh);
    } catch {}
  }
  async function reloadAll() {
    await load();
    renderAll();
  }
  renderAll();
  const timer = setInterval(refresh, 2000);
  onLeave(() => clearInterval(timer));
}

function destinationLine(d) {
  const text = d.state === 'live'
    ? `live ${d.uptime_s} s, ${d.bitrate_kbps} kbit/s`
    : d.state === 'retrying' ? `retrying in ${d.retry_in_s} s: ${d.last_error || ''}` : d.state;
  return h('li', { 'data-destination': d.id, 'data-state': d.state }, h('b', d.id), ' ', text);
}

function renderStreams(box, streams, cameras, refresh) {
  const rows = streams.map((s) => {
    const st = s.status;
    const actions = app.can('control')
      ? h('button', {
        'data-action': s.running ? 'stop' : 'start',
        on: {
          click: async (ev) => {
            ev.target.disabled = true;
            try {
              await api('POST', `/api/streams/${encodeURIComponent(s.id)}/${s.running ? 'stop' : 'start'}`);
            } catch (e) {
              toast(e.message, true);
            }
            await refresh();
          },
        },
      }, s.running ? 'Stop' : 'Start')
      : null;
    // Take: a cut of the running stream to another camera; the destinations stay connected.
    const take = st && app.can('control')
      ? h('div.take', 'Take: ', cameras.map((c) => h('button', {
        'data-take': c.id,
        class: st.on_air === c.id ? 'on-air' : '',
        disabled: st.on_air === c.id,
        on: {
          click: async () => {
            try {
              await api('POST', '/api/program/cue', { stream: s.id, camera: c.id });
            } catch (e) {
              toast(e.message, true);
            }
            await refresh();
          },
        },
      }, c.name || c.id)))
      : null;
    return h('tr', { 'data-stream': s.id, 'data-running': String(s.running), 'data-on-air': st ? st.on_air : '' },
      h('td', s.name || s.id),
      h('td', s.camera),
      h('td', `${s.width}×${s.height} ${s.fps} fps ${s.bitrate_kbps} kbit/s`),
      h('td', st
        ? h('div', h('div', `encoder ${st.encoder.replaceAll('_', ' ')}${st.last_error ? ': ' + st.last_error : ''}`),
          h('ul.destinations', st.destinations.map(destinationLine)), take)
        : 'stopped'),
      h('td', actions));
  });
  clear(box, h('h2', 'Streams'),
    streams.length
      ? h('table.list', h('tr', h('th', 'Stream'), h('th', 'Camera'), h('th', 'Output'), h('th', 'Status'), h('th', '')), rows)
      : h('p', 'No streams yet.'));
}

function renderOverlays(box, overlays) {
  const items = overlays.map((o) => {
    const value = input({ value: o.value || '', 'aria-label': `value of ${o.id}` });
    const set = app.can('control') && o.kind === 'text'
      ? h('form.inline', {
        'data-overlay': o.id,
        on: {
          submit: async (ev) => {
            ev.preventDefault();
            try {
              await api('PUT', `/api/overlays/${encodeURIComponent(o.id)}/value`, { value: value.value });
              toast(`${o.id}: value set`);
            } catch (e) {
              toast(e.message, true);
            }
          },
        },
      }, value, h('button', { type: 'submit' }, 'Set value'))
      : null;
    return h('li', h('b', o.name || o.id), ` ${o.kind}${o.text ? ': ' + o.text : ''} `, set);
  });
  clear(box, h('h2', 'Overlays'), overlays.length ? h('ul', items) : h('p', 'No overlays yet (add them with /api/overlays).'));
}

function renderDestinations(box, destinations, reload) {
  const list = destinations.map((d) => h('li', { 'data-destination': d.id }, h('b', d.name), ` ${d.url} (${d.protocol}${d.has_stream_key ? ', key set' : ''})`));
  const form = h('form#destination-form',
    field('Name', 'name', input({ required: true })),
    field('Ingest URL', 'url', input({ required: true, placeholder: 'rtmp://a.rtmp.youtube.com/live2' })),
    field('Stream key', 'stream_key', input({ type: 'password', autocomplete: 'off' })),
    h('p.form-message'),
    h('button', { type: 'submit' }, 'Add destination'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = { name: f.get('name'), url: f.get('url') };
    if (f.get('stream_key')) body.stream_key = f.get('stream_key');
    try {
      await api('POST', '/api/destinations', body);
      toast('destination added');
      await reload();
    } catch (e) {
      showErrors(form, e);
    }
  });
  clear(box, h('h2', 'Destinations'), destinations.length ? h('ul', list) : h('p', 'No destinations yet.'),
    app.can('admin') ? form : null);
}

function renderForm(box, data, reload) {
  const checks = (name, items) => h('div.checks', items.map((i) => h('label', h('input', { type: 'checkbox', name, value: i.id }), ' ', i.name || i.id)));
  const form = h('form#stream-form',
    field('Name', 'name', input({})),
    field('Camera', 'camera', select(data.cameras.map((c) => [c.id, c.name || c.id]), data.cameras[0] && data.cameras[0].id)),
    h('div.field', { 'data-field': 'destinations' }, h('label', 'Destinations'), checks('destinations', data.destinations), h('small.error')),
    h('div.field', { 'data-field': 'overlays' }, h('label', 'Overlays'), checks('overlays', data.overlays), h('small.error')),
    field('Size', 'size', select(SIZES, '1280x720')),
    field('Frame rate', 'fps', input({ type: 'number', value: 30, min: 1, max: 60 })),
    field('Bitrate (kbit/s)', 'bitrate_kbps', input({ type: 'number', value: 3000, min: 200, max: 12000 })),
    h('p.form-message'),
    h('button', { type: 'submit' }, 'Add stream'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const [width, height] = String(f.get('size')).split('x').map(Number);
    const body = {
      name: f.get('name') || '',
      camera: f.get('camera'),
      destinations: f.getAll('destinations'),
      overlays: f.getAll('overlays'),
      width,
      height,
      fps: Number(f.get('fps')),
      bitrate_kbps: Number(f.get('bitrate_kbps')),
    };
    try {
      await api('POST', '/api/streams', body);
      toast('stream added');
      form.reset();
      await reload();
    } catch (e) {
      showErrors(form, e);
    }
  });
  clear(box, h('h2', 'New stream'), form);
}
