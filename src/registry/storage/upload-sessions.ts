import type { Readable } from 'node:stream';
import { RegistryError } from '../errors.js';
import type { StorageDriver } from './driver.js';
import { uploadDir, uploadsDir, uploadStartedAtPath } from './paths.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isValidUploadId(id: string): boolean {
  return UUID_RE.test(id);
}

/**
 * Blob upload sessions; each storage driver keeps the bytes of an unfinished upload its own way,
 * under the session logic they share (UploadSessionStore).
 */
export interface UploadSessions {
  create(name: string): Promise<string>;
  /** Bytes received so far, or null when there is no such upload. */
  size(name: string, id: string): Promise<number | null>;
  /**
   * Appends a request body. `expectStart` is the first byte's offset claimed by Content-Range;
   * a chunk that does not start where the upload ends is refused with 416. `last` says the caller
   * commits right after, so a driver may make the bytes durable while it still has them open.
   */
  append(name: string, id: string, body: Readable, expectStart?: number, last?: boolean): Promise<{ before: number; after: number }>;
  /** Verifies the digest and moves the bytes into the blob store; only then is the blob visible. */
  commit(name: string, id: string, digest: string): Promise<number>;
  /**
   * A body that completes the upload: `append` (as the last one) then `commit`, refused with
   * SIZE_INVALID when the body's length is not `declaredSize`. A driver may take a shorter path
   * for a session that has no bytes yet; the blob is visible only once verified either way.
   */
  appendAndCommit(name: string, id: string, body: Readable, expectStart: number | undefined, digest: string, declaredSize?: number): Promise<number>;
  cancel(name: string, id: string): Promise<boolean>;
  /**
   * Takes on, as an empty session, an upload this process does not know whose URL the registry
   * signed: another process on the same storage started it and kept it in memory only (it had no
   * bytes yet), e.g. the registry that served before a gapless upgrade. Absent where every session
   * is in storage from its start.
   */
  adopt?(name: string, id: string): Promise<void>;
  /** Deletes uploads started before `now - maxAgeMs` in these repositories; returns how many. */
  purge(maxAgeMs: number, repositories: string[]): Promise<number>;
}

/** The body's length against its Content-Length (a chunked body declares none). */
export function checkDeclaredSize(received: number, declaredSize: number | undefined): void {
  if (declaredSize !== undefined && received !== declaredSize) {
    throw new RegistryError('SIZE_INVALID', `received ${received} bytes but Content-Length was ${declaredSize}`);
  }
}

/** Serialises the requests for one upload so chunks never interleave. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Something holds or waits for `key` (a request on that upload is in flight). */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.tails.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    }
  }
}

/**
 * Upload sessions started before `now - maxAgeMs` (by `startedat`; without it by the folder's time
 * where there are folders, else as abandoned), repository by repository.
 */
export async function* staleUploads(driver: StorageDriver, maxAgeMs: number, repositories: string[]): AsyncGenerator<{ name: string; id: string }> {
  const cutoff = Date.now() - maxAgeMs;
  for (const name of repositories) {
    for (const id of await driver.list(uploadsDir(name))) {
      const started = await driver.getContent(uploadStartedAtPath(name, id));
      const info = started ? null : await driver.stat(uploadDir(name, id));
      const at = started ? Date.parse(started.toString('utf8')) : (info?.modTime.getTime() ?? 0);
      if (Number.isNaN(at) || at < cutoff) yield { name, id };
    }
  }
}
