// `registry-setup gc --mirror-max-idle`: the CLI passes the option to the payload's gc, locally
// (gc --data DIR) and on a host (the argv run in the registry container), and refuses a bad
// duration before touching anything.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync } from 'node:fs';
import path from 'node:path';
import { main } from '../../src/cli/main.js';
import { gcPayloadArgv } from '../../src/ops/gc.js';
import { blobDataPath, mirrorLastPullPath, STORAGE_ROOT } from '../../src/registry/storage/paths.js';
import { pushImage, startMirrorPair, type TestRegistry } from '../registry/harness.js';

/** main() with stdout and stderr captured. */
async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [w1, w2] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((c: string | Uint8Array) => (out.push(String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => (err.push(String(c)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'registry-setup', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
    process.exitCode = undefined;
  }
}

describe('gc --mirror-max-idle', () => {
  let upstream: TestRegistry;
  let mirror: TestRegistry;
  before(async () => {
    ({ upstream, mirror } = await startMirrorPair());
  });
  after(async () => {
    await mirror?.close();
    await upstream?.close();
  });

  it('runs the payload gc in the container with the option', () => {
    assert.deepEqual(gcPayloadArgv({ mirrorMaxIdle: '720h' }), ['node', '/app/registry.mjs', 'gc', '--data', '/var/lib/registry', '--json', '--mirror-max-idle', '720h']);
  });

  it('refuses a duration the payload would not read, in one line naming the option', async () => {
    const r = await runCli(['gc', '--data', mirror.dataDir, '--mirror-max-idle', '30 days']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^registry-setup: --mirror-max-idle: "30 days" is not a duration like 168h/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('gc --data DIR --mirror-max-idle forgets an idle mirrored repository and keeps a pushed one', async () => {
    const idle = await pushImage(upstream, 'team/idle', 'v1', { layers: ['idle layer for the cli gc'] });
    const local = await pushImage(mirror, 'ours/app', 'v1', { layers: ['local layer for the cli gc'] });
    assert.equal((await mirror.fetch(`/v2/up.example/team/idle/manifests/v1`)).status, 200);
    assert.equal((await mirror.fetch(`/v2/up.example/team/idle/blobs/${idle.layers[0]}`)).status, 200);
    // last pulled two days ago (and the files older than the grace window: --grace 0s)
    const twoDaysAgo = new Date(Date.now() - 48 * 3600_000);
    utimesSync(path.join(mirror.dataDir, STORAGE_ROOT, mirrorLastPullPath('up.example/team/idle')), twoDaysAgo, twoDaysAgo);

    const kept = await runCli(['gc', '--data', mirror.dataDir, '--grace', '0s', '--settle', '10ms', '--mirror-max-idle', '72h', '--json']);
    assert.equal(kept.code, 0, kept.stderr);
    assert.ok(await mirror.stored(blobDataPath(idle.layers[0]!)), 'pulled within 72h: kept');

    const r = await runCli(['gc', '--data', mirror.dataDir, '--grace', '0s', '--settle', '10ms', '--mirror-max-idle', '24h', '--json']);
    assert.equal(r.code, 0, r.stderr);
    // JSON lines, the last one the result carrying the payload's report
    const report = (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { type: string; report: { deletedManifests: { repo: string }[] } }).report;
    assert.ok(report.deletedManifests.some((m) => m.repo === 'up.example/team/idle'), r.stdout);
    assert.equal(await mirror.stored(blobDataPath(idle.layers[0]!)), null, "the idle mirror's layer is gone");
    assert.ok(await mirror.stored(blobDataPath(local.layers[0]!)), 'a pushed repository is never idle');
  });
});
