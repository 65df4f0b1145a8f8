// The first deploy onto a bare host and everything a new user's first run must show, shared by the
// Debian 13 and Debian 12 tests: Docker installed from (the stand-in of) Docker's repository,
// Compose v2, the base images through the Docker Hub mirror, /v2/ 401/200 over HTTPS from here,
// and no secret in a process argument (host and here) or in the command log.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { RegistryClient } from '../../../src/client/registry-client.js';
import { jsonEvents } from '../deploy-bed.js';
import { run } from '../exec.js';
import { tail, type BareHostBed } from './bed.js';

export const INSTALL_DIR = '/opt/registry-setup';
export const COMPOSE_PROJECT = 'registry-setup';

/** Samples `ps -eo args` on the host and here until stopped; returns the lines that held a secret. */
function watchProcessArgs(bed: BareHostBed, secrets: string[]): () => Promise<string[]> {
  const seen: string[] = [];
  let stopped = false;
  const check = (where: string, text: string) => {
    for (const line of text.split('\n')) if (secrets.some((s) => line.includes(s))) seen.push(`${where}: ${line.slice(0, 200)}`);
  };
  const loop = (async () => {
    // bounded: the deploy itself is bounded by the CLI runner's timeout (10 min)
    for (let i = 0; i < 3_000 && !stopped; i++) {
      const [host, here] = await Promise.all([
        bed.host.exec(['ps', '-eo', 'args'], { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined),
        run('ps', ['-eo', 'args'], { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined),
      ]);
      if (host) check('host', host.stdout);
      if (here) check('here', here.stdout);
      await delay(200);
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    return seen;
  };
}

export interface FirstDeploy {
  /** the self-signed certificate the deployment serves */
  ca: string;
  ms: number;
  dockerMs: number;
}

/** Runs the first deploy (self-signed, default images and ports) and checks what it must show. */
export async function firstDeploy(bed: BareHostBed, password: string): Promise<FirstDeploy> {
  const onHost = async (script: string, ...args: string[]) => (await bed.host.exec(['sh', '-c', script, 'sh', ...args])).stdout.trim();
  const stopWatching = watchProcessArgs(bed, [password, bed.sudoPassword]);
  const started = Date.now();
  const args = bed.deployArgs(['--password-stdin', '--json']);
  const r = await bed.cli(args, { input: password });
  const ms = Date.now() - started;
  const leaks = await stopWatching();
  assert.equal(r.exitCode, 0, `registry-setup ${args.join(' ')}\n${tail(r)}\n${await bed.diagnostics()}`);
  assert.deepEqual(leaks, [], 'no password in any process argument, on the host or here');

  const steps = jsonEvents(String(r.stdout)).filter((e) => e.type === 'step-end');
  const docker = steps.find((e) => e.id === 'docker');
  assert.equal(docker?.status, 'done', `Docker was installed by the deploy: ${JSON.stringify(steps.map((e) => [e.id, e.status, e.detail]))}`);
  assert.match(String(steps.find((e) => e.id === 'verify')?.detail), /401 without and 200 with credentials, push and pull ok/);

  // from Docker's repository (the stand-in at download.docker.com), not Debian's docker.io
  assert.match(await onHost('dpkg-query -W -f "\\${Status} \\${Version}" docker-ce'), /^install ok installed \d/);
  assert.match(await onHost('apt-cache policy docker-ce'), new RegExp(`https://download\\.docker\\.com/linux/debian ${bed.suite}/stable amd64 Packages`));
  assert.match(await onHost('dpkg-query -W -f "\\${Status}" docker.io 2>/dev/null || echo absent'), /^(absent|unknown ok not-installed)$/, "not Debian's docker.io");
  // Compose v2 (the plugin), and the stack was made by it
  assert.match(await onHost('docker compose version --short'), /^v?2\./);
  const composeVersions = await onHost('docker ps --filter "label=com.docker.compose.project=$1" --format "{{.Label \\"com.docker.compose.version\\"}}" | sort -u', COMPOSE_PROJECT);
  assert.match(composeVersions, /^2\.[\d.]+$/, `compose labels: ${composeVersions}`);
  // the default nginx image came through the Docker Hub mirror (the only way here); the registry
  // image was built on the host FROM node:22-bookworm-slim (kept in BuildKit's cache, not listed)
  const images = await onHost('docker image ls --format "{{.Repository}}:{{.Tag}}"');
  assert.match(images, /^nginx:1\.27-alpine$/m);
  assert.match(images, /^registry-setup\/registry:/m);

  const ca = await onHost('cat "$1"/tls/fullchain.pem', INSTALL_DIR);
  const client = (pw: string) => new RegistryClient({ baseUrl: `https://${bed.host.address}`, user: 'admin', password: pw, ca, timeoutMs: 10_000 });
  assert.deepEqual(await client(password).ping(), { anonymous: 401, authenticated: 200 });

  const logs = path.join(bed.home, '.registry-setup/logs');
  for (const log of readdirSync(logs)) {
    const text = readFileSync(path.join(logs, log), 'utf8');
    assert.ok(!text.includes(password), `no registry password in the command log ${log}`);
    assert.ok(!text.includes(bed.sudoPassword), `no sudo password in the command log ${log}`);
  }
  return { ca, ms, dockerMs: Number(docker!.ms) };
}
