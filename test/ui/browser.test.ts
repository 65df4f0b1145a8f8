// The web UI in a real browser: playwright-core drives Debian's chromium against in-process
// registries (htpasswd, a single-arch image, a multi-arch index, an SBOM referring to an image).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import {
  PASSWORD,
  SBOM_TYPE,
  USER,
  pushImageWithConfig,
  pushIndex,
  pushSbom,
  startUiRegistry,
  writeManyRepositories,
  type UiRegistry,
} from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
// Locally a missing browser skips (with the reason); in CI it must be there, so its absence is a failure.
const skip = haveChromium ? false : `${CHROMIUM} is missing: apt-get install -y chromium`;
if (!haveChromium && process.env.CI) {
  it(`finds Debian's chromium at ${CHROMIUM}`, () => {
    assert.fail(`${CHROMIUM} is missing; .ci/run must install Debian's chromium package`);
  });
}

const LAUNCH_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Polls until `check` stops throwing (the UI renders asynchronously). */
async function eventually(check: () => Promise<void> | void, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const h1 = (page: Page) => page.locator('main h1').first().innerText();

async function expectHeading(page: Page, text: string): Promise<void> {
  await eventually(async () => assert.equal(await h1(page), text));
}

/** Requests and console errors of every page in a context, for the no-external-requests and CSP checks. */
function watch(context: BrowserContext) {
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  context.on('page', (p) => {
    p.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(m.text());
    });
    p.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  });
  return { requests, consoleErrors };
}

async function signIn(page: Page, user = USER, password = PASSWORD): Promise<void> {
  await page.locator('#user').fill(user);
  await page.locator('#password').fill(password);
  await page.locator('#password').press('Enter');
}

