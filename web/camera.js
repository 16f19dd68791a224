// One camera: live view with the recent detections drawn over it, the PTZ pad (press and hold to
// move; keyboard and touch), presets, tours, snapshot and recording controls. Operator actions
// are offered only to operators and admins; the server enforces the same rule.

import { api } from './api.js';
import { h, clear, toast, input, select } from './ui.js';
import { app, onLeave, preview, statusLine } from './app.js';
import { mseAvailable, playLive } from './live.js';

export async function cameraView(el, id) {
  let cam;
  try {
    cam = await api('GET', `/api/cameras/${encodeURIComponent(id)}`);
  } catch (e) {
    clear(el, h('p.notice', e.message), h('a', { href: '#/' }, 'Back'));
    return;
  }
  const operator = app.can('control');
  const live = h('div.live', preview(id, '.big'));
  const overlay = h('canvas.overlay', { width: 1000, height: 1000 });
  live.append(overlay);
  const status = h('div.status');
  const side = h('div.side');
  clear(el, h('div.camera-head', h('a', { href: '#/' }, '← All cameras'), h('h1', cam.name || cam.id), status),
    h('div.camera-view', live, side));

  // A camera with a microphone can be listened to: its picture with sound replaces the MJPEG
  // view, through Media Source Extensions from the live WebSocket (a fraction of a second
  // behind), or as HLS (a few seconds behind) where the browser has no MSE but plays HLS itself
  // (iPhones), or lacks the camera's codec in MSE.
  const canPlayHls = h('video').canPlayType('application/vnd.apple.mpegurl') !== '';
  const listen = h('button.listen', { type: 'button', hidden: true }, 'Listen');
  let player = null;
  let stopPlayer = null;
  const stopListening = () => {
    if (!player) return;
    stopPlayer();
    player.replaceWith(preview(id, '.big'));
    player = null;
    listen.textContent = 'Listen';
  };
  const failed = (message) => {
    toast(message, true);
    stopListening();
  };
  const playHls = () => {
    player.dataset.via = 'hls';
    player.src = `/api/cameras/${encodeURIComponent(id)}/hls/index.m3u8`;
    player.onerror = () => failed('The stream with sound did not play');
    player.play().catch(() => {});
    stopPlayer = () => {
      player.onerror = null;
      player.pause();
      player.removeAttribute('src');
      player.load();
    };
  };
  listen.onclick = () => {
    if (player) {
      stopListening();
      return;
    }
    player = h('video.preview.big', {
      autoplay: true, playsInline: true, title: `live view of ${id} with sound`,
    });
    const img = live.querySelector('img.preview');
    if (img) {
      img.removeAttribute('src');
      img.replaceWith(player);
    }
    if (mseAvailable) {
      player.dataset.via = 'mse';
      stopPlayer = playLive(player, id, (message) => (canPlayHls ? playHls() : failed(message)));
    } else {
      playHls();
    }
    listen.textContent = 'Stop sound';
  };
  onLeave(stopListening);
  el.querySelector('.camera-head').append(listen);

  const refreshStatus = async () => {
    try {
      const s = await api('GET', '/api/status/cameras');
      const mine = s.cameras.find((c) => c.device === id);
      clear(status, statusLine(mine));
      listen.hidden = !((mseAvailable || canPlayHls) && mine && mine.audio) && !player;
    } catch {}
  };
  refreshStatus();

  // Recent detections, drawn for a few seconds.
  const boxes = new Map();
  const draw = () => {
    const ctx = overlay.getContext('2d');
    ctx.clearRect(0, 0, 1000, 1000);
    const now = Date.now();
    for (const [k, b] of boxes) {
      if (now - b.at > 5000) {
        boxes.delete(k);
        continue;
      }
      ctx.strokeStyle = b.kind === 'motion' ? '#f5c542' : '#ff3b3b';
      ctx.lineWidth = 4;
      ctx.strokeRect(b.box[0] * 1000, b.box[1] * 1000, b.box[2] * 1000, b.box[3] * 1000);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.font = '28px sans-serif';
      ctx.fillText(`${b.label} ${Math.round(b.score * 100)}%`, b.box[0] * 1000 + 4, b.box[1] * 1000 + 30);
    }
  };
  const timer = setInterval(draw, 500);
  onLeave(() => clearInterval(timer));

  const recState = h('span.meta#rec-state');
  const off = app.rpc.listen((m, p) => {
    if (p && p.device !== id) return;
    if (m === 'camera_status_update') refreshStatus();
    if (m === 'detection.start' || m === 'detection.update') {
      if (p.box) boxes.set(p.event_id, { ...p, at: Date.now() });
      draw();
    }
    if (m === 'recording_status_update') refreshRecording();
    if (m === 'ptz.position') showPosition(p);
  });
  onLeave(off);

  // Snapshot and recording; where other players find the camera: RTSP, and HLS for iOS, TVs
  // and media players (from the same status).
  const streams = h('p.meta#streams');
  const refreshRecording = async () => {
    try {
      const s = await app.rpc.call('get_camera_status', { device: id });
      recState.textContent = s.recording ? `recording (${s.recording.trigger})` : 'not recording';
      recState.dataset.recording = s.recording ? 'yes' : 'no';
      if (s.streams && !streams.firstChild) {
        clear(streams, 'RTSP ', h('code', s.streams.rtsp), h('br'),
          h('a#hls-link', { href: s.streams.hls, target: '_blank', rel: 'noopener' }, 'HLS playlist'));
      }
    } catch {
      recState.textContent = '';
    }
  };
  setTimeout(refreshRecording, 300);
  if (operator) {
    side.append(h('section.card', h('h2', 'Capture'),
      h('div.row',
        h('button#snapshot', { on: { click: async () => {
          try {
            const r = await api('POST', `/api/cameras/${encodeURIComponent(id)}/snapshot`, {});
            toast(`Snapshot ${r.filename || ''} saved`);
          } catch (e) {
            toast(e.message, true);
          }
        } } }, 'Snapshot'),
        h('button#rec-start', { on: { click: () => record('start') } }, 'Record'),
        h('button#rec-stop', { on: { click: () => record('stop') } }, 'Stop recording')),
      recState));
  } else {
    side.append(h('section.card', h('h2', 'Capture'), recState));
  }
  side.append(h('section.card', h('h2', 'Streams'), streams));
  side.append(pictureCard(id, operator));
  // Texts on the picture are set once at installation: last in the panel, below PTZ.
  const osd = osdCard(id, cam.name, app.can('admin'));
  async function record(what) {
    try {
      await api('POST', `/api/cameras/${encodeURIComponent(id)}/recording/${what}`, what === 'start' ? {} : undefined);
      refreshRecording();
    } catch (e) {
      toast(e.message, true);
    }
  }

  // Recent events of this camera (refreshed when one starts or ends).
  const recent = h('ul.recent#recent-events');
  const loadRecent = async () => {
    try {
      const r = await api('GET', `/api/events?camera=${encodeURIComponent(id)}&limit=5`);
      clear(recent, r.events.length ? null : h('li.meta', 'No event yet.'));
      for (const e of r.events) {
        recent.append(h('li', h('a', { href: `#/events/${e.id}` }, `${e.label} ${Math.round(e.score * 100)}%`),
          h('span.meta', ` ${new Date(e.start_ms).toLocaleTimeString()}`)));
      }
    } catch (e) {
      clear(recent, h('li.meta', e.message));
    }
  };
  loadRecent();
  onLeave(app.rpc.listen((m, p) => {
    if (p && p.device === id && (m === 'detection.start' || m === 'detection.end')) loadRecent();
  }));
  side.append(h('section.card', h('h2', 'Recent events'), recent));

  // PTZ.
  const position = h('p.meta#ptz-position');
  function showPosition(p) {
    if (p && p.pan !== undefined) position.textContent = `pan ${p.pan} · tilt ${p.tilt} · zoom ${p.zoom}`;
  }
  if (!cam.ptz) {
    side.append(h('section.card', h('h2', 'PTZ'), h('p.meta', 'This camera has no PTZ link.')), osd);
    return;
  }
  // Offer only what the camera's PTZ can do (an ONVIF camera has no focus or power here).
  api('GET', `/api/cameras/${encodeURIComponent(id)}/ptz/status`).then((st) => {
    showPosition(st);
    const can = st.capabilities || {};
    for (const [el, ok] of [['ptz-focus', can.focus], ['ptz-zoom', can.zoom], ['ptz-grid', can.continuous]]) {
      const e = document.getElementById(el);
      if (e && ok === false) e.hidden = true;
    }
  }).catch(() => {});
  if (!operator) {
    side.append(h('section.card', h('h2', 'PTZ'), position, presetsCard(id, false)), osd);
    return;
  }
  side.append(ptzPad(id, position), presetsCard(id, true), toursCard(id), osd);
}

