// The docker CLI and engine against our registry: push, remove, pull, and compare digests, with and
// without htpasswd auth. Uses a private DOCKER_CONFIG so the user's login state is untouched.
// 127.0.0.0/8 is an insecure registry range by default in dockerd, so plain http on loopback works.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run, type RunResult } from '../helpers/exec.js';
import { withLogs } from '../helpers/fixtures.js';
import { writeHtpasswd } from '../helpers/htpasswd.js';
import { basicAuth } from '../helpers/net.js';
import { makeTar } from '../helpers/oci.js';
import { startOurRegistry, type RunningRegistry } from '../helpers/registries.js';
import { TempDirs } from '../helpers/tmp.js';

async function engineProblem(): Promise<string | undefined> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 30_000 });
    return undefined;
  } catch (e) {
    return `no usable docker engine (\`docker info\` failed): ${(e as Error).message.split('\n').slice(0, 6).join(' | ')}`;
  }
}

const problem = await engineProblem();
if (problem && process.env.CI) {
  // In CI the engine is part of the testbed (.ci/run starts it): its absence is a failure.
  test('docker engine is available', () => assert.fail(problem));
}
const skip = problem ? (process.env.CI ? 'docker engine missing: see the failing test "docker engine is available"' : problem) : false;

const tmp = new TempDirs();
let dockerConfig = '';
const createdRefs = new Set<string>();

function docker(args: readonly string[], opts: { input?: string; allowFailure?: boolean; redact?: string[]; timeoutMs?: number } = {}): Promise<RunResult> {
  return run('docker', args, {
    env: { ...process.env, DOCKER_CONFIG: dockerConfig },
    input: opts.input,
    allowFailure: opts.allowFailure,
    redact: opts.redact,
    timeoutMs: opts.timeoutMs ?? 180_000,
  });
}

before(async () => {
  dockerConfig = await tmp.make('rs-docker-config-');
});

after(async () => {
  if (createdRefs.size > 0) await docker(['rmi', '-f', ...createdRefs], { allowFailure: true, timeoutMs: 60_000 });
  await tmp.cleanup();
});

/** A one-file rootfs tar, imported as an image tagged `ref`; returns the image id. */
async function importTinyImage(ref: string): Promise<string> {
  const dir = await tmp.make('rs-docker-rootfs-');
  const tarFile = join(dir, 'rootfs.tar');
  await writeFile(tarFile, makeTar([{ name: 'hello.txt', data: Buffer.from(`hello from registry-setup e2e ${randomBytes(8).toString('hex')}\n`) }]));
  const res = await docker(['import', '--message', 'registry-setup e2e', tarFile, ref]);
  createdRefs.add(ref);
  const id = res.stdout.trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/, `docker import printed ${JSON.stringify(res.stdout)}`);
  return id;
}

interface Inspected {
  Id: string;
  RepoDigests: string[];
  RepoTags: string[];
}

async function inspect(ref: string): Promise<Inspected> {
  const res = await docker(['image', 'inspect', ref]);
  const list = JSON.parse(res.stdout) as Inspected[];
  assert.equal(list.length, 1);
  return list[0]!;
}

