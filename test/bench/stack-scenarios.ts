// What the stack benchmark does to each stack, through the same HTTPS client with the same
// credentials and data: big push, big pull, small blobs, manifests by tag, and one monolithic
// push over the classic stack's client_max_body_size (1000m). Every answer is checked (status,
// digest, sha256 of bodies) by RegistryApi. Server CPU comes from the stack's cgroups.
import https from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { run } from '../helpers/exec.js';
import { once } from 'node:events';
import { RegistryApi, withDigest } from './api.js';
import { pullInThreads } from './pull-workers.js';
import { StackMonitor } from './cgroup.js';
import { BenchError, BlobSource, GiB, MiB, runPool, Samples } from './client.js';
import { Content, FULL, QUICK, type Metric, type Params } from './scenarios.js';
import { machineBusySeconds, syncAll } from './servers.js';

export interface StackParams {
  bigCount: number;
  bigSize: number;
  pullRounds: number;
  smallCount: number;
  smallSize: number;
  smallConcurrency: number;
  manifestCount: number;
  manifestPutConcurrency: number;
  manifestGetConcurrency: number;
  durationMs: number;
  phaseCapMs: number;
  /** the monolithic push over the classic stack's 1000m limit */
  oversizeBytes: number;
}

export const STACK_FULL: StackParams = {
  bigCount: 2,
  bigSize: 256 * MiB,
  pullRounds: 2,
  smallCount: 1000,
  smallSize: 4096,
  smallConcurrency: 16,
  manifestCount: 300,
  manifestPutConcurrency: 16,
  manifestGetConcurrency: 32,
  durationMs: 10_000,
  phaseCapMs: 120_000,
  oversizeBytes: 1100 * MiB,
};

/** Proves the harness; the oversized push keeps its size (the point is to be over 1000m). */
export const STACK_QUICK: StackParams = {
  ...STACK_FULL,
  bigCount: 1,
  bigSize: 8 * MiB,
  pullRounds: 1,
  smallCount: 40,
  smallConcurrency: 4,
  manifestCount: 20,
  manifestPutConcurrency: 4,
  manifestGetConcurrency: 8,
  durationMs: 1_000,
  phaseCapMs: 10_000,
};

/** Fresh content for one round (new digests, so nothing is already there from an earlier round). */
export function stackContent(p: StackParams): { content: Content; oversize: BlobSource } {
  const base = p === STACK_QUICK ? QUICK : FULL;
  const params: Params = {
    ...base,
    bigCount: p.bigCount,
    bigSize: p.bigSize,
    pullRounds: p.pullRounds,
    chunkedCount: 0,
    smallCount: p.smallCount,
    smallSize: p.smallSize,
    manifestCount: p.manifestCount,
    mixedSize: MiB,
  };
  const content = new Content(params);
  const oversize = new BlobSource(p.oversizeBytes, Buffer.from(`registry-setup stack bench oversize ${Date.now()} ${Math.random()}\n`), content.big[0]!.block);
  oversize.digest();
  return { content, oversize };
}

export interface StackCtx {
  api: RegistryApi;
  monitor: StackMonitor;
  p: StackParams;
  content: Content;
  oversize: BlobSource;
  /** for the oversized push, which needs its own request handling */
  url: string;
  ca: Buffer;
  authorization: string;
  /** the oversized push's expected answer: 201 for ours, 413 for the classic stack */
  oversizeExpect: number;
}

export interface StackScenario {
  id: string;
  title: string;
  /** run after the stacks' memory peaks are read */
  outsideMemoryWindow?: boolean;
  run(ctx: StackCtx): Promise<Record<string, Metric>>;
}

const REPO = { big: 'stack/big', small: 'stack/small', manifests: 'stack/manifests', oversize: 'stack/oversize' };
const m = (value: number, unit: string, better: Metric['better']): Metric => ({ value, unit, better });
const deadline = (ms: number) => performance.now() + ms;