// Brightness, contrast and saturation (0-100, 50 as the camera gives it), applied live when a
// slider is let go. A relayed IP camera's picture is set on the camera, so it gets no sliders.
function pictureCard(id, operator) {
  const card = h('section.card#picture', h('h2', 'Picture'));
  const path = `/api/cameras/${encodeURIComponent(id)}/picture`;
  const sliders = {};
  const show = (p) => {
    for (const [k, s] of Object.entries(sliders)) {
      if (document.activeElement !== s) s.value = p[k];
      s.nextSibling.textContent = ` ${p[k]}`;
    }
  };
  onLeave(app.rpc.listen((m, ev) => {
    if (m === 'camera.picture_changed' && ev && ev.device === id) show(ev);
  }));
  api('GET', path).then((p) => {
    if (!p.adjustable) {
      card.append(h('p.meta', 'This camera sends its picture as it is: adjust it on the camera.'));
      return;
    }
    for (const [k, label] of [['brightness', 'Brightness'], ['contrast', 'Contrast'], ['saturation', 'Saturation']]) {
      const s = input({
        type: 'range', min: 0, max: 100, step: 1, value: p[k], id: `picture-${k}`, disabled: !operator,
        'aria-label': label,
      });
      s.addEventListener('change', async () => {
        try {
          show(await api('PUT', path, { [k]: Number(s.value) }));
        } catch (e) {
          toast(e.message, true);
        }
      });
      sliders[k] = s;
      card.append(h('label.row', h('span', label), s, h('span.meta', ` ${p[k]}`)));
    }
    if (operator) {
      card.append(h('button#picture-reset', { type: 'button', on: { click: async () => {
        try {
          show(await api('PUT', path, { brightness: 50, contrast: 50, saturation: 50 }));
        } catch (e) {
          toast(e.message, true);
        }
      } } }, 'As the camera gives it'));
    }
  }).catch((e) => card.append(h('p.meta', e.message)));
  return card;
}

