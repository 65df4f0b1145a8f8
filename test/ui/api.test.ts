// The web UI's server side: its JSON API under /ui/api/ (sessions, pagination and filtering over
// many repositories, tags, image details, deletes), its static assets and headers, and --no-ui.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { configFromFlags } from '../../src/registry/serve-command.js';
import { ConfigError } from '../../src/registry/config.js';
import { ASSETS } from '../../src/registry/ui/assets/index.js';
import { PAGE_CSP, isSameOriginRequest, publicHost } from '../../src/registry/ui/security.js';
import { SessionStore } from '../../src/registry/ui/session.js';
import { Cached } from '../../src/registry/ui/cached.js';
import { MAX_PAGE_SIZE, matches } from '../../src/registry/ui/api.js';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startProcess } from '../helpers/process.js';
import { repoRoot } from '../helpers/registries.js';
import {
  PASSWORD,
  SBOM_TYPE,
  USER,
  basic,
  pushImageWithConfig,
  pushIndex,
  pushSbom,
  startUiRegistry,
  writeManyRepositories,
  type UiRegistry,
} from './fixtures.js';

type Json = Record<string, any>;

/** A plain client: no default Basic header (the UI API ignores it anyway), optional session cookie. */
async function call(reg: UiRegistry, path: string, init: { method?: string; cookie?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.cookie) headers.Cookie = init.cookie;
  let body: string | undefined;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(reg.url + path, { method: init.method ?? 'GET', headers, body, redirect: 'manual' });
  const text = await res.text();
  let json: Json | undefined;
  try {
    json = JSON.parse(text) as Json;
  } catch {
    json = undefined;
  }
  return { res, status: res.status, text, json: json as Json };
}

async function signIn(reg: UiRegistry, user = USER, password = PASSWORD): Promise<string> {
  const r = await call(reg, '/ui/api/session', { method: 'POST', body: { user, password } });
  assert.equal(r.status, 200, r.text);
  const setCookie = r.res.headers.get('set-cookie')!;
  return setCookie.split(';')[0]!;
}

const fakeReq = (headers: Record<string, string>) => ({ headers, socket: {} }) as unknown as IncomingMessage;

