import { promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Registry } from '../registry.js';
import { storageSummary, type StorageSummary } from '../ui/storage-summary.js';
import { Counter, Histogram, Sampled, renderFamilies, type Family } from './exposition.js';
import type { RequestRecord } from './request-record.js';

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** The result files the host's own commands write, read at scrape time (a few small files). */
export const STATE_FILES = { gc: 'gc.json', retention: 'retention.json', renewal: 'renewal.json' } as const;

/**
 * Everything `/metrics` shows. Request figures are counted as each response closes; storage
 * figures come from a background walk every `storageIntervalMs` (a scrape never walks the store);
 * the last gc, retention and renewal results are read from `stateDir` when scraped.
 */
export class RegistryMetrics {
  private readonly requests = new Counter('registry_http_requests_total', 'Requests answered, by route, method and status.', ['route', 'method', 'status']);
  private readonly latency = new Histogram('registry_http_request_duration_seconds', 'Time from request to the end of the response.', ['route', 'method'], LATENCY_BUCKETS);
  private readonly bytesIn = new Counter('registry_http_request_bytes_total', 'Bytes received (headers and bodies), by route.', ['route']);
  private readonly bytesOut = new Counter('registry_http_response_bytes_total', 'Bytes sent (headers and bodies), by route.', ['route']);
  private readonly authFailures = new Counter('registry_auth_failures_total', 'Requests refused for wrong credentials (401 with credentials given).');
  private readonly throttled = new Counter('registry_auth_throttled_total', 'Sign-ins refused with 429 after repeated failures.');
  private readonly active = new Set<RequestRecord>();
  private storage: StorageSummary | null = null;
  private storageError = 0;
  private readonly families: Family[];
  private walkTimer?: NodeJS.Timeout;
  private walking = false;
  /** Families other parts add (the event queue's). */
  readonly extra: Family[] = [];

  constructor(
    private readonly registry: Registry,
    private readonly stateDir?: string,
  ) {
    this.families = [
      this.requests,
      this.latency,
      this.bytesIn,
      this.bytesOut,
      new Sampled('registry_http_requests_in_flight', 'Requests being answered now, by route (route="upload": uploads in flight).', 'gauge', () =>
        this.inFlight(),
      ),
      this.authFailures,
      this.throttled,
      new Sampled('registry_storage_blobs', 'Blobs in the store (last background walk).', 'gauge', () => this.storageSample((s) => s.blobs)),
      new Sampled('registry_storage_blob_bytes', 'Bytes of blob data in the store, each blob once (last background walk).', 'gauge', () =>
        this.storageSample((s) => s.blobBytes),
      ),
      new Sampled('registry_storage_repositories', 'Repositories (last background walk).', 'gauge', () => this.storageSample((s) => s.repositories)),
      new Sampled('registry_storage_tags', 'Tags in all repositories (last background walk).', 'gauge', () => this.storageSample((s) => s.tags)),
      new Sampled('registry_storage_walk_timestamp_seconds', 'When the storage figures were computed.', 'gauge', () =>
        this.storageSample((s) => Date.parse(s.computedAt) / 1000),
      ),
      new Sampled('registry_storage_walk_errors_total', 'Background storage walks that failed.', 'counter', () => [{ value: this.storageError }]),
      ...processFamilies(),
    ];
  }

  started(record: RequestRecord): void {
    this.active.add(record);
  }

  finished(record: RequestRecord): void {
    this.active.delete(record);
    const status = String(record.status);
    this.requests.inc([record.route, record.method, status]);
    this.latency.observe([record.route, record.method], record.durationMs / 1000);
    this.bytesIn.inc([record.route], record.bytesIn);
    this.bytesOut.inc([record.route], record.bytesOut);
    if (record.status === 401 && (record.hadCredentials || record.route === 'token')) this.authFailures.inc();
    if (record.status === 429) this.throttled.inc();
  }

  private inFlight(): { labels: Record<string, string>; value: number }[] {
    const byRoute = new Map<string, number>([['upload', 0]]);
    for (const r of this.active) byRoute.set(r.route, (byRoute.get(r.route) ?? 0) + 1);
    return [...byRoute].map(([route, value]) => ({ labels: { route }, value }));
  }

