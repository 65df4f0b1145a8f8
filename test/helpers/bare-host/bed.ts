// The bare-host test bed: a fresh Debian server (systemd as PID 1, nothing of Docker installed) on a
// bridge network of its own, and everything it would fetch from the internet served on the
// network's gateway address:
//   deb.debian.org        through a forward proxy allowing only that host (apt's proxy is scoped to it)
//   download.docker.com   the signed stand-in of Docker's repository, over HTTPS with a test CA the
//                         host trusts (the name points at the gateway in the host's /etc/hosts only)
//   Docker Hub            a mirror in /etc/docker/daemon.json (written before Docker is installed)
//                         holding the stand-in base images under the deploy's default names
// The real CLI runs as a subprocess with its own HOME, as in deploy-bed.ts.
//
//   const bed = await startBareHostBed({ suite: 'trixie', name: 'smoke' });
//   try { ... bed.cli(bed.deployArgs()) ... } finally { await bed.cleanup(); }
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa, type Result } from 'execa';
import { DEFAULT_SETTINGS } from '../../../src/settings/settings.js';
import { generateKey } from '../sshd.js';
import { ensureNginxImage, ensureNodeImage } from '../standin-images.js';
import { repoRoot } from '../registries.js';
import { TempDirs } from '../tmp.js';
import { ensureDockerRepo } from './docker-repo.js';
import { createNetwork, removeStale, startHost, type BareHost, type BareHostNetwork, type HostFile } from './host.js';
import { ADMIN_USER, ensureRootImage, type DebianSuite } from './root.js';
import { makeTestCa, pushToMirror, startAptProxy, startMirror, startStaticHttps, type Mirror, type Server, type TestCa } from './services.js';

/**
 * Who the CLI logs in as: 'admin', whose sudo needs a password, given with --sudo-password-file (the
 * case that matters on real servers). 'root' with the SSH key is kept for looking at a failure.
 */
export const LOGIN_AS: 'root' | 'admin' = 'admin';

export interface BareHostBed {
  suite: DebianSuite;
  host: BareHost;
  network: BareHostNetwork;
  ca: TestCa;
  /** the sudo password of `admin` on the host (never an argument: a 0600 file for the CLI) */
  sudoPassword: string;
  clientKeyPath: string;
  home: string;
  /** ms per phase: root image, Docker repository, mirror, boot */
  timings: Record<string, number>;
  /** `<user>@<host address>` */
  target(user?: string): string;
  /** the flags that log in: `-i key` (and the sudo password file when LOGIN_AS is admin) */
  loginArgs(): string[];
  /** `deploy <target> <login> --yes --domain <host address> --user admin --tls self-signed …extra` */
  deployArgs(extra?: string[]): string[];
  /** runs `registry-setup <args>` with the bed's HOME; never throws (check exitCode) */
  cli(args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<Result>;
  /** everything that explains a failure: the host's systemd state and journal, the servers' complaints */
  diagnostics(): Promise<string>;
  cleanup(): Promise<void>;
}

const APT_PROXY_HOSTS = ['deb.debian.org'];

async function timed<T>(timings: Record<string, number>, key: string, f: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await f();
  } finally {
    timings[key] = Date.now() - started;
  }
}

/**
 * `prebuild`: root images of other releases to build alongside this one (the first test file builds
 * them all at once, so later files find them cached).
 */