/** Runs fn and returns its wall time and the stack's CPU seconds over it, per container and for docker-proxy. */
interface CpuWindow {
  seconds: number;
  /** per container */
  cpu: Record<string, number>;
  proxy: number;
  /** this process: the bench client */
  client: number;
  /** the whole machine (other engineers' work included) */
  machine: number;
}

async function withCpu(monitor: StackMonitor, fn: () => Promise<void>): Promise<CpuWindow> {
  const c0 = monitor.cpu();
  const client0 = process.cpuUsage();
  const machine0 = machineBusySeconds();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  const machine = machineBusySeconds() - machine0;
  const client = process.cpuUsage(client0);
  const c1 = monitor.cpu();
  const cpu: Record<string, number> = {};
  for (const [k, v] of Object.entries(c1.byContainer)) cpu[k] = v - (c0.byContainer[k] ?? 0);
  return { seconds, cpu, proxy: c1.proxy - c0.proxy, client: (client.user + client.system) / 1e6, machine };
}

/** CPU s per GiB: the stack, each container, docker-proxy, the client; and how busy the machine was. */
function cpuPerGiB(prefix: string, r: CpuWindow, bytes: number): Record<string, Metric> {
  const gib = bytes / GiB;
  const stack = Object.values(r.cpu).reduce((a, b) => a + b, 0);
  return {
    [`${prefix} CPU s/GiB, stack`]: m(stack / gib, 's', 'lower'),
    ...Object.fromEntries(Object.entries(r.cpu).map(([k, v]) => [`${prefix} CPU s/GiB, ${k}`, m(v / gib, 's', 'info')])),
    [`${prefix} CPU s/GiB, docker-proxy`]: m(r.proxy / gib, 's', 'info'),
    [`${prefix} CPU s/GiB, the bench client (TLS, sha256)`]: m(r.client / gib, 's', 'info'),
    [`${prefix}: machine busy, cores of ${os.cpus().length}`]: m(r.machine / r.seconds, 'cores', 'info'),
  };
}

const bigPush: StackScenario = {
  id: 'big-push',
  title: 'big blobs, monolithic push',
  async run({ api, monitor, content }) {
    const bytes = content.big.reduce((n, b) => n + b.size, 0);
    const r = await withCpu(monitor, async () => {
      for (const b of content.big) await api.pushMonolithic(REPO.big, b, b.digest());
    });
    await syncAll();
    return { 'big push MiB/s': m(bytes / MiB / r.seconds, 'MiB/s', 'higher'), ...cpuPerGiB('big push', r, bytes) };
  },
};

/** Threads of the big pull: two layers at once, each on a core of its own (see pull-workers.ts). */
const PULL_STREAMS = 2;

