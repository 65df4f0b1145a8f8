import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Endpoint } from './endpoints.js';
import type { RegistryEvent } from './event.js';

export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';
const JOURNAL = 'journal.jsonl';
const BATCH = 32;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;

interface Queued {
  seq: number;
  event: RegistryEvent;
}

interface EndpointState {
  endpoint: Endpoint;
  /** the last sequence number delivered (or skipped by its filters) */
  cursor: number;
  delivered: number;
  failedPosts: number;
  failuresInARow: number;
  running: boolean;
  timer?: NodeJS.Timeout;
}

/**
 * At-least-once delivery of events to every endpoint. Each event is appended to a journal with a
 * synchronous write before the request that caused it is answered, so a registry killed at any
 * moment loses none it acknowledged (the page cache survives a killed process; a power cut may
 * lose the last lines). Each endpoint has its own cursor file and its own worker that posts in
 * journal order, retrying with exponential backoff: a slow or dead endpoint delays only itself,
 * never a push. At most `maxEvents` wait; beyond that the oldest are dropped and counted.
 */
export class EventQueue {
  private fd: number;
  private events: Queued[] = [];
  private lastSeq = 0;
  private readonly states: EndpointState[];
  private appendedSinceCompaction = 0;
  private closed = false;
  dropped = 0;

  private constructor(
    private readonly dir: string,
    endpoints: Endpoint[],
    private readonly maxEvents: number,
    private readonly log: (line: string) => void,
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const journal = path.join(dir, JOURNAL);
    for (const line of readLines(journal)) {
      try {
        const q = JSON.parse(line) as Queued;
        if (Number.isInteger(q.seq) && q.event) this.events.push(q);
      } catch {
        // a line torn by a kill mid-write: the request it belonged to was never answered
      }
    }
    this.events.sort((a, b) => a.seq - b.seq);
    this.lastSeq = this.events.at(-1)?.seq ?? readCursor(path.join(dir, 'last-seq')) ?? 0;
    this.states = endpoints.map((endpoint) => ({
      endpoint,
      // an endpoint without a cursor yet gets everything still in the journal
      cursor: readCursor(this.cursorFile(endpoint)) ?? (this.events.length ? this.events[0]!.seq - 1 : this.lastSeq),
      delivered: 0,
      failedPosts: 0,
      failuresInARow: 0,
      running: false,
    }));
    this.fd = fs.openSync(journal, 'a', 0o600);
    this.compact();
  }

  static open(dir: string, endpoints: Endpoint[], maxEvents: number, log: (line: string) => void): EventQueue {
    const queue = new EventQueue(dir, endpoints, maxEvents, log);
    for (const s of queue.states) queue.wake(s);
    return queue;
  }

  private cursorFile(endpoint: Endpoint): string {
    return path.join(this.dir, `cursor-${endpoint.name}`);
  }

  /** Journals the event (synchronously: it is on file when this returns) and wakes the workers. */
  append(event: RegistryEvent): void {
    if (this.closed) return;
    const q = { seq: ++this.lastSeq, event };
    fs.writeSync(this.fd, `${JSON.stringify(q)}\n`);
    this.events.push(q);
    if (this.events.length > this.maxEvents) {
      const gone = this.events.splice(0, this.events.length - this.maxEvents);
      const lastGone = gone.at(-1)!.seq;
      for (const s of this.states) {
        const lost = gone.filter((g) => g.seq > s.cursor).length;
        if (lost > 0) {
          this.dropped += lost;
          s.cursor = lastGone;
          writeAtomically(this.cursorFile(s.endpoint), String(s.cursor)); // dropped stays dropped after a restart
          this.log(`events: queue full (${this.maxEvents}): dropped ${lost} event(s) for ${s.endpoint.name}`);
        }
      }
    }
    if (++this.appendedSinceCompaction >= 1000) this.compact();
    for (const s of this.states) this.wake(s);
  }

