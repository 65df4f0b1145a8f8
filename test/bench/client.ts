// The benchmark's HTTP client: node:http with a keep-alive agent per target, bodies streamed from
// memory without per-request copies, and every response checked (status, and the sha256 of every
// body whose digest is known). Any failure throws a BenchError that names the request.
import { createHash } from 'node:crypto';
import { BodyFetcher } from './body-fetcher.js';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';

export class BenchError extends Error {
  override name = 'BenchError';
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * Content of a given size without holding it in memory: a per-blob prefix, then one shared
 * random block repeated. Different prefixes give different digests; slices are views, not copies.
 */
export class BlobSource {
  private digestCache: string | undefined;

  constructor(
    readonly size: number,
    readonly prefix: Buffer,
    readonly block: Buffer,
  ) {
    if (block.length === 0) throw new Error('BlobSource needs a non-empty block');
  }

  /** Bytes [start, end) as a sequence of views of at most one block each. */
  *chunks(start = 0, end = this.size): Generator<Buffer> {
    let pos = start;
    while (pos < end && pos < this.prefix.length) {
      const stop = Math.min(end, this.prefix.length);
      yield this.prefix.subarray(pos, stop);
      pos = stop;
    }
    while (pos < end) {
      const off = (pos - this.prefix.length) % this.block.length;
      const n = Math.min(end - pos, this.block.length - off);
      yield this.block.subarray(off, off + n);
      pos += n;
    }
  }

  digest(): string {
    if (!this.digestCache) {
      const h = createHash('sha256');
      for (const c of this.chunks()) h.update(c);
      this.digestCache = `sha256:${h.digest('hex')}`;
    }
    return this.digestCache;
  }
}

/** Latency samples in milliseconds, stored unboxed. */
export class Samples {
  private data = new Float64Array(1024);
  count = 0;

  add(ms: number): void {
    if (this.count === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.count++] = ms;
  }

  /** Nearest-rank percentile, p in (0, 100]. NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const sorted = this.data.slice(0, this.count).sort();
    const rank = Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count)));
    return sorted[rank - 1]!;
  }
}

export interface RequestSpec {
  method: string;
  /** path and query, starting with `/` */
  path: string;
  headers?: http.OutgoingHttpHeaders;
  /** a whole body, or a streamed one (its size must be given as Content-Length by the caller) */
  body?: Buffer | Iterable<Buffer>;
  expect: number;
  /** hash the response body (sha256) instead of discarding it */
  hash?: boolean;
  /** keep the response body (small JSON bodies) */
  keep?: boolean;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  digest?: string;
  body?: Buffer;
}

const ERROR_BODY_LIMIT = 4096;
const KEEP_LIMIT = 8 * MiB;

/** One HTTP target (a registry, or the baseline file server) reached through its own agent. */
export class HttpTarget {
  readonly agent: http.Agent;
  private readonly baseHeaders: http.OutgoingHttpHeaders;
  private readonly tls: boolean;

  constructor(
    /** for messages: "ours", "distribution", "file server" */
    readonly label: string,
    /** http://… or https://… (then `ca` is the certificate to trust, e.g. a self-signed one) */
    readonly baseUrl: string,
    opts: { maxSockets: number; authorization?: string; idleTimeoutMs?: number; ca?: Buffer },
  ) {
    const u = new URL(baseUrl);
    this.tls = u.protocol === 'https:';
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets, maxFreeSockets: opts.maxSockets, scheduling: 'lifo' as const };
    this.agent = this.tls ? new https.Agent({ ...agentOpts, ...(opts.ca ? { ca: opts.ca } : {}) }) : new http.Agent(agentOpts);
    this.baseHeaders = opts.authorization ? { authorization: opts.authorization } : {};
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 120_000;
    this.bodies = new BodyFetcher(label, baseUrl, opts.authorization ? { authorization: opts.authorization } : {}, this.idleTimeoutMs, opts.ca);
    this.hostname = u.hostname;
    this.port = Number(u.port);
  }

  /** blob GETs: raw sockets into a fixed buffer, so the client keeps up with the servers */
  private readonly bodies: BodyFetcher;
  private readonly hostname: string;
  private readonly port: number;
  private readonly idleTimeoutMs: number;

  /** Resolves a Location header (absolute or relative) to a path+query on this target. */
  resolve(location: string): URL {
    return new URL(location, this.baseUrl);
  }

