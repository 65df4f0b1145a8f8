// Real clients against `serve --access`: docker (the local engine), podman, buildah, skopeo and
// containerd's ctr (its own containerd on a private socket). For each: an anonymous pull of a
// public repository, a read-only user's push refused with "denied" in the client's own message and
// nothing written, a push to an allowed repository, the read-only user's pull of it, and a tag
// overwrite without `update` refused. skopeo also shows a mount from a repository the pusher may
// not read: the registry answers with an upload session and the push still completes.
// Every client's stderr is kept and printed when an expectation fails. Images are a few bytes.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run, type RunResult } from '../helpers/exec.js';
import { writeHtpasswd } from '../helpers/htpasswd.js';
import { basicAuth } from '../helpers/net.js';
import { buildOciImage } from '../helpers/oci.js';
import { startPty } from '../helpers/pty.js';
import { startOurRegistry, type RunningRegistry } from '../helpers/registries.js';
import { startProcess, type ManagedProcess } from '../helpers/process.js';
import { TempDirs } from '../helpers/tmp.js';

const USERS = { admin: 'adm-pw-1', ci: 'ci-pw-22', server: 'srv-pw-333', dev: 'dev-pw-4444' } as const;
type User = keyof typeof USERS;
const CI_TOKEN_SECRET = `rst_${randomBytes(32).toString('base64url')}`;

const POLICY = `
repositories:
  "app/**":
    policies:
      - users: [ci, ci-token]
        actions: [read, create]
    defaultPolicy: [read]
  "public/**":
    anonymousPolicy: [read]
    defaultPolicy: [read]
  "scratch/**":
    defaultPolicy: [read, create]
  "secret/**":
    policies:
      - users: [dev]
        actions: [read, create]
adminPolicy:
  users: [admin]
  actions: [read, create, update, delete]
`;

async function missing(): Promise<string | undefined> {
  const problems: string[] = [];
  for (const [tool, args] of [
    ['docker', ['info', '--format', '{{.ServerVersion}}']],
    ['podman', ['--version']],
    ['buildah', ['--version']],
    ['skopeo', ['--version']],
    ['ctr', ['--version']],
    ['containerd', ['--version']],
    ['htpasswd', ['-h']],
  ] as const) {
    const res = await run(tool, args, { allowFailure: true, timeoutMs: 30_000 }).catch((e: Error) => ({ code: -1, stderr: e.message }) as RunResult);
    if (res.code !== 0 && !(tool === 'htpasswd' && res.code === 2)) problems.push(`${tool} unusable (${(res.stderr ?? '').split('\n')[0]})`);
  }
  return problems.length ? problems.join('; ') : undefined;
}

const problem = await missing();
if (problem && process.env.CI) test('clients for the access matrix are available', () => assert.fail(problem));
const skip = problem ? (process.env.CI ? 'clients missing: see the failing test above' : problem) : false;

const tmp = new TempDirs();
/** every client's output, in order, for the failure message */
const transcript: string[] = [];

function record(client: string, what: string, res: RunResult | { code: number | null; stdout: string; stderr: string }): void {
  transcript.push(`[${client}] ${what}: exit ${res.code}\n${res.stderr.trim()}${res.stdout.trim() ? `\n${res.stdout.trim().slice(-400)}` : ''}`);
}

function explain(): string {
  return `\n--- client transcript (last 12) ---\n${transcript.slice(-12).join('\n')}`;
}

/** A refusal by the policy: non-zero exit and "denied" in the client's own message. */
function assertDenied(client: string, res: { code: number | null; stdout: string; stderr: string }): void {
  assert.notEqual(res.code, 0, `${client}: the push succeeded${explain()}`);
  assert.match(res.stderr + res.stdout, /denied/i, `${client}: no "denied" in the message${explain()}`);
}

