import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pushImage, startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { startOurRegistry } from '../helpers/registries.js';

interface Envelope {
  events: { id: string; action: string; target: { repository: string; digest: string; tag?: string; mediaType?: string; size?: number; url: string }; request: { id: string; method: string }; actor: { name?: string }; source: { instanceID: string } }[];
}

/** A local receiver: records every envelope; `mode` decides its answer. */
async function startReceiver() {
  const posts: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const state = { mode: 'ok' as 'ok' | 'fail' | 'hang' };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (state.mode === 'hang') return; // never answers: the registry's timeout ends it
      if (state.mode === 'fail') {
        res.writeHead(503).end();
        return;
      }
      posts.push({ headers: req.headers, body });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  return {
    url,
    posts,
    state,
    events: () => posts.flatMap((p) => (JSON.parse(p.body) as Envelope).events),
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

async function until(what: string, cond: () => boolean, withinMs: number, explain: () => string): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  assert.ok(cond(), `${what} within ${withinMs} ms: ${explain()}`);
}

describe('webhooks', () => {
  let dir: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let slow: Awaited<ReturnType<typeof startReceiver>>;
  let reg: TestRegistry;
  const secret = 'hmac-secret-0123456789abcdef';
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rs-hooks-'));
    receiver = await startReceiver();
    slow = await startReceiver();
    slow.state.mode = 'hang';
    writeFileSync(path.join(dir, 'secret'), `${secret}\n`);
    writeFileSync(
      path.join(dir, 'endpoints.yaml'),
      [
        'endpoints:',
        '  - name: signed',
        `    url: ${receiver.url}`,
        '    headers: { Authorization: "Bearer receiver-token" }',
        '    actions: [push, delete]',
        '    repositories: ["team/**"]',
        `    hmacSecretFile: ${path.join(dir, 'secret')}`,
        '  - name: slow',
        `    url: ${slow.url}`,
        '    timeout: 30s',
        '',
      ].join('\n'),
    );
    reg = await startTestRegistry({ notify: [receiver.url], notifyConfig: path.join(dir, 'endpoints.yaml'), eventsDir: path.join(dir, 'events') });
  });
  after(async () => {
    await reg.close();
    await receiver.close();
    await slow.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every push, pull and delete arrives in distribution\'s envelope, in order per repository, while a hanging endpoint slows nothing', async () => {
    const pushed: { repo: string; tag: string; digest: string }[] = [];
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      for (const repo of ['team/a', 'other/b']) {
        const { digest } = await pushImage(reg, repo, `v${i}`);
        pushed.push({ repo, tag: `v${i}`, digest });
      }
    }
    const pushMs = Date.now() - started;
    assert.equal((await reg.fetch('/v2/team/a/manifests/v0')).status, 200); // pull
    assert.equal((await reg.fetch('/v2/team/a/manifests/v0', { method: 'HEAD' })).status, 200); // no event, as in distribution
    assert.equal((await reg.fetch('/v2/team/a/manifests/v1', { method: 'DELETE' })).status, 202);
    assert.ok(pushMs < 10_000, `10 pushes took ${pushMs} ms with a hanging endpoint`);

    // --notify URL: everything, unsigned; the file's "signed" endpoint: push and delete of team/** only
    const all = () => receiver.posts.filter((p) => !p.headers['x-registry-signature']).flatMap((p) => (JSON.parse(p.body) as Envelope).events);
    const signed = () => receiver.posts.filter((p) => p.headers['x-registry-signature']).flatMap((p) => (JSON.parse(p.body) as Envelope).events);
    await until('12 events at --notify and 6 at the filtered endpoint', () => all().length >= 12 && signed().length >= 6, 15_000, () => `${all().length} / ${signed().length}`);
    for (const repo of ['team/a', 'other/b']) {
      const seen = all().filter((e) => e.target.repository === repo && e.action === 'push');
      assert.deepEqual(seen.map((e) => [e.target.tag, e.target.digest]), pushed.filter((p) => p.repo === repo).map((p) => [p.tag, p.digest]), `pushes of ${repo} in order`);
    }
    const tail = all().filter((e) => e.target.repository === 'team/a').slice(-2);
    assert.deepEqual(tail.map((e) => [e.action, e.target.tag]), [['pull', 'v0'], ['delete', 'v1']]);
    assert.equal(tail[1]!.target.digest, pushed.find((p) => p.repo === 'team/a' && p.tag === 'v1')!.digest, 'a tag delete names the digest it pointed at');
    const first = all()[0]!;
    assert.equal(first.target.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.ok(first.target.size! > 0);
    assert.match(first.target.url, /^http:\/\/127\.0\.0\.1:\d+\/v2\/team\/a\/manifests\/sha256:/);
    assert.equal(first.request.method, 'PUT');
    assert.match(first.id, /^[0-9a-f-]{36}$/);
    assert.ok(first.source.instanceID);

    assert.deepEqual(signed().map((e) => `${e.action} ${e.target.repository}:${e.target.tag}`), [
      ...[0, 1, 2, 3, 4].map((i) => `push team/a:v${i}`),
      'delete team/a:v1',
    ]);
    for (const p of receiver.posts) {
      assert.equal(p.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
      const sig = p.headers['x-registry-signature'];
      if (sig) {
        assert.equal(sig, `sha256=${createHmac('sha256', secret).update(p.body).digest('hex')}`);
        assert.equal(p.headers.authorization, 'Bearer receiver-token');
      }
    }
    assert.equal(slow.posts.length, 0);
  });
});

describe('webhooks after kill -9', () => {
  it('no acknowledged push or delete is lost when the registry is killed mid-burst and restarted', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-hooks-kill-'));
    const receiver = await startReceiver();
    receiver.state.mode = 'fail'; // events pile up on disk first
    const args = ['--notify', receiver.url, '--no-access-log'];
    let reg = await startOurRegistry({ dataDir: path.join(dir, 'data'), extraArgs: args });
    const acked: string[] = [];
    try {
      const target = { fetch: (p: string, init: RequestInit = {}) => fetch(reg.url + p, init) } as unknown as TestRegistry;
      // four writers push until the kill; every 201 and 202 is remembered
      let killed = false;
      const writer = async (w: number) => {
        for (let i = 0; i < 200 && !killed; i++) {
          try {
            const { digest } = await pushImage(target, `burst/w${w}`, `t${i}`, { layers: [`w${w} layer ${i}`] });
            acked.push(`push burst/w${w}:t${i} ${digest}`);
            if (i % 3 === 2) {
              const del = await fetch(`${reg.url}/v2/burst/w${w}/manifests/t${i}`, { method: 'DELETE' });
              if (del.status === 202) acked.push(`delete burst/w${w}:t${i} ${digest}`);
            }
          } catch {
            return; // the registry is gone
          }
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      await until('40 acknowledged writes', () => acked.length >= 40, 60_000, () => `${acked.length}; ${reg.logTail(10)}`);
      process.kill(reg.process.pid, 'SIGKILL');
      killed = true;
      await reg.process.exited;
      await Promise.all(writers);
      const ackedAtKill = [...acked];

      receiver.state.mode = 'ok';
      reg = await startOurRegistry({ dataDir: path.join(dir, 'data'), extraArgs: args });
      const delivered = () => new Set(receiver.events().filter((e) => e.action !== 'pull').map((e) => `${e.action} ${e.target.repository}:${e.target.tag} ${e.target.digest}`));
      await until(
        `all ${ackedAtKill.length} acknowledged writes delivered after the restart`,
        () => ackedAtKill.every((a) => delivered().has(a)),
        30_000,
        () => `missing: ${ackedAtKill.filter((a) => !delivered().has(a)).slice(0, 5).join(', ')}\n${reg.logTail(10)}`,
      );
      // in order per repository: each writer's events come in the order it made them
      for (let w = 0; w < 4; w++) {
        const order = receiver.events().filter((e) => e.target.repository === `burst/w${w}`).map((e) => `${e.action} ${e.target.tag}`);
        const firstSeen = [...new Set(order)];
        const expected = ackedAtKill.filter((a) => a.includes(`burst/w${w}:`)).map((a) => `${a.split(' ')[0]} ${a.split(':')[1]!.split(' ')[0]}`);
        assert.deepEqual(firstSeen.slice(0, expected.length), expected, `order of burst/w${w}`);
      }
    } finally {
      await reg.stop();
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
