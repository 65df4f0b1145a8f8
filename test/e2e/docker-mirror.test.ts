// Docker Engine's `registry-mirrors` against `serve --mirror docker.io=… --mirror-default docker.io`:
// a `docker pull alpine`-style pull of a Docker Hub name is answered by the mirror (which asks for
// `library/<name>` without a prefix), with the upstream's digest. The shared engine is never
// reconfigured: the test runs a second dockerd of its own (own data root, exec root, socket and
// pid file, no bridge, no iptables, vfs) and stops it after.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run } from '../helpers/exec.js';
import { buildOciImage } from '../helpers/oci.js';
import { startProcess, type ManagedProcess } from '../helpers/process.js';
import { startDistribution, type RunningRegistry } from '../helpers/registries.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { TempDirs } from '../helpers/tmp.js';
import { startTestRegistry, type TestRegistry } from '../registry/harness.js';

const DOCKERD = '/usr/sbin/dockerd';
const problem = !existsSync(DOCKERD) ? `${DOCKERD} is missing` : process.getuid?.() !== 0 ? 'a second dockerd needs root' : undefined;
if (problem && process.env.CI) test('a second docker engine can run', () => assert.fail(problem));
const skip = problem ? (process.env.CI ? 'see the failing test "a second docker engine can run"' : problem) : false;

/** The second engine's bridge (interface names are at most 15 characters). */
const BRIDGE = `rsdm${process.pid % 100000}`;

describe('docker pull through registry-mirrors', { skip }, () => {
  let bridgeMade = false;
  const tmp = new TempDirs();
  let upstream: RunningRegistry;
  let mirror: TestRegistry;
  let engine: ManagedProcess | undefined;
  let root = '';
  let image: Awaited<ReturnType<typeof buildOciImage>>;
  const docker = (args: string[]) => run('docker', ['-H', `unix://${root}/docker.sock`, ...args], { timeoutMs: 120_000, env: { ...process.env, DOCKER_CONFIG: join(root, 'config') } });

  before(async () => {
    upstream = await startDistribution();
    const layout = join(await tmp.make('rs-docker-mirror-'), 'layout');
    image = await buildOciImage(layout, 'v1', { layerSizes: [2048] });
    await skopeoCopy(`oci:${layout}:v1`, `docker://${upstream.host}/library/mirrortest:1`, { preserveDigests: true });
    mirror = await startTestRegistry({ mirrors: [{ prefix: 'docker.io', url: upstream.url }], mirrorDefault: 'docker.io', mirrorTimeoutMs: 5_000 });
    // short: the engine's and its containerd's unix sockets live below it (108-byte limit)
    root = await mkdtemp('/tmp/rsdm-');
    // A bridge of its own: an engine started with --bridge=none deletes the host's docker0, which
    // the shared engine (and tests that reach containers at 172.17.0.1) still use. It carries no
    // traffic: the pull goes from this engine to the mirror on loopback.
    await run('ip', ['link', 'add', 'name', BRIDGE, 'type', 'bridge']);
    bridgeMade = true;
    engine = startProcess(
      DOCKERD,
      [
        '--data-root', join(root, 'data'),
        '--exec-root', join(root, 'exec'),
        '-H', `unix://${root}/docker.sock`,
        '--pidfile', join(root, 'docker.pid'),
        `--bridge=${BRIDGE}`, '--iptables=false', '--ip-masq=false',
        '--storage-driver', 'vfs',
        '--registry-mirror', mirror.url,
      ],
      { name: 'second dockerd' },
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      const info = await run('docker', ['-H', `unix://${root}/docker.sock`, 'info', '--format', '{{.ServerVersion}}'], { timeoutMs: 10_000, allowFailure: true });
      if (info.code === 0) break;
      if (engine.hasExited() || Date.now() > deadline) throw new Error(`the second dockerd did not come up:\n${engine.logTail(30)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  after(async () => {
    await engine?.stop(20_000);
    if (bridgeMade) await run('ip', ['link', 'del', BRIDGE], { allowFailure: true });
    if (root) await rm(root, { recursive: true, force: true });
    await mirror?.close();
    await upstream?.stop();
    await tmp.cleanup();
  });

  test('docker pull of a Docker Hub name comes from the mirror, with the upstream digest', async () => {
    await docker(['pull', 'mirrortest:1']);
    const inspected = JSON.parse((await docker(['image', 'inspect', 'mirrortest:1'])).stdout) as { RepoDigests: string[] }[];
    assert.deepEqual(inspected[0]!.RepoDigests, [`mirrortest@${image.manifestDigest}`]);
    assert.ok(await mirror.stored('repositories/docker.io/library/mirrortest/_manifests/tags/1/current/link'), 'cached under the docker.io prefix');
  });
});
