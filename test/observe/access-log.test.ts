import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { pushImage, sha256, startTestRegistry, type TestRegistry } from '../registry/harness.js';

const PASSWORD = 'pw-Sekr1t-never-logged';
const BEARER = 'bearer-Sekr1t-never-logged';
const QUERY_TOKEN = 'query-Sekr1t-never-logged';
const basic = { Authorization: `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}` };

interface Line {
  id: string;
  remote: string;
  user: string | null;
  method: string;
  route: string;
  repository?: string;
  action?: string;
  reference?: string;
  status: number;
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
}

/** The access lines once `count` have been written (a line is written when its response closes). */
async function linesAfter(reg: TestRegistry, count: number): Promise<Line[]> {
  const deadline = Date.now() + 5_000;
  while (reg.accessLines.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(reg.accessLines.length >= count, `only ${reg.accessLines.length} of ${count} access lines: ${reg.accessLines.join('\n')}`);
  return reg.accessLines.map((l) => JSON.parse(l) as Line);
}

describe('access log', () => {
  let dir: string;
  let reg: TestRegistry;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rs-accesslog-'));
    writeFileSync(path.join(dir, 'htpasswd'), `alice:${bcrypt.hashSync(PASSWORD, 5)}\n`);
    // with an upload secret, so that upload Locations carry a _state token
    reg = await startTestRegistry({ htpasswd: path.join(dir, 'htpasswd'), uploadSecret: 'access-log-upload-secret-0123' }, basic);
  });
  after(async () => {
    await reg.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('one JSON line per request with user, repository, action, reference, status, bytes and duration', async () => {
    const image = await pushImage(reg, 'team/app', 'v1', { layers: ['x'.repeat(5000)] });
    const start = reg.accessLines.length;
    const layer = image.layers[0]!;
    const get = await reg.fetch(`/v2/team/app/blobs/${layer}`, { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    assert.equal((await get.arrayBuffer()).byteLength, 5000);
    const head = await reg.fetch('/v2/team/app/manifests/v1', { method: 'HEAD' });
    assert.equal(head.status, 200);
    const missing = await reg.fetch('/v2/team/app/manifests/nope');
    assert.equal(missing.status, 404);
    await missing.text();
    const lines = (await linesAfter(reg, start + 3)).slice(start);
    const [blob, manifest, unknown] = lines;
    assert.equal(blob!.user, 'alice');
    assert.equal(blob!.route, 'blob');
    assert.equal(blob!.method, 'GET');
    assert.equal(blob!.repository, 'team/app');
    assert.equal(blob!.action, 'pull');
    assert.equal(blob!.reference, layer);
    assert.equal(blob!.status, 200);
    assert.ok(blob!.bytes_out >= 5000 && blob!.bytes_out < 6000, `bytes_out ${blob!.bytes_out}`);
    assert.equal(blob!.remote, '127.0.0.1', 'X-Forwarded-For is not trusted without --trust-proxy');
    assert.ok(blob!.duration_ms >= 0);
    assert.match(blob!.id, /^[0-9a-f]{16}$/);
    assert.equal(get.headers.get('x-request-id'), blob!.id, 'the client sees the id of the line');
    assert.deepEqual([manifest!.route, manifest!.method, manifest!.reference, manifest!.status], ['manifest', 'HEAD', 'v1', 200]);
    assert.deepEqual([unknown!.reference, unknown!.status], ['nope', 404]);
  });

  it('a push logs its bytes in and the digest it finished', async () => {
    const start = reg.accessLines.length;
    const data = 'y'.repeat(20_000);
    const post = await reg.fetch('/v2/team/app/blobs/uploads/', { method: 'POST' });
    const location = post.headers.get('location')!;
    const put = await reg.fetch(`${location}${location.includes('?') ? '&' : '?'}digest=${sha256(data)}`, { method: 'PUT', body: data });
    assert.equal(put.status, 201);
    const lines = (await linesAfter(reg, start + 2)).slice(start);
    assert.deepEqual([lines[0]!.route, lines[0]!.action, lines[0]!.status], ['upload_start', 'push', 202]);
    assert.deepEqual([lines[1]!.route, lines[1]!.action, lines[1]!.reference, lines[1]!.status], ['upload', 'push', sha256(data), 201]);
    assert.ok(lines[1]!.bytes_in >= 20_000, `bytes_in ${lines[1]!.bytes_in}`);
  });

  it('never writes a password, a bearer token, an upload _state or a token in the query', async () => {
    const start = reg.accessLines.length;
    await (await reg.fetch(`/v2/team/app/tags/list?token=${QUERY_TOKEN}&access_token=${QUERY_TOKEN}`)).text();
    await (await reg.fetch('/v2/team/app/tags/list', { headers: { Authorization: `Bearer ${BEARER}` } })).text();
    await (await reg.fetch(`/v2/?password=${PASSWORD}`, { headers: { Authorization: `Basic ${Buffer.from(`alice:${PASSWORD}x`).toString('base64')}` } })).text();
    const post = await reg.fetch('/v2/team/app/blobs/uploads/', { method: 'POST' });
    const location = post.headers.get('location')!;
    await (await reg.fetch(location)).text();
    const lines = await linesAfter(reg, start + 5);
    const text = reg.accessLines.join('\n');
    const state = new URL(location, reg.url).searchParams.get('_state');
    assert.ok(state, `the Location ${location} carries a _state token`);
    const uploadId = location.split('/').pop()!.split('?')[0]!;
    for (const secret of [PASSWORD, BEARER, QUERY_TOKEN, Buffer.from(`alice:${PASSWORD}`).toString('base64'), state, uploadId]) {
      assert.ok(!text.includes(secret), `the access log holds ${secret}`);
    }
    assert.deepEqual(
      lines.slice(start, start + 3).map((l) => [l.route, l.user, l.status]),
      [
        ['tags', 'alice', 200],
        ['other', null, 401],
        ['other', null, 401],
      ],
    );
  });
});

describe('access log behind a trusted proxy', () => {
  it('takes the address nginx forwards only with trustProxy, and ignores values that are not addresses', async () => {
    const reg = await startTestRegistry({ trustProxy: true });
    try {
      await (await reg.fetch('/v2/', { headers: { 'X-Real-IP': '198.51.100.7', 'X-Forwarded-For': '10.0.0.1, 198.51.100.7' } })).text();
      await (await reg.fetch('/v2/', { headers: { 'X-Forwarded-For': 'spoofed, 192.0.2.4' } })).text();
      await (await reg.fetch('/v2/', { headers: { 'X-Real-IP': '"><script>' } })).text();
      const lines = await linesAfter(reg, 3);
      assert.deepEqual(
        lines.map((l) => l.remote),
        ['198.51.100.7', '192.0.2.4', '127.0.0.1'],
      );
    } finally {
      await reg.close();
    }
  });
});
