import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BodyFetcher } from './body-fetcher.js';

const body = randomBytes(3 * 1024 * 1024 + 17);
const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;

describe('bench BodyFetcher (raw keep-alive GETs hashed in a fixed buffer)', () => {
  let server: http.Server;
  let url: string;
  const sockets = new Set<unknown>();
  const authorizations: (string | undefined)[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      sockets.add(req.socket);
      authorizations.push(req.headers.authorization);
      if (req.url === '/blob') {
        res.writeHead(200, { 'content-length': body.length });
        // Written in uneven pieces so the head and body boundaries fall anywhere in a read.
        for (let i = 0; i < body.length; i += 700_001) res.write(body.subarray(i, i + 700_001));
        res.end();
      } else if (req.url === '/empty') {
        res.writeHead(200, { 'content-length': 0 }).end();
      } else if (req.url === '/missing') {
        const text = '{"errors":["unknown"]}';
        res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
      } else if (req.url === '/chunked') {
        res.writeHead(200);
        res.end('no length here');
      } else if (req.url === '/short') {
        res.writeHead(200, { 'content-length': 100 });
        res.write('only a few bytes', () => req.socket.destroy());
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('hashes the body and reuses one connection for consecutive requests, sending the base headers', async () => {
    const fetcher = new BodyFetcher('test', url, { authorization: 'Basic eDp5' });
    try {
      sockets.clear();
      for (let i = 0; i < 3; i++) {
        const r = await fetcher.get('/blob');
        assert.equal(r.status, 200);
        assert.equal(r.bytes, body.length);
        assert.equal(r.digest, digest);
      }
      const empty = await fetcher.get('/empty');
      assert.equal(empty.bytes, 0);
      assert.equal(empty.digest, `sha256:${createHash('sha256').digest('hex')}`);
      assert.equal(sockets.size, 1, 'keep-alive: one connection for all four requests');
      assert.equal(authorizations.at(-1), 'Basic eDp5');
    } finally {
      fetcher.close();
    }
  });

  it('drained: reads the whole body first, then hashes it; the same digest, also after a smaller and a larger body', async () => {
    const fetcher = new BodyFetcher('test', url);
    try {
      for (const path of ['/blob', '/empty', '/blob']) {
        const r = await fetcher.get(path, 200, true);
        const want = path === '/blob' ? body : Buffer.alloc(0);
        assert.equal(r.bytes, want.length);
        assert.equal(r.digest, `sha256:${createHash('sha256').update(want).digest('hex')}`, path);
      }
      const missing = await fetcher.get('/missing', 200, true);
      assert.equal(missing.status, 404);
      assert.equal(missing.digest, undefined);
      assert.match(missing.errorText ?? '', /unknown/);
    } finally {
      fetcher.close();
    }
  });

  it('reports an unexpected status with the start of its body, and keeps going', async () => {
    const fetcher = new BodyFetcher('test', url);
    try {
      const r = await fetcher.get('/missing');
      assert.equal(r.status, 404);
      assert.equal(r.digest, undefined);
      assert.match(r.errorText ?? '', /unknown/);
      assert.equal((await fetcher.get('/blob')).digest, digest);
    } finally {
      fetcher.close();
    }
  });

  it('fails clearly on a response without Content-Length and on a body cut short', async () => {
    const fetcher = new BodyFetcher('test', url);
    try {
      await assert.rejects(fetcher.get('/chunked'), /test: GET \/chunked: unusable response head/);
      await assert.rejects(fetcher.get('/short'), /test: GET \/short: the server closed the connection/);
      assert.equal((await fetcher.get('/blob')).digest, digest, 'a fresh connection replaces a broken one');
    } finally {
      fetcher.close();
    }
  });
});