const bigPull: StackScenario = {
  id: 'big-pull',
  title: 'big blobs, GET + sha256',
  async run(ctx) {
    const { api, monitor, content, p } = ctx;
    const n = content.big.length * p.pullRounds;
    const jobs = Array.from({ length: n }, (_, i) => content.big[i % content.big.length]!).map((b) => ({ path: `/v2/${REPO.big}/blobs/${b.digest()}`, digest: b.digest(), size: b.size }));
    // As docker pull: the layers at once, a thread each, every body's sha256 checked.
    let bytes = 0;
    const r = await withCpu(monitor, async () => {
      bytes = await pullInThreads({ label: api.label, url: ctx.url, ca: ctx.ca, authorization: ctx.authorization }, jobs, PULL_STREAMS);
    });
    // The same GETs one after the other on one thread: what a single-threaded client gets.
    let oneBytes = 0;
    const one = await withCpu(monitor, async () => {
      const pool = await runPool(1, n, deadline(p.phaseCapMs), async (i) => {
        const b = content.big[i % content.big.length]!;
        oneBytes += await api.getBlob(REPO.big, { digest: b.digest(), size: b.size });
      });
      if (pool.done === 0) throw new BenchError('big pull: no GET completed');
    });
    // The same GETs with curl into /dev/null: a client costing a fraction of ours (no sha256, TLS in
    // C), to tell how much of the one-stream rate is the client's share of the machine.
    const urls = jobs.map((j) => `${ctx.url}${j.path}`);
    const c = await withCpu(monitor, () => curlPull(ctx, urls, content.big[0]!.size));
    return {
      'big pull MiB/s': m(bytes / MiB / r.seconds, 'MiB/s', 'higher'),
      ...cpuPerGiB('big pull', r, bytes),
      'big pull MiB/s, one stream, one thread': m(oneBytes / MiB / one.seconds, 'MiB/s', 'info'),
      'big pull, one stream: CPU s/GiB, stack': m(Object.values(one.cpu).reduce((a, b) => a + b, 0) / (oneBytes / GiB), 's', 'info'),
      'big pull, one stream: CPU s/GiB, the bench client': m(one.client / (oneBytes / GiB), 's', 'info'),
      'big pull MiB/s, curl to /dev/null (no sha256)': m((n * content.big[0]!.size) / MiB / c.seconds, 'MiB/s', 'info'),
      'big pull with curl: CPU s/GiB, stack': m(Object.values(c.cpu).reduce((a, b) => a + b, 0) / ((n * content.big[0]!.size) / GiB), 's', 'info'),
    };
  },
};

