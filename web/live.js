// A camera's live view with sound in a <video>, through Media Source Extensions fed by the
// camera's fragmented MP4 WebSocket (`/api/cameras/{id}/live`): a fragment (~200 ms) behind the
// camera, where HLS is a few seconds behind and plays natively only in some browsers.
//
// The server closes the socket when the stream's tracks change (the camera's sound stops or
// comes back), and a new socket starts with an init segment of the new tracks; a SourceBuffer
// cannot change codecs, so the player starts over with a new MediaSource each time.

// Whether this browser can play the live WebSocket at all (iPhones have no MediaSource).
export const mseAvailable = typeof window !== 'undefined' && typeof window.MediaSource === 'function';

// How far behind the newest buffered picture playback may fall before it jumps ahead, and how
// much already played stays buffered (memory stays flat over hours of listening).
const MAX_LAG_S = 2;
const KEEP_S = 10;

// Plays camera `id` in `video` until the returned function is called. `onFatal(message)` is
// called, once, when the stream cannot be played in this browser (a codec it lacks); everything
// else (the camera restarting, the network dropping) is retried with backoff.
export function playLive(video, id, onFatal) {
  let stopped = false;
  let socket = null;
  let retry = null;
  let backoff = 500;
  let objectUrl = null;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/cameras/${encodeURIComponent(id)}/live`;

  const release = () => {
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.close();
      socket = null;
    }
    if (objectUrl) {
      URL.revokeObjectURL(objectUrl);
      objectUrl = null;
    }
  };

  const again = () => {
    release();
    if (stopped) return;
    retry = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10000);
  };

  function connect() {
    retry = null;
    const ws = new WebSocket(url);
    socket = ws;
    ws.binaryType = 'arraybuffer';
    const queue = [];
    let buffer = null;
    const pump = () => {
      if (!buffer || buffer.updating || !queue.length) return;
      try {
        buffer.appendBuffer(queue.shift());
      } catch {
        // QuotaExceeded or a detached buffer: start over from the live edge.
        again();
      }
    };
    const keepLive = () => {
      const b = buffer.buffered;
      if (!b.length) return;
      const end = b.end(b.length - 1);
      if (video.paused || video.currentTime < b.start(0) || end - video.currentTime > MAX_LAG_S) {
        video.currentTime = Math.max(b.start(b.length - 1), end - 0.3);
        video.play().catch(() => {});
      }
      if (!buffer.updating && video.currentTime - b.start(0) > 2 * KEEP_S) {
        buffer.remove(b.start(0), video.currentTime - KEEP_S);
      }
    };
    ws.onmessage = (m) => {
      if (typeof m.data === 'string') {
        let hello;
        try {
          hello = JSON.parse(m.data);
        } catch {
          return;
        }
        if (!hello.mime) return;
        if (!MediaSource.isTypeSupported(hello.mime)) {
          stopped = true;
          release();
          onFatal(`This browser cannot play ${hello.mime}`);
          return;
        }
        const source = new MediaSource();
        objectUrl = URL.createObjectURL(source);
        video.src = objectUrl;
        video.dataset.mime = hello.mime;
        source.addEventListener('sourceopen', () => {
          if (socket !== ws) return;
          buffer = source.addSourceBuffer(hello.mime);
          buffer.addEventListener('updateend', () => {
            keepLive();
            pump();
          });
          pump();
        }, { once: true });
        return;
      }
      backoff = 500;
      queue.push(m.data);
      pump();
    };
    ws.onclose = again;
  }

  connect();
  return () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    release();
    video.pause();
    video.removeAttribute('src');
    video.load();
  };
}
