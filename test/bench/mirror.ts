// The pull-through cache benchmark: ours (`serve --mirror`) against distribution 2.8 in proxy mode
// (`proxy.remoteurl`), both in front of the same distribution upstream, each through its own
// counting proxy (which counts the blob bytes the upstream serves), driven by the same client in
// the same run: a cold pull of a 4 × 64 MiB image, a warm pull, and 16 concurrent cold pulls of it
// (each registry restarted on an empty data dir). Every pull verifies every blob's digest.
//
// Alone: node --import tsx test/bench/mirror.ts [--quick] [--dir DIR]   (after npm run build)
// In npm run bench: --scenarios mirror (it runs after the registry passes; --no-mirror skips it).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify as stringifyYaml } from 'yaml';
import { freePort, waitForHttp } from '../helpers/net.js';
import { startProcess, type ManagedProcess } from '../helpers/process.js';
import { distributionBinary, startDistribution, startOurRegistry, type RunningRegistry } from '../helpers/registries.js';
import { removeDir } from '../helpers/tmp.js';
import { startCountingProxy, type CountingProxy } from '../mirror/counting-proxy.js';

const MiB = 1024 * 1024;

export interface MirrorFigures {
  coldMiBps: number;
  warmMiBps: number;
  concurrentColdMiBps: number;
  /** blob bytes the upstream served during each phase */
  coldUpstreamBytes: number;
  warmUpstreamBytes: number;
  concurrentUpstreamBytes: number;
}

export interface MirrorBenchResult {
  imageBytes: number;
  layers: number;
  clients: number;
  ours: MirrorFigures;
  distribution: MirrorFigures;
}

interface Image {
  manifest: Buffer;
  digest: string;
  blobs: { digest: string; size: number }[];
}

const makeTempDir = (prefix: string, parent = os.tmpdir()) => mkdtemp(join(parent, prefix));
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pushBlob(base: string, name: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const post = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  if (post.status !== 202) throw new Error(`upstream POST: ${post.status}`);
  const location = new URL(post.headers.get('location')!, base);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: data as unknown as BodyInit, headers: { 'Content-Type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`upstream PUT: ${put.status} ${await put.text()}`);
  return digest;
}

async function pushImage(base: string, name: string, tag: string, layers: number, layerBytes: number): Promise<Image> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const blobs = [{ digest: await pushBlob(base, name, config), size: config.length }];
  for (let i = 0; i < layers; i++) {
    const data = randomBytes(layerBytes);
    blobs.push({ digest: await pushBlob(base, name, data), size: data.length });
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blobs[0] },
      layers: blobs.slice(1).map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...b })),
    }),
  );
  const res = await fetch(`${base}/v2/${name}/manifests/${tag}`, { method: 'PUT', body: manifest as unknown as BodyInit, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (res.status !== 201) throw new Error(`upstream manifest PUT: ${res.status}`);
  return { manifest, digest: sha256(manifest), blobs };
}

/** One client's pull: the manifest by tag, then every blob (4 at a time), each digest verified. */
async function pull(base: string, name: string, tag: string, image: Image): Promise<void> {
  const m = await fetch(`${base}/v2/${name}/manifests/${tag}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const bytes = Buffer.from(await m.arrayBuffer());
  if (m.status !== 200 || sha256(bytes) !== image.digest) throw new Error(`${base} manifest: ${m.status}`);
  await Promise.all(
    image.blobs.map(async (b) => {
      const res = await fetch(`${base}/v2/${name}/blobs/${b.digest}`);
      if (res.status !== 200) throw new Error(`${base} blob ${b.digest}: ${res.status}`);
      const hash = createHash('sha256');
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
      if (`sha256:${hash.digest('hex')}` !== b.digest) throw new Error(`${base} blob ${b.digest}: wrong bytes`);
    }),
  );
}

interface Mirror {
  base: string;
  name: string;
  stop(): Promise<void>;
}

async function startOurMirror(upstream: string, dir: string): Promise<Mirror> {
  const reg: RunningRegistry = await startOurRegistry({ dataDir: dir, extraArgs: ['--mirror', `docker.io=${upstream}`, '--no-ui'] });
  return { base: reg.url, name: 'docker.io/bench/image', stop: async () => void (await reg.stop()) };
}

async function startDistributionProxy(upstream: string, dir: string): Promise<Mirror> {
  const port = await freePort();
  const configFile = join(dir, 'config.yml');
  await writeFile(
    configFile,
    stringifyYaml({
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: join(dir, 'data') }, delete: { enabled: true } },
      http: { addr: `127.0.0.1:${port}`, secret: 'registry-setup-bench' },
      proxy: { remoteurl: upstream },
    }),
  );
  const proc: ManagedProcess = startProcess(distributionBinary, ['serve', configFile], { name: 'distribution proxy' });
  await waitForHttp(`http://127.0.0.1:${port}/v2/`, [200], 20_000, () => (proc.hasExited() ? `exited:\n${proc.logTail()}` : undefined));
  return { base: `http://127.0.0.1:${port}`, name: 'bench/image', stop: async () => void (await proc.stop()) };
}

const blobTotal = (p: CountingProxy) => [...p.blobBytes.values()].reduce((a, b) => a + b, 0);

async function measure(start: (dir: string) => Promise<Mirror>, proxy: CountingProxy, image: Image, clients: number, root: string): Promise<MirrorFigures> {
  const size = image.blobs.reduce((a, b) => a + b.size, 0) + image.manifest.length;
  const timed = async (n: number, m: Mirror) => {
    const before = blobTotal(proxy);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: n }, () => pull(m.base, m.name, 'v1', image)));
    const seconds = (performance.now() - t0) / 1000;
    return { MiBps: (size * n) / MiB / seconds, upstream: blobTotal(proxy) - before };
  };
  let dir = await makeTempDir('rs-bench-mirror-', root);
  let mirror = await start(dir);
  let cold, warm;
  try {
    cold = await timed(1, mirror);
    warm = await timed(1, mirror);
  } finally {
    await mirror.stop();
    await removeDir(dir);
  }
  dir = await makeTempDir('rs-bench-mirror-', root);
  mirror = await start(dir);
  let concurrent;
  try {
    concurrent = await timed(clients, mirror);
  } finally {
    await mirror.stop();
    await removeDir(dir);
  }
  return {
    coldMiBps: cold.MiBps,
    warmMiBps: warm.MiBps,
    concurrentColdMiBps: concurrent.MiBps,
    coldUpstreamBytes: cold.upstream,
    warmUpstreamBytes: warm.upstream,
    concurrentUpstreamBytes: concurrent.upstream,
  };
}

