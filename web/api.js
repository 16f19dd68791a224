// Talking to the appliance: REST with the browser session (HttpOnly cookie + CSRF header), and
// JSON-RPC 2.0 over the /ws WebSocket for live updates (notifications) and low-latency calls
// (PTZ). The socket reconnects by itself; listeners see 'open'/'close' to show a banner.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.fields = this.body.fields || {};
  }
}

function cookie(name) {
  const m = document.cookie.split('; ').find((c) => c.startsWith(name + '='));
  return m ? decodeURIComponent(m.slice(name.length + 1)) : '';
}

/** Called with the error when a request finds the session gone (401). */
export const hooks = { onUnauthorized: null };

/** A REST call; `body` is sent as JSON, or as it is when it is a Blob (a file to upload). */
export async function api(method, path, body) {
  const headers = {};
  const raw = body instanceof Blob;
  if (raw) headers['content-type'] = body.type || 'application/octet-stream';
  else if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = cookie('pinhole_csrf');
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined || raw ? body : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, { detail: 'The appliance cannot be reached' });
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text };
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && hooks.onUnauthorized && !path.startsWith('/api/auth/')) {
      hooks.onUnauthorized(err);
    }
    throw err;
  }
  return data;
}

export class Rpc {
  constructor() {
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Set();
    this.topics = [];
    this.delay = 500;
    this.closed = false;
  }

  /** `fn(method, params)` for notifications; `fn('open')` / `fn('close')` for the link. */
  listen(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(method, params) {
    for (const fn of [...this.listeners]) {
      try {
        fn(method, params);
      } catch (e) {
        console.error(e);
      }
    }
  }

  connect(topics) {
    this.topics = topics;
    this.closed = false;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
    const ws = new WebSocket(url);
    this.ws = ws;
    // A link can die without a close (Wi-Fi gone, appliance hung): a ping every 10 s must be
    // answered within 4 s, and a connection must open within 8 s, or it is dropped and redialled.
    const opening = setTimeout(() => this.drop(ws), 8000);
    ws.onopen = () => {
      clearTimeout(opening);
      this.delay = 500;
      this.call('subscribe_events', { topics: this.topics }).catch(() => {});
      this.emit('open');
      this.heartbeat = setInterval(() => {
        const timer = setTimeout(() => this.drop(ws), 4000);
        this.call('ping', {}).then(() => clearTimeout(timer), () => {});
      }, 10000);
    };
    ws.onmessage = (m) => {
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if (msg.id !== undefined && msg.id !== null && this.pending.has(msg.id)) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) {
          const e = new Error(msg.error.message);
          e.code = msg.error.code;
          e.data = msg.error.data;
          p.reject(e);
        } else p.resolve(msg.result);
      } else if (msg.method) {
        this.emit(msg.method, msg.params || {});
      }
    };
    ws.onclose = () => {
      clearTimeout(opening);
      this.lost(ws);
    };
  }

  /** Gives up on `ws` at once (no waiting for a closing handshake a dead peer never sends). */
  drop(ws) {
    ws.onclose = null;
    ws.onmessage = null;
    ws.onopen = null;
    try {
      ws.close();
    } catch {}
    this.lost(ws);
  }

  lost(ws) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearInterval(this.heartbeat);
    for (const p of this.pending.values()) p.reject(new Error('connection lost'));
    this.pending.clear();
    if (this.closed) return;
    this.emit('close');
    setTimeout(() => !this.closed && this.connect(this.topics), this.delay);
    this.delay = Math.min(this.delay * 2, 8000);
  }

  close() {
    this.closed = true;
    clearInterval(this.heartbeat);
    if (this.ws) this.ws.close();
  }

  call(method, params) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error('not connected'));
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }
}
