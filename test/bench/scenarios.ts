// The scenarios. Each one has an untimed setup (what it needs that an earlier scenario may have
// pushed already) and a measured run that returns its figures. The content is generated once and
// shared, so both registries receive exactly the same bytes.
import { randomBytes } from 'node:crypto';
import { imageManifest, RegistryApi, type Blob } from './api.js';
import { BenchError, BlobSource, GiB, MiB, runPool, Samples, sha256, type PoolResult } from './client.js';
import { syncAll } from './servers.js';

export interface Params {
  bigCount: number;
  bigSize: number;
  /** passes over the big blobs in big-pull */
  pullRounds: number;
  chunkedCount: number;
  chunkedSize: number;
  chunkSize: number;
  smallCount: number;
  smallSize: number;
  smallConcurrency: number;
  manifestCount: number;
  manifestPutConcurrency: number;
  manifestGetConcurrency: number;
  tagPageSize: number;
  mixedSize: number;
  mixedConcurrency: number;
  /** length of the time-boxed phases */
  durationMs: number;
  /** no count-bound phase runs longer than this; it stops early and is marked truncated */
  phaseCapMs: number;
}

export const FULL: Params = {
  bigCount: 4,
  bigSize: 256 * MiB,
  pullRounds: 2,
  chunkedCount: 4,
  chunkedSize: 256 * MiB,
  chunkSize: 8 * MiB,
  smallCount: 2000,
  smallSize: 4096,
  smallConcurrency: 16,
  manifestCount: 500,
  manifestPutConcurrency: 16,
  manifestGetConcurrency: 32,
  tagPageSize: 100,
  mixedSize: 16 * MiB,
  mixedConcurrency: 32,
  durationMs: 10_000,
  phaseCapMs: 120_000,
};

/**
 * Proves the harness works in well under a minute; measures little. Concurrency is low so that
 * the tail of a time-boxed phase stays short even against distribution's per-request bcrypt.
 */
export const QUICK: Params = {
  ...FULL,
  bigCount: 2,
  bigSize: 8 * MiB,
  pullRounds: 1,
  chunkedCount: 2,
  chunkedSize: 16 * MiB,
  smallCount: 200,
  smallConcurrency: 4,
  manifestCount: 50,
  manifestPutConcurrency: 4,
  manifestGetConcurrency: 8,
  tagPageSize: 10,
  mixedSize: 4 * MiB,
  mixedConcurrency: 8,
  durationMs: 1_000,
  phaseCapMs: 2_000,
};

/** An upper bound on the operations of a time-boxed phase. */
const MAX_OPS = 5_000_000;

export type Better = 'higher' | 'lower' | 'info';
export interface Metric {
  value: number;
  unit: string;
  better: Better;
}
export type Metrics = Record<string, Metric>;

export interface Outcome {
  metrics: Metrics;
  /** phases stopped by phaseCapMs before their count */
  truncated: string[];
}

interface Manifest {
  tag: string;
  bytes: Buffer;
  digest: string;
}

/** Everything pushed during a run, generated up front (digests included) so that no run pays for it. */
export class Content {
  readonly big: BlobSource[];
  readonly chunked: BlobSource[];
  readonly small: { data: Buffer; blob: Blob }[];
  readonly mixed: BlobSource;
  readonly config: { data: Buffer; blob: Blob };
  readonly layer: { data: Buffer; blob: Blob };
  readonly manifests: Manifest[];

  constructor(readonly p: Params) {
    const block = randomBytes(MiB);
    const nonce = randomBytes(8).toString('hex');
    const prefix = (label: string) => Buffer.from(`registry-setup bench ${nonce} ${label}\n`);
    this.big = Array.from({ length: p.bigCount }, (_, i) => new BlobSource(p.bigSize, prefix(`big ${i}`), block));
    this.chunked = Array.from({ length: p.chunkedCount }, (_, i) => new BlobSource(p.chunkedSize, prefix(`chunked ${i}`), block));
    this.mixed = new BlobSource(p.mixedSize, prefix('mixed'), block);
    for (const s of [...this.big, ...this.chunked, this.mixed]) s.digest();
    const smallBytes = randomBytes(p.smallCount * p.smallSize);
    this.small = Array.from({ length: p.smallCount }, (_, i) => {
      const data = smallBytes.subarray(i * p.smallSize, (i + 1) * p.smallSize);
      return { data, blob: { digest: sha256(data), size: data.length } };
    });
    const small = (data: Buffer) => ({ data, blob: { digest: sha256(data), size: data.length } });
    this.config = small(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, bench: nonce })));
    this.layer = small(randomBytes(4096));
    this.manifests = Array.from({ length: p.manifestCount }, (_, i) => {
      const bytes = imageManifest(this.config.blob, this.layer.blob, `${nonce}-${i}`);
      return { tag: `t${String(i).padStart(5, '0')}`, bytes, digest: sha256(bytes) };
    });
  }
}

