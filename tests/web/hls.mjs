// HLS in headless Debian Chromium, which plays it natively: tests/media.rs starts the appliance.
//
//   node tests/web/hls.mjs BASE_URL USER PASSWORD CAMERA
//
// Signs in (the session cookie is what a browser's player sends), plays the camera's playlist
// in a <video> element and waits until several seconds have played.

import assert from 'node:assert/strict';
import { runBrowserTest, until } from './browser.mjs';

const [base, user, password, camera] = process.argv.slice(2);
assert.ok(base && user && password && camera, 'usage: hls.mjs BASE_URL USER PASSWORD CAMERA');

await runBrowserTest(base, 'HLS', async ({ log, newPage, login }) => {
  const page = await newPage();
  log('sign in');
  await login(page, { user, password });
  const canPlay = await page.evaluate(() => document.createElement('video').canPlayType('application/vnd.apple.mpegurl'));
  assert.notEqual(canPlay, '', 'this Chromium has no native HLS');
  log('play the playlist');
  await page.evaluate((src) => {
    const v = document.createElement('video');
    v.id = 'hls';
    v.muted = true;
    v.src = src;
    document.body.append(v);
    v.play().catch((e) => { v.dataset.error = String(e); });
  }, `${base}/api/cameras/${camera}/hls/index.m3u8`);
  await until('4 s played', async () => {
    const s = await page.evaluate(() => {
      const v = document.getElementById('hls');
      return { t: v.currentTime, err: v.error && v.error.message, rejected: v.dataset.error, w: v.videoWidth };
    });
    assert.ok(!s.err && !s.rejected, `the player failed: ${JSON.stringify(s)}`);
    return s.t > 4 && s.w > 0;
  }, 30000);
});