  request(spec: RequestSpec): Promise<Reply> {
    const what = `${this.label}: ${spec.method} ${spec.path}`;
    return new Promise<Reply>((resolve, reject) => {
      let settled = false;
      const fail = (msg: string) => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(new BenchError(`${what}: ${msg}`));
      };
      const headers = spec.headers ? { ...this.baseHeaders, ...spec.headers } : this.baseHeaders;
      const req = (this.tls ? https : http).request({ agent: this.agent, hostname: this.hostname, ...(this.tls ? { family: 4 } : {}), port: this.port, method: spec.method, path: spec.path, headers });
      req.setTimeout(this.idleTimeoutMs, () => fail(`no progress for ${this.idleTimeoutMs} ms`));
      req.on('error', (e) => fail(e.message));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const ok = status === spec.expect;
        const hash = ok && spec.hash ? createHash('sha256') : undefined;
        const keep: Buffer[] | undefined = !ok || spec.keep ? [] : undefined;
        let bytes = 0;
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (hash) hash.update(chunk);
          if (keep && kept < (ok ? KEEP_LIMIT : ERROR_BODY_LIMIT)) {
            keep.push(chunk);
            kept += chunk.length;
          }
        });
        res.on('error', (e) => fail(`response: ${e.message}`));
        res.on('aborted', () => fail('response aborted by the server'));
        res.on('end', () => {
          if (settled) return;
          if (!ok) {
            const text = keep ? Buffer.concat(keep).toString('utf8').slice(0, ERROR_BODY_LIMIT).trim() : '';
            fail(`HTTP ${status}, expected ${spec.expect}${text ? `: ${text}` : ''}`);
            return;
          }
          settled = true;
          resolve({
            status,
            headers: res.headers,
            bytes,
            ...(hash ? { digest: `sha256:${hash.digest('hex')}` } : {}),
            ...(keep ? { body: Buffer.concat(keep) } : {}),
          });
        });
      });
      if (spec.body === undefined) {
        req.end();
      } else if (Buffer.isBuffer(spec.body)) {
        req.end(spec.body);
      } else {
        void writeStreamed(req, spec.body).catch((e: Error) => fail(`sending the body: ${e.message}`));
      }
    });
  }

  /**
   * GET whose body is hashed and counted, never kept (blob pulls); a status other than `expect`
   * fails with the start of the body.
   */
  async getHashed(path: string, expect = 200, drain = false): Promise<{ bytes: number; digest: string }> {
    const r = await this.bodies.get(path, expect, drain);
    if (r.status !== expect || r.digest === undefined) {
      throw new BenchError(`${this.label}: GET ${path}: HTTP ${r.status}, expected ${expect}${r.errorText ? `: ${r.errorText.slice(0, ERROR_BODY_LIMIT)}` : ''}`);
    }
    return { bytes: r.bytes, digest: r.digest };
  }

  close(): void {
    this.agent.destroy();
    this.bodies.close();
  }
}

async function writeStreamed(req: http.ClientRequest, body: Iterable<Buffer>): Promise<void> {
  for (const chunk of body) {
    if (req.destroyed) return;
    if (!req.write(chunk)) await once(req, 'drain');
  }
  req.end();
}

/** Throws unless `actual` equals `expected`, naming what was compared. */
export function check(what: string, actual: unknown, expected: unknown): void {
  if (actual !== expected) throw new BenchError(`${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

export interface PoolResult {
  done: number;
  elapsedMs: number;
  /** stopped by the deadline before `count` operations */
  truncated: boolean;
}

/**
 * Runs op(i) for i = 0..count-1 on `concurrency` workers, stopping early (truncated) once
 * `deadline` (a performance.now() value) has passed. The first failure stops every worker and is rethrown.
 */
export async function runPool(concurrency: number, count: number, deadline: number, op: (i: number) => Promise<void>): Promise<PoolResult> {
  let next = 0;
  let done = 0;
  let failed: unknown;
  const start = performance.now();
  const worker = async () => {
    while (failed === undefined && next < count && performance.now() < deadline) {
      const i = next++;
      try {
        await op(i);
        done++;
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  if (failed !== undefined) throw failed;
  return { done, elapsedMs: performance.now() - start, truncated: done < count };
}