describe('web UI: configuration and --no-ui', () => {
  it('is on by default; --no-ui and REGISTRY_UI_ENABLED=false turn it off', () => {
    assert.equal(configFromFlags({}, {}).ui, true);
    assert.equal(configFromFlags({ ui: false }, {}).ui, false);
    assert.equal(configFromFlags({}, { REGISTRY_UI_ENABLED: 'false' }).ui, false);
    assert.equal(configFromFlags({}, { REGISTRY_UI_ENABLED: 'true' }).ui, true);
    assert.throws(() => configFromFlags({}, { REGISTRY_UI_ENABLED: 'maybe' }), ConfigError);
  });

  it('serve --no-ui and REGISTRY_UI_ENABLED=false, as processes', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-ui-cli-'));
    const cases: [string, string[], NodeJS.ProcessEnv, number][] = [
      ['default', [], {}, 200],
      ['--no-ui', ['--no-ui'], {}, 404],
      ['env', [], { REGISTRY_UI_ENABLED: 'false' }, 404],
    ];
    try {
      for (const [label, flags, env, want] of cases) {
        const args = ['--import', 'tsx', path.join(repoRoot, 'src/registry/main.ts'), 'serve', '--port', '0', '--data', path.join(dir, label), ...flags];
        const proc = startProcess(process.execPath, args, { name: `registry-${label}`, cwd: repoRoot, env: { ...process.env, ...env } });
        try {
          const m = await proc.waitForLine(/registry listening on (http:\/\/\S+)/, 20_000);
          const res = await fetch(`${m[1]}/`);
          assert.equal(res.status, want, `${label}: ${proc.logTail()}`);
          assert.match(res.headers.get('content-type')!, want === 200 ? /text\/html/ : /application\/json/);
        } finally {
          await proc.stop();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without the UI, / and /ui/... answer 404 JSON like any unknown path, and /v2/ still works', async () => {
    const reg = await startUiRegistry({ config: { ui: false } });
    try {
      for (const p of ['/', '/index.html', '/ui/app.js', '/ui/api/session', '/ui/api/repositories']) {
        const r = await call(reg, p);
        assert.equal(r.status, 404, p);
        assert.match(r.res.headers.get('content-type')!, /application\/json/);
        assert.equal(r.json.errors[0].code, 'NAME_UNKNOWN', p);
      }
      assert.equal((await call(reg, '/v2/')).status, 200);
    } finally {
      await reg.close();
    }
  });
});

describe('web UI: assets and headers', () => {
  let reg: UiRegistry;
  before(async () => {
    reg = await startUiRegistry();
  });
  after(() => reg.close());

  it('serves the page with a strict CSP and the usual hardening headers', async () => {
    const r = await call(reg, '/');
    assert.equal(r.status, 200);
    assert.match(r.res.headers.get('content-type')!, /^text\/html/);
    const csp = r.res.headers.get('content-security-policy')!;
    assert.equal(csp, PAGE_CSP);
    for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"]) {
      assert.ok(csp.includes(d), d);
    }
    assert.ok(!/unsafe-inline|unsafe-eval/.test(csp));
    assert.equal(r.res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.res.headers.get('x-frame-options'), 'DENY');
    assert.equal(r.res.headers.get('referrer-policy'), 'no-referrer');
    // Everything the page loads is relative (works behind a proxy) and nothing is inline.
    assert.ok(!/<script>|<style|\sstyle=|\son[a-z]+=/i.test(r.text), 'no inline script, style or handler');
    for (const m of r.text.matchAll(/(?:src|href)="([^"]+)"/g)) assert.match(m[1]!, /^(ui\/|#)/, m[1]);
  });

  it('bundles every asset with no URL to another origin, and the script parses', async () => {
    for (const [p, asset] of ASSETS) {
      const text = asset.body.toString('utf8');
      const urls = [...text.matchAll(/\b(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s'")]*/gi)].map((m) => m[0]);
      assert.deepEqual(urls.filter((u) => u !== 'http://www.w3.org/2000/svg'), [], p);
      assert.ok(!/@import|url\(/.test(text), `${p} loads nothing else`);
    }
    assert.doesNotThrow(() => new vm.Script(ASSETS.get('/ui/app.js')!.body.toString('utf8'), { filename: 'app.js' }));
    assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/.test(ASSETS.get('/ui/app.js')!.body.toString('utf8')));
  });

  it('answers HEAD and a matching If-None-Match with 304; refuses other methods', async () => {
    const first = await call(reg, '/ui/app.js');
    assert.equal(first.status, 200);
    assert.match(first.res.headers.get('content-type')!, /^text\/javascript/);
    const etag = first.res.headers.get('etag')!;
    assert.equal((await call(reg, '/ui/app.js', { headers: { 'If-None-Match': etag } })).status, 304);
    const head = await fetch(`${reg.url}/ui/app.css`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), ASSETS.get('/ui/app.css')!.body.length);
    assert.equal((await call(reg, '/', { method: 'POST' })).status, 405);
  });

  it('without auth, needs no sign-in and reports what the registry allows', async () => {
    const r = await call(reg, '/ui/api/session');
    assert.deepEqual(r.json, { authRequired: false, user: null, readOnly: false, deleteEnabled: true, canDelete: true });
    assert.equal((await call(reg, '/ui/api/repositories')).status, 200);
    assert.equal(r.res.headers.get('cache-control'), 'no-store');
  });

  it('unknown API paths are 404', async () => {
    assert.equal((await call(reg, '/ui/api/nope')).status, 404);
    assert.equal((await call(reg, '/ui/other')).status, 404);
  });
});

describe('web UI: sign-in with the htpasswd users', () => {
  let reg: UiRegistry;
  before(async () => {
    reg = await startUiRegistry({ auth: true });
    await pushImageWithConfig(reg, 'team/web', '1.0');
  });
  after(() => reg.close());

  it('shows anonymous visitors only the page shell and the session state', async () => {
    assert.equal((await call(reg, '/')).status, 200);
    assert.deepEqual((await call(reg, '/ui/api/session')).json, { authRequired: true, user: null });
    for (const p of ['/ui/api/repositories', '/ui/api/summary', '/ui/api/tags?repo=team/web', '/ui/api/manifest?repo=team/web&ref=1.0']) {
      const r = await call(reg, p);
      assert.equal(r.status, 401, p);
      assert.equal(r.res.headers.get('www-authenticate'), null, 'no browser Basic dialog');
      assert.equal(r.json.errors[0].code, 'UNAUTHORIZED');
    }
    // Basic credentials are for /v2/; the UI API only takes its session cookie.
    assert.equal((await call(reg, '/ui/api/repositories', { headers: { Authorization: basic(USER, PASSWORD) } })).status, 401);
    assert.equal((await call(reg, '/ui/api/tag?repo=team/web&tag=1.0', { method: 'DELETE' })).status, 401);
  });

  it('refuses a wrong password or an unknown user, and logs it', async () => {
    for (const [user, password] of [[USER, 'wrong'], ['mallory', PASSWORD], [USER, '']]) {
      const r = await call(reg, '/ui/api/session', { method: 'POST', body: { user, password } });
      assert.ok(r.status === 401 || r.status === 400, `${user}: ${r.status}`);
      assert.equal(r.res.headers.get('set-cookie'), null);
    }
    assert.ok(reg.logs.some((l) => l.includes('failed sign-in for user "mallory"')), reg.logs.join('\n'));
  });

  it('after repeated failures a name waits before its next sign-in, and the answer says for how long', async () => {
    for (let i = 1; i <= 10; i++) {
      assert.equal((await call(reg, '/ui/api/session', { method: 'POST', body: { user: 'erin', password: `guess-${i}` } })).status, 401);
    }
    const r = await call(reg, '/ui/api/session', { method: 'POST', body: { user: 'erin', password: 'another' } });
    assert.equal(r.status, 429);
    assert.equal(r.res.headers.get('retry-after'), '1');
    assert.equal(r.json.errors[0].code, 'TOOMANYREQUESTS');
    assert.match(r.json.errors[0].message, /try again in 1 s/);
    assert.equal(r.res.headers.get('set-cookie'), null);
  });

  it('sets an HttpOnly, SameSite=Strict browser-session cookie that opens the API', async () => {
    const r = await call(reg, '/ui/api/session', { method: 'POST', body: { user: USER, password: PASSWORD } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { authRequired: true, user: USER, readOnly: false, deleteEnabled: true, canDelete: true });
    const cookie = r.res.headers.get('set-cookie')!;
    assert.match(cookie, /^registry_ui_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict$/);
    assert.ok(!/Max-Age|Expires|Path|Secure/i.test(cookie), cookie);
    const jar = cookie.split(';')[0]!;
    assert.equal((await call(reg, '/ui/api/repositories', { cookie: jar })).status, 200);
    assert.equal((await call(reg, '/ui/api/session', { cookie: jar })).json.user, USER);
    assert.equal((await call(reg, '/ui/api/repositories', { cookie: 'registry_ui_session=forged' })).status, 401);
  });

  it('marks the cookie Secure behind a TLS-terminating proxy', async () => {
    const r = await call(reg, '/ui/api/session', { method: 'POST', body: { user: USER, password: PASSWORD }, headers: { 'X-Forwarded-Proto': 'https' } });
    assert.match(r.res.headers.get('set-cookie')!, /; Secure$/);
  });

  it('refuses cross-site sign-ins and non-JSON bodies', async () => {
    const body = { user: USER, password: PASSWORD };
    assert.equal((await call(reg, '/ui/api/session', { method: 'POST', body, headers: { Origin: 'https://evil.example' } })).status, 403);
    assert.equal((await call(reg, '/ui/api/session', { method: 'POST', body, headers: { 'Sec-Fetch-Site': 'cross-site' } })).status, 403);
    assert.equal((await call(reg, '/ui/api/session', { method: 'POST', body, headers: { 'Content-Type': 'text/plain' } })).status, 415);
    const host = new URL(reg.url).host;
    assert.equal((await call(reg, '/ui/api/session', { method: 'POST', body, headers: { Origin: `http://${host}` } })).status, 200);
  });

  it('signs out: the session is gone on the server too', async () => {
    const jar = await signIn(reg);
    const out = await call(reg, '/ui/api/session', { method: 'DELETE', cookie: jar });
    assert.equal(out.status, 200);
    assert.match(out.res.headers.get('set-cookie')!, /^registry_ui_session=; HttpOnly; SameSite=Strict; Max-Age=0/);
    assert.equal((await call(reg, '/ui/api/repositories', { cookie: jar })).status, 401);
  });

  it('ends the sessions of a user removed from the htpasswd file', async () => {
    const alice = await signIn(reg);
    const bob = await signIn(reg, 'bob', 'builder-9');
    const kept = readFileSync(reg.htpasswd!, 'utf8').split('\n').filter((l) => l.startsWith(`${USER}:`)).join('\n');
    writeFileSync(`${reg.htpasswd}.new`, `${kept}\n`);
    renameSync(`${reg.htpasswd}.new`, reg.htpasswd!);
    const deadline = Date.now() + 5000;
    while ((await call(reg, '/ui/api/repositories', { cookie: bob })).status !== 401) {
      assert.ok(Date.now() < deadline, 'bob still signed in 5 s after removal');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await call(reg, '/ui/api/repositories', { cookie: alice })).status, 200);
  });
});

describe('web UI: repositories, tags and images', () => {
  let reg: UiRegistry;
  let jar: string;
  let web: Awaited<ReturnType<typeof pushImageWithConfig>>;
  let multi: Awaited<ReturnType<typeof pushIndex>>;
  let sbom: string;
  before(async () => {
    reg = await startUiRegistry({ auth: true });
    web = await pushImageWithConfig(reg, 'team/web', '1.0', {
      entrypoint: ['/usr/bin/web'],
      cmd: ['--port', '8080'],
      env: ['PATH=/usr/local/bin:/usr/bin', 'DB_PASSWORD=hunter2'],
      labels: { 'org.opencontainers.image.source': 'https://git.example/web', maintainer: 'ops' },
      exposedPorts: ['8080/tcp'],
      layers: ['base layer bytes', 'app layer, a little longer'],
    });
    for (const tag of ['1.1', 'latest']) {
      const m = await reg.fetch('/v2/team/web/manifests/1.0');
      const bytes = Buffer.from(await m.arrayBuffer());
      await reg.fetch(`/v2/team/web/manifests/${tag}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': m.headers.get('content-type')! } });
    }
    multi = await pushIndex(reg, 'team/web', 'multi');
    sbom = await pushSbom(reg, 'team/web', web);
    await pushImageWithConfig(reg, 'tools/builder', 'latest');
    jar = await signIn(reg);
  });
  after(() => reg.close());

  const get = (path: string, headers: Record<string, string> = {}) => call(reg, path, { cookie: jar, headers });

  it('lists repositories with tag counts and sizes', async () => {
    const r = await get('/ui/api/repositories');
    assert.equal(r.status, 200);
    assert.equal(r.json.total, 2);
    const webRow = r.json.items.find((i: Json) => i.name === 'team/web');
    assert.equal(webRow.tags, 4);
    // Distinct blobs of all tagged images: team/web's config and layers plus both platform images.
    const expected = [web, ...multi.children].reduce((a, p) => a + p.configSize + p.layers.reduce((b, l) => b + l.size, 0), 0);
    assert.equal(webRow.size, expected);
  });

  it('lists tags with digest, size, created time and platforms, and a pull host from the request', async () => {
    const r = await get('/ui/api/tags?repo=team/web', { 'X-Forwarded-Host': 'registry.example.com' });
    assert.equal(r.status, 200);
    assert.equal(r.json.pullHost, 'registry.example.com');
    assert.deepEqual(r.json.items.map((t: Json) => t.tag), ['1.0', '1.1', 'latest', 'multi']);
    const one = r.json.items[0];
    assert.equal(one.digest, web.digest);
    assert.equal(one.kind, 'image');
    assert.equal(one.size, web.configSize + web.layers.reduce((a, l) => a + l.size, 0));
    assert.equal(one.created, '2024-05-01T12:00:00Z');
    assert.deepEqual(one.platforms, ['linux/amd64']);
    const idx = r.json.items[3];
    assert.equal(idx.kind, 'index');
    assert.deepEqual(idx.platforms, ['linux/amd64', 'linux/arm64/v8']);
    assert.equal(idx.created, '2024-06-02T09:30:00Z', 'the newest platform image');
    // Without a proxy, the Host header; a malformed forwarded host is ignored.
    assert.equal((await get('/ui/api/tags?repo=team/web')).json.pullHost, new URL(reg.url).host);
    assert.equal((await get('/ui/api/tags?repo=team/web', { 'X-Forwarded-Host': 'evil"host <x>' })).json.pullHost, new URL(reg.url).host);
    const filtered = await get('/ui/api/tags?repo=team/web&q=1.&limit=1&offset=1');
    assert.deepEqual([filtered.json.total, filtered.json.items.map((t: Json) => t.tag)], [2, ['1.1']]);
    assert.equal((await get('/ui/api/tags?repo=no/such')).status, 404);
    assert.equal((await get('/ui/api/tags?repo=Bad..Name')).status, 400);
  });

  it('describes an image: config summary without env values, layers, referrers', async () => {
    const r = await get('/ui/api/manifest?repo=team/web&ref=1.0');
    assert.equal(r.status, 200, r.text);
    const d = r.json;
    assert.equal(d.digest, web.digest);
    assert.deepEqual(d.tags, ['1.0', '1.1', 'latest']);
    assert.deepEqual(d.config.entrypoint, ['/usr/bin/web']);
    assert.deepEqual(d.config.cmd, ['--port', '8080']);
    assert.deepEqual(d.config.env, ['PATH', 'DB_PASSWORD']);
    assert.ok(!r.text.includes('hunter2'), 'env values never leave the server');
    assert.equal(d.config.labels.maintainer, 'ops');
    assert.deepEqual(d.config.exposedPorts, ['8080/tcp']);
    assert.deepEqual(d.layers.map((l: Json) => [l.digest, l.size]), web.layers.map((l) => [l.digest, l.size]));
    assert.deepEqual(d.configBlob, { digest: web.configDigest, mediaType: 'application/vnd.oci.image.config.v1+json', size: web.configSize });
    assert.equal(d.referrers.length, 1);
    assert.equal(d.referrers[0].digest, sbom);
    assert.equal(d.referrers[0].artifactType, SBOM_TYPE);
    assert.equal(d.referrers[0].created, '2024-05-02T10:00:00Z');
    // every tag is read once for the page, not once per manifest on it (the image and each referrer)
    const manifests = reg.running.registry.manifests;
    const resolveTag = manifests.resolveTag.bind(manifests);
    let resolved = 0;
    manifests.resolveTag = (...a: Parameters<typeof resolveTag>) => (resolved++, resolveTag(...a));
    try {
      const tagCount = ((await (await reg.fetch('/v2/team/web/tags/list')).json()) as { tags: string[] }).tags.length;
      assert.equal((await get('/ui/api/manifest?repo=team/web&ref=1.0')).status, 200);
      assert.ok(resolved <= tagCount + 1, `${resolved} tag reads for ${tagCount} tags`);
    } finally {
      manifests.resolveTag = resolveTag;
    }
    // By digest too, and the artifact points back at its subject.
    assert.equal((await get(`/ui/api/manifest?repo=team/web&ref=${web.digest}`)).json.tag, undefined);
    const art = (await get(`/ui/api/manifest?repo=team/web&ref=${sbom}`)).json;
    assert.equal(art.kind, 'artifact');
    assert.equal(art.artifactType, SBOM_TYPE);
    assert.equal(art.subject.digest, web.digest);
    assert.equal(art.config, null);
  });

  it('describes an index: platforms with their sizes', async () => {
    const d = (await get('/ui/api/manifest?repo=team/web&ref=multi')).json;
    assert.equal(d.kind, 'index');
    assert.deepEqual(
      d.platforms.map((p: Json) => [p.platform, p.digest, p.size]),
      multi.children.map((c, i) => [i ? 'linux/arm64/v8' : 'linux/amd64', c.digest, c.configSize + c.layers.reduce((a, l) => a + l.size, 0)]),
    );
    assert.deepEqual(d.layers, []);
    assert.equal((await get('/ui/api/manifest?repo=team/web&ref=nope')).status, 404);
    assert.equal((await get('/ui/api/manifest?repo=team/web&ref=sha256:abc')).status, 400);
  });

  it('deletes a tag, then a manifest with its tags; refuses cross-site deletes', async () => {
    const tagsList = async () => ((await reg.fetch('/v2/team/web/tags/list')).json() as Promise<Json>).then((j) => j.tags);
    assert.equal((await call(reg, '/ui/api/tag?repo=team/web&tag=1.1', { method: 'DELETE', cookie: jar, headers: { Origin: 'https://evil.example' } })).status, 403);
    // the page sends the digest it showed: a tag that points elsewhere by now stays
    const moved = await call(reg, `/ui/api/tag?repo=team/web&tag=1.1&digest=sha256:${'0'.repeat(64)}`, { method: 'DELETE', cookie: jar });
    assert.equal(moved.status, 409, moved.text);
    assert.match(moved.text, /the tag now points at sha256:[0-9a-f]{64}, not at sha256:0{64}: reload the page/);
    const del = await call(reg, `/ui/api/tag?repo=team/web&tag=1.1&digest=${web.digest}`, { method: 'DELETE', cookie: jar });
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json.deleted, { repo: 'team/web', tag: '1.1', digest: web.digest });
    assert.deepEqual(await tagsList(), ['1.0', 'latest', 'multi']);
    assert.equal((await call(reg, '/ui/api/tag?repo=team/web&tag=1.1', { method: 'DELETE', cookie: jar })).status, 404);
    const delM = await call(reg, `/ui/api/manifest?repo=team/web&digest=${web.digest}`, { method: 'DELETE', cookie: jar });
    assert.equal(delM.status, 200, delM.text);
    assert.deepEqual(delM.json.deleted.tags, ['1.0', 'latest']);
    assert.deepEqual(await tagsList(), ['multi']);
    assert.equal((await reg.fetch(`/v2/team/web/manifests/${web.digest}`)).status, 404);
    assert.ok(reg.logs.some((l) => l.includes(`ui: ${USER} deleted tag team/web:1.1`)));
  });
});

describe('web UI: deletes off or read-only', () => {
  for (const [what, config] of [
    ['read-only', { readOnly: true }],
    ['--no-delete', { deleteEnabled: false }],
  ] as const) {
    it(`${what}: the session says so and deletes are refused`, async () => {
      const reg = await startUiRegistry({ config });
      try {
        const s = (await call(reg, '/ui/api/session')).json;
        assert.equal(s.canDelete, false);
        const r = await call(reg, '/ui/api/tag?repo=a/b&tag=x', { method: 'DELETE' });
        assert.equal(r.status, 405);
        assert.equal((await call(reg, '/ui/api/tags?repo=a/b')).status, 404);
      } finally {
        await reg.close();
      }
    });
  }
});

describe('web UI: 10,000 repositories', () => {
  const COUNT = 10_000;
  const nameOf = (i: number) => `team-${String(i % 40).padStart(2, '0')}/service-${String(i).padStart(5, '0')}`;
  let reg: UiRegistry;
  let jar: string;
  let image: { digest: string; size: number };
  let names: string[];
  before(async () => {
    reg = await startUiRegistry({ auth: true, fastDisk: true });
    image = writeManyRepositories(reg.dataDir, COUNT, nameOf);
    names = Array.from({ length: COUNT }, (_, i) => nameOf(i)).sort();
    jar = await signIn(reg);
  });
  after(() => reg.close());

  const get = (path: string) => call(reg, path, { cookie: jar });
  const timed = async (path: string) => {
    const t = performance.now();
    const r = await get(path);
    assert.equal(r.status, 200, r.text);
    return { ...r, ms: performance.now() - t };
  };

  it('pages through them in name order, one small page at a time', async () => {
    const first = await timed('/ui/api/repositories?limit=50');
    assert.equal(first.json.total, COUNT);
    assert.deepEqual(first.json.items.map((i: Json) => i.name), names.slice(0, 50));
    assert.ok(first.text.length < 20_000, `a page is small (${first.text.length} bytes)`);
    for (const item of first.json.items) assert.deepEqual([item.tags, item.size], [1, image.size]);
    const last = await timed(`/ui/api/repositories?offset=${COUNT - 10}&limit=50`);
    assert.deepEqual(last.json.items.map((i: Json) => i.name), names.slice(-10));
    const clamped = await timed('/ui/api/repositories?limit=100000');
    assert.equal(clamped.json.items.length, MAX_PAGE_SIZE);
    assert.equal((await get('/ui/api/repositories?limit=ten')).status, 400);
    assert.ok(first.ms < 10_000, `cold first page in ${first.ms.toFixed(0)} ms`);
    assert.ok(last.ms < 2_000, `warm page in ${last.ms.toFixed(0)} ms`);
  });

  it('filters on the server, case-insensitively, every word counting', async () => {
    for (const q of ['service-0999', 'TEAM-07', 'team-07 service-012', 'nothing-like-this']) {
      const r = await timed(`/ui/api/repositories?q=${encodeURIComponent(q)}&limit=20`);
      const want = names.filter(matches(q));
      assert.equal(r.json.total, want.length, q);
      assert.deepEqual(r.json.items.map((i: Json) => i.name), want.slice(0, 20), q);
      assert.ok(r.ms < 2_000, `filter "${q}" in ${r.ms.toFixed(0)} ms`);
    }
    assert.equal((await get('/ui/api/repositories?q=service-0999')).json.total, 10, 'service-09990 … 09999');
  });

  it('summarises storage: counts, blob bytes and free disk', async () => {
    const s = (await timed('/ui/api/summary')).json;
    assert.equal(s.repositories, COUNT);
    assert.equal(s.tags, COUNT);
    assert.equal(s.blobs, 3);
    assert.ok(s.blobBytes > image.size);
    assert.ok(s.disk.size > 0 && s.disk.available > 0 && s.disk.available <= s.disk.size, JSON.stringify(s.disk));
    assert.deepEqual(Object.keys(s.disk).sort(), ['available', 'free', 'size'], 'no host path');
  });
});

describe('web UI: building blocks', () => {
  it('publicHost prefers X-Forwarded-Host, then Host, and ignores junk', () => {
    assert.equal(publicHost(fakeReq({ host: 'reg.local:5000' })), 'reg.local:5000');
    assert.equal(publicHost(fakeReq({ host: 'internal:5000', 'x-forwarded-host': 'Registry.Example.com, proxy2' })), 'registry.example.com');
    assert.equal(publicHost(fakeReq({ host: '[::1]:5000' })), '[::1]:5000');
    assert.equal(publicHost(fakeReq({ host: 'a b', 'x-forwarded-host': '<script>' })), 'localhost');
  });

  it('isSameOriginRequest accepts same-origin browser requests only', () => {
    assert.equal(isSameOriginRequest(fakeReq({ host: 'r:5000' })), true);
    assert.equal(isSameOriginRequest(fakeReq({ host: 'r:5000', origin: 'http://r:5000' })), true);
    assert.equal(isSameOriginRequest(fakeReq({ host: 'internal', 'x-forwarded-host': 'r.example', origin: 'https://r.example' })), true);
    assert.equal(isSameOriginRequest(fakeReq({ host: 'r:5000', origin: 'http://r:5001' })), false);
    assert.equal(isSameOriginRequest(fakeReq({ host: 'r:5000', origin: 'null' })), false);
    assert.equal(isSameOriginRequest(fakeReq({ host: 'r:5000', 'sec-fetch-site': 'same-site' })), false);
    // Sec-Fetch-Site, when a browser sends it, decides even if a proxy rewrote Host.
    assert.equal(isSameOriginRequest(fakeReq({ host: 'upstream:5000', origin: 'https://r.example', 'sec-fetch-site': 'same-origin' })), true);
    assert.equal(isSameOriginRequest(fakeReq({ host: 'r:5000', origin: 'http://r:5000', 'sec-fetch-site': 'cross-site' })), false);
  });

  it('sessions expire when idle, at their maximum age, and beyond the cap', () => {
    let now = 0;
    const store = new SessionStore({ idleMs: 100, maxAgeMs: 250, maxSessions: 3 }, () => now);
    const a = store.create('a', 'pa');
    now = 90;
    assert.equal(store.get(a)?.user, 'a');
    now = 180; // used at 90: not idle yet
    assert.equal(store.get(a)?.user, 'a');
    now = 260; // past the maximum age
    assert.equal(store.get(a), null);
    const b = store.create('b', 'pb');
    now = 400;
    assert.equal(store.get(b), null, 'idle');
    const [c, d, e, f] = ['c', 'd', 'e', 'f'].map((u) => store.create(u, 'p'));
    assert.equal(store.get(c), null, 'the least recently used one went');
    assert.deepEqual([d, e, f].map((t) => store.get(t)?.user), ['d', 'e', 'f']);
    assert.ok(store.size <= 3);
  });

  it('Cached recomputes quick values every time and serves slow ones stale while refreshing', async () => {
    let now = 0;
    let calls = 0;
    let cost = 0;
    const cached = new Cached(
      async () => {
        calls++;
        now += cost;
        return calls;
      },
      { freshMs: 100, staleMs: 1000, slowMs: 50 },
      () => now,
    );
    assert.equal(await cached.get(), 1);
    assert.equal(await cached.get(), 2, 'quick: never reused');
    cost = 60;
    assert.equal(await cached.get(), 3);
    assert.equal(await cached.get(), 3, 'slow: reused while fresh');
    now += 200;
    assert.equal(await cached.get(), 3, 'stale, refreshing in the background');
    await new Promise((r) => setImmediate(r));
    assert.equal(await cached.get(), 4);
    cached.invalidate();
    assert.equal(await cached.get(), 5);
  });
});