const OSD_KINDS = [['date_and_time', 'Date and time'], ['date', 'Date'], ['time', 'Time'], ['plain', 'Text']];
const OSD_PLACES = [['upper_left', 'Upper left'], ['upper_right', 'Upper right'], ['lower_left', 'Lower left'], ['lower_right', 'Lower right']];
const OSD_DATES = [['yyyy-MM-dd', '2026-12-31'], ['dd/MM/yyyy', '31/12/2026'], ['MM/dd/yyyy', '12/31/2026'], ['dd.MM.yyyy', '31.12.2026']];
const OSD_TIMES = [['HH:mm:ss', '23:59:59'], ['hh:mm:ss tt', '11:59:59 PM']];

/** The texts a camera draws on its picture (name, date, time): in its recordings, stream and snapshots. */
function osdCard(id, name, admin) {
  const card = h('section.card#osd', h('h2', 'Text on the picture'));
  const path = `/api/cameras/${encodeURIComponent(id)}/osd`;
  const list = h('div#osd-list');
  let texts = [];
  const label = (pairs, v) => (pairs.find(([k]) => k === v) || [v, v])[1];
  const save = async (next) => {
    try {
      texts = (await api('PUT', path, { texts: next })).texts;
    } catch (e) {
      toast(e.message, true);
    }
    render();
  };
  const row = (t, i) => {
    const what = t.kind === 'plain' ? `“${t.text}”` : label(OSD_KINDS, t.kind);
    if (!admin) return h('p.osd', `${what}, ${label(OSD_PLACES, t.position).toLowerCase()}, ${t.font_size} px`);
    const places = t.position === 'custom' ? [...OSD_PLACES, ['custom', 'Where the API put it']] : OSD_PLACES;
    const kind = select(OSD_KINDS, t.kind, { id: `osd-kind-${i}`, 'aria-label': 'What it shows' });
    const text = input({ value: t.text, maxLength: 64, placeholder: 'Text', id: `osd-text-${i}`, 'aria-label': 'Text', hidden: t.kind !== 'plain' });
    const place = select(places, t.position, { id: `osd-place-${i}`, 'aria-label': 'Where' });
    const dateFormat = select(OSD_DATES, t.date_format, { id: `osd-date-${i}`, 'aria-label': 'Date format' });
    const timeFormat = select(OSD_TIMES, t.time_format, { id: `osd-time-${i}`, 'aria-label': 'Time format' });
    const showFormats = () => {
      dateFormat.hidden = !['date', 'date_and_time'].includes(kind.value);
      timeFormat.hidden = !['time', 'date_and_time'].includes(kind.value);
    };
    showFormats();
    const size = input({ type: 'number', min: 8, max: 160, step: 1, value: t.font_size, id: `osd-size-${i}`, 'aria-label': 'Size in pixels' });
    const apply = () => {
      text.hidden = kind.value !== 'plain';
      showFormats();
      if (kind.value === 'plain' && !text.value.trim()) return text.focus();
      save(texts.map((o, j) => (j === i
        ? {
          ...o,
          kind: kind.value,
          text: kind.value === 'plain' ? text.value : '',
          date_format: dateFormat.value,
          time_format: timeFormat.value,
          position: place.value,
          font_size: Number(size.value),
        }
        : o)));
    };
    for (const el of [kind, text, dateFormat, timeFormat, place, size]) el.addEventListener('change', apply);
    return h('div.row.osd', kind, text, dateFormat, timeFormat, place, size,
      h('button.link', { type: 'button', id: `osd-remove-${i}`, on: { click: () => save(texts.filter((_, j) => j !== i)) } }, 'Remove'));
  };
  const render = () => {
    clear(list, ...(texts.length ? texts.map(row) : [h('p.meta', 'No text on this camera’s picture.')]));
  };
  onLeave(app.rpc.listen((m, ev) => {
    if (m === 'camera.osd_changed' && ev && ev.device === id && !card.contains(document.activeElement)) {
      texts = ev.texts;
      render();
    }
  }));
  api('GET', path).then((v) => {
    if (!v.drawable) {
      card.append(h('p.meta', 'This camera sends its picture as it is: set its texts on the camera.'));
      return;
    }
    texts = v.texts;
    card.append(list);
    render();
    if (admin) {
      const add = (t) => (texts.length >= 4 ? toast('A camera shows at most four texts', true) : save([...texts, t]));
      card.append(h('div.row',
        h('button#osd-add-clock', { type: 'button', on: { click: () => add({ kind: 'date_and_time', position: 'upper_right' }) } }, 'Add date and time'),
        h('button#osd-add-name', { type: 'button', on: { click: () => add({ kind: 'plain', text: name || id, position: 'lower_left' }) } }, 'Add its name')));
      card.append(h('p.meta', 'In recordings, the stream and snapshots, in the device’s time zone; not seen by detection.'));
    }
  }).catch((e) => card.append(h('p.meta', e.message)));
  return card;
}

