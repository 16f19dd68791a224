// Broadcast: streams to live platforms with their live status (start, stop, take another camera), the
// overlay editor (each overlay's text, place, size and opacity, PNG uploads, the values text overlays show,
// with the composited picture of a stream as its preview: click it to place the overlay being edited),
// the program timeline of a stream (its entries edited as a list and saved whole), destinations (admins add
// them; keys go in, never come out), and a form for a new stream. The status is polled every 2 s while the
// view is open.

import { api } from './api.js';
import { h, clear, field, input, select, showErrors, toast } from './ui.js';
import { app, onLeave } from './app.js';

const SIZES = [['1280x720', '720p'], ['1920x1080', '1080p'], ['854x480', '480p'], ['640x360', '360p']];
// How a take or a program entry comes on air: at the new camera's keyframe, through black, or as a crossfade.
const TRANSITIONS = [['cut', 'Cut'], ['fade', 'Fade'], ['dissolve', 'Dissolve']];
// The transition the Take buttons use (kept while the view refreshes).
let takeTransition = 'cut';

export async function broadcastView(el) {
  const streamsBox = h('section.card#streams');
  const overlaysBox = h('section.card#overlays');
  const programBox = h('section.card#program');
  const destBox = h('section.card#destinations');
  const formBox = h('section.card#new-stream');
  clear(el, h('h1', 'Broadcast'), streamsBox, overlaysBox, programBox,
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
    renderProgram(programBox, data);
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
    // Take: the running stream to another camera, by a cut, a fade or a dissolve; the destinations
    // stay connected.
    const by = select(TRANSITIONS, takeTransition);
    by.name = 'take-transition';
    by.onchange = () => { takeTransition = by.value; };
    const take = st && app.can('control')
      ? h('div.take', 'Take: ', cameras.map((c) => h('button', {
        'data-take': c.id,
        class: st.on_air === c.id ? 'on-air' : '',
        disabled: st.on_air === c.id,
        on: {
          click: async () => {
            try {
              await api('POST', '/api/program/cue', { stream: s.id, camera: c.id, transition: takeTransition });
            } catch (e) {
              toast(e.message, true);
            }
            await refresh();
          },
        },
      }, c.name || c.id)), ' by ', by)
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

// The program timeline: a stream's entries in order, each a camera (at a preset), for how long or from what
// time of day, with its own overlays or the stream's, coming on by a cut, a fade or a dissolve. Edited as a list and saved
// whole with the stream's spec; the server's errors show at the entry's field (`program[1].at`).
let programStream = null;

function programEntryText(e) {
  const when = e.at ? `from ${e.at}` : '';
  const len = e.secs ? `for ${e.secs} s` : 'until the next entry';
  return [e.camera, e.preset ? `at preset ${e.preset}` : '', when, len, e.transition && e.transition !== 'cut' ? `by a ${e.transition}` : '',
    e.overlays ? `overlays ${e.overlays.join(', ') || 'none'}` : ''].filter(Boolean).join(' ');
}

function renderProgram(box, data) {
  const { streams, cameras, overlays } = data;
  if (!streams.some((s) => s.id === programStream)) programStream = streams.length ? streams[0].id : null;
  const st = streams.find((s) => s.id === programStream);
  if (!st) {
    clear(box, h('h2', 'Program'), h('p', 'Add a stream to give it a program.'));
    return;
  }
  const pick = select(streams.map((s) => [s.id, s.name || s.id]), programStream, { id: 'program-stream' });
  pick.onchange = () => {
    programStream = pick.value;
    renderProgram(box, data);
  };
  const intro = h('p.meta', 'A program switches the stream between cameras on its own: each entry stays on air for its ' +
    'seconds, or from its time of day until the next entry\'s, and the list repeats. Without entries the stream shows its camera.');
  if (!app.can('control')) {
    const list = (st.program || []).map((e) => h('li', programEntryText(e)));
    clear(box, h('h2', 'Program'), h('label', 'Stream ', pick), intro,
      list.length ? h('ol', list) : h('p', 'No program: the stream shows its camera.'));
    return;
  }
  let entries = (st.program || []).map((e) => ({ ...e }));
  const form = h('form#program-form');
  const rowsBox = h('ol.program-entries');
  function draw() {
    const rows = entries.map((e, i) => {
      const f = (label, key, el, hint) => field(label, `program[${i}].${key}`, el, hint);
      const cam = select(cameras.map((c) => [c.id, c.name || c.id]), e.camera);
      cam.onchange = () => { e.camera = cam.value; };
      const preset = input({ value: e.preset || '', placeholder: 'none' });
      preset.oninput = () => { e.preset = preset.value.trim() || null; };
      const secs = input({ type: 'number', min: 1, max: 86400, value: e.secs ?? '' });
      secs.oninput = () => { e.secs = secs.value === '' ? null : Number(secs.value); };
      const at = input({ value: e.at || '', placeholder: 'HH:MM' });
      at.oninput = () => { e.at = at.value.trim() || null; };
      const transition = select(TRANSITIONS, e.transition || 'cut');
      transition.onchange = () => { e.transition = transition.value; };
      const own = h('select', { multiple: true, size: Math.min(Math.max(overlays.length, 2), 4) },
        overlays.map((o) => h('option', { value: o.id, selected: !!(e.overlays && e.overlays.includes(o.id)) }, o.name || o.id)));
      own.onchange = () => {
        const chosen = [...own.selectedOptions].map((o) => o.value);
        e.overlays = chosen.length ? chosen : null;
      };
      const move = (to) => () => {
        const [moved] = entries.splice(i, 1);
        entries.splice(to, 0, moved);
        draw();
      };
      const button = (label, action, onclick, disabled) => h('button', { type: 'button', 'data-action': action, disabled, on: { click: onclick } }, label);
      return h('li.program-entry', { 'data-entry': i },
        f('Camera', 'camera', cam),
        f('Preset', 'preset', preset),
        f('Seconds', 'secs', secs),
        f('From (time of day)', 'at', at),
        f('Comes on by', 'transition', transition),
        f('Overlays', 'overlays', own, 'none chosen: the stream\'s own'),
        h('div.entry-actions',
          button('↑', 'up', move(i - 1), i === 0),
          button('↓', 'down', move(i + 1), i === entries.length - 1),
          button('Remove', 'remove', () => { entries.splice(i, 1); draw(); })));
    });
    clear(rowsBox, rows);
  }
  const add = h('button', {
    type: 'button', 'data-action': 'add-entry',
    on: {
      click: () => {
        entries.push({ camera: st.camera, preset: null, secs: 30, at: null, overlays: null, transition: 'cut' });
        draw();
      },
    },
  }, 'Add entry');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    // Keys left empty are left out: the server's defaults apply.
    const program = entries.map((e) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== null && v !== undefined)));
    const spec = {
      name: st.name, camera: st.camera, preset: st.preset, destinations: st.destinations, width: st.width, height: st.height,
      fps: st.fps, bitrate_kbps: st.bitrate_kbps, overlays: st.overlays, autostart: st.autostart, program,
    };
    try {
      Object.assign(st, await api('PUT', `/api/streams/${encodeURIComponent(st.id)}`, spec));
      entries = (st.program || []).map((e) => ({ ...e }));
      showErrors(form, null);
      draw();
      toast('program saved');
    } catch (e) {
      showErrors(form, e);
    }
  });
  clear(form, rowsBox, h('p.form-message'), add, ' ', h('button', { type: 'submit' }, 'Save program'));
  draw();
  clear(box, h('h2', 'Program'), h('label', 'Stream ', pick), intro, form);
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
