// The S3 column: our registry on its S3 storage driver against a throwaway Ceph RGW on loopback
// (test/helpers/rgw.ts: one mon, one memstore OSD, radosgw), measured in the throughput
// scenarios next to the same registry on the filesystem. The OSD keeps every object in RAM, so
// the plan checks the memory first and uses fewer (then smaller) big blobs when a pass's data
// does not fit; the report says so.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { startOurRegistry } from '../helpers/registries.js';
import { rgwAvailable, rgwClient, startRgw, type Rgw } from '../helpers/rgw.js';
import { BlobSource, GiB, MiB } from './client.js';
import type { Content, Scenario } from './scenarios.js';
import { ProcMonitor, type Server } from './servers.js';

export const S3_KIND = 'ours-s3';
export const S3_LABEL = 'ours on S3 (RGW)';

/** What the S3 column measures, recorded in the JSON. */
export interface S3Info {
  enabled: boolean;
  /** why it did not run (--no-s3, RGW missing, no throughput scenario selected) */
  skipped?: string;
  store?: string;
  rgwVersion?: string;
  bigCount?: number;
  bigSize?: number;
  chunkedCount?: number;
  chunkedSize?: number;
  /** set when the sizes are below the filesystem column's (not enough memory for the OSD) */
  reduced?: string;
  /** per pass: the RGW daemons' peak RSS (sum of mon, OSD and radosgw VmHWM) */
  storePeakRssMiB?: Record<string, number>;
}

export interface S3Plan {
  info: S3Info;
  /** the content the S3 column pushes: the filesystem column's, or fewer/smaller big blobs */
  content: Content;
  /** the capacity the memstore OSD reports */
  memstoreBytes: number;
}

/**
 * RAM the Ceph daemons may use per byte stored: a full pass (2 GiB) peaked at 2.8 GiB RSS with
 * Ceph 16.2 (≈ 1.4×); 2× leaves a margin. And the RAM left to everything else.
 */
const OSD_RAM_PER_BYTE = 2;
const HEADROOM = 4 * GiB;

function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Bytes a pass stores in the bucket for these scenarios. */
function storedBytes(scenarios: readonly Scenario[], big: BlobSource[], chunked: BlobSource[], mixed: BlobSource): number {
  const ids = new Set(scenarios.map((s) => s.id));
  const sum = (l: BlobSource[]) => l.reduce((n, b) => n + b.size, 0);
  return (ids.has('big-push') || ids.has('big-pull') ? sum(big) : 0) + (ids.has('chunked-push') ? sum(chunked) : 0) + (ids.has('mixed') ? mixed.size : 0);
}

/**
 * Decides whether the S3 column runs and with what. Passes run one after the other, each with
 * its own RGW (stopped at the end of the pass), so one pass's data has to fit.
 */
export function planS3(opts: { disabled: boolean; scenarios: readonly Scenario[]; content: Content; memAvailableBytes?: number }): S3Plan | S3Info {
  if (opts.disabled) return { enabled: false, skipped: '--no-s3' };
  const missing = rgwAvailable();
  if (missing) return { enabled: false, skipped: `RGW is not installed: ${missing}` };
  const scenarios = opts.scenarios.filter((s) => s.s3);
  if (scenarios.length === 0) return { enabled: false, skipped: 'no throughput scenario selected' };
  const { content } = opts;
  let big = content.big;
  let chunked = content.chunked;
  const budget = (opts.memAvailableBytes ?? memAvailable()) - HEADROOM;
  const fits = () => OSD_RAM_PER_BYTE * storedBytes(scenarios, big, chunked, content.mixed) <= budget;
  const full = storedBytes(scenarios, big, chunked, content.mixed);
  // First fewer blobs of the same size (so per-blob rates stay comparable), then smaller ones.
  while (!fits() && (big.length > 1 || chunked.length > 1)) {
    if (big.length >= chunked.length && big.length > 1) big = big.slice(0, -1);
    else chunked = chunked.slice(0, -1);
  }
  let shrink = 1;
  while (!fits() && shrink < 64) {
    shrink *= 2;
    big = [resized(content.big[0]!, content.big[0]!.size / shrink)];
    chunked = [resized(content.chunked[0]!, content.chunked[0]!.size / shrink)];
  }
  const stored = storedBytes(scenarios, big, chunked, content.mixed);
  if (!fits()) {
    return { enabled: false, skipped: `not enough memory for the RGW memstore OSD (MemAvailable less ${fmtBytes(HEADROOM)} of headroom: ${fmtBytes(Math.max(0, budget))})` };
  }
  const reduced =
    big !== content.big || chunked !== content.chunked
      ? `only ${fmtBytes(budget)} of RAM to spare for the memstore OSD (≈ ${OSD_RAM_PER_BYTE}× the ${fmtBytes(full)} a pass stores): ` +
        `S3 column uses ${big.length} × ${fmtBytes(big[0]!.size)} big and ${chunked.length} × ${fmtBytes(chunked[0]!.size)} chunked blobs`
      : undefined;
  return {
    info: {
      enabled: true,
      store: 'Ceph RGW on loopback, one memstore OSD (objects in RAM), path-style, no TLS',
      bigCount: big.length,
      bigSize: big[0]!.size,
      chunkedCount: chunked.length,
      chunkedSize: chunked[0]!.size,
      ...(reduced ? { reduced } : {}),
      storePeakRssMiB: {},
    },
    content: { ...content, big, chunked },
    memstoreBytes: Math.max(4 * GiB, 3 * stored + GiB),
  };
}