/** push → rmi → pull, asserting the digest docker reports, the registry serves, and the image id. */
async function pushRemovePull(reg: RunningRegistry, creds?: { user: string; password: string }): Promise<string> {
  const repo = 'e2e/tiny';
  const tag = `t-${randomBytes(4).toString('hex')}`;
  const ref = `${reg.host}/${repo}:${tag}`;
  const imageId = await importTinyImage(ref);

  const pushed = await docker(['push', ref]);
  const m = pushed.stdout.match(new RegExp(`${tag}: digest: (sha256:[0-9a-f]{64}) size: (\\d+)`));
  assert.ok(m, `docker push did not report a digest:\n${pushed.stdout}`);
  const digest = m[1]!;
  assert.ok((await inspect(ref)).RepoDigests.includes(`${reg.host}/${repo}@${digest}`), 'RepoDigests after push');

  // the registry serves the same digest for the tag
  const headers: Record<string, string> = {
    accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
  };
  if (creds) headers.authorization = basicAuth(creds.user, creds.password);
  const head = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers, signal: AbortSignal.timeout(10_000) });
  assert.equal(head.status, 200, `HEAD /v2/${repo}/manifests/${tag}`);
  assert.equal(head.headers.get('docker-content-digest'), digest, 'Docker-Content-Digest of the pushed tag');

  await docker(['rmi', ref]);
  const gone = await docker(['image', 'inspect', ref], { allowFailure: true });
  assert.notEqual(gone.code, 0, `${ref} still present after docker rmi`);

  const pulled = await docker(['pull', ref]);
  assert.match(pulled.stdout, new RegExp(`Digest: ${digest}`), `docker pull output:\n${pulled.stdout}`);
  const pulledImage = await inspect(ref);
  assert.equal(pulledImage.Id, imageId, 'image id (config digest) after pull');
  assert.ok(pulledImage.RepoDigests.includes(`${reg.host}/${repo}@${digest}`), `RepoDigests after pull: ${pulledImage.RepoDigests.join(', ')}`);

  // pulling by digest works too
  const byDigest = await docker(['pull', `${reg.host}/${repo}@${digest}`]);
  assert.match(byDigest.stdout, new RegExp(digest));
  createdRefs.add(`${reg.host}/${repo}@${digest}`);
  return ref;
}

describe('docker CLI ↔ our registry (no auth)', { skip }, () => {
  let reg: RunningRegistry | undefined;
  before(async () => {
    reg = await startOurRegistry();
  });
  after(async () => {
    await reg?.stop();
  });

  test('docker push, rmi, pull: same digest and image id', async () => {
    assert.ok(reg);
    const r = reg;
    await withLogs(r, () => pushRemovePull(r));
  });
});

describe('docker CLI ↔ our registry (htpasswd)', { skip }, () => {
  const user = 'docker-e2e';
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  let reg: RunningRegistry | undefined;
  before(async () => {
    const dir = await tmp.make('rs-docker-auth-');
    reg = await startOurRegistry({ htpasswd: await writeHtpasswd(join(dir, 'htpasswd'), [{ user, password }]) });
  });
  after(async () => {
    await reg?.stop();
  });

  test('push is refused before login', async () => {
    assert.ok(reg);
    const r = reg;
    await withLogs(r, async () => {
      const ref = `${r.host}/e2e/tiny:anon-${randomBytes(4).toString('hex')}`;
      await importTinyImage(ref);
      const res = await docker(['push', ref], { allowFailure: true });
      assert.notEqual(res.code, 0, `anonymous docker push succeeded:\n${res.stdout}`);
      assert.match(res.stderr + res.stdout, /no basic auth credentials|unauthorized|authentication required/i);
    });
  });

  test('wrong password is refused by docker login', async () => {
    assert.ok(reg);
    const r = reg;
    await withLogs(r, async () => {
      const res = await docker(['login', r.host, '-u', user, '--password-stdin'], { input: `${password}x\n`, allowFailure: true, redact: [password] });
      assert.notEqual(res.code, 0, 'docker login with a wrong password succeeded');
    });
  });

  test('docker login, push, rmi, pull, logout', async () => {
    assert.ok(reg);
    const r = reg;
    await withLogs(r, async () => {
      const login = await docker(['login', r.host, '-u', user, '--password-stdin'], { input: `${password}\n`, redact: [password] });
      assert.match(login.stdout, /Login Succeeded/);
      const config = JSON.parse(await readFile(join(dockerConfig, 'config.json'), 'utf8')) as { auths?: Record<string, unknown> };
      assert.ok(config.auths?.[r.host], `private DOCKER_CONFIG has no entry for ${r.host}`);

      const ref = await pushRemovePull(r, { user, password });

      await docker(['logout', r.host]);
      const afterLogout = JSON.parse(await readFile(join(dockerConfig, 'config.json'), 'utf8')) as { auths?: Record<string, unknown> };
      assert.equal(afterLogout.auths?.[r.host], undefined, 'credentials left after docker logout');
      const res = await docker(['pull', ref], { allowFailure: true });
      assert.notEqual(res.code, 0, `docker pull ${ref} succeeded after logout`);
      assert.match(res.stderr + res.stdout, /no basic auth credentials|unauthorized|authentication required/i);
    });
  });
});