function ptzPad(id, position) {
  const speed = input({ type: 'range', min: 0.1, max: 1, step: 0.1, value: 0.5, id: 'ptz-speed', 'aria-label': 'speed' });
  let moving = null;
  const send = (method, params) => app.rpc.call(method, { device: id, ...params }).catch((e) => toast(e.message, true));
  const start = (dir) => {
    const s = Number(speed.value);
    moving = dir;
    send('ptz_move', { pan_speed: (dir.pan || 0) * s, tilt_speed: (dir.tilt || 0) * s, zoom_speed: dir.zoom ? dir.zoom * s : undefined });
  };
  const stop = () => {
    if (!moving) return;
    moving = null;
    send('ptz_stop', {});
  };
  const hold = (label, dir, name) => {
    const b = h('button.pad', { type: 'button', 'aria-label': name, 'data-dir': name, title: name }, label);
    b.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      b.setPointerCapture(e.pointerId);
      start(dir);
    });
    for (const ev of ['pointerup', 'pointercancel', 'lostpointercapture']) b.addEventListener(ev, stop);
    return b;
  };
  const grid = h('div.pad-grid#ptz-grid',
    hold('↖', { pan: -1, tilt: 1 }, 'up-left'), hold('↑', { tilt: 1 }, 'up'), hold('↗', { pan: 1, tilt: 1 }, 'up-right'),
    hold('←', { pan: -1 }, 'left'),
    h('button.pad#ptz-home', { type: 'button', on: { click: () => send('ptz_home', {}) }, title: 'home' }, '⌂'),
    hold('→', { pan: 1 }, 'right'),
    hold('↙', { pan: -1, tilt: -1 }, 'down-left'), hold('↓', { tilt: -1 }, 'down'), hold('↘', { pan: 1, tilt: -1 }, 'down-right'));
  const zoom = h('div.row#ptz-zoom', hold('Zoom −', { zoom: -1 }, 'zoom-out'), hold('Zoom +', { zoom: 1 }, 'zoom-in'));
  const focus = h('div.row#ptz-focus',
    h('button', { type: 'button', on: { click: () => send('ptz_focus', { mode: 'auto' }) } }, 'Auto focus'),
    h('button', { type: 'button', on: { click: () => send('ptz_focus', { mode: 'one_push' }) } }, 'One push'),
    h('button', { type: 'button', on: { click: () => send('ptz_focus', { mode: 'manual' }) } }, 'Manual'));
  // Keyboard: arrows move while held, +/- zoom, Home goes home.
  const keys = { ArrowUp: { tilt: 1 }, ArrowDown: { tilt: -1 }, ArrowLeft: { pan: -1 }, ArrowRight: { pan: 1 }, '+': { zoom: 1 }, '=': { zoom: 1 }, '-': { zoom: -1 } };
  const down = (e) => {
    if (e.target.closest('input,select,textarea')) return;
    if (e.key === 'Home') return send('ptz_home', {});
    const d = keys[e.key];
    if (d && !e.repeat) {
      e.preventDefault();
      start(d);
    }
  };
  const up = (e) => keys[e.key] && stop();
  window.addEventListener('keydown', down);
  window.addEventListener('keyup', up);
  window.addEventListener('blur', stop);
  onLeave(() => {
    window.removeEventListener('keydown', down);
    window.removeEventListener('keyup', up);
    window.removeEventListener('blur', stop);
    stop();
  });
  return h('section.card#ptz', h('h2', 'PTZ'), grid, zoom, h('label', 'Speed ', speed), focus, position,
    h('p.hint', 'Hold a button (or an arrow key) to move; release to stop.'));
}

