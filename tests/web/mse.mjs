// A camera's live fMP4 WebSocket played through Media Source Extensions in headless Debian
// Chromium, as a page of a video management system would: tests/media.rs starts the appliance
// with an IP camera that sends sound.
//
//   node tests/web/mse.mjs BASE_URL USER PASSWORD CAMERA
//
// Signs in (the session cookie authenticates the WebSocket), opens the socket, feeds every
// message after the MIME type into a SourceBuffer of that type, and waits until the picture
// plays and its sound has been decoded.

import assert from 'node:assert/strict';
import { runBrowserTest, until } from './browser.mjs';

const [base, user, password, camera] = process.argv.slice(2);
assert.ok(base && user && password && camera, 'usage: mse.mjs BASE_URL USER PASSWORD CAMERA');

await runBrowserTest(base, 'MSE', async ({ log, newPage, login }) => {
  const page = await newPage();
  log('sign in');
  await login(page, { user, password });
  log('play the live WebSocket through MSE');
  const mime = await page.evaluate(async (camera) => {
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/cameras/${encodeURIComponent(camera)}/live`);
    ws.binaryType = 'arraybuffer';
    const hello = await new Promise((resolve, reject) => {
      ws.onmessage = (m) => resolve(JSON.parse(m.data));
      ws.onclose = (e) => reject(new Error(`closed before the MIME type: ${e.code} ${e.reason}`));
    });
    if (!MediaSource.isTypeSupported(hello.mime)) throw new Error(`MSE cannot play ${hello.mime}`);
    const video = document.createElement('video');
    video.className = 'mse-test';
    video.muted = false;
    document.body.appendChild(video);
    const source = new MediaSource();
    video.src = URL.createObjectURL(source);
    await new Promise((resolve) => source.addEventListener('sourceopen', resolve, { once: true }));
    const buffer = source.addSourceBuffer(hello.mime);
    const queue = [];
    const pump = () => {
      if (!buffer.updating && queue.length) buffer.appendBuffer(queue.shift());
    };
    buffer.addEventListener('updateend', () => {
      // Live: start where the first data is, and stay near the live edge.
      if (video.paused && buffer.buffered.length) {
        video.currentTime = buffer.buffered.start(0);
        video.play().catch(() => {});
      }
      pump();
    });
    ws.onmessage = (m) => { queue.push(m.data); pump(); };
    ws.onclose = (e) => { window.mseClosed = `${e.code} ${e.reason}`; };
    return hello.mime;
  }, camera);
  log(`MIME ${mime}`);
  assert.match(mime, /mp4a\.40\.2/, 'the stream carries no sound');
  await until('the picture and its sound play', async () => {
    const s = await page.evaluate(() => {
      const v = document.querySelector('video.mse-test');
      return { t: v.currentTime, w: v.videoWidth, sound: v.webkitAudioDecodedByteCount, err: v.error && v.error.message, closed: window.mseClosed };
    });
    assert.ok(!s.err, `the player failed: ${JSON.stringify(s)}`);
    assert.ok(!s.closed, `the socket closed: ${JSON.stringify(s)}`);
    return s.t > 2 && s.w > 0 && s.sound > 0;
  }, 40000);
});
