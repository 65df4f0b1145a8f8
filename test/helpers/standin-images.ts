// Stand-in base images for tests on a machine that cannot pull: tiny root file systems assembled
// from this machine's own binaries (node, Debian's nginx) plus the shared libraries ldd lists, and
// loaded with `docker import`. Kept small: the vfs storage driver copies every layer per container.
//
// Each image carries a label describing its source (binary path, size, mtime); an existing tag with
// the same label is reused, so calling these is cheap after the first time.
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from './exec.js';
import { TempDirs } from './tmp.js';

export const NODE_STANDIN_TAG = 'registry-setup-test/node:20';
export const NGINX_STANDIN_TAG = 'registry-setup-test/nginx:1';
const SOURCE_LABEL = 'io.registry-setup.standin-source';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Absolute paths of the shared libraries (and the dynamic loader) `ldd <binary>` lists. */
export async function lddLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary], { timeoutMs: 30_000 });
  const libs = new Set<string>();
  for (const line of stdout.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    if (arrow) {
      libs.add(arrow[1]!);
      continue;
    }
    const loader = /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (loader) libs.add(loader[1]!);
    if (/not found/.test(line)) throw new Error(`ldd ${binary}: ${line.trim()}`);
  }
  return [...libs].sort();
}

async function existingSource(tag: string): Promise<string | undefined> {
  const r = await run('docker', ['image', 'inspect', '--format', `{{index .Config.Labels "${SOURCE_LABEL}"}}`, tag], { allowFailure: true, timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

async function describe(files: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of files) {
    const s = await stat(f);
    h.update(`${f}\0${s.size}\0${s.mtimeMs}\0`);
  }
  return h.digest('hex').slice(0, 16);
}

/** Copies `from` to `root/to`, following symlinks (never a hard link: chmod would touch the original). */
async function place(root: string, from: string, to = from, mode?: number): Promise<void> {
  const dest = join(root, to);
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(from, dest);
  if (mode !== undefined) await chmod(dest, mode);
}

interface RootfsSpec {
  tag: string;
  /** [host path, path in image] */
  binaries: Array<[string, string]>;
  /** extra host files copied to the same path */
  extraFiles?: string[];
  textFiles: Record<string, string>;
  changes: string[];
}

async function buildImage(spec: RootfsSpec): Promise<string> {
  const libs = new Set<string>();
  for (const [bin] of spec.binaries) for (const lib of await lddLibraries(bin)) libs.add(lib);
  const sources = [...spec.binaries.map(([b]) => b), ...libs, ...(spec.extraFiles ?? [])];
  const source = await describe(sources);
  if ((await existingSource(spec.tag)) === source) return spec.tag;

  const tmp = new TempDirs();
  try {
    const work = await tmp.make('rs-standin-');
    const root = join(work, 'rootfs');
    await mkdir(root, { recursive: true });
    for (const [from, to] of spec.binaries) await place(root, from, to, 0o755);
    for (const lib of libs) await place(root, lib);
    for (const f of spec.extraFiles ?? []) await place(root, f);
    for (const [path, content] of Object.entries(spec.textFiles)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content, { mode: 0o644 });
    }
    await mkdir(join(root, 'tmp'), { recursive: true });
    await chmod(join(root, 'tmp'), 0o1777);
    // the loader finds multiarch directories through ld.so.cache; ours lists the same paths
    await place(root, '/etc/ld.so.cache').catch(() => undefined);
    const tar = join(work, 'rootfs.tar');
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', tar, '.'], { timeoutMs: 120_000 });
    const changes = [...spec.changes, `ENV ${PATH_ENV}`, `LABEL ${SOURCE_LABEL}=${source}`].flatMap((c) => ['--change', c]);
    await run('docker', ['import', ...changes, tar, spec.tag], { timeoutMs: 300_000 });
    return spec.tag;
  } finally {
    await tmp.cleanup();
  }
}

/**
 * A stand-in for `node:*-slim`: this machine's node binary at /usr/local/bin/node with its
 * libraries, /tmp, and a `node` user with uid 1000.
 */
export async function ensureNodeImage(tag = NODE_STANDIN_TAG): Promise<string> {
  return buildImage({
    tag,
    binaries: [[process.execPath, '/usr/local/bin/node']],
    textFiles: {
      '/etc/passwd': 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n',
      '/etc/group': 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n',
    },
    changes: ['CMD ["node"]'],
  });
}

/**
 * A stand-in for `nginx:*-alpine`: Debian's /usr/sbin/nginx with its libraries, mime.types, /tmp,
 * and an `nginx` user with uid 101. No modules: the generated nginx.conf loads none.
 */
export async function ensureNginxImage(tag = NGINX_STANDIN_TAG): Promise<string> {
  const mime = await readFile('/etc/nginx/mime.types', 'utf8').catch(() => 'types {\n    text/html html;\n}\n');
  return buildImage({
    tag,
    binaries: [['/usr/sbin/nginx', '/usr/sbin/nginx']],
    textFiles: {
      '/etc/nginx/mime.types': mime,
      '/etc/passwd': 'root:x:0:0:root:/root:/sbin/nologin\nnginx:x:101:101:nginx:/nonexistent:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n',
      '/etc/group': 'root:x:0:\nnginx:x:101:\nnogroup:x:65534:\n',
    },
    changes: ['CMD ["nginx", "-g", "daemon off;"]'],
  });
}

export const DISTRIBUTION_STANDIN_TAG = 'registry-setup-test/distribution:2';
export const DISTRIBUTION_BINARY = '/usr/bin/docker-registry';

/** The configuration file registry:2 ships (its CMD serves it); REGISTRY_* variables override it. */
const DISTRIBUTION_CONFIG = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`;

/**
 * A stand-in for `registry:2` (CNCF distribution): Debian's docker-registry binary (2.8) at
 * /bin/registry with its libraries and registry:2's own config.yml, run as root like the original.
 */
export async function ensureDistributionImage(tag = DISTRIBUTION_STANDIN_TAG): Promise<string> {
  return buildImage({
    tag,
    binaries: [[DISTRIBUTION_BINARY, '/bin/registry']],
    textFiles: {
      '/etc/docker/registry/config.yml': DISTRIBUTION_CONFIG,
      '/etc/passwd': 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n',
      '/etc/group': 'root:x:0:\nnogroup:x:65534:\n',
    },
    changes: ['ENTRYPOINT ["/bin/registry"]', 'CMD ["serve", "/etc/docker/registry/config.yml"]', 'EXPOSE 5000'],
  });
}