  /** Forgets events every endpoint has, and rewrites the journal with the rest. */
  private compact(): void {
    this.appendedSinceCompaction = 0;
    const min = Math.min(...this.states.map((s) => s.cursor), this.lastSeq);
    const first = this.events.findIndex((q) => q.seq > min);
    this.events = first < 0 ? [] : this.events.slice(first);
    const journal = path.join(this.dir, JOURNAL);
    const tmp = `${journal}.tmp`;
    fs.writeFileSync(tmp, this.events.map((q) => `${JSON.stringify(q)}\n`).join(''), { mode: 0o600 });
    writeAtomically(path.join(this.dir, 'last-seq'), String(this.lastSeq));
    fs.renameSync(tmp, journal);
    fs.closeSync(this.fd);
    this.fd = fs.openSync(journal, 'a', 0o600);
  }

  private wake(s: EndpointState): void {
    if (s.running || s.timer || this.closed) return;
    if (s.cursor >= this.lastSeq) return;
    s.running = true;
    void this.deliver(s).finally(() => {
      s.running = false;
      if (s.cursor < this.lastSeq && !this.closed) {
        const wait = s.failuresInARow === 0 ? 0 : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (s.failuresInARow - 1)) * (0.75 + Math.random() / 2);
        s.timer = setTimeout(() => {
          s.timer = undefined;
          this.wake(s);
        }, wait);
        s.timer.unref();
      }
    });
  }

  /** Posts the next batch of events after the cursor that the endpoint's filters let through. */
  private async deliver(s: EndpointState): Promise<void> {
    const start = this.events.findIndex((q) => q.seq > s.cursor);
    if (start < 0) {
      s.cursor = this.lastSeq;
      return;
    }
    const batch = this.events.slice(start, start + BATCH);
    const through = batch.at(-1)!.seq;
    const wanted = batch.filter((q) => matches(s.endpoint, q.event));
    if (wanted.length > 0) {
      const body = JSON.stringify({ events: wanted.map((q) => q.event) });
      const headers: Record<string, string> = { ...s.endpoint.headers, 'Content-Type': EVENTS_MEDIA_TYPE };
      if (s.endpoint.hmacSecret) headers['X-Registry-Signature'] = `sha256=${createHmac('sha256', s.endpoint.hmacSecret).update(body).digest('hex')}`;
      try {
        const res = await fetch(s.endpoint.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(s.endpoint.timeoutMs), redirect: 'manual' });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status < 200 || res.status > 299) throw new Error(`answered ${res.status}`);
      } catch (err) {
        s.failedPosts++;
        s.failuresInARow++;
        if (s.failuresInARow === 1 || s.failuresInARow % 20 === 0) {
          this.log(`events: ${s.endpoint.name} (${s.endpoint.url}): ${(err as Error).message}; retrying (${s.failuresInARow} in a row)`);
        }
        return;
      }
      s.delivered += wanted.length;
    }
    s.failuresInARow = 0;
    s.cursor = Math.max(s.cursor, through);
    if (!this.closed) writeAtomically(this.cursorFile(s.endpoint), String(s.cursor));
  }

  /** Per endpoint: waiting, delivered and failed posts (for metrics). */
  stats(): { endpoint: string; pending: number; delivered: number; failedPosts: number }[] {
    return this.states.map((s) => ({
      endpoint: s.endpoint.name,
      pending: this.events.filter((q) => q.seq > s.cursor).length,
      delivered: s.delivered,
      failedPosts: s.failedPosts,
    }));
  }

  close(): void {
    this.closed = true;
    for (const s of this.states) clearTimeout(s.timer);
    fs.closeSync(this.fd);
  }
}

function matches(endpoint: Endpoint, event: RegistryEvent): boolean {
  if (!endpoint.actions.has(event.action)) return false;
  return !endpoint.repositories || endpoint.repositories.some((g) => g.matches(event.target.repository));
}

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function readCursor(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n >= 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
