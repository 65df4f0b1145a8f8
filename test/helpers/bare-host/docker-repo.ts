// A stand-in for Docker's apt repository (https://download.docker.com/linux/debian): Debian's own
// Docker binaries repackaged under Docker's package names and relationships, in a repository signed
// with a throwaway key. Debian's packages declare `Conflicts: docker-ce` (and docker-ce-cli), so thin
// wrappers cannot work; renaming the real packages keeps the deploy's install path unmodified.
//
// Layout (served as https://download.docker.com/ by repo-server.ts):
//   linux/debian/gpg                                   armored public key
//   linux/debian/dists/<suite>/{Release,InRelease,Release.gpg}
//   linux/debian/dists/<suite>/stable/binary-amd64/Packages(.gz)
//   linux/debian/pool/<suite>/stable/<name>_<version>_amd64.deb
// Built once per machine under /var/tmp (keyed by a hash of the recipe), then reused.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, cp, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { run } from '../exec.js';
import { removeDir } from '../tmp.js';
import { DEBIAN_MIRROR, type DebianSuite } from './root.js';

/**
 * Which Debian release each Debian package is taken from, per suite of the stand-in repository.
 * Debian 13's Docker, containerd, buildx and compose v2 need glibc 2.34 and run on Debian 12 as
 * well; runc needs 2.38, so bookworm's containerd.io carries bookworm's runc (Docker's own
 * packages are likewise built once per suite).
 */
const SOURCES: Record<DebianSuite, Record<string, DebianSuite>> = {
  trixie: {},
  bookworm: { runc: 'bookworm' },
};
const DEFAULT_SOURCE: DebianSuite = 'trixie';
const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

interface Target {
  /** Docker's package name */
  name: string;
  /** Debian packages whose contents it carries */
  from: string[];
  /** relationship fields set as Docker's packages declare them (Debian's are dropped) */
  conflicts: string;
  replaces?: string;
  provides?: string;
  /** paths (relative to the package root) Docker's package does not ship */
  drop?: string[];
}

const TARGETS: Target[] = [
  { name: 'docker-ce', from: ['docker.io'], conflicts: 'docker (<< 1.5~), docker-engine, docker.io', replaces: 'docker-engine' },
  { name: 'docker-ce-cli', from: ['docker-cli'], conflicts: 'docker (<< 1.5~), docker-engine, docker-cli, podman-docker' },
  { name: 'containerd.io', from: ['containerd', 'runc'], conflicts: 'containerd, runc', replaces: 'containerd, runc', provides: 'containerd, runc' },
  { name: 'docker-buildx-plugin', from: ['docker-buildx'], conflicts: 'docker-buildx' },
  // Docker's plugin ships no /usr/bin/docker-compose: only `docker compose` works
  { name: 'docker-compose-plugin', from: ['docker-compose'], conflicts: 'docker-compose', drop: ['usr/bin/docker-compose'] },
];

/** Debian names → Docker names in Depends/Recommends/Suggests; null drops the relation. */
const RENAME: Record<string, string | null> = {
  'docker.io': 'docker-ce',
  'docker-cli': 'docker-ce-cli',
  containerd: 'containerd.io',
  runc: null, // inside containerd.io, as in Docker's package
  'docker-buildx': 'docker-buildx-plugin',
  'docker-compose': 'docker-compose-plugin',
};

const RECIPE_VERSION = 2;

export const DOCKER_REPO_SUITES = Object.keys(SOURCES) as DebianSuite[];

function recipeHash(): string {
  return createHash('sha256').update(JSON.stringify({ RECIPE_VERSION, SOURCES, DEFAULT_SOURCE, TARGETS, RENAME })).digest('hex').slice(0, 12);
}

// ---------------------------------------------------------------------------------------------
// control files

type Control = [field: string, value: string][];

export function parseControl(text: string): Control {
  const fields: Control = [];
  for (const line of text.replace(/\n+$/, '').split('\n')) {
    if (/^\s/.test(line) && fields.length > 0) fields[fields.length - 1]![1] += `\n${line}`;
    else {
      const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
      if (!m) throw new Error(`bad control line: ${line}`);
      fields.push([m[1]!, m[2]!]);
    }
  }
  return fields;
}

export function formatControl(fields: Control): string {
  return `${fields.map(([k, v]) => `${k}: ${v}`).join('\n')}\n`;
}

/** Renames Debian packages to Docker's in a relationship field; drops relations to merged packages. */
export function renameRelations(value: string): string {
  return value
    .split(',')
    .map((rel) =>
      rel
        .split('|')
        .map((alt) => {
          const name = /^\s*([a-z0-9.+-]+)/.exec(alt)?.[1] ?? '';
          if (!(name in RENAME)) return alt.trim();
          const to = RENAME[name];
          return to === null ? '' : alt.trim().replace(name, to);
        })
        .filter(Boolean)
        .join(' | '),
    )
    .filter(Boolean)
    .join(', ');
}