export async function runMirrorBench(opts: { quick: boolean; dir?: string; progress?: (line: string) => void }): Promise<MirrorBenchResult> {
  const progress = opts.progress ?? (() => {});
  const layers = 4;
  const layerBytes = (opts.quick ? 4 : 64) * MiB;
  const clients = 16;
  const root = await makeTempDir('rs-bench-mirror-root-', opts.dir);
  const upstream = await startDistribution({ dataDir: join(root, 'upstream') });
  const forOurs = await startCountingProxy(upstream.url, { requireToken: false });
  const forDistribution = await startCountingProxy(upstream.url, { requireToken: false });
  try {
    progress(`mirror: pushing a ${layers} × ${layerBytes / MiB} MiB image to the upstream (distribution 2.8)`);
    const image = await pushImage(upstream.url, 'bench/image', 'v1', layers, layerBytes);
    progress('mirror: ours (serve --mirror)');
    const ours = await measure((dir) => startOurMirror(forOurs.url, dir), forOurs, image, clients, root);
    progress('mirror: distribution 2.8 in proxy mode');
    const distribution = await measure((dir) => startDistributionProxy(forDistribution.url, dir), forDistribution, image, clients, root);
    return { imageBytes: image.blobs.reduce((a, b) => a + b.size, 0), layers, clients, ours, distribution };
  } finally {
    await forOurs.stop();
    await forDistribution.stop();
    await upstream.stop();
    await removeDir(root);
  }
}

export function renderMirrorReport(r: MirrorBenchResult): string {
  const image = r.imageBytes;
  const x = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '—');
  const times = (bytes: number) => `${(bytes / image).toFixed(2)}× image`;
  const rows = [
    ['cold pull, MiB/s', r.ours.coldMiBps.toFixed(0), r.distribution.coldMiBps.toFixed(0), x(r.ours.coldMiBps, r.distribution.coldMiBps)],
    ['warm pull, MiB/s', r.ours.warmMiBps.toFixed(0), r.distribution.warmMiBps.toFixed(0), x(r.ours.warmMiBps, r.distribution.warmMiBps)],
    [`${r.clients} concurrent cold pulls, MiB/s (all clients)`, r.ours.concurrentColdMiBps.toFixed(0), r.distribution.concurrentColdMiBps.toFixed(0), x(r.ours.concurrentColdMiBps, r.distribution.concurrentColdMiBps)],
    ['upstream bytes, cold pull', times(r.ours.coldUpstreamBytes), times(r.distribution.coldUpstreamBytes), ''],
    ['upstream bytes, warm pull', times(r.ours.warmUpstreamBytes), times(r.distribution.warmUpstreamBytes), ''],
    [`upstream bytes, ${r.clients} concurrent cold pulls`, times(r.ours.concurrentUpstreamBytes), times(r.distribution.concurrentUpstreamBytes), ''],
  ];
  const head = `Pull-through cache: a ${r.layers} × ${Math.round(image / r.layers / MiB)} MiB image, ours vs distribution 2.8 proxy mode\n`;
  return head + ['| figure | ours | distribution | ours/distribution |', '|---|---:|---:|---:|', ...rows.map((c) => `| ${c.join(' | ')} |`)].join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, dir: { type: 'string' } } });
  const result = await runMirrorBench({ quick: Boolean(values.quick), dir: values.dir, progress: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(renderMirrorReport(result));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