/** What has been pushed to one registry in this pass, so later scenarios can skip their setup. */
export interface RegistryState {
  big: boolean;
  /** manifests pushed (the first n of Content.manifests); fewer than all when the time cap cut the push */
  manifests: number;
  mixed: boolean;
}

export interface ScenarioCtx {
  api: RegistryApi;
  p: Params;
  content: Content;
  state: RegistryState;
  /** the server's CPU seconds so far */
  serverCpu(): number;
}

export interface Scenario {
  id: string;
  title: string;
  /** a throughput scenario: also measured on ours with the S3 driver (the S3 column) */
  s3?: boolean;
  setup?(ctx: ScenarioCtx): Promise<void>;
  run(ctx: ScenarioCtx): Promise<Outcome>;
}

const REPO = {
  big: 'bench/big',
  chunked: 'bench/chunked',
  small: 'bench/small',
  manifests: 'bench/manifests',
  mixed: 'bench/mixed',
};

const m = (value: number, unit: string, better: Better): Metric => ({ value, unit, better });
const mibps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
const perSec = (n: number, ms: number) => n / (ms / 1000);
const deadline = (ms: number) => performance.now() + ms;

/** Runs a pool, timing each op into `samples`; records a truncated phase by name. */
async function timed(
  name: string,
  truncated: string[],
  samples: Samples,
  concurrency: number,
  count: number,
  ms: number,
  op: (i: number) => Promise<void>,
): Promise<PoolResult> {
  const r = await runPool(concurrency, count, deadline(ms), async (i) => {
    const t0 = performance.now();
    await op(i);
    samples.add(performance.now() - t0);
  });
  if (r.truncated && count !== MAX_OPS) truncated.push(`${name}: ${r.done}/${count} in ${Math.round(r.elapsedMs / 1000)} s`);
  if (r.done === 0) throw new BenchError(`${name}: not a single operation completed in ${ms} ms`);
  return r;
}

async function pushBig(ctx: ScenarioCtx): Promise<void> {
  for (const blob of ctx.content.big) await ctx.api.pushMonolithic(REPO.big, blob, blob.digest());
  ctx.state.big = true;
}

async function pushManifests(ctx: ScenarioCtx, samples: Samples, truncated: string[]): Promise<PoolResult> {
  const { api, content, p } = ctx;
  if (ctx.state.manifests > 0) throw new BenchError('manifests pushed twice in one pass');
  await api.pushMonolithic(REPO.manifests, content.config.data, content.config.blob.digest);
  await api.pushMonolithic(REPO.manifests, content.layer.data, content.layer.blob.digest);
  const r = await timed('manifest PUT', truncated, samples, p.manifestPutConcurrency, content.manifests.length, p.phaseCapMs, async (i) => {
    const mf = content.manifests[i]!;
    await api.putManifest(REPO.manifests, mf.tag, mf.bytes, mf.digest);
  });
  // Workers take indexes in order and finish what they started, so exactly the first r.done are there.
  ctx.state.manifests = r.done;
  return r;
}

const bigPush: Scenario = {
  id: 'big-push',
  title: 'big blobs, monolithic push',
  s3: true,
  async run(ctx) {
    const bytes = ctx.content.big.reduce((n, b) => n + b.size, 0);
    const cpu0 = ctx.serverCpu();
    const t0 = performance.now();
    await pushBig(ctx);
    const pushMs = performance.now() - t0;
    const cpu = ctx.serverCpu() - cpu0;
    await syncAll();
    const syncedMs = performance.now() - t0;
    return {
      metrics: {
        'push MiB/s': m(mibps(bytes, pushMs), 'MiB/s', 'higher'),
        'push + sync MiB/s': m(mibps(bytes, syncedMs), 'MiB/s', 'higher'),
        'CPU s/GiB': m(cpu / (bytes / GiB), 's', 'lower'),
      },
      truncated: [],
    };
  },
};

