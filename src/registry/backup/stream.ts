// A backup or restore over one byte stream (an SSH channel's stdout or stdin), so that a local
// directory on the laptop is written with no temporary copy on the host. Framing: a JSON header
// line, followed for a blob by exactly `size` bytes of it.
//   {"type":"blob","repo":…,"digest":…,"size":n}\n<n bytes>
//   {"type":"finish","manifest":{…},"backup":true}\n      (the last frame)
// The receiving end turns the frames back into calls on a BackupSink (a storage driver there), so
// each blob is still verified by digest and made visible only when complete.
import { once } from 'node:events';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { BackupSink, FinishOptions } from './sink.js';
import type { BackupManifest } from './snapshot.js';

type Frame = { type: 'blob'; repo: string; digest: string; size: number } | { type: 'finish'; manifest: BackupManifest; backup: boolean };

/** The longest header line accepted (a finish frame carries the whole manifest). */
const MAX_HEADER_BYTES = 256 * 1024 * 1024;

async function write(out: Writable, chunk: Buffer | string): Promise<void> {
  const closed = () => new Error('the receiving end closed the stream');
  if (out.destroyed || out.writableEnded) throw closed();
  if (out.write(chunk)) return;
  await Promise.race([once(out, 'drain'), once(out, 'close').then(() => Promise.reject(closed()))]);
}

/** Writes frames; `have` is what the receiving end holds already (`digest size` each). */
export class StreamSink implements BackupSink {
  readonly blobsInFlight = 1;
  private readonly sent = new Set<string>();

  constructor(
    private readonly out: Writable,
    private readonly have: ReadonlySet<string>,
    private readonly target = 'the stream',
  ) {}

  describe(): string {
    return this.target;
  }

  async has(digest: string, size: number): Promise<boolean> {
    return this.have.has(`${digest} ${size}`) || this.sent.has(digest);
  }

  async putBlob(repo: string, digest: string, size: number, body: Readable): Promise<void> {
    await write(this.out, `${JSON.stringify({ type: 'blob', repo, digest, size } satisfies Frame)}\n`);
    let sent = 0;
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      // never more than announced: the framing of every later frame depends on it
      const part = sent + buf.length > size ? buf.subarray(0, size - sent) : buf;
      sent += part.length;
      await write(this.out, part);
    }
    if (sent !== size) throw new Error(`${digest} changed size while it was read (${sent} of ${size} bytes); run the backup again`);
    this.sent.add(digest);
  }

  async finish(manifest: BackupManifest, opts: FinishOptions): Promise<string[]> {
    await write(this.out, `${JSON.stringify({ type: 'finish', manifest, backup: opts.backup } satisfies Frame)}\n`);
    return [];
  }
}

/** Reads the `have` list (`digest size` lines) the receiving end sends before the frames. */
export async function readHaveList(input: Readable): Promise<Set<string>> {
  let text = '';
  for await (const chunk of input) text += (chunk as Buffer).toString('utf8');
  return new Set(text.split('\n').map((l) => l.trim()).filter((l) => /^sha(256|512):[a-f0-9]+ \d+$/.test(l)));
}

/**
 * Applies frames to a sink until the finish frame; resolves with the manifest it carried. A stream
 * that ends before it is an interrupted run: what was complete stays, nothing else counts.
 */
export async function receiveFrames(input: AsyncIterable<Buffer | string>, sink: BackupSink): Promise<BackupManifest> {
  let pending: Buffer = Buffer.alloc(0);
  let body: { out: PassThrough; left: number; done: Promise<void> } | null = null;
  let finished: BackupManifest | null = null;
  const it = input[Symbol.asyncIterator]();
  for (;;) {
    if (pending.length === 0 || (body === null && pending.indexOf(0x0a) < 0)) {
      if (finished) break;
      const next = await it.next();
      if (next.done) break;
      const buf = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
      pending = pending.length ? Buffer.concat([pending, buf]) : buf;
      if (body === null && pending.length > MAX_HEADER_BYTES) throw new Error('the backup stream is garbled (a header line too long)');
      continue;
    }
    if (body) {
      const part = pending.subarray(0, Math.min(body.left, pending.length));
      pending = pending.subarray(part.length);
      body.left -= part.length;
      if (!body.out.write(part)) await Promise.race([once(body.out, 'drain'), body.done]);
      if (body.left === 0) {
        body.out.end();
        await body.done;
        body = null;
      }
      continue;
    }
    const nl = pending.indexOf(0x0a);
    let frame: Frame;
    try {
      frame = JSON.parse(pending.subarray(0, nl).toString('utf8')) as Frame;
    } catch {
      throw new Error(`the backup stream is garbled: ${JSON.stringify(pending.subarray(0, Math.min(nl, 80)).toString('utf8'))}`);
    }
    pending = pending.subarray(nl + 1);
    if (frame.type === 'blob') {
      const out = new PassThrough();
      const done = sink.putBlob(frame.repo, frame.digest, frame.size, out);
      // a failure surfaces on `await done`; meanwhile the PassThrough is not read
      done.catch(() => undefined);
      body = { out, left: frame.size, done };
      if (frame.size === 0) {
        out.end();
        await done;
        body = null;
      }
    } else if (frame.type === 'finish') {
      await sink.finish(frame.manifest, { backup: frame.backup });
      finished = frame.manifest;
    } else {
      throw new Error(`the backup stream is garbled: unknown frame ${JSON.stringify((frame as { type?: unknown }).type)}`);
    }
  }
  if (body) body.out.destroy();
  if (!finished) throw new Error('the backup stream ended before it was complete (interrupted?): run it again; complete blobs are kept');
  return finished;
}
