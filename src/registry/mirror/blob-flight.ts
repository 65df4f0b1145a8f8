import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { UploadSessions } from '../storage/upload-sessions.js';
import { UpstreamError, type Upstream, type UpstreamResponse } from './upstream.js';

const MAX_RESUMES = 3;
const READ_CHUNK = 1024 * 1024;

/**
 * One upstream fetch of one blob, shared by every client that asks for it meanwhile. The bytes
 * go to an unlinked spool file that each client reads at its own pace (so a slow or vanished
 * client holds up nobody), and through an upload session into the store, whose commit verifies
 * the digest before the blob becomes visible. Clients get every byte but the last as it
 * arrives; the last only once the digest is verified and the blob committed, so bytes that do
 * not match the digest never reach a client whole.
 */
export class BlobFlight {
  size = -1;
  written = 0;
  done = false;
  error: Error | undefined;
  /** Resolves once the upstream answered with the blob's length (or the fetch failed). */
  readonly started: Promise<void>;
  private startedResolve!: () => void;
  private spool: FileHandle | undefined;
  private holders = 1; // the fetch itself
  private wake: (() => void)[] = [];

  constructor(
    private readonly upstream: Upstream,
    private readonly uploads: UploadSessions,
    private readonly storeName: string,
    private readonly upstreamName: string,
    readonly digest: string,
    private readonly log: (line: string) => void,
  ) {
    this.started = new Promise((resolve) => (this.startedResolve = resolve));
  }

  /** Fetches, spools, verifies and commits; never rejects (the outcome is in `error`/`done`). */
  async run(): Promise<void> {
    let sessionId: string | undefined;
    let commit: Promise<number> | undefined;
    const feed = new PassThrough({ highWaterMark: 4 * READ_CHUNK });
    try {
      let res = await this.get(0);
      const length = Number(res.headers['content-length']);
      if (!Number.isSafeInteger(length) || length < 0) throw new UpstreamError(`${this.upstream.settings.url} sent blob ${this.digest} without a length`, 502);
      this.size = length;
      const spoolPath = path.join(os.tmpdir(), `registry-mirror-${randomUUID()}`);
      this.spool = await open(spoolPath, 'w+', 0o600);
      await unlink(spoolPath); // lives while open; nothing to clean up after a crash
      this.startedResolve();
      sessionId = await this.uploads.create(this.storeName);
      commit = this.uploads.appendAndCommit(this.storeName, sessionId, feed, undefined, this.digest, length);
      commit.catch(() => undefined); // awaited below; a rejection before then must not go unhandled
      const hash = createHash('sha256');
      let resumes = 0;
      for (;;) {
        try {
          for await (const chunk of res.body) {
            const buf = chunk as Buffer;
            if (this.written + buf.length > length) throw new UpstreamError(`${this.upstream.settings.url} sent more than ${length} bytes of ${this.digest}`, 502);
            hash.update(buf);
            await this.spool.write(buf, 0, buf.length, this.written);
            this.written += buf.length;
            this.notify();
            if (!feed.write(buf)) await Promise.race([once(feed, 'drain'), commit]);
          }
        } catch (err) {
          if (this.written >= length || resumes >= MAX_RESUMES || (err instanceof UpstreamError && err.status !== undefined)) throw err;
        }
        if (this.written >= length) break;
        // the connection broke off (or ended early): ask for the rest only
        resumes++;
        this.log(`mirror: ${this.digest} broke off at ${this.written} of ${length} bytes; resuming from there (${resumes}/${MAX_RESUMES})`);
        res = await this.get(this.written);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (this.digest.startsWith('sha256:') && actual !== this.digest) {
        feed.destroy(new Error('digest mismatch'));
        throw new UpstreamError(`${this.upstream.settings.url} sent bytes for ${this.digest} whose digest is ${actual}: not stored, not served`, 502);
      }
      feed.end();
      await commit; // verifies again and makes the blob visible in the store
      this.done = true;
    } catch (err) {
      feed.destroy();
      await commit?.catch(() => undefined);
      if (sessionId) await this.uploads.cancel(this.storeName, sessionId).catch(() => false);
      this.error = err instanceof Error ? err : new Error(String(err));
      this.log(`mirror: fetching ${this.upstreamName}@${this.digest} failed: ${this.error.message}`);
    } finally {
      this.startedResolve();
      this.notify();
      this.release();
    }
  }

  /** GET of the blob from `offset` on; a resumed read must answer 206 from exactly there. */
  private async get(offset: number): Promise<UpstreamResponse> {
    const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
    const res = await this.upstream.request('GET', `${this.upstreamName}/blobs/${this.digest}`, this.upstreamName, headers);
    const expected = offset > 0 ? 206 : 200;
    const range = String(res.headers['content-range'] ?? '');
    if (res.status !== expected || (offset > 0 && !range.startsWith(`bytes ${offset}-`))) {
      res.body.resume();
      throw new UpstreamError(`${this.upstream.settings.url} answered ${res.status} for blob ${this.digest}${offset > 0 ? ` from byte ${offset}` : ''}`, res.status);
    }
    return res;
  }

  private notify(): void {
    const waiting = this.wake;
    this.wake = [];
    for (const w of waiting) w();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.wake.push(resolve));
  }

  /**
   * Takes a share of the spool file, synchronously after finding the flight; false when the
   * flight has ended and let it go (the blob is in the store by then, or the fetch failed).
   */
  join(): boolean {
    if (this.holders === 0) return false;
    this.holders++;
    return true;
  }

  /** Gives back a share taken by `join` (sendTo does it itself). */
  leave(): void {
    this.release();
  }

  private release(): void {
    if (--this.holders === 0) void this.spool?.close().catch(() => undefined);
  }

  /**
   * Writes bytes `start..end` (inclusive) to `out` as they arrive; rejects when the fetch fails
   * (the response is then incomplete) and stops quietly when `out` goes away. Needs a `join`.
   */
  async sendTo(out: Writable, start: number, end: number): Promise<void> {
    try {
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      let pos = start;
      while (pos <= end) {
        if (out.destroyed) return;
        if (this.error) throw this.error;
        // the last byte waits for the verified commit
        const available = this.done ? this.size : Math.min(this.written, this.size - 1);
        if (pos >= available) {
          await this.changed();
          continue;
        }
        const n = Math.min(available - pos, end + 1 - pos, READ_CHUNK);
        const { bytesRead } = await this.spool!.read(buf, 0, n, pos);
        pos += bytesRead;
        if (!out.write(Buffer.from(buf.subarray(0, bytesRead)))) await drainedOrClosed(out);
      }
      out.end();
    } finally {
      this.release();
    }
  }
}

/** Resolves when `out` wants more bytes or is gone, leaving no listener behind. */
function drainedOrClosed(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}
