import { readSync, type promises as fs } from 'node:fs';
import type { Writable } from 'node:stream';

/** Bytes read per step. Fewer, larger steps are what lowers the CPU per GiB served. */
export const SEND_CHUNK = 1 << 20;
/** A read slower than this came from the disk, not the page cache: the next one goes to the thread pool. */
const SLOW_READ_MS = 1;
/** Idle buffers kept for the next download, so steady pulls allocate nothing. */
const SPARE_LIMIT = 4;

const spares: Buffer[] = [];

function takeBuffer(size: number): Buffer {
  if (size < SEND_CHUNK) return Buffer.allocUnsafe(size);
  return spares.pop() ?? Buffer.allocUnsafe(SEND_CHUNK);
}

function giveBack(buffer: Buffer): void {
  if (buffer.length === SEND_CHUNK && spares.length < SPARE_LIMIT) spares.push(buffer);
}

/**
 * Copies [start, end) of a file to a writable through one buffer, reused once its write has been
 * handed to the kernel.
 *
 * Reads from the page cache are done synchronously: a 1 MiB copy takes a fraction of a
 * millisecond, less than the two thread hand-offs of an asynchronous read, and those hand-offs
 * were a third of the CPU spent per GiB served (measured with perf against `curl`). A read that
 * turns out slow (the data came from the disk) switches the next one to the thread pool, so a cold
 * blob does not stall the event loop for other requests; a fast asynchronous read switches back.
 */
export async function sendFile(
  handle: fs.FileHandle,
  out: Writable,
  start: number,
  end: number,
  { slowReadMs = SLOW_READ_MS }: { slowReadMs?: number } = {},
): Promise<void> {
  const buffer = takeBuffer(Math.min(SEND_CHUNK, end - start));
  const closed = new Promise<never>((_, reject) => out.once('close', () => reject(new Error('client went away'))));
  closed.catch(() => undefined);
  let position = start;
  let fromCache = true;
  while (position < end) {
    const length = Math.min(buffer.length, end - position);
    const t0 = performance.now();
    const bytesRead = fromCache
      ? readSync(handle.fd, buffer, 0, length, position)
      : (await handle.read(buffer, 0, length, position)).bytesRead;
    fromCache = performance.now() - t0 < slowReadMs;
    if (bytesRead === 0) throw new Error('file shrank while being sent');
    position += bytesRead;
    const written = new Promise<void>((resolve, reject) => {
      out.write(buffer.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve()));
    });
    // On failure the buffer is dropped, not recycled: a cancelled write may still refer to it.
    await Promise.race([written, closed]);
  }
  giveBack(buffer);
  await Promise.race([
    new Promise<void>((resolve, reject) => {
      out.end(() => resolve());
      out.once('error', reject);
    }),
    closed,
  ]);
}