describe('clients against serve --access', { skip }, () => {
  let reg: RunningRegistry;
  let proxy: RecordingProxy;
  const env: NodeJS.ProcessEnv = {};
  const authfiles = {} as Record<User, string>;
  let containerd: ManagedProcess | undefined;
  let ctrSocket = '';
  const namespace = `rs-access-${process.pid}`;
  let dockerConfig = '';
  const dockerRefs = new Set<string>();
  let started = 0;

  const api = (user: User | null, p: string, init: RequestInit = {}) =>
    fetch(reg.url + p, { ...init, headers: { ...(user ? { authorization: basicAuth(user, USERS[user]) } : {}), ...(init.headers as Record<string, string>) } });
  const digestOf = async (repo: string, tag: string) =>
    (await api('admin', `/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } })).headers.get('docker-content-digest');
  const repositoryOnDisk = (repo: string) => existsSync(join(reg.dataDir, 'docker/registry/v2/repositories', repo));

  before(async () => {
    started = Date.now();
    const dir = await tmp.make('rs-access-clients-');
    const htpasswd = await writeHtpasswd(join(dir, 'htpasswd'), Object.entries(USERS).map(([user, password]) => ({ user, password })));
    await writeFile(join(dir, 'access.yaml'), POLICY);
    // a CI token for app/** only (the policy would let it create in scratch/** too)
    const tokenSha = createHash('sha256').update(CI_TOKEN_SECRET).digest('hex');
    await writeFile(join(dir, 'tokens.yaml'), `tokens:\n  - name: ci-token\n    sha256: ${tokenSha}\n    repositories: ["app/**"]\n    actions: [read, create]\n`, { mode: 0o600 });
    reg = await startOurRegistry({ htpasswd, extraArgs: ['--access', join(dir, 'access.yaml'), '--tokens', join(dir, 'tokens.yaml')] });
    proxy = await startRecordingProxy(reg.port);
    // containers tools: private HOME, runtime and config dirs, so only our authfiles count
    const home = join(dir, 'home');
    await mkdir(join(home, 'run'), { recursive: true, mode: 0o700 });
    Object.assign(env, { PATH: process.env.PATH, HOME: home, XDG_RUNTIME_DIR: join(home, 'run'), XDG_CONFIG_HOME: join(home, 'config'), TMPDIR: dir });
    for (const user of Object.keys(USERS) as User[]) {
      authfiles[user] = join(dir, `${user}.auth.json`);
      const auth = Buffer.from(`${user}:${USERS[user]}`).toString('base64');
      await writeFile(authfiles[user], JSON.stringify({ auths: { [reg.host]: { auth }, [proxy.host]: { auth } } }), { mode: 0o600 });
    }
    dockerConfig = join(dir, 'docker');
    await mkdir(dockerConfig);
    // two tiny images in public/seed, pushed by the admin
    const layout = join(dir, 'layout');
    await buildOciImage(layout, 'v1');
    await buildOciImage(layout, 'v2');
    for (const tag of ['v1', 'v2']) {
      await run('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', '--dest-authfile', authfiles.admin, `oci:${layout}:${tag}`, `docker://${reg.host}/public/seed:${tag}`], { env, timeoutMs: 60_000 });
    }
    // containerd of our own (no CRI), on a private socket
    const ctd = join(dir, 'ctd');
    await mkdir(ctd);
    ctrSocket = join(ctd, 'c.sock');
    await writeFile(
      join(ctd, 'config.toml'),
      `version = 2\nroot = "${ctd}/root"\nstate = "${ctd}/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${ctrSocket}"\n[ttrpc]\n  address = "${ctrSocket}.ttrpc"\n[debug]\n  address = ""\n`,
    );
    containerd = startProcess('containerd', ['--config', join(ctd, 'config.toml')], { name: 'containerd' });
    await containerd.waitForLine(/containerd successfully booted/, 30_000, 'any');
  });

  after(async () => {
    if (dockerRefs.size) await run('docker', ['rmi', '-f', ...dockerRefs], { env: { ...process.env, DOCKER_CONFIG: dockerConfig }, allowFailure: true, timeoutMs: 60_000 });
    await containerd?.stop();
    await proxy?.close();
    await reg?.stop();
    await tmp.cleanup();
    // what each client told its user when refused, for the record
    const refusals = transcript.filter((t) => /read-only push|overwrite/.test(t)).map((t) => `${t.split('\n')[0]} | ${t.split('\n').find((l) => /denied/i.test(l))?.trim().slice(-160) ?? '(no "denied" line)'}`);
    process.stderr.write(`access client matrix: ${((Date.now() - started) / 1000).toFixed(1)} s\n${refusals.join('\n')}\n`);
  });

  /** The matrix every client goes through; `ops` says how that client pulls, tags and pushes. */
  async function matrix(client: string, ops: ClientOps): Promise<void> {
    const repo = `app/${client}`;
    const pulled = await ops.pull(null, 'public/seed', 'v1');
    record(client, 'anonymous pull public/seed:v1', pulled);
    assert.equal(pulled.code, 0, `${client}: anonymous pull of a public repository${explain()}`);
    record(client, 'anonymous pull public/seed:v2', await ops.pull(null, 'public/seed', 'v2'));

    const denied = await ops.push('server', 'public/seed', 'v1', repo, 'v1');
    record(client, `read-only push to ${repo}`, denied);
    assertDenied(client, denied);
    assert.equal(repositoryOnDisk(repo), false, `${client}: the refused push wrote into ${repo}${explain()}`);

    const pushed = await ops.push('ci', 'public/seed', 'v1', repo, 'v1');
    record(client, `ci push to ${repo}`, pushed);
    assert.equal(pushed.code, 0, `${client}: push to an allowed repository${explain()}`);
    const first = await digestOf(repo, 'v1');
    assert.ok(first, `${client}: ${repo}:v1 not there after the push`);

    const read = await ops.pull('server', repo, 'v1');
    record(client, `read-only pull of ${repo}`, read);
    assert.equal(read.code, 0, `${client}: read-only pull${explain()}`);

    const overwrite = await ops.push('ci', 'public/seed', 'v2', repo, 'v1');
    record(client, `ci overwrite of ${repo}:v1`, overwrite);
    assertDenied(client, overwrite);
    assert.equal(await digestOf(repo, 'v1'), first, `${client}: the tag moved${explain()}`);
  }

  interface ClientOps {
    pull(user: User | null, repo: string, tag: string): Promise<RunResult>;
    /** push (the local copy of) src:tag as dest:destTag */
    push(user: User, src: string, tag: string, dest: string, destTag: string): Promise<RunResult>;
  }

  test('docker', async () => {
    const denv = { ...process.env, DOCKER_CONFIG: dockerConfig };
    const docker = (args: string[], input?: string) => run('docker', args, { env: denv, input, allowFailure: true, timeoutMs: 120_000, redact: Object.values(USERS) });
    const login = async (user: User | null) => {
      if (user === null) return void (await docker(['logout', reg.host]));
      const res = await docker(['login', reg.host, '-u', user, '--password-stdin'], `${USERS[user]}\n`);
      assert.equal(res.code, 0, `docker login ${user}: ${res.stderr}`);
    };
    await matrix('docker', {
      async pull(user, repo, tag) {
        await login(user);
        dockerRefs.add(`${reg.host}/${repo}:${tag}`);
        return docker(['pull', `${reg.host}/${repo}:${tag}`]);
      },
      async push(user, src, tag, dest, destTag) {
        await login(user);
        const ref = `${reg.host}/${dest}:${destTag}`;
        await docker(['tag', `${reg.host}/${src}:${tag}`, ref]);
        dockerRefs.add(ref);
        return docker(['push', ref]);
      },
    });
    await login(null);
  });

  test('docker with a CI token: login, push inside its scope, refused outside it', async () => {
    const denv = { ...process.env, DOCKER_CONFIG: dockerConfig };
    const docker = (args: string[], input?: string) => run('docker', args, { env: denv, input, allowFailure: true, timeoutMs: 120_000, redact: [CI_TOKEN_SECRET] });
    const login = await docker(['login', reg.host, '-u', 'ci-token', '--password-stdin'], `${CI_TOKEN_SECRET}\n`);
    record('docker', 'login ci-token', login);
    assert.equal(login.code, 0, explain());
    const inside = `${reg.host}/app/docker-token:v1`;
    const outside = `${reg.host}/scratch/docker-token:v1`;
    for (const ref of [inside, outside]) {
      await docker(['tag', `${reg.host}/public/seed:v1`, ref]);
      dockerRefs.add(ref);
    }
    const ok = await docker(['push', inside]);
    record('docker', 'ci-token push inside its scope', ok);
    assert.equal(ok.code, 0, explain());
    const refused = await docker(['push', outside]);
    record('docker', 'ci-token read-only push outside its scope', refused);
    assertDenied('docker', refused);
    assert.equal(repositoryOnDisk('scratch/docker-token'), false, explain());
    await docker(['logout', reg.host]);
  });

  for (const tool of ['podman', 'buildah'] as const) {
    test(tool, async () => {
      const root = await tmp.make(`rs-access-${tool}-`);
      const base = ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs'];
      const cli = (args: string[]) => run(tool, [...base, ...args], { env, allowFailure: true, timeoutMs: 120_000 });
      const auth = (user: User | null) => (user ? ['--authfile', authfiles[user]] : []);
      await matrix(tool, {
        pull: (user, repo, tag) => cli(['pull', '--tls-verify=false', ...auth(user), `${reg.host}/${repo}:${tag}`]),
        push: (user, src, tag, dest, destTag) => cli(['push', '--tls-verify=false', ...auth(user), `${reg.host}/${src}:${tag}`, `docker://${reg.host}/${dest}:${destTag}`]),
      });
    });
  }

  test('skopeo, and a mount from an unreadable repository that leaks nothing', async () => {
    const skopeo = (args: string[]) => run('skopeo', ['--insecure-policy', ...args], { env, allowFailure: true, timeoutMs: 120_000 });
    const layout = await tmp.make('rs-access-skopeo-');
    await matrix('skopeo', {
      // pulls go to a local OCI layout; pushes copy registry to registry
      pull: (user, repo, tag) => skopeo(['copy', '--src-tls-verify=false', ...(user ? ['--src-authfile', authfiles[user]] : []), `docker://${reg.host}/${repo}:${tag}`, `oci:${layout}:${repo.replace('/', '-')}-${tag}`]),
      push: (user, src, tag, dest, destTag) =>
        skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-authfile', authfiles[user], '--dest-authfile', authfiles[user], `docker://${reg.host}/${src}:${tag}`, `docker://${reg.host}/${dest}:${destTag}`]),
    });

    // dev puts an image into secret/, which ci may not read; then ci copies the same image into
    // app/ with skopeo, which knows the blobs are in secret/ and asks to mount them from there
    const own = await tmp.make('rs-access-mount-');
    await buildOciImage(own, 'private');
    const viaProxy = (repo: string) => `docker://${proxy.host}/${repo}:private`;
    const devPush = await skopeo(['copy', '--dest-tls-verify=false', '--dest-authfile', authfiles.dev, `oci:${own}:private`, viaProxy('secret/db')]);
    record('skopeo', 'dev push secret/db', devPush);
    assert.equal(devPush.code, 0, explain());
    proxy.requests.length = 0;
    const ciPush = await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--dest-authfile', authfiles.ci, `oci:${own}:private`, viaProxy('app/copied')]);
    record('skopeo', 'ci push of the same image to app/copied', ciPush);
    assert.equal(ciPush.code, 0, `the push must complete by uploading${explain()}`);
    // skopeo looks for the blobs where it last saw them (secret/db), by HEAD or by a mount: every
    // such request must be refused without telling whether the blob is there
    const probes = proxy.requests.filter((r) => r.url.startsWith('/v2/secret/') || r.url.includes('from=secret'));
    const seen = proxy.requests.map((r) => `${r.method} ${r.url} ${r.status}`).join(', ');
    assert.ok(probes.length > 0, `skopeo never looked for the blobs in secret/db: ${seen}`);
    for (const r of probes) {
      const refused = r.method === 'POST' ? r.status === 202 : r.status === 403;
      assert.ok(refused, `${r.method} ${r.url} answered ${r.status}: ${seen}`);
    }
    assert.ok(proxy.requests.some((r) => r.method === 'PUT' && r.url.includes('/v2/app/copied/blobs/uploads/') && r.status === 201), 'the bytes were uploaded instead');
  });

  test('ctr (containerd)', async () => {
    const ctr = ['ctr', '--address', ctrSocket, '-n', namespace];
    const plain = (args: string[]) => run(ctr[0]!, [...ctr.slice(1), ...args], { allowFailure: true, timeoutMs: 120_000 });
    /** ctr takes the password only as an argument or at its prompt: the prompt, through a terminal */
    const withPassword = async (user: User, args: string[]) => {
      const session = startPty([...ctr, ...args.slice(0, -1), '--user', user, args[args.length - 1]!]);
      await session.expect(/Password:/, 30_000);
      session.send(`${USERS[user]}\r`);
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([session.exited, new Promise<null>((r) => (timer = setTimeout(() => r(null), 120_000)))]);
      clearTimeout(timer);
      if (code === null) session.kill();
      const output = session.output();
      return { code, stdout: '', stderr: output } as RunResult;
    };
    await matrix('ctr', {
      pull: (user, repo, tag) => {
        const args = ['images', 'pull', '--plain-http', '--snapshotter', 'native', `${reg.host}/${repo}:${tag}`];
        return user ? withPassword(user, args) : plain(args);
      },
      async push(user, src, tag, dest, destTag) {
        const ref = `${reg.host}/${dest}:${destTag}`;
        await plain(['images', 'rm', ref]);
        await plain(['images', 'tag', `${reg.host}/${src}:${tag}`, ref]);
        return withPassword(user, ['images', 'push', '--plain-http', ref]);
      },
    });
  });
});

interface RecordingProxy {
  host: string;
  requests: { method: string; url: string; status: number }[];
  close(): Promise<void>;
}

/** A loopback HTTP proxy to the registry that records each request and its status. */
async function startRecordingProxy(upstreamPort: number): Promise<RecordingProxy> {
  const requests: RecordingProxy['requests'] = [];
  const server = http.createServer((req, res) => {
    const upstream = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', status: answer.statusCode ?? 0 });
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
