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

// Attempts in a row that end before the picture moves on, after which the player gives up.
const MAX_FAILED_ATTEMPTS = 6;

// Plays camera `id` in `video` until the returned function is called. `onFatal(message)` is
// called, once, when the stream cannot be played in this browser (a codec it lacks, or attempt
// after attempt ending before the picture moves); the rest (the camera restarting, the network
// dropping) is retried with backoff.
export function playLive(video, id, onFatal) {
  let stopped = false;
  let socket = null;
  let retry = null;
  let backoff = 500;
  let failed = 0;
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

  const fatal = (message) => {
    stopped = true;
    release();
    onFatal(message);
  };

  const again = () => {
    release();
    if (stopped) return;
    failed += 1;
    if (failed >= MAX_FAILED_ATTEMPTS) {
      fatal('The live stream did not play');
      return;
    }
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
    let playedTo = -1;
    // Handlers of an earlier connection do nothing once a new one took over.
    const current = () => socket === ws;
    const pump = () => {
      if (!current() || !buffer || buffer.updating || !queue.length) return;
      try {
        buffer.appendBuffer(queue.shift());
      } catch {
        // QuotaExceeded or a detached buffer: start over from the live edge.
        again();
      }
    };
    const keepLive = () => {
      if (!current()) return;
      const b = buffer.buffered;
      if (!b.length) return;
      // The picture moved on: this connection works.
      if (!video.paused && video.currentTime > playedTo) {
        if (playedTo >= 0) {
          failed = 0;
          backoff = 500;
        }
        playedTo = video.currentTime;
      }
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
          fatal(`This browser cannot play ${hello.mime}`);
          return;
        }
        const source = new MediaSource();
        objectUrl = URL.createObjectURL(source);
        video.src = objectUrl;
        video.dataset.mime = hello.mime;
        source.addEventListener('sourceopen', () => {
          if (!current()) return;
          buffer = source.addSourceBuffer(hello.mime);
          buffer.addEventListener('updateend', () => {
            keepLive();
            pump();
          });
          pump();
        }, { once: true });
        return;
      }
      queue.push(m.data);
      pump();
    };
    ws.onclose = again;
  }

  // A decode error ends the element's playback while the socket stays open: start over.
  const onError = () => {
    if (!stopped && socket) again();
  };
  video.addEventListener('error', onError);

  connect();
  return () => {
    stopped = true;
    video.removeEventListener('error', onError);
    if (retry) clearTimeout(retry);
    release();
    video.pause();
    video.removeAttribute('src');
    video.load();
  };
}