function presetsCard(id, operator) {
  const list = h('ul.presets#presets');
  const card = h('section.card', h('h2', 'Presets'), list);
  const load = async () => {
    let presets = [];
    try {
      presets = await api('GET', `/api/cameras/${encodeURIComponent(id)}/presets`);
    } catch (e) {
      clear(list, h('li.meta', e.message));
      return;
    }
    clear(list, presets.length ? null : h('li.meta', 'No preset yet.'));
    for (const p of presets) {
      list.append(h('li', { 'data-preset': p.name },
        h('button.recall', { type: 'button', disabled: !operator, on: { click: async () => {
          try {
            await api('POST', `/api/presets/${p.id}/move`);
            toast(`At ${p.name}`);
          } catch (e) {
            toast(e.message, true);
          }
        } } }, p.name),
        operator ? h('button.link', { type: 'button', on: { click: async () => {
          const name = prompt('New name', p.name);
          if (!name) return;
          try {
            await api('PUT', `/api/presets/${p.id}`, { name });
            load();
          } catch (e) {
            toast(e.message, true);
          }
        } } }, 'rename') : null,
        operator ? h('button.link', { type: 'button', on: { click: async () => {
          if (!confirm(`Delete preset ${p.name}?`)) return;
          try {
            await api('DELETE', `/api/presets/${p.id}`);
            load();
          } catch (e) {
            toast(e.message, true);
          }
        } } }, 'delete') : null));
    }
  };
  if (operator) {
    const name = input({ placeholder: 'name', id: 'preset-name', required: true, maxLength: 64 });
    const form = h('form.row#preset-save', name, h('button', { type: 'submit' }, 'Save current position'));
    form.onsubmit = async (e) => {
      e.preventDefault();
      if (!name.value.trim()) return;
      try {
        await api('POST', `/api/cameras/${encodeURIComponent(id)}/presets`, { name: name.value.trim() });
        name.value = '';
        load();
      } catch (err) {
        toast(err.message, true);
      }
    };
    card.append(form);
  }
  load();
  return card;
}

function toursCard(id) {
  const list = h('ul.tours');
  const load = async () => {
    try {
      const r = await app.rpc.call('ptz_tours', { device: id });
      const running = new Set((r.running || []).map((t) => t.tour_id));
      clear(list, r.tours.length ? null : h('li.meta', 'No tour yet (tours are lists of presets: JSON-RPC ptz_tour_save).'));
      for (const t of r.tours) {
        list.append(h('li', h('span', `${t.name}${running.has(t.id) ? ' (running)' : ''}`),
          h('button.link', { type: 'button', on: { click: () => app.rpc.call('ptz_tour_start', { id: t.id }).then(load, (e) => toast(e.message, true)) } }, 'start'),
          h('button.link', { type: 'button', on: { click: () => app.rpc.call('ptz_tour_stop', { device: id }).then(load, (e) => toast(e.message, true)) } }, 'stop')));
      }
    } catch (e) {
      clear(list, h('li.meta', e.message));
    }
  };
  setTimeout(load, 300);
  return h('section.card', h('h2', 'Tours'), list);
}