/** GETs every URL with one curl (one connection), bodies to /dev/null; credentials through stdin, never argv. */
async function curlPull(ctx: Pick<StackCtx, 'url' | 'ca' | 'authorization'>, urls: string[], size: number): Promise<void> {
  const dir = await mkdtemp(join(os.tmpdir(), 'rs-stack-curl-'));
  try {
    const caFile = join(dir, 'ca.pem');
    await writeFile(caFile, ctx.ca, { mode: 0o600 });
    const u = new URL(ctx.url);
    const q = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    const config = [
      `header = ${q(`Authorization: ${ctx.authorization}`)}`,
      `cacert = ${q(caFile)}`,
      `resolve = ${q(`${u.hostname}:${u.port}:127.0.0.1`)}`,
      ...urls.flatMap((url) => [`url = ${q(url)}`, 'output = "/dev/null"']),
    ].join('\n');
    const r = await run('curl', ['-K', '-', '-s', '-S', '-w', '%{http_code} %{size_download}\\n'], { input: `${config}\n`, timeoutMs: 600_000, allowFailure: true, redact: [ctx.authorization] });
    const lines = r.stdout.trim().split('\n');
    if (r.code !== 0 || lines.length !== urls.length || lines.some((l) => l !== `200 ${size}`)) {
      throw new BenchError(`curl pull: exit ${r.code}, answers ${lines.slice(0, 4).join(', ')}: ${r.stderr.trim().slice(0, 500)}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const smallBlobs: StackScenario = {
  id: 'small-blobs',
  title: 'small blobs: push, HEAD, GET',
  async run({ api, content, p }) {
    const out: Record<string, Metric> = {};
    const phase = async (name: string, count: number, op: (i: number) => Promise<void>) => {
      const r = await runPool(p.smallConcurrency, count, deadline(p.phaseCapMs), op);
      if (r.done === 0) throw new BenchError(`small ${name}: no operation completed`);
      out[`small ${name} ops/s`] = m(r.done / (r.elapsedMs / 1000), 'ops/s', 'higher');
      return r.done;
    };
    const pushed = await phase('push', content.small.length, (i) => api.pushMonolithic(REPO.small, content.small[i]!.data, content.small[i]!.blob.digest));
    await phase('HEAD', pushed, (i) => api.headBlob(REPO.small, content.small[i]!.blob));
    await phase('GET', pushed, async (i) => {
      await api.getBlob(REPO.small, content.small[i]!.blob);
    });
    return out;
  },
};

const manifests: StackScenario = {
  id: 'manifests',
  title: 'manifests: PUT under tags, GET by tag (32 clients)',
  async run({ api, content, p }) {
    await api.pushMonolithic(REPO.manifests, content.config.data, content.config.blob.digest);
    await api.pushMonolithic(REPO.manifests, content.layer.data, content.layer.blob.digest);
    const put = await runPool(p.manifestPutConcurrency, content.manifests.length, deadline(p.phaseCapMs), async (i) => {
      const mf = content.manifests[i]!;
      await api.putManifest(REPO.manifests, mf.tag, mf.bytes, mf.digest);
    });
    const n = put.done;
    if (n === 0) throw new BenchError('manifest PUT: none completed');
    const samples = new Samples();
    const get = await runPool(p.manifestGetConcurrency, 5_000_000, deadline(p.durationMs), async (i) => {
      const mf = content.manifests[(i * 7) % n]!;
      const t0 = performance.now();
      await api.getManifest(REPO.manifests, mf.tag, mf.digest);
      samples.add(performance.now() - t0);
    });
    return {
      'manifest GET by tag req/s': m(get.done / (get.elapsedMs / 1000), 'req/s', 'higher'),
      'manifest GET p50 ms': m(samples.percentile(50), 'ms', 'lower'),
      'manifest GET p99 ms': m(samples.percentile(99), 'ms', 'lower'),
    };
  },
};

/**
 * One monolithic PUT of `size` bytes. nginx may answer before the body is all sent (413): the
 * answer is taken as soon as it comes and the rest of the body is not sent.
 */
export async function putLarge(ctx: Pick<StackCtx, 'url' | 'ca' | 'authorization'>, path: string, source: BlobSource): Promise<number> {
  const u = new URL(ctx.url);
  const req = https.request({
    host: u.hostname,
    port: Number(u.port),
    family: 4,
    method: 'PUT',
    path,
    ca: ctx.ca,
    agent: false,
    headers: { authorization: ctx.authorization, 'content-type': 'application/octet-stream', 'content-length': source.size },
  });
  let answered = false;
  const status = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      answered = true;
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (e) => (answered ? undefined : reject(new BenchError(`PUT ${source.size} bytes: ${e.message}`))));
  });
  const timer = setTimeout(() => req.destroy(new Error('no answer within 300 s')), 300_000);
  try {
    for (const chunk of source.chunks()) {
      if (answered || req.destroyed) break;
      if (!req.write(chunk)) await Promise.race([once(req, 'drain'), status]);
    }
    if (!answered && !req.destroyed) req.end();
    return await status;
  } finally {
    clearTimeout(timer);
    req.destroy();
  }
}

const oversize: StackScenario = {
  id: 'oversize',
  title: 'one monolithic push over 1000m (1.1 GiB layer)',
  outsideMemoryWindow: true,
  async run(ctx) {
    const upload = await ctx.api.startUpload(REPO.oversize);
    const t0 = performance.now();
    const status = await putLarge(ctx, withDigest(upload, ctx.oversize.digest()), ctx.oversize);
    const seconds = (performance.now() - t0) / 1000;
    if (status !== ctx.oversizeExpect) throw new BenchError(`${ctx.api.label}: PUT of ${ctx.oversize.size / MiB} MiB answered ${status}, expected ${ctx.oversizeExpect}`);
    await syncAll();
    return {
      [`${Math.round(ctx.oversize.size / MiB)} MiB monolithic push, HTTP status`]: m(status, '', 'info'),
      ...(status === 201 ? { [`${Math.round(ctx.oversize.size / MiB)} MiB monolithic push MiB/s`]: m(ctx.oversize.size / MiB / seconds, 'MiB/s', 'info') } : {}),
    };
  },
};

export const STACK_SCENARIOS: readonly StackScenario[] = [bigPush, bigPull, smallBlobs, manifests, oversize];
