// Mirrored repositories under `serve --access`: checked under their cached name like any other
// repository, before anything is fetched; anonymous pulls of a mirror are one policy rule.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { pushImage, startTestRegistry, type TestRegistry } from '../registry/harness.js';

const POLICY = `
repositories:
  "hub/**":
    defaultPolicy: [read]
    anonymousPolicy: [read]
  "vendor/**":
    policies:
      - users: [dev]
        actions: [read]
  "**":
    policies:
      - users: [dev]
        actions: [read, create, update, delete]
`;

describe('serve --mirror under --access', () => {
  let dir: string;
  let upstream: TestRegistry;
  let mirror: TestRegistry;
  let upstreamRequests = 0;
  const dev = { Authorization: `Basic ${Buffer.from('dev:dev-pw').toString('base64')}` };
  const ops = { Authorization: `Basic ${Buffer.from('ops:ops-pw').toString('base64')}` };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rs-mirror-access-'));
    writeFileSync(path.join(dir, 'htpasswd'), `dev:${bcrypt.hashSync('dev-pw', 5)}\nops:${bcrypt.hashSync('ops-pw', 5)}\n`);
    writeFileSync(path.join(dir, 'access.yaml'), POLICY);
    upstream = await startTestRegistry();
    upstream.running.server.on('request', () => upstreamRequests++);
    await pushImage(upstream, 'team/app', 'v1');
    mirror = await startTestRegistry({
      htpasswd: path.join(dir, 'htpasswd'),
      accessFile: path.join(dir, 'access.yaml'),
      mirrors: [
        { prefix: 'hub', url: upstream.url },
        { prefix: 'vendor', url: upstream.url },
      ],
      mirrorTimeoutMs: 5_000,
    });
  });
  after(async () => {
    await mirror?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('anonymous pulls of a mirror are one rule; a mirror the caller may not read is refused before anything is fetched', async () => {
    assert.equal((await mirror.fetch('/v2/hub/team/app/manifests/v1')).status, 200, 'anonymous read of hub/**');
    const before = upstreamRequests;
    assert.equal((await mirror.fetch('/v2/vendor/team/app/manifests/v1')).status, 401, 'anonymous: challenged');
    assert.equal((await mirror.fetch('/v2/vendor/team/app/manifests/v1', { headers: ops })).status, 403, 'signed in without read: DENIED');
    assert.equal(upstreamRequests, before, 'nothing was asked upstream for a refused caller');
    assert.equal((await mirror.fetch('/v2/vendor/team/app/manifests/v1', { headers: dev })).status, 200);
    assert.ok(upstreamRequests > before);
  });
});
