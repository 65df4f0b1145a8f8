// GETs whose body is only counted and hashed (blob pulls), over keep-alive sockets that read into
// one fixed 1 MiB buffer each. node:http hands every 64 KiB read to JavaScript as a fresh Buffer
// through its parser and stream machinery; at pull rates that made the client, not the server, the
// bottleneck (a full core at ~250-450 MiB/s). Reading straight into a reused buffer and hashing it
// there leaves the client mostly the sha256 itself.
import { createHash, type Hash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { BenchError } from './client.js';

const READ_BUFFER = 1 << 20;
const HEADER_LIMIT = 16 * 1024;
const ERROR_BODY_LIMIT = 4096;

export interface HashedBody {
  status: number;
  headers: Record<string, string>;
  bytes: number;
  /** sha256 of the body, only for the expected status */
  digest?: string;
  /** the start of the body, only for an unexpected status */
  errorText?: string;
}

interface Pending {
  /** "<server>: GET <path>", for messages */
  what: string;
  expect: number;
  /** keep the body and hash it once it is all there, instead of hashing while it arrives */
  drain: boolean;
  resolve(body: HashedBody): void;
  reject(err: Error): void;
}

/** One keep-alive connection carrying one request at a time. */
class Connection {
  readonly socket: net.Socket;
  private pending: Pending | null = null;
  private head: Buffer[] = [];
  private headBytes = 0;
  private response: {
    status: number;
    headers: Record<string, string>;
    remaining: number;
    hash?: Hash;
    /** the body so far, when draining */
    kept?: Buffer;
    errorParts: Buffer[];
    bytes: number;
  } | null = null;
  /** reused by every drained body on this connection */
  private keepBuffer: Buffer | null = null;
  private broken: Error | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly label: string,
    idleTimeoutMs: number,
    /** HTTPS, trusting this certificate (undefined: plain HTTP) */
    tlsCa?: Buffer | true,
  ) {
    if (tlsCa) {
      // TLS sockets hand decrypted records over as Buffers (no `onread`); each is at most 16 KiB.
      // The stacks publish on 127.0.0.1 (not ::1) and their certificates name `localhost`.
      const address = host === 'localhost' ? '127.0.0.1' : host;
      this.socket = tls.connect({ host: address, port, servername: net.isIP(host) ? undefined : host, ...(tlsCa === true ? {} : { ca: tlsCa }) });
      this.socket.on('data', (chunk: Buffer) => this.onData(chunk, chunk.length));
    } else {
      this.socket = net.connect({
        host,
        port,
        onread: {
          buffer: Buffer.allocUnsafe(READ_BUFFER),
          callback: (n: number, buf: Uint8Array) => {
            this.onData(buf as Buffer, n);
            return true;
          },
        },
      });
    }
    this.socket.setNoDelay(true);
    this.socket.setTimeout(idleTimeoutMs, () => this.fail(`no progress for ${idleTimeoutMs} ms`));
    this.socket.on('error', (e) => this.fail(e.message));
    this.socket.on('close', () => this.fail('the server closed the connection'));
  }

  get usable(): boolean {
    return this.broken === null && !this.socket.destroyed;
  }

  get(path: string, headers: Record<string, string>, expect: number, drain = false): Promise<HashedBody> {
    if (this.pending) throw new Error('connection busy');
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${this.host}:${this.port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    return new Promise<HashedBody>((resolve, reject) => {
      this.pending = { what: `${this.label}: GET ${path}`, expect, drain, resolve, reject };
      this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
  }

  private fail(message: string): void {
    const p = this.pending;
    const err = new BenchError(`${p?.what ?? this.label}: ${message}`);
    this.broken ??= err;
    this.socket.destroy();
    this.pending = null;
    p?.reject(err);
  }

  private onData(buf: Buffer, n: number): void {
    if (!this.pending) {
      this.fail(`${n} bytes arrived with no request outstanding`);
      return;
    }
    let chunk = buf.subarray(0, n);
    if (!this.response) {
      const end = this.collectHead(chunk);
      if (end < 0) return;
      chunk = chunk.subarray(end);
      if (!this.response) return;
    }
    const r = this.response;
    if (chunk.length > r.remaining) {
      this.fail(`${chunk.length - r.remaining} bytes more than the Content-Length`);
      return;
    }
    if (r.kept) chunk.copy(r.kept, r.bytes);
    r.remaining -= chunk.length;
    r.bytes += chunk.length;
    if (r.hash) r.hash.update(chunk);
    else if (r.bytes <= ERROR_BODY_LIMIT) r.errorParts.push(Buffer.from(chunk));
    if (r.remaining === 0) this.finish();
  }

  /** Accumulates the status line and headers; returns how much of `chunk` they used, or -1 for all. */
  private collectHead(chunk: Buffer): number {
    const previous = this.headBytes;
    this.head.push(Buffer.from(chunk.subarray(0, Math.min(chunk.length, HEADER_LIMIT))));
    this.headBytes += chunk.length;
    const text = Buffer.concat(this.head).toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.headBytes > HEADER_LIMIT) this.fail(`response headers over ${HEADER_LIMIT} bytes`);
      return -1;
    }
    this.head = [];
    this.headBytes = 0;
    const [statusLine = '', ...headerLines] = text.slice(0, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN);
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length']);
    if (!Number.isInteger(status) || !Number.isSafeInteger(length) || length < 0) {
      this.fail(`unusable response head (need a status and a Content-Length): ${statusLine}`);
      return -1;
    }
    const ok = status === this.pending!.expect;
    let verify: { hash?: Hash; kept?: Buffer } = {};
    if (ok && this.pending!.drain) {
      if (!this.keepBuffer || this.keepBuffer.length < length) this.keepBuffer = Buffer.allocUnsafe(length);
      verify = { kept: this.keepBuffer.subarray(0, length) };
    } else if (ok) verify = { hash: createHash('sha256') };
    this.response = { status, headers, remaining: length, bytes: 0, errorParts: [], ...verify };
    if (length === 0) this.finish();
    return end + 4 - previous;
  }

  private finish(): void {
    const r = this.response!;
    const p = this.pending!;
    this.response = null;
    this.pending = null;
    if (r.headers.connection?.toLowerCase() === 'close') this.socket.end();
    const hash = r.kept ? createHash('sha256').update(r.kept.subarray(0, r.bytes)) : r.hash;
    p.resolve({
      status: r.status,
      headers: r.headers,
      bytes: r.bytes,
      ...(hash ? { digest: `sha256:${hash.digest('hex')}` } : { errorText: Buffer.concat(r.errorParts).toString('utf8').trim() }),
    });
  }
}

/** A pool of such connections to one server; the caller bounds the concurrency. */
export class BodyFetcher {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly host: string;
  private readonly port: number;
  private readonly tlsCa: Buffer | true | undefined;

  constructor(
    private readonly label: string,
    baseUrl: string,
    private readonly baseHeaders: Record<string, string> = {},
    private readonly idleTimeoutMs = 120_000,
    ca?: Buffer,
  ) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.tlsCa = u.protocol === 'https:' ? (ca ?? true) : undefined;
  }

  /**
   * GET `path`, expecting `expect`; the body is hashed (and counted). With `drain` it is read into
   * memory as fast as it comes and hashed only when complete, so the server, not the client's
   * sha256, sets the pace; otherwise it is hashed as it arrives and never kept.
   */
  async get(path: string, expect = 200, drain = false): Promise<HashedBody> {
    let conn = this.idle.pop();
    while (conn && !conn.usable) {
      this.all.delete(conn);
      conn = this.idle.pop();
    }
    if (!conn) {
      conn = new Connection(this.host, this.port, this.label, this.idleTimeoutMs, this.tlsCa);
      this.all.add(conn);
    }
    try {
      const body = await conn.get(path, this.baseHeaders, expect, drain);
      if (conn.usable) this.idle.push(conn);
      return body;
    } catch (e) {
      this.all.delete(conn);
      throw e;
    }
  }

  close(): void {
    for (const c of this.all) c.socket.destroy();
    this.all.clear();
    this.idle.length = 0;
  }
}