describe('web UI in a browser', { skip }, () => {
  let browser: Browser;
  let reg: UiRegistry;
  let context: BrowserContext;
  let page: Page;
  let seen: ReturnType<typeof watch>;
  let host: string;
  let web: Awaited<ReturnType<typeof pushImageWithConfig>>;

  before(async () => {
    reg = await startUiRegistry({ auth: true });
    host = new URL(reg.url).host;
    web = await pushImageWithConfig(reg, 'team/web', '1.0', {
      entrypoint: ['/usr/bin/web', '--serve'],
      env: ['PATH=/usr/bin', 'DB_PASSWORD=hunter2'],
      labels: { maintainer: 'ops@example.test' },
      exposedPorts: ['8080/tcp'],
      layers: ['base layer of web', 'app layer of web, somewhat longer'],
    });
    await pushImageWithConfig(reg, 'team/web', 'old', { layers: ['an old build'] });
    await pushIndex(reg, 'team/web', 'multi');
    await pushSbom(reg, 'team/web', web);
    await pushImageWithConfig(reg, 'tools/builder', 'latest');
    await pushImageWithConfig(reg, 'tools/linter', '2');
    await pushImageWithConfig(reg, 'library/alpine', '3.19');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
    context = await browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: reg.url });
    seen = watch(context);
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
  });

  after(async () => {
    await browser?.close();
    await reg?.close();
  });

  it('shows anonymous visitors only the sign-in, also on a deep link, with a strict CSP', async () => {
    const res = await page.goto(`${reg.url}/#/repo/${encodeURIComponent('team/web')}`);
    assert.equal(res!.status(), 200);
    const csp = res!.headers()['content-security-policy']!;
    assert.ok(csp.includes("default-src 'self'") && csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), csp);
    await expectHeading(page, 'Sign in');
    const text = await page.locator('body').innerText();
    assert.ok(!text.includes('team/web') && !text.includes('Repositories'), text);
    assert.equal(await page.locator('#sign-out').count(), 0);
  });

  it('refuses a wrong password', async () => {
    await signIn(page, USER, 'not-the-password');
    await eventually(async () => assert.equal(await page.locator('#sign-in-error').innerText(), 'Wrong user name or password.'));
    assert.equal(await h1(page), 'Sign in');
    assert.equal(await page.locator('#password').inputValue(), '', 'the password field is cleared');
    assert.deepEqual(await context.cookies(), []);
  });

  it('signs in and lands on the page that was asked for; no credentials reach page script', async () => {
    await signIn(page);
    await expectHeading(page, 'team/web');
    assert.equal(await page.locator('#current-user').innerText(), USER);
    const cookies = await context.cookies();
    assert.equal(cookies.length, 1);
    assert.equal(cookies[0]!.name, 'registry_ui_session');
    assert.equal(cookies[0]!.httpOnly, true);
    assert.equal(cookies[0]!.sameSite, 'Strict');
    assert.equal(cookies[0]!.expires, -1, 'a browser-session cookie');
    const storage = await page.evaluate(() => [document.cookie, sessionStorage.length, localStorage.length]);
    assert.deepEqual(storage, ['', 0, 0]);
  });

  it('finds a repository through the filter', async () => {
    await page.locator('.crumbs a', { hasText: 'Repositories' }).click();
    await expectHeading(page, 'Repositories');
    await eventually(async () => assert.equal(await page.locator('#repositories tbody tr').count(), 4));
    await eventually(async () => assert.match(await page.locator('#storage-summary').innerText(), /Repositories\s+4\s+Tags\s+6/));
    await page.locator('#filter').fill('build');
    await eventually(async () => assert.deepEqual(await page.locator('#repositories tbody tr td:first-child').allInnerTexts(), ['tools/builder']));
    await page.locator('#filter').fill('WEB');
    await eventually(async () => assert.deepEqual(await page.locator('#repositories tbody tr td:first-child').allInnerTexts(), ['team/web']));
    assert.match(page.url(), /#\/\?q=WEB$/, 'the filter is in the address, for Back and reload');
    const row = await page.locator('#repositories tbody tr').innerText();
    assert.match(row, /\b3\b/, 'three tags');
    await page.locator('#repositories a', { hasText: 'team/web' }).click();
    await expectHeading(page, 'team/web');
  });

  it('lists tags with digest, size, platforms and a pull line that copies', async () => {
    const card = page.locator('[data-tag="1.0"]');
    await card.waitFor();
    const pull = `docker pull ${host}/team/web:1.0`;
    assert.equal(await card.locator('.pull-line').innerText(), pull);
    assert.match(await card.innerText(), /linux\/amd64/);
    assert.match(await card.locator('.digest code').innerText(), /^sha256:[0-9a-f]{12}$/);
    assert.match(await page.locator('[data-tag="multi"] .platforms').innerText(), /^linux\/amd64, linux\/arm64\/v8$/);
    assert.equal(await page.locator('#gc-banner').count(), 1, 'deletes are on: the GC banner explains space');
    const copy = card.locator('.pull button.copy');
    assert.equal(await copy.getAttribute('data-copy'), pull);
    await copy.click();
    await eventually(async () => assert.equal(await page.evaluate(() => navigator.clipboard.readText()), pull));
    await eventually(async () => assert.equal(await page.locator('#status').innerText(), `Copied: ${pull}`));
    await card.locator('.digest button.copy').click();
    await eventually(async () => assert.equal(await page.evaluate(() => navigator.clipboard.readText()), web.digest));
  });

  it('opens a tag: config without env values, layers with sizes, the SBOM referrer', async () => {
    await page.locator('[data-tag="1.0"] a.card-title').click();
    await expectHeading(page, 'team/web:1.0');
    assert.equal(await page.locator('#digest').innerText(), web.digest);
    const config = await page.locator('#config').innerText();
    for (const s of ['/usr/bin/web', 'DB_PASSWORD', 'PATH', '8080/tcp', 'linux/amd64']) assert.ok(config.includes(s), s);
    assert.ok(!(await page.content()).includes('hunter2'), 'env values are not on the page');
    assert.match(await page.locator('#labels').innerText(), /maintainer\s+ops@example\.test/);
    const layerRows = page.locator('#layers tbody tr');
    assert.equal(await layerRows.count(), 3, 'two layers and the total');
    assert.match(await layerRows.nth(0).innerText(), /17 B/); // 'base layer of web'
    assert.equal(await page.locator('#referrers .artifact-type').innerText(), SBOM_TYPE);
    await page.locator('#referrers a').click();
    await eventually(async () => assert.match(await h1(page), /^team\/web@sha256:/));
    assert.match(await page.locator('#summary').innerText(), new RegExp(`artifact: ${SBOM_TYPE.replace(/[+.]/g, '\\$&')}`));
    await page.locator('#subject').click();
    await eventually(async () => assert.equal(await page.locator('#digest').innerText(), web.digest));
  });

  it('shows the platforms of a multi-arch index, each one browsable', async () => {
    await page.goto(`${reg.url}/#/image/${encodeURIComponent('team/web')}/multi`);
    await expectHeading(page, 'team/web:multi');
    const platforms = await page.locator('#platforms tbody td:first-child').allInnerTexts();
    assert.deepEqual(platforms, ['linux/amd64', 'linux/arm64/v8']);
    await page.locator('#platforms tbody tr').nth(1).locator('a').click();
    await eventually(async () => assert.match(await page.locator('#config').innerText(), /linux\/arm64\/v8/));
  });

  it('deletes a tag with the keyboard alone, after a confirmation naming exactly what goes', async () => {
    await page.goto(`${reg.url}/#/repo/${encodeURIComponent('team/web')}`);
    const del = page.locator('[data-tag="old"] button.danger');
    await del.focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('dialog#confirm');
    await dialog.waitFor();
    assert.equal(await page.locator('#confirm-title').innerText(), 'Delete the tag team/web:old?');
    assert.match(await page.locator('#confirm-body').innerText(), /the tag team\/web:old/);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'confirm-cancel', 'the safe choice has the focus');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await page.locator('[data-tag="old"]').count(), 1, 'cancelled: nothing deleted');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Delete the tag old', 'focus is back');
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'confirm-ok');
    await page.keyboard.press('Enter');
    const shown = () => page.locator('#tags [data-tag]').evaluateAll((els) => els.map((e) => e.getAttribute('data-tag')));
    await eventually(async () => assert.deepEqual(await shown(), ['1.0', 'multi']));
    await eventually(async () => assert.equal(await page.locator('#status').innerText(), 'Deleted the tag team/web:old.'));
    const list = (await (await reg.fetch('/v2/team/web/tags/list')).json()) as { tags: string[] };
    assert.deepEqual(list.tags, ['1.0', 'multi']);
  });

  it('fits a phone-sized screen and follows a dark colour scheme', async () => {
    const phone = await browser.newContext({ viewport: { width: 375, height: 720 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
    const phoneSeen = watch(phone);
    try {
      const p = await phone.newPage();
      await p.goto(`${reg.url}/`);
      await signIn(p);
      await expectHeading(p, 'Repositories');
      await p.locator('#repositories tbody tr').first().waitFor();
      const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const [r, g, b] = bg.match(/\d+/g)!.map(Number);
      assert.ok(r! + g! + b! < 120, `dark background, got ${bg}`);
      const views: [string, string][] = [
        [`#/repo/${encodeURIComponent('team/web')}`, 'team/web'],
        [`#/image/${encodeURIComponent('team/web')}/1.0`, 'team/web:1.0'],
        [`#/image/${encodeURIComponent('team/web')}/multi`, 'team/web:multi'],
        ['#/', 'Repositories'],
      ];
      for (const [hash, title] of views) {
        await p.goto(`${reg.url}/${hash}`);
        await expectHeading(p, title);
        await p.waitForLoadState('networkidle');
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `${hash}: ${overflow}px wider than the screen`);
      }
      if (process.env.UI_SCREENSHOTS) await p.screenshot({ path: path.join(process.env.UI_SCREENSHOTS, 'registry-ui-phone.png'), fullPage: true });
      assert.deepEqual(phoneSeen.requests.filter((u) => !u.startsWith(`${reg.url}/`)), []);
    } finally {
      await phone.close();
    }
  });

  it('signs out: every page shows the sign-in again and the API is closed', async () => {
    await page.goto(`${reg.url}/#/`);
    await expectHeading(page, 'Repositories');
    await page.locator('#sign-out').click();
    await expectHeading(page, 'Sign in');
    await page.goto(`${reg.url}/#/image/${encodeURIComponent('team/web')}/1.0`);
    await page.reload();
    await expectHeading(page, 'Sign in');
    assert.equal(await page.evaluate(async () => (await fetch('ui/api/repositories')).status), 401);
    assert.deepEqual(await context.cookies(), []);
  });

  it('made no request outside the registry and broke no policy', () => {
    assert.ok(seen.requests.length > 20, `saw ${seen.requests.length} requests`);
    assert.deepEqual(seen.requests.filter((u) => !u.startsWith(`${reg.url}/`)), []);
    // The 401s of the wrong password and of the signed-out fetch are logged by Chromium; nothing else may be.
    const unexpected = seen.consoleErrors.filter((m) => !/Failed to load resource: the server responded with a status of 401/.test(m));
    assert.deepEqual(unexpected, []);
  });
});