export async function startBareHostBed(opts: { suite: DebianSuite; name: string; prebuild?: DebianSuite[] }): Promise<BareHostBed> {
  const timings: Record<string, number> = {};
  const id = `rs-bare-${opts.name}-${process.pid}`;
  const tmp = new TempDirs();
  const undo: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const f of undo.splice(0).reverse()) await f().catch((e: Error) => console.error(`bare-host cleanup: ${e.message}`));
    await tmp.cleanup();
  };
  try {
    await removeStale();
    const [root, repo] = await Promise.all([
      ensureRootImage(opts.suite).then((r) => ((timings.rootBuild = r.builtMs), r)),
      ensureDockerRepo().then((r) => ((timings.repoBuild = r.builtMs), r)),
      ...(opts.prebuild ?? []).map((suite) => ensureRootImage(suite).then((r) => (timings[`rootBuild-${suite}`] = r.builtMs))),
    ]);
    const [nodeImage, nginxImage] = await Promise.all([ensureNodeImage(), ensureNginxImage()]);

    const network = await createNetwork(id);
    undo.push(() => network.remove());
    const gw = network.gateway;
    const work = await tmp.make(`${id}-`);
    const home = await tmp.make(`${id}-home-`);
    mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });

    await mkdir(path.join(work, 'ca'));
    const ca = await makeTestCa(path.join(work, 'ca'), ['download.docker.com'], [gw]);
    const caDir = path.join(work, 'ca-dir');
    mkdirSync(caDir);
    writeFileSync(path.join(caDir, 'ca.crt'), ca.caPem);

    const servers: Server[] = [];
    const proxy = await startAptProxy(gw, APT_PROXY_HOSTS);
    undo.push(() => proxy.close());
    servers.push(proxy);
    const repoServer = await startStaticHttps(gw, 443, repo.root, ca);
    undo.push(() => repoServer.close());
    servers.push(repoServer);
    await mkdir(path.join(work, 'mirror'));
    const mirror: Mirror = await startMirror(gw, path.join(work, 'mirror'), ca);
    undo.push(() => mirror.stop());
    await timed(timings, 'mirrorFill', async () => {
      await pushToMirror(mirror, caDir, nodeImage, DEFAULT_SETTINGS.nodeImage);
      await pushToMirror(mirror, caDir, nginxImage, DEFAULT_SETTINGS.nginxImage);
    });

    const clientKeyPath = await generateKey(work, 'client_ed25519');
    const clientPublicKey = readFileSync(`${clientKeyPath}.pub`, 'utf8').trim();
    const hostKey = await generateKey(work, 'ssh_host_ed25519_key');
    const sudoPassword = randomBytes(18).toString('base64url');
    const sudoPasswordFile = path.join(home, 'sudo-password');
    writeFileSync(sudoPasswordFile, `${sudoPassword}\n`, { mode: 0o600 });

    const files: HostFile[] = [
      { path: 'etc/ssh/ssh_host_ed25519_key', content: readFileSync(hostKey, 'utf8'), mode: 0o600 },
      { path: 'etc/ssh/ssh_host_ed25519_key.pub', content: readFileSync(`${hostKey}.pub`, 'utf8'), mode: 0o644 },
      { path: 'root/.ssh/authorized_keys', content: `${clientPublicKey}\n`, mode: 0o600 },
      // scoped to deb.debian.org: a plain Acquire::http::Proxy would also capture download.docker.com
      { path: 'etc/apt/apt.conf.d/01bare-host-proxy', content: `Acquire::http::Proxy::deb.debian.org "${proxy.url}/";\n`, mode: 0o644 },
      { path: 'usr/local/share/ca-certificates/registry-setup-bare-host-test-ca.crt', content: ca.caPem, mode: 0o644 },
      // before Docker is installed, so the engine's first start already uses the mirror
      { path: 'etc/docker/daemon.json', content: `${JSON.stringify({ 'registry-mirrors': [mirror.url] }, null, 2)}\n`, mode: 0o644 },
    ];
    const host = await timed(timings, 'boot', () =>
      startHost({ name: id, image: root.tag, network, hostname: `bare-${opts.suite}`, addHosts: { 'download.docker.com': gw }, files, staging: path.join(work, 'staging') }),
    );
    undo.push(() => host.remove());
    // the CA into the trust store; admin's sudo password (stdin, never an argument) and SSH key
    await host.exec(
      ['sh', '-c', 'set -e; update-ca-certificates >/dev/null; chpasswd; install -d -m 700 -o "$1" -g "$1" "/home/$1/.ssh"; printf "%s\\n" "$2" > "/home/$1/.ssh/authorized_keys"; chown "$1:$1" "/home/$1/.ssh/authorized_keys"; chmod 600 "/home/$1/.ssh/authorized_keys"', 'sh', ADMIN_USER, clientPublicKey],
      { input: `${ADMIN_USER}:${sudoPassword}\n` },
    );

    const target = (user: string = LOGIN_AS) => `${user}@${host.address}`;
    const loginArgs = () => ['-i', clientKeyPath, ...(LOGIN_AS === 'admin' ? ['--sudo-password-file', sudoPasswordFile] : [])];
    return {
      suite: opts.suite,
      host,
      network,
      ca,
      sudoPassword,
      clientKeyPath,
      home,
      timings,
      target,
      loginArgs,
      deployArgs: (extra = []) => ['deploy', target(), ...loginArgs(), '--yes', '--domain', host.address, '--user', 'admin', '--tls', 'self-signed', ...extra],
      cli: (args, o = {}) =>
        execa(process.execPath, [path.join(repoRoot, 'bin/registry-setup.js'), ...args], {
          cwd: home,
          env: { HOME: home, NO_COLOR: '1', SSH_AUTH_SOCK: '', ...o.env },
          extendEnv: true,
          input: o.input ?? '',
          reject: false,
          timeout: 10 * 60_000,
        }),
      diagnostics: async () => {
        const complaints = servers.flatMap((s) => s.problems.slice(-10));
        return `${await host.diagnostics()}\nproxy/repository complaints:\n${complaints.join('\n') || '(none)'}\nmirror log:\n${mirror.logTail(15)}`;
      },
      cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** The CLI's stderr tail, for assertion messages. */
export function tail(r: Result, lines = 30): string {
  return `exit ${r.exitCode}\nstderr:\n${String(r.stderr).split('\n').slice(-lines).join('\n')}\nstdout tail:\n${String(r.stdout).split('\n').slice(-10).join('\n')}`;
}
