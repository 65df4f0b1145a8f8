// Registry traffic through the public URL while something happens to the stack (an upgrade): a
// bounded loop (count and time) of pushes — monolithic, and chunked with pauses so that one upload
// spans several requests — and pulls, each checked; every failed request is recorded.
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { RegistryClient } from '../../src/client/registry-client.js';

export interface TrafficFailure {
  /** ms since the traffic started */
  at: number;
  what: string;
  error: string;
}

export interface TrafficReport {
  rounds: number;
  requests: number;
  failures: TrafficFailure[];
}

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * Starts the loop; `stop()` ends it after the round under way and reports. It also ends by itself
 * after `maxRounds` rounds or `maxMs`.
 */
export function startTraffic(client: RegistryClient, repo: string, o: { maxRounds: number; maxMs: number; pauseMs: number }): { stop(): Promise<TrafficReport> } {
  const started = Date.now();
  const report: TrafficReport = { rounds: 0, requests: 0, failures: [] };
  let stopping = false;
  const call = async (what: string, method: string, path: string, want: number, opts: { body?: Buffer; headers?: Record<string, string> } = {}) => {
    report.requests++;
    try {
      const res = await client.request(method, path, opts);
      if (res.status !== want) throw new Error(`HTTP ${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
      return res;
    } catch (err) {
      report.failures.push({ at: Date.now() - started, what: `${what}: ${method} ${path.replace(/_state=[^&]+/, '_state=…')}`, error: (err as Error).message });
      return null;
    }
  };
  const next = (res: { headers: Record<string, unknown> }) => {
    const url = new URL(String(res.headers.location), 'https://x');
    return url.pathname + url.search;
  };
  const round = async (i: number) => {
    // chunked: POST, pause, PATCH, pause, PATCH, pause, PUT: the switch can fall between any two
    const chunks = [randomBytes(2048), randomBytes(1024)];
    const whole = Buffer.concat(chunks);
    const post = await call(`round ${i} chunked`, 'POST', `/v2/${repo}/blobs/uploads/`, 202);
    if (!post) return;
    let location = next(post);
    let offset = 0;
    for (const chunk of chunks) {
      await delay(o.pauseMs);
      const patch = await call(`round ${i} chunk`, 'PATCH', location, 202, { body: chunk, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + chunk.length - 1}` } });
      if (!patch) return;
      offset += chunk.length;
      location = next(patch);
    }
    await delay(o.pauseMs);
    const digest = digestOf(whole);
    const put = await call(`round ${i} commit`, 'PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, 201);
    if (!put) return;
    // monolithic: POST then PUT with the body
    const mono = randomBytes(512);
    const monoPost = await call(`round ${i} monolithic`, 'POST', `/v2/${repo}/blobs/uploads/`, 202);
    if (!monoPost) return;
    const monoLocation = next(monoPost);
    await call(`round ${i} monolithic`, 'PUT', `${monoLocation}${monoLocation.includes('?') ? '&' : '?'}digest=${digestOf(mono)}`, 201, { body: mono, headers: { 'Content-Type': 'application/octet-stream' } });
    // pulls of what was just pushed, bytes checked
    for (const [d, bytes] of [[digest, whole], [digestOf(mono), mono]] as const) {
      const got = await call(`round ${i} pull`, 'GET', `/v2/${repo}/blobs/${d}`, 200);
      if (got && !got.body.equals(bytes)) report.failures.push({ at: Date.now() - started, what: `round ${i} pull ${d}`, error: 'different bytes' });
    }
  };
  const loop = (async () => {
    for (let i = 0; i < o.maxRounds && !stopping && Date.now() - started < o.maxMs; i++) {
      await round(i);
      report.rounds++;
      await delay(o.pauseMs);
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      return report;
    },
  };
}