describe('web UI in a browser: other set-ups', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  });
  after(async () => {
    await browser?.close();
  });

  it('without htpasswd needs no sign-in; pages through many repositories; with deletes off, offers no delete', async () => {
    const reg = await startUiRegistry({ config: { deleteEnabled: false } });
    const context = await browser.newContext();
    try {
      await pushImageWithConfig(reg, 'solo/app', 'v1');
      writeManyRepositories(reg.dataDir, 120, (i) => `bulk/repo-${String(i).padStart(3, '0')}`);
      const page = await context.newPage();
      await page.goto(`${reg.url}/`);
      await expectHeading(page, 'Repositories');
      assert.equal(await page.locator('#sign-out').count(), 0);
      const names = () => page.locator('#repositories tbody td:first-child').allInnerTexts();
      await eventually(async () => assert.equal(await page.locator('#filter-results .count').innerText(), '1–50 of 121 repositories'));
      assert.equal((await names())[0], 'bulk/repo-000');
      await page.locator('.pager a[rel="next"]').click();
      await eventually(async () => assert.equal(await page.locator('#filter-results .count').innerText(), '51–100 of 121 repositories'));
      assert.equal((await names())[0], 'bulk/repo-050');
      assert.match(await page.locator('.pager').innerText(), /Page 2 of 3/);
      await page.goBack();
      await eventually(async () => assert.equal((await names())[0], 'bulk/repo-000'));
      await page.locator('#filter').fill('repo-11');
      await eventually(async () => assert.equal((await names()).length, 10));
      assert.equal(await page.locator('.pager').count(), 0);
      await page.locator('#filter').fill('solo');
      await eventually(async () => assert.deepEqual(await names(), ['solo/app']));
      await page.locator('#repositories a', { hasText: 'solo/app' }).click();
      await page.locator('[data-tag="v1"]').waitFor();
      assert.equal(await page.locator('button.danger').count(), 0);
      assert.equal(await page.locator('#gc-banner').count(), 0);
      await page.locator('[data-tag="v1"] a.card-title').click();
      await expectHeading(page, 'solo/app:v1');
      assert.equal(await page.locator('#delete-tag, #delete-manifest').count(), 0);
    } finally {
      await context.close();
      await reg.close();
    }
  });

  it('works through a reverse proxy under a prefix, with the public host in the pull line', async () => {
    const reg = await startUiRegistry({ auth: true });
    await pushImageWithConfig(reg, 'team/api', '2.0');
    const upstream = new URL(reg.url);
    // A minimal proxy: /registry/... → the registry's /..., adding X-Forwarded-Host and -Proto.
    const proxy = http.createServer((req, res) => {
      if (!req.url!.startsWith('/registry/')) {
        res.writeHead(404).end();
        return;
      }
      const headers = { ...req.headers, 'x-forwarded-host': 'registry.example.test', 'x-forwarded-proto': 'http', host: upstream.host };
      const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url!.slice('/registry'.length), headers }, (up) => {
        res.writeHead(up.statusCode!, up.headers);
        up.pipe(res);
      });
      out.on('error', () => res.destroy());
      req.pipe(out);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/registry/`;
    const context = await browser.newContext();
    const seen = watch(context);
    try {
      const page = await context.newPage();
      await page.goto(base);
      await expectHeading(page, 'Sign in');
      await signIn(page);
      await expectHeading(page, 'Repositories');
      await page.locator('#repositories a', { hasText: 'team/api' }).click();
      await eventually(async () => assert.equal(await page.locator('[data-tag="2.0"] .pull-line').innerText(), 'docker pull registry.example.test/team/api:2.0'));
      const cookies = await context.cookies();
      assert.equal(cookies[0]!.path, '/registry/ui/api', 'the cookie is scoped to the API under the prefix');
      assert.ok(seen.requests.length > 5);
      assert.deepEqual(seen.requests.filter((u) => !u.startsWith(base)), [], 'every request stayed under the prefix');
    } finally {
      await context.close();
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
      await reg.close();
    }
  });

  it('--no-ui: / is a 404 like any unknown path', async () => {
    const reg = await startUiRegistry({ config: { ui: false } });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const res = await page.goto(`${reg.url}/`);
      assert.equal(res!.status(), 404);
      assert.deepEqual(JSON.parse(await res!.text()), { errors: [{ code: 'NAME_UNKNOWN', message: 'not a registry API path' }] });
    } finally {
      await context.close();
      await reg.close();
    }
  });
});
