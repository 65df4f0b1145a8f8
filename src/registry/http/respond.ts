import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError, TooManyRequestsError } from '../errors.js';

export type Headers = Record<string, string | number>;

export function send(res: ServerResponse, status: number, headers: Headers = {}, body?: Buffer | string): void {
  const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'Content-Length': payload ? payload.length : 0, ...headers });
  res.end(payload);
}

export function sendJSON(res: ServerResponse, status: number, value: unknown, headers: Headers = {}): void {
  send(res, status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));
}

export function sendError(res: ServerResponse, err: RegistryError, headers: Headers = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const retry: Headers = err instanceof TooManyRequestsError ? { 'Retry-After': err.retryAfterSeconds } : {};
  // Some clients print only the status line (containerd 1.6: "unexpected status: 403 Forbidden"):
  // a refusal by the access policy says so there too.
  if (err.code === 'DENIED' && err.status === 403) res.statusMessage = `Denied: ${err.message}`.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
  sendJSON(res, err.status, err.toJSON(), { ...retry, ...headers });
}

/** Reads a whole request body, refusing more than `limit` bytes with 413. */
export async function readBody(req: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new RegistryError('SIZE_INVALID', `${what} is larger than ${limit} bytes`, { limit }, 413);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new RegistryError('SIZE_INVALID', `${what} is larger than ${limit} bytes`, { limit }, 413);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** True when the request carries a body (a declared non-zero length, or chunked encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** `n` and `last` of the spec's pagination; a page is exactly `n` long when more follow. */
export function paginate(
  sorted: string[],
  query: URLSearchParams,
  linkBase: string,
): { items: string[]; link?: string } {
  const last = query.get('last');
  const nRaw = query.get('n');
  let items = last ? sorted.filter((s) => s > last) : sorted;
  if (nRaw === null) return { items };
  if (!/^\d+$/.test(nRaw)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `invalid number of results requested: ${nRaw}`);
  const n = Number(nRaw);
  if (n === 0) return { items: [] };
  if (items.length <= n) return { items };
  items = items.slice(0, n);
  const next = new URLSearchParams({ n: String(n), last: items[items.length - 1]! });
  return { items, link: `<${linkBase}?${next.toString()}>; rel="next"` };
}