  private storageSample(pick: (s: StorageSummary) => number): { value: number }[] {
    return this.storage ? [{ value: pick(this.storage) }] : [];
  }

  /** Walks the store now and then every `intervalMs`; a slow walk is not joined by the next. */
  startStorageWalk(intervalMs: number, log: (line: string) => void): void {
    const walk = async () => {
      if (this.walking) return;
      this.walking = true;
      try {
        this.storage = await storageSummary(this.registry, await this.registry.manifests.repositories());
      } catch (err) {
        this.storageError++;
        log(`metrics: storage walk failed: ${(err as Error).message}`);
      } finally {
        this.walking = false;
      }
    };
    void walk();
    this.walkTimer = setInterval(() => void walk(), intervalMs);
    this.walkTimer.unref();
  }

  close(): void {
    clearInterval(this.walkTimer);
  }

  async render(): Promise<string> {
    const state = this.stateDir ? await stateFamilies(this.stateDir) : [];
    return renderFamilies([...this.families, ...this.extra, ...state]);
  }
}

async function readJson(file: string): Promise<Record<string, unknown> | null> {
  try {
    const value = JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : null;
  } catch {
    return null; // not written yet, or being replaced: the next scrape reads it
  }
}

const seconds = (iso: unknown): number | null => (typeof iso === 'string' && Number.isFinite(Date.parse(iso)) ? Date.parse(iso) / 1000 : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The last results of gc (`gc --state-file`), retention and certificate renewal. */
async function stateFamilies(dir: string): Promise<Family[]> {
  const [gc, retention, renewal] = await Promise.all([
    readJson(path.join(dir, STATE_FILES.gc)),
    readJson(path.join(dir, STATE_FILES.retention)),
    readJson(path.join(dir, STATE_FILES.renewal)),
  ]);
  const out: Family[] = [];
  const gauge = (name: string, help: string, value: number | null) => {
    if (value !== null) out.push(new Sampled(name, help, 'gauge', () => [{ value }]));
  };
  for (const [job, record] of [
    ['gc', gc],
    ['retention', retention],
  ] as const) {
    if (!record) continue;
    gauge(`registry_${job}_last_run_timestamp_seconds`, `When the last ${job} run ended.`, seconds(record.time));
    gauge(`registry_${job}_last_run_success`, `1 when the last ${job} run succeeded.`, record.ok === true ? 1 : 0);
    gauge(`registry_${job}_last_run_freed_bytes`, `Bytes the last ${job} run freed.`, num(record.freedBytes));
    gauge(`registry_${job}_last_run_dry_run`, `1 when the last ${job} run was a dry run.`, record.dryRun === true ? 1 : 0);
  }
  if (retention) gauge('registry_retention_last_run_deleted_tags', 'Tags the last retention run removed.', num(retention.deletedTags));
  if (renewal) {
    gauge('registry_cert_renewal_last_attempt_timestamp_seconds', 'When certificate renewal last ran.', seconds(renewal.lastAttempt));
    gauge('registry_cert_renewal_last_success', '1 unless the last renewal attempt failed.', renewal.lastResult === 'failed' ? 0 : 1);
    gauge('registry_cert_expiry_timestamp_seconds', 'When the certificate in use expires.', seconds(renewal.notAfter));
  }
  return out;
}

function processFamilies(): Family[] {
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  return [
    new Sampled('process_cpu_seconds_total', 'User and system CPU time.', 'counter', () => {
      const u = process.cpuUsage();
      return [{ value: (u.user + u.system) / 1e6 }];
    }),
    new Sampled('process_resident_memory_bytes', 'Resident memory.', 'gauge', () => [{ value: process.memoryUsage.rss() }]),
    new Sampled('process_heap_bytes', 'V8 heap in use.', 'gauge', () => [{ value: process.memoryUsage().heapUsed }]),
    new Sampled('process_start_time_seconds', 'When the process started.', 'gauge', () => [{ value: startSeconds }]),
    new Sampled('process_open_fds', 'Open file descriptors.', 'gauge', () => {
      try {
        return [{ value: readdirSync('/proc/self/fd').length }];
      } catch {
        return []; // not Linux
      }
    }),
  ];
}