const bigPull: Scenario = {
  id: 'big-pull',
  title: 'big blobs, GET + sha256',
  s3: true,
  async setup(ctx) {
    if (!ctx.state.big) await pushBig(ctx);
  },
  async run(ctx) {
    const { api, content, p } = ctx;
    const blobs = content.big;
    let bytes = 0;
    const cpu0 = ctx.serverCpu();
    const t0 = performance.now();
    const r = await runPool(1, blobs.length * p.pullRounds, deadline(p.phaseCapMs), async (i) => {
      const b = blobs[i % blobs.length]!;
      const n = await api.getBlob(REPO.big, { digest: b.digest(), size: b.size });
      bytes += n; // not `bytes += await …`: that loses concurrent additions
    });
    const ms = performance.now() - t0;
    const cpu = ctx.serverCpu() - cpu0;
    // The same GETs again with a client that only copies the body and hashes it when complete: a
    // client hashing as it reads (≈1 s/GiB of sha256 here) sets the pace and so the servers' CPU
    // per GiB; this measures the server at its own pace. Every body is still checked.
    let drained = 0;
    const cpuDrain0 = ctx.serverCpu();
    const d = await runPool(1, blobs.length * p.pullRounds, deadline(p.phaseCapMs), async (i) => {
      const b = blobs[i % blobs.length]!;
      const n = await api.getBlob(REPO.big, { digest: b.digest(), size: b.size }, true);
      drained += n;
    });
    const cpuDrain = ctx.serverCpu() - cpuDrain0;
    return {
      metrics: {
        'pull MiB/s': m(mibps(bytes, ms), 'MiB/s', 'higher'),
        'CPU s/GiB served': m(cpu / (bytes / GiB), 's', 'lower'),
        'CPU s/GiB served, client drains then hashes': m(cpuDrain / (drained / GiB), 's', 'lower'),
      },
      truncated: [
        ...(r.truncated ? [`GET: ${r.done}/${blobs.length * p.pullRounds}`] : []),
        ...(d.truncated ? [`GET, drained: ${d.done}/${blobs.length * p.pullRounds}`] : []),
      ],
    };
  },
};

const chunkedPush: Scenario = {
  id: 'chunked-push',
  title: 'big blobs, chunked push (PATCH)',
  s3: true,
  async run(ctx) {
    const { api, content, p } = ctx;
    const patches = new Samples();
    let bytes = 0;
    const cpu0 = ctx.serverCpu();
    const t0 = performance.now();
    const r = await runPool(1, content.chunked.length, deadline(p.phaseCapMs), async (i) => {
      const b = content.chunked[i]!;
      await api.pushChunked(REPO.chunked, b, p.chunkSize, (ms) => patches.add(ms));
      bytes += b.size;
    });
    const ms = performance.now() - t0;
    return {
      metrics: {
        'push MiB/s': m(mibps(bytes, ms), 'MiB/s', 'higher'),
        [`PATCH (${p.chunkSize / MiB} MiB) p50 ms`]: m(patches.percentile(50), 'ms', 'lower'),
        [`PATCH (${p.chunkSize / MiB} MiB) p99 ms`]: m(patches.percentile(99), 'ms', 'lower'),
        'CPU s/GiB': m((ctx.serverCpu() - cpu0) / (bytes / GiB), 's', 'lower'),
      },
      truncated: r.truncated ? [`push: ${r.done}/${content.chunked.length}`] : [],
    };
  },
};

const smallBlobs: Scenario = {
  id: 'small-blobs',
  title: 'small blobs: push, HEAD, GET',
  async run(ctx) {
    const { api, content, p } = ctx;
    const truncated: string[] = [];
    const metrics: Metrics = {};
    const phase = async (name: string, count: number, op: (i: number) => Promise<void>): Promise<number> => {
      const samples = new Samples();
      const cpu0 = ctx.serverCpu();
      const r = await timed(name, truncated, samples, p.smallConcurrency, count, p.phaseCapMs, op);
      metrics[`${name} ops/s`] = m(perSec(r.done, r.elapsedMs), 'ops/s', 'higher');
      metrics[`${name} p50 ms`] = m(samples.percentile(50), 'ms', 'lower');
      metrics[`${name} p99 ms`] = m(samples.percentile(99), 'ms', 'lower');
      metrics[`${name} CPU ms/op`] = m(((ctx.serverCpu() - cpu0) * 1000) / r.done, 'ms', 'lower');
      return r.done;
    };
    // Later phases touch only what the push completed (all of it unless the push was truncated).
    const pushed = await phase('push (POST+PUT)', content.small.length, (i) => api.pushMonolithic(REPO.small, content.small[i]!.data, content.small[i]!.blob.digest));
    await phase('HEAD', pushed, (i) => api.headBlob(REPO.small, content.small[i]!.blob));
    await phase('GET', pushed, async (i) => {
      await api.getBlob(REPO.small, content.small[i]!.blob);
    });
    return { metrics, truncated };
  },
};