function retarget(source: Control, t: Target): Control {
  const out: Control = [];
  for (const [k, v] of source) {
    if (['Conflicts', 'Breaks', 'Replaces', 'Provides', 'Built-Using', 'Static-Built-Using'].includes(k)) continue;
    if (k === 'Package') out.push([k, t.name]);
    else if (['Depends', 'Pre-Depends', 'Recommends', 'Suggests'].includes(k)) {
      const renamed = renameRelations(v);
      if (renamed) out.push([k, renamed]);
    } else out.push([k, v]);
  }
  out.push(['Conflicts', t.conflicts]);
  if (t.replaces) out.push(['Replaces', t.replaces]);
  if (t.provides) out.push(['Provides', t.provides]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// building

/** `apt-get download` from Debian with an apt configuration of its own (this machine's is untouched). */
async function downloadDebs(work: string, suite: DebianSuite, packages: string[]): Promise<Map<string, string>> {
  const apt = join(work, `apt-${suite}`);
  for (const d of ['lists/partial', 'cache/archives/partial', 'etc/apt.conf.d', 'etc/preferences.d', 'debs']) await mkdir(join(apt, d), { recursive: true });
  await writeFile(join(apt, 'etc/sources.list'), `deb [signed-by=${DEBIAN_KEYRING}] ${DEBIAN_MIRROR} ${suite} main\n`);
  await writeFile(join(apt, 'status'), '');
  const options = [
    ['Dir::Etc', join(apt, 'etc')],
    ['Dir::Etc::sourcelist', join(apt, 'etc/sources.list')],
    ['Dir::Etc::sourceparts', '-'],
    ['Dir::State::Lists', join(apt, 'lists')],
    ['Dir::State::status', join(apt, 'status')],
    ['Dir::Cache', join(apt, 'cache')],
    ['Debug::NoLocking', '1'],
    ['APT::Architecture', 'amd64'],
    ['APT::Sandbox::User', 'root'],
  ].flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  await run('apt-get', [...options, 'update'], { timeoutMs: 300_000 });
  await run('apt-get', [...options, 'download', ...packages], { timeoutMs: 600_000, cwd: join(apt, 'debs') });
  const found = new Map<string, string>();
  for (const file of await readdir(join(apt, 'debs'))) found.set(file.split('_')[0]!, join(apt, 'debs', file));
  for (const p of packages) if (!found.has(p)) throw new Error(`apt-get download ${p} produced no .deb`);
  return found;
}

async function repackage(work: string, debs: Map<string, string>, t: Target, pool: string): Promise<void> {
  const root = join(work, 'pkg', t.name);
  await mkdir(join(work, 'pkg'), { recursive: true });
  const [first, ...rest] = t.from;
  await run('dpkg-deb', ['-R', debs.get(first!)!, root], { timeoutMs: 120_000 });
  for (const extra of rest) {
    // merge another package's files (runc into containerd.io) and its md5sums
    const other = join(work, 'pkg', `${t.name}+${extra}`);
    await run('dpkg-deb', ['-R', debs.get(extra)!, other], { timeoutMs: 120_000 });
    const md5 = await readFile(join(other, 'DEBIAN/md5sums'), 'utf8').catch(() => '');
    await rm(join(other, 'DEBIAN'), { recursive: true });
    await cp(other, root, { recursive: true, verbatimSymlinks: true });
    await appendFile(join(root, 'DEBIAN/md5sums'), md5);
    await rm(other, { recursive: true });
  }
  for (const path of t.drop ?? []) {
    await rm(join(root, path), { force: true });
    const md5 = join(root, 'DEBIAN/md5sums');
    if (existsSync(md5)) await writeFile(md5, (await readFile(md5, 'utf8')).split('\n').filter((l) => !l.endsWith(`  ${path}`)).join('\n'));
  }
  const control = parseControl(await readFile(join(root, 'DEBIAN/control'), 'utf8'));
  await writeFile(join(root, 'DEBIAN/control'), formatControl(retarget(control, t)));
  const version = control.find(([k]) => k === 'Version')![1];
  // gzip -1: Debian's xz takes minutes on 2 cores for ~250 MiB of binaries
  await run('dpkg-deb', ['-Zgzip', '-z1', '-b', root, join(pool, `${t.name}_${version.replace(/^\d+:/, '')}_amd64.deb`)], { timeoutMs: 300_000 });
  await rm(root, { recursive: true });
}

/** The Packages index of the .debs in `<root>/<poolDir>` (what dpkg-scanpackages writes). */
async function packagesIndex(root: string, poolDir: string): Promise<string> {
  const stanzas: string[] = [];
  for (const file of (await readdir(join(root, poolDir))).filter((f) => f.endsWith('.deb')).sort()) {
    const path = join(root, poolDir, file);
    const control = (await run('dpkg-deb', ['-f', path], { timeoutMs: 60_000 })).stdout.replace(/\n+$/, '');
    const body = await readFile(path);
    const sum = (algo: string) => createHash(algo).update(body).digest('hex');
    stanzas.push(`${control}\nFilename: ${poolDir}/${file}\nSize: ${body.length}\nMD5sum: ${sum('md5')}\nSHA256: ${sum('sha256')}\n`);
  }
  return stanzas.join('\n');
}

function releaseFile(suite: string, files: { path: string; body: Buffer }[]): string {
  const sums = (algo: string) => files.map((f) => ` ${createHash(algo).update(f.body).digest('hex')} ${String(f.body.length).padStart(9)} ${f.path}`).join('\n');
  return [
    'Origin: Docker',
    'Label: Docker CE',
    `Suite: ${suite}`,
    `Codename: ${suite}`,
    'Architectures: amd64',
    'Components: stable',
    'Description: registry-setup test stand-in for Docker\'s apt repository',
    `Date: ${new Date().toUTCString()}`,
    'MD5Sum:',
    sums('md5'),
    'SHA256:',
    sums('sha256'),
    '',
  ].join('\n');
}

async function signRepository(work: string, linux: string, suites: readonly string[]): Promise<void> {
  const gnupg = join(work, 'gnupg');
  await mkdir(gnupg, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: gnupg };
  const gpg = (args: string[]) => run('gpg', ['--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { env, timeoutMs: 60_000 });
  try {
    await gpg(['--quick-gen-key', 'registry-setup test Docker repository <docker-repo@registry-setup.test>', 'ed25519', 'sign', 'never']);
    await writeFile(join(linux, 'gpg'), (await gpg(['--armor', '--export'])).stdout);
    for (const suite of suites) {
      const dist = join(linux, 'dists', suite);
      await gpg(['--clearsign', '--digest-algo', 'SHA256', '-o', join(dist, 'InRelease'), join(dist, 'Release')]);
      await gpg(['--armor', '--detach-sign', '--digest-algo', 'SHA256', '-o', join(dist, 'Release.gpg'), join(dist, 'Release')]);
    }
  } finally {
    await run('gpgconf', ['--kill', 'all'], { env, allowFailure: true, timeoutMs: 10_000 });
  }
}

export interface DockerRepo {
  /** the directory served as https://download.docker.com/ */
  root: string;
  builtMs: number;
}

/** The stand-in repository, built when missing. */
export async function ensureDockerRepo(): Promise<DockerRepo> {
  const root = `/var/tmp/registry-setup-test-docker-repo-${recipeHash()}`;
  if (existsSync(join(root, 'linux/debian/gpg'))) return { root, builtMs: 0 };
  const started = Date.now();
  const work = await mkdtemp('/var/tmp/rs-docker-repo-build-');
  try {
    const wanted = [...new Set(TARGETS.flatMap((t) => t.from))];
    const bySource = new Map<DebianSuite, Map<string, string>>();
    for (const source of new Set([DEFAULT_SOURCE, ...DOCKER_REPO_SUITES.flatMap((s) => Object.values(SOURCES[s]))])) {
      bySource.set(source, await downloadDebs(work, source, source === DEFAULT_SOURCE ? wanted : wanted.filter((p) => DOCKER_REPO_SUITES.some((s) => SOURCES[s][p] === source))));
    }
    const linux = join(work, 'out/linux/debian');
    for (const suite of DOCKER_REPO_SUITES) {
      const debs = new Map(wanted.map((p) => [p, bySource.get(SOURCES[suite][p] ?? DEFAULT_SOURCE)!.get(p)!]));
      // one pool per suite, as Docker's repository has: the same name and version may differ inside
      const pool = join(linux, 'pool', suite, 'stable');
      await mkdir(pool, { recursive: true });
      for (const t of TARGETS) await repackage(join(work, suite), debs, t, pool);
      const packages = await packagesIndex(linux, `pool/${suite}/stable`);
      const dir = join(linux, 'dists', suite, 'stable/binary-amd64');
      await mkdir(dir, { recursive: true });
      const plain = Buffer.from(packages);
      const gz = gzipSync(plain);
      await writeFile(join(dir, 'Packages'), plain);
      await writeFile(join(dir, 'Packages.gz'), gz);
      await writeFile(
        join(linux, 'dists', suite, 'Release'),
        releaseFile(suite, [
          { path: 'stable/binary-amd64/Packages', body: plain },
          { path: 'stable/binary-amd64/Packages.gz', body: gz },
        ]),
      );
    }
    await signRepository(work, linux, DOCKER_REPO_SUITES);
    if ((await stat(join(linux, 'gpg'))).size === 0) throw new Error('gpg exported an empty public key');
    await rm(root, { recursive: true, force: true });
    await rename(join(work, 'out'), root);
    return { root, builtMs: Date.now() - started };
  } finally {
    await removeDir(work);
  }
}
