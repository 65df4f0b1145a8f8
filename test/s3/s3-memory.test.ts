// A 2 GiB layer pushed to S3 through the registry process: memory stays bounded by the part
// size (the layer is never held in RAM), and the bytes come back under their digest.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { freshBucket, s3Missing } from '../helpers/s3-store.js';
import { startOurRegistry, type RunningRegistry } from '../helpers/registries.js';
import { TempDirs } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const LAYER = 2048 * MiB;
const BLOCK = 4 * MiB;

function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

/** Streams `total` bytes (a random block repeated with a counter) as one request body. */
function streamBody(url: string, method: string, total: number, block: Buffer): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { 'Content-Type': 'application/octet-stream' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const chunk = Buffer.from(block);
        chunk.writeUInt32LE(sent / BLOCK, 0);
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('a 2 GiB layer to S3', { skip: s3Missing() ?? false }, () => {
  const tmp = new TempDirs();
  let reg: RunningRegistry | undefined;
  before(async () => {
    const dir = await tmp.make('rs-s3-mem-');
    const bucket = await freshBucket(dir);
    await writeFile(join(dir, 'secret'), 'memory-test-upload-secret', { mode: 0o600 });
    reg = await startOurRegistry({ extraArgs: ['--storage', bucket.url, '--s3-credentials', bucket.credentialsFile, '--upload-secret-file', join(dir, 'secret')] });
  });
  after(async () => {
    await reg?.stop();
    await tmp.cleanup();
  });

  it('streams through multipart parts with peak RSS far below the layer size', { timeout: 600_000 }, async () => {
    const r = reg!;
    const block = randomBytes(BLOCK);
    const expected = createHash('sha256');
    for (let sent = 0; sent < LAYER; sent += BLOCK) {
      const chunk = Buffer.from(block);
      chunk.writeUInt32LE(sent / BLOCK, 0);
      expected.update(chunk);
    }
    const digest = `sha256:${expected.digest('hex')}`;
    const before = peakRssMiB(r.process.pid);

    const post = await fetch(`${r.url}/v2/big/layer/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202);
    const location = post.headers.get('location')!;
    const patch = await streamBody(`${r.url}${location}`, 'PATCH', LAYER, block);
    assert.equal(patch.status, 202, `${patch.body}\n${r.logTail()}`);
    const put = await fetch(`${r.url}${patch.headers.location}&digest=${digest}`, { method: 'PUT' });
    assert.equal(put.status, 201, `${await put.text()}\n${r.logTail()}`);
    const afterPush = peakRssMiB(r.process.pid);

    const pulled = createHash('sha256');
    let size = 0;
    const res = await fetch(`${r.url}/v2/big/layer/blobs/${digest}`);
    assert.equal(res.status, 200);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      pulled.update(chunk);
      size += chunk.length;
    }
    assert.equal(size, LAYER);
    assert.equal(`sha256:${pulled.digest('hex')}`, digest);
    const afterPull = peakRssMiB(r.process.pid);
    process.stderr.write(`registry peak RSS: ${before.toFixed(0)} MiB at start, ${afterPush.toFixed(0)} MiB after the push, ${afterPull.toFixed(0)} MiB after the pull (layer ${LAYER / MiB} MiB)\n`);
    // Parts are 16 MiB and at most two are held per upload; the rest is Node's own baseline.
    assert.ok(afterPull < 320, `peak RSS ${afterPull.toFixed(0)} MiB: the layer is being buffered`);
  });
});
