// Small DOM helpers shared by the views: element building, forms with server-side field errors
// and drafts that survive a session expiry, time formatting, tiny SVG graphs.

/** h('div.class#id', {attrs, on: {click}}, ...children) */
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec) || [];
  const el = document.createElement(m[1] || 'div');
  for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false && v !== null && v !== undefined) {
      if (k in el && k !== 'list' && k !== 'form') el[k] = v;
      else el.setAttribute(k, v);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled input; `name` is the field the server reports errors for. */
export function field(label, name, input, hint) {
  input.name = name;
  input.id = input.id || 'f-' + name.replace(/\W/g, '-');
  return h('div.field', { 'data-field': name },
    h('label', { htmlFor: input.id }, label), input,
    hint ? h('small.hint', hint) : null, h('small.error', { 'aria-live': 'polite' }));
}

export function input(attrs) {
  return h('input', attrs);
}

export function select(options, value, attrs) {
  const s = h('select', attrs || {});
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    s.append(h('option', { value: v, selected: String(v) === String(value) }, label));
  }
  return s;
}

/** Shows server (or client) errors next to their fields; others in the form's message line. */
export function showErrors(form, err) {
  for (const e of form.querySelectorAll('.field .error')) e.textContent = '';
  for (const e of form.querySelectorAll('.invalid')) e.classList.remove('invalid');
  const fields = (err && err.fields) || {};
  let placed = false;
  for (const [name, msg] of Object.entries(fields)) {
    const f = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (f) {
      f.querySelector('.error').textContent = msg;
      const i = f.querySelector('input,select,textarea');
      if (i) i.classList.add('invalid');
      placed = true;
    }
  }
  const line = form.querySelector('.form-message');
  if (line) line.textContent = err && !placed ? err.message : '';
}

/** Keeps what the user types in sessionStorage under `key` (restored after a re-login). */
export function keepDraft(form, key) {
  const saved = JSON.parse(sessionStorage.getItem('draft:' + key) || '{}');
  for (const [n, v] of Object.entries(saved)) {
    const el = form.elements[n];
    if (el && el.type !== 'password') el.value = v;
  }
  form.addEventListener('input', () => {
    const d = {};
    for (const el of form.elements) if (el.name && el.type !== 'password') d[el.name] = el.value;
    sessionStorage.setItem('draft:' + key, JSON.stringify(d));
  });
  return () => sessionStorage.removeItem('draft:' + key);
}

export function fmtTime(ms) {
  return ms ? new Date(ms).toLocaleString() : '—';
}

export function fmtBytes(n) {
  if (!n && n !== 0) return '—';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

export function fmtDuration(s) {
  s = Math.floor(s || 0);
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  return (d ? `${d}d ` : '') + `${hh}h ${mm}m`;
}

/** A small line graph of `values` (0..max) as SVG. */
export function sparkline(values, max, label) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 100 30');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const n = values.length;
  if (n > 1) {
    const pts = values
      .map((v, i) => `${((i / (n - 1)) * 100).toFixed(1)},${(30 - (Math.min(v, max) / max) * 28 - 1).toFixed(1)}`)
      .join(' ');
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', pts);
    svg.append(line);
  }
  return svg;
}

export function badge(state) {
  const cls = { streaming: 'ok', CONNECTED: 'ok', reconnecting: 'warn', starting: 'warn' }[state] || 'bad';
  return h('span.badge.' + cls, { 'data-state': state }, state);
}

export function toast(msg, bad) {
  const t = h('div.toast' + (bad ? '.bad' : ''), { role: 'status' }, msg);
  document.body.append(t);
  setTimeout(() => t.remove(), 4000);
}