function resized(source: BlobSource, size: number): BlobSource {
  const b = new BlobSource(Math.floor(size), source.prefix, source.block);
  b.digest(); // now, not during a measured run
  return b;
}

function fmtBytes(n: number): string {
  return n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${Math.round(n / MiB)} MiB`;
}

/** The RGW daemons of one pass, with their CPU time and memory. */
export class S3Store {
  private readonly monitors: ProcMonitor[];

  private constructor(
    readonly rgw: Rgw,
    /** the registry's --storage URL */
    readonly url: string,
    readonly credentialsFile: string,
    readonly uploadSecretFile: string,
  ) {
    this.monitors = Object.values(rgw.pids).map((pid) => new ProcMonitor(pid));
  }

  /** Starts RGW, creates a bucket and writes the registry's credentials and upload secret into `dir`. */
  static async start(dir: string, memstoreBytes: number, log: (line: string) => void): Promise<S3Store> {
    const rgw = await startRgw({ memstoreBytes, log });
    try {
      const bucket = `bench-${randomBytes(6).toString('hex')}`;
      const client = rgwClient(rgw);
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
      } finally {
        client.destroy();
      }
      await mkdir(dir, { recursive: true });
      const credentialsFile = join(dir, 's3-credentials');
      await writeFile(credentialsFile, `access_key_id = ${rgw.accessKey}\nsecret_access_key = ${rgw.secretKey}\n`, { mode: 0o600 });
      const uploadSecretFile = join(dir, 'upload-secret');
      await writeFile(uploadSecretFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
      return new S3Store(rgw, `s3://${bucket}?endpoint=${rgw.endpoint}`, credentialsFile, uploadSecretFile);
    } catch (e) {
      await rgw.stop().catch(() => undefined);
      throw e;
    }
  }

  /** utime + stime of mon, OSD and radosgw together. */
  cpuSeconds(): number {
    return this.monitors.reduce((n, m) => n + m.cpuSeconds(), 0);
  }

  /** Current and peak RSS of the three daemons together. */
  memoryMiB(): { rss: number; peak: number } {
    let rss = 0;
    let peak = 0;
    for (const m of Object.values(this.rgw.memory())) {
      rss += (m?.rssKiB ?? 0) / 1024;
      peak += (m?.peakKiB ?? 0) / 1024;
    }
    return { rss, peak };
  }

  logTail(n = 20): string {
    return this.rgw.logTail(n);
  }

  stop(): Promise<void> {
    return this.rgw.stop();
  }
}

/** Our registry on the S3 driver (upload URLs then carry a signed `_state`), with a fresh dummy --data dir. */
export async function startOursOnS3(store: S3Store, dataDir: string, htpasswd?: string): Promise<Server> {
  await mkdir(dataDir, { recursive: true });
  const reg = await startOurRegistry({
    dataDir,
    htpasswd,
    extraArgs: ['--storage', store.url, '--s3-credentials', store.credentialsFile, '--upload-secret-file', store.uploadSecretFile],
  });
  const monitor = new ProcMonitor(reg.process.pid);
  monitor.start();
  return { kind: S3_KIND, reg, monitor, idleRssMiB: monitor.rssMiB(), cpuAtStart: monitor.cpuSeconds(), store };
}
