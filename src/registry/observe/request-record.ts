import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

/**
 * What one request did, filled in as the router learns it and read once when the response is
 * done: by the access log (one JSON line) and the metrics. Only fields chosen here are ever
 * written, never headers or the query string, so credentials (Basic, Bearer, `?_state=`, a
 * token in the query) cannot reach the log.
 */
export interface RequestRecord {
  /** Random, also sent back as X-Request-Id so a client's report can be matched with the line. */
  id: string;
  startNs: bigint;
  remote: string;
  method: string;
  /** The route's short name (`manifest`, `blob`, `upload`, …), `other` when none matched. */
  route: string;
  user: string | null;
  /** The request carried an Authorization header (a 401 then means wrong credentials). */
  hadCredentials: boolean;
  repository: string;
  /** pull, push or delete (distribution's event actions); empty for routes without a repository. */
  action: string;
  /** The tag or digest the request names (a finished upload: its digest). */
  reference: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
}

/**
 * A keep-alive socket carries one request after another, and it may have read a small body along
 * with the headers before the handler starts: so a request's bytes are the socket's counters
 * now less where they stood when the previous request on it finished (headers included).
 */
const COUNTED = Symbol('bytes counted by earlier requests');
type CountedSocket = { [COUNTED]?: { read: number; written: number } };

// 16 hex characters from one random pool refilled every 512 requests: cheap on the hot path.
let pool = Buffer.alloc(0);
let poolOffset = 0;
function requestId(): string {
  if (poolOffset + 8 > pool.length) {
    pool = randomBytes(4096);
    poolOffset = 0;
  }
  const id = pool.toString('hex', poolOffset, poolOffset + 8);
  poolOffset += 8;
  return id;
}

export function startRecord(req: IncomingMessage, trustProxy: boolean): RequestRecord {
  return {
    id: requestId(),
    startNs: process.hrtime.bigint(),
    remote: clientAddress(req, trustProxy),
    method: req.method ?? '',
    route: 'other',
    user: null,
    hadCredentials: req.headers.authorization !== undefined,
    repository: '',
    action: '',
    reference: '',
    status: 0,
    bytesIn: 0,
    bytesOut: 0,
    durationMs: 0,
  };
}

/** Status, bytes and duration, once the response is sent (or the connection is gone). */
export function finishRecord(record: RequestRecord, req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket as (typeof req.socket & CountedSocket) | null;
  record.status = res.headersSent ? res.statusCode : 0;
  if (socket) {
    const read = socket.bytesRead;
    const written = socket.bytesWritten;
    const before = socket[COUNTED];
    record.bytesIn = Math.max(0, read - (before?.read ?? 0));
    record.bytesOut = Math.max(0, written - (before?.written ?? 0));
    socket[COUNTED] = { read, written };
  }
  record.durationMs = Number(process.hrtime.bigint() - record.startNs) / 1e6;
}

const IP_RE = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * The client's address. Behind a proxy we trust (nginx sets X-Real-IP to the address it saw and
 * appends that address to X-Forwarded-For), the proxy's word; otherwise the socket's, since
 * anyone can send those headers. A header value that is not an address is ignored.
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  const socketAddress = req.socket?.remoteAddress ?? '';
  if (!trustProxy) return socketAddress;
  const realIp = req.headers['x-real-ip'];
  if (typeof realIp === 'string' && IP_RE.test(realIp.trim())) return realIp.trim();
  const forwarded = req.headers['x-forwarded-for'];
  const list = Array.isArray(forwarded) ? forwarded.join(',') : forwarded;
  const last = list?.split(',').pop()?.trim();
  if (last && IP_RE.test(last)) return last;
  return socketAddress;
}

/** The access log line: JSON, fixed field names, no headers or query. */
export function accessLogLine(record: RequestRecord): string {
  return JSON.stringify({
    time: new Date().toISOString(),
    id: record.id,
    remote: record.remote,
    user: record.user,
    method: record.method,
    route: record.route,
    repository: record.repository || undefined,
    action: record.action || undefined,
    reference: record.reference || undefined,
    status: record.status,
    bytes_in: record.bytesIn,
    bytes_out: record.bytesOut,
    duration_ms: Math.round(record.durationMs * 1000) / 1000,
  });
}