const manifests: Scenario = {
  id: 'manifests',
  title: 'manifests: PUT under tags, GET by tag',
  async run(ctx) {
    const { api, content, p } = ctx;
    const truncated: string[] = [];
    const puts = new Samples();
    const put = await pushManifests(ctx, puts, truncated);
    const gets = new Samples();
    const cpu0 = ctx.serverCpu();
    const n = ctx.state.manifests;
    const get = await timed('manifest GET', truncated, gets, p.manifestGetConcurrency, MAX_OPS, p.durationMs, async (i) => {
      const mf = content.manifests[(i * 7) % n]!;
      await api.getManifest(REPO.manifests, mf.tag, mf.digest);
    });
    return {
      metrics: {
        'PUT req/s': m(perSec(put.done, put.elapsedMs), 'req/s', 'higher'),
        'PUT p50 ms': m(puts.percentile(50), 'ms', 'lower'),
        'PUT p99 ms': m(puts.percentile(99), 'ms', 'lower'),
        'GET by tag req/s': m(perSec(get.done, get.elapsedMs), 'req/s', 'higher'),
        'GET p50 ms': m(gets.percentile(50), 'ms', 'lower'),
        'GET p99 ms': m(gets.percentile(99), 'ms', 'lower'),
        'GET CPU µs/req': m(((ctx.serverCpu() - cpu0) * 1e6) / get.done, 'µs', 'lower'),
      },
      truncated,
    };
  },
};

const tags: Scenario = {
  id: 'tags',
  title: 'tag listing, paginated via Link',
  async setup(ctx) {
    if (ctx.state.manifests === 0) await pushManifests(ctx, new Samples(), []);
  },
  async run(ctx) {
    const { api, content, p } = ctx;
    const expected = content.manifests.slice(0, ctx.state.manifests).map((mf) => mf.tag).sort();
    const maxPages = Math.ceil(expected.length / p.tagPageSize) + 2;
    const pages = new Samples();
    let pageCount = 0;
    const walks = await timed('tag listing', [], new Samples(), 1, MAX_OPS, p.durationMs, async () => {
      const walk = await api.listTags(REPO.manifests, p.tagPageSize, maxPages, (ms) => pages.add(ms));
      // Compared as sets: distribution 2.8 lists tags in directory order, not sorted.
      const got = [...walk.tags].sort();
      if (got.length !== expected.length || got.some((t, i) => t !== expected[i])) {
        throw new BenchError(`${api.label}: tag listing of ${REPO.manifests} returned ${walk.tags.length} tags, not the ${expected.length} pushed`);
      }
      pageCount += walk.pages;
    });
    return {
      metrics: {
        'full listings/s': m(perSec(walks.done, walks.elapsedMs), 'walks/s', 'higher'),
        'page p50 ms': m(pages.percentile(50), 'ms', 'lower'),
        'page p99 ms': m(pages.percentile(99), 'ms', 'lower'),
        [`pages per listing (n=${p.tagPageSize})`]: m(pageCount / walks.done, 'pages', 'info'),
      },
      truncated: expected.length < content.manifests.length ? [`listed ${expected.length}/${content.manifests.length} tags (the manifest push was cut)`] : [],
    };
  },
};

const mixed: Scenario = {
  id: 'mixed',
  title: 'concurrent pulls of one blob',
  s3: true,
  async setup(ctx) {
    if (ctx.state.mixed) return;
    await ctx.api.pushMonolithic(REPO.mixed, ctx.content.mixed, ctx.content.mixed.digest());
    ctx.state.mixed = true;
  },
  async run(ctx) {
    const { api, content, p } = ctx;
    const blob = { digest: content.mixed.digest(), size: content.mixed.size };
    const samples = new Samples();
    let bytes = 0;
    const cpu0 = ctx.serverCpu();
    const r = await timed('GET', [], samples, p.mixedConcurrency, MAX_OPS, p.durationMs, async () => {
      const n = await api.getBlob(REPO.mixed, blob);
      bytes += n; // not `bytes += await …`: that loses concurrent additions
    });
    return {
      metrics: {
        'pull MiB/s': m(mibps(bytes, r.elapsedMs), 'MiB/s', 'higher'),
        'GET p50 ms': m(samples.percentile(50), 'ms', 'lower'),
        'GET p99 ms': m(samples.percentile(99), 'ms', 'lower'),
        'CPU s/GiB served': m((ctx.serverCpu() - cpu0) / (bytes / GiB), 's', 'lower'),
      },
      truncated: [],
    };
  },
};

export const SCENARIOS: readonly Scenario[] = [bigPush, bigPull, chunkedPush, smallBlobs, manifests, tags, mixed];
