// What the browser tests share: Debian's headless Chromium through playwright-core (no browser
// download), pages that collect the page's script errors, polling, and signing in.

import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

// Flags as the machine's own probe runs Chromium: without the background-networking ones it
// keeps dialling out of the closed network.
export async function startBrowser(base) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
  const errors = [];
  let step = 'start';
  return {
    browser,
    errors,
    step: () => step,
    log(s) {
      step = s;
      console.log(`# ${s}`);
    },
    async newPage() {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(20000);
      page.on('pageerror', (e) => errors.push(`${step}: ${e.message}`));
      page.on('console', (m) => m.type() === 'error' && !/Failed to load resource/.test(m.text()) && errors.push(`${step}: console: ${m.text()}`));
      return page;
    },
    async login(page, who) {
      await page.goto(base + '/');
      await page.fill('#login-form [name=username]', who.user);
      await page.fill('#login-form [name=password]', who.password);
      await page.click('#login-form button[type=submit]');
      await page.waitForSelector('#nav:not([hidden])');
    },
  };
}

// Polls `fn` every 250 ms until it returns something truthy, for at most `ms`.
export async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

// Runs `body` with a fresh browser (see startBrowser), then checks that no page had a script
// error; on failure prints the step it was at and the page's errors, and sets the exit status.
export async function runBrowserTest(base, name, body) {
  const t = await startBrowser(base);
  try {
    await body(t);
    assert.deepEqual(t.errors, [], 'errors in the page');
    console.log(`ok: ${name}`);
  } catch (e) {
    console.error(`FAILED at step "${t.step()}": ${e.stack || e}`);
    if (t.errors.length) console.error('page errors:\n' + t.errors.join('\n'));
    process.exitCode = 1;
  } finally {
    await t.browser.close();
  }
}
