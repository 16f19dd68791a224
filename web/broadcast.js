// Broadcast: streams to live platforms with their live status (start, stop, take another camera), the
// overlay editor (each overlay's text, place, size and opacity, PNG uploads, the values text overlays show,
// with the composited picture of a stream as its preview: click it to place the overlay being edited),
// destinations (admins add them; keys go in, never come out), and a form for a new stream. The status is
// polled every 2 s while the view is open.

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
    renderOverlays(overlaysBox, data, reloadAll);
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

// The overlay editor. Changes are saved as they are made (each slider on release) and the preview, the
// stream's own picture rendered by the appliance with its overlays, reloads after each.
let previewStream = null;
let activeOverlay = null;

function renderOverlays(box, data, reload) {
  const { overlays, streams } = data;
  const canEdit = app.can('control');
  if (!streams.some((s) => s.id === previewStream)) previewStream = streams.length ? streams[0].id : null;
  const img = h('img#overlay-preview', { alt: 'the stream with its overlays' });
  const caption = h('p.meta#overlay-preview-note');
  const showPreview = () => {
    if (!previewStream) {
      img.removeAttribute('src');
      clear(caption, 'Add a stream to see its picture with the overlays.');
      return;
    }
    img.src = `/api/streams/${encodeURIComponent(previewStream)}/preview.jpg?t=${Date.now()}`;
    clear(caption, canEdit ? 'Click the picture to place the overlay you are editing.' : '');
  };
  img.onerror = () => clear(caption, 'No picture: is the stream\'s camera streaming?');
  const pick = streams.length
    ? select(streams.map((s) => [s.id, s.name || s.id]), previewStream)
    : null;
  if (pick) {
    pick.id = 'overlay-preview-stream';
    pick.onchange = () => {
      previewStream = pick.value;
      showPreview();
    };
  }
  const editors = new Map();
  const shown = () => streams.find((x) => x.id === previewStream);
  // Puts an overlay on the previewed stream or takes it off (the stream's spec, saved whole).
  async function onStream(id, on) {
    const st = shown();
    if (!st) return;
    const overlays = on ? [...new Set([...st.overlays, id])] : st.overlays.filter((x) => x !== id);
    const spec = {
      name: st.name, camera: st.camera, preset: st.preset, destinations: st.destinations, width: st.width, height: st.height,
      fps: st.fps, bitrate_kbps: st.bitrate_kbps, overlays, autostart: st.autostart, program: st.program,
    };
    try {
      Object.assign(st, await api('PUT', `/api/streams/${encodeURIComponent(st.id)}`, spec));
      showPreview();
    } catch (e) {
      toast(e.message, true);
    }
  }
  async function save(o, changes) {
    const spec = { name: o.name, kind: o.kind, text: o.text, x: o.x, y: o.y, size: o.size, opacity: o.opacity, z: o.z, value: o.value, ...changes };
    try {
      Object.assign(o, await api('PUT', `/api/overlays/${encodeURIComponent(o.id)}`, spec));
      const ed = editors.get(o.id);
      if (ed) ed.sync();
      showPreview();
    } catch (e) {
      toast(e.message, true);
    }
  }
  img.addEventListener('click', (ev) => {
    const o = overlays.find((x) => x.id === activeOverlay);
    if (!canEdit || !o || !img.naturalWidth) return;
    const r = img.getBoundingClientRect();
    // To the sliders' step, so they show the saved place.
    const round = (v) => Math.round(Math.min(Math.max(v, 0), 1) * 200) / 200;
    save(o, { x: round((ev.clientX - r.left) / r.width), y: round((ev.clientY - r.top) / r.height) });
  });
  const items = overlays.map((o) => {
    const slider = (name, min, max, step) => {
      const el = input({ type: 'range', name, min, max, step, value: o[name] });
      const out = h('output', String(o[name]));
      el.addEventListener('input', () => { out.value = el.value; });
      el.addEventListener('change', () => save(o, { [name]: Number(el.value) }));
      return [h('label', name, ' ', el, ' ', out), el, out];
    };
    const [xl, x, xo] = slider('x', 0, 1, 0.005);
    const [yl, y, yo] = slider('y', 0, 1, 0.005);
    const [sl, size, so] = slider('size', 0.01, 1, 0.005);
    const [ol, opacity, oo] = slider('opacity', 0, 1, 0.05);
    const text = o.kind === 'image' ? null : input({ name: 'text', value: o.text, 'aria-label': `text of ${o.id}` });
    if (text) text.addEventListener('change', () => save(o, { text: text.value }));
    const value = input({ value: o.value || '', 'aria-label': `value of ${o.id}` });
    const setValue = o.kind === 'text'
      ? h('form.inline', {
        'data-overlay': o.id,
        on: {
          submit: async (ev) => {
            ev.preventDefault();
            try {
              await api('PUT', `/api/overlays/${encodeURIComponent(o.id)}/value`, { value: value.value });
              o.value = value.value;
              toast(`${o.id}: value set`);
              showPreview();
            } catch (e) {
              toast(e.message, true);
            }
          },
        },
      }, value, h('button', { type: 'submit' }, 'Set value'))
      : null;
    const upload = o.kind === 'image' ? input({ type: 'file', accept: 'image/png', 'aria-label': `PNG for ${o.id}` }) : null;
    if (upload) {
      upload.addEventListener('change', async () => {
        const file = upload.files[0];
        if (!file) return;
        try {
          await api('PUT', `/api/overlays/${encodeURIComponent(o.id)}/image`, file);
          toast(`${o.id}: image uploaded`);
          showPreview();
        } catch (e) {
          toast(e.message, true);
        }
      });
    }
    const st = shown();
    const member = st && canEdit
      ? h('label.on-stream', h('input', {
        type: 'checkbox', name: 'on-stream', checked: st.overlays.includes(o.id),
        on: { change: (ev) => onStream(o.id, ev.target.checked) },
      }), ` on ${st.name || st.id}`)
      : null;
    const li = h('li.overlay-editor', { 'data-overlay-editor': o.id },
      h('div', h('b', o.name || o.id), ` ${o.kind} `, member),
      canEdit ? h('div.sliders', text, xl, yl, sl, ol, upload) : h('span', o.text || ''),
      setValue);
    li.addEventListener('focusin', () => {
      activeOverlay = o.id;
      for (const el of box.querySelectorAll('.overlay-editor')) el.classList.toggle('active', el === li);
    });
    editors.set(o.id, {
      sync() {
        for (const [el, out, k] of [[x, xo, 'x'], [y, yo, 'y'], [size, so, 'size'], [opacity, oo, 'opacity']]) {
          el.value = o[k];
          out.value = String(o[k]);
        }
      },
    });
    return li;
  });
  const form = canEdit ? h('form#overlay-form',
    field('Id', 'id', input({ required: true, placeholder: 'logo' })),
    field('Kind', 'kind', select([['text', 'Text'], ['clock', 'Clock'], ['image', 'Image (PNG)']], 'text')),
    field('Text', 'text', input({ placeholder: '{camera} {time}' })),
    h('p.form-message'),
    h('button', { type: 'submit' }, 'Add overlay')) : null;
  if (form) {
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      const id = String(f.get('id')).trim();
      try {
        await api('PUT', `/api/overlays/${encodeURIComponent(id)}`, { kind: f.get('kind'), text: f.get('text'), x: 0.05, y: 0.05, size: f.get('kind') === 'image' ? 0.15 : 0.06 });
        activeOverlay = id;
        // A new overlay goes on the stream being previewed, so it shows there at once.
        if (shown()) await onStream(id, true);
        await reload();
      } catch (e) {
        showErrors(form, e);
      }
    });
  }
  clear(box, h('h2', 'Overlays'),
    h('div.overlay-editor-layout',
      h('div.preview', pick ? h('label', 'Preview of ', pick) : null, img, caption),
      h('div', overlays.length ? h('ul', items) : h('p', 'No overlays yet.'), form)));
  showPreview();
  if (activeOverlay) {
    const li = box.querySelector(`[data-overlay-editor="${CSS.escape(activeOverlay)}"]`);
    if (li) li.classList.add('active');
  }
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
