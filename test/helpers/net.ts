// Small network helpers: a free loopback port, and polling an HTTP endpoint with a deadline.
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** Binds 127.0.0.1:0, reads the port the kernel chose, and releases it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('no port from listen(0)'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

/**
 * GETs url until the status is one of `okStatuses`, the deadline passes, or `abort()` says to give up.
 * Returns the status seen; throws with the last error otherwise.
 */
export async function waitForHttp(
  url: string,
  okStatuses: readonly number[],
  timeoutMs: number,
  abort?: () => string | undefined,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    const why = abort?.();
    if (why) throw new Error(`gave up waiting for ${url}: ${why}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (okStatuses.includes(res.status)) return res.status;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${url} (last: ${last})`);
    await delay(50);
  }
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
