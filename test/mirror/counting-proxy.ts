// An HTTP proxy in front of an upstream registry that asks for anonymous Bearer tokens, counts the blob bytes it passes on, and on
// request corrupts one blob's bytes or stops answering altogether (an upstream that is down).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingProxy {
  url: string;
  /** blob bytes sent to clients, by digest */
  blobBytes: Map<string, number>;
  /** blob GETs received, by digest */
  blobGets: Map<string, number>;
  /** a digest whose bytes get one byte flipped on the way */
  corrupt?: string;
  /** break off this blob's first GET after this many bytes (a dropped connection) */
  cutOnce?: { digest: string; after: number };
  /** hold this blob's bytes after `after` of them until `open` resolves (a slow upstream) */
  gate?: { digest: string; after: number; open: Promise<void> };
  /** answer blob GETs with a 307 to this origin (blob storage on another host) */
  redirectBlobsTo?: string;
  /** requests that came with an Authorization header */
  withAuthorization: number;
  /** Range headers received, in order */
  ranges: string[];
  /** tokens handed out by the proxy's own anonymous token endpoint (`/token`) */
  tokensIssued: number;
  /** Stops listening and cuts every connection: the upstream is down. */
  stop(): Promise<void>;
}

export async function startCountingProxy(target: string, opts: { requireToken?: boolean } = {}): Promise<CountingProxy> {
  const proxy: CountingProxy = { url: '', blobBytes: new Map(), blobGets: new Map(), tokensIssued: 0, withAuthorization: 0, ranges: [], stop: async () => {} };
  const token = `anon-${Math.random().toString(36).slice(2)}`;
  const server = http.createServer((req, res) => {
    // the distribution token flow, as Docker Hub speaks it to anonymous clients: every /v2 request
    // needs a Bearer token, which /token hands out for the scope the challenge named
    if (req.headers.authorization) proxy.withAuthorization++;
    if (req.headers.range) proxy.ranges.push(req.headers.range);
    if (opts.requireToken !== false && req.url?.startsWith('/token?')) {
      const scope = new URL(req.url, proxy.url).searchParams.get('scope') ?? '';
      if (!/^repository:[a-z0-9./_-]+:pull$/.test(scope)) {
        res.writeHead(400).end();
        return;
      }
      proxy.tokensIssued++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    if (opts.requireToken !== false && req.headers.authorization !== `Bearer ${token}`) {
      const name = /^\/v2\/(.+)\/(?:manifests|blobs)\//.exec(req.url ?? '')?.[1] ?? 'x';
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${proxy.url}/token",service="counting-proxy",scope="repository:${name}:pull"` }).end();
      return;
    }
    const digest = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '')?.[1];
    if (digest && req.method === 'GET') proxy.blobGets.set(digest, (proxy.blobGets.get(digest) ?? 0) + 1);
    if (digest && req.method === 'GET' && proxy.redirectBlobsTo) {
      res.writeHead(307, { Location: `${proxy.redirectBlobsTo}${req.url}` }).end();
      return;
    }
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: new URL(target).host };
    delete headers.authorization; // the token is the proxy's; distribution behind it wants none
    const upstream = http.request(target + req.url, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      let flipped = false;
      const cut = digest && proxy.cutOnce?.digest === digest ? proxy.cutOnce : undefined;
      const gate = digest && proxy.gate?.digest === digest ? proxy.gate : undefined;
      if (cut) proxy.cutOnce = undefined;
      let sent = 0;
      up.on('data', (chunk: Buffer) => {
        if (cut && sent + chunk.length > cut.after) {
          res.socket?.destroy(); // the connection drops mid-blob
          up.destroy();
          return;
        }
        sent += chunk.length;
        if (digest) proxy.blobBytes.set(digest, (proxy.blobBytes.get(digest) ?? 0) + chunk.length);
        if (digest && digest === proxy.corrupt && !flipped) {
          chunk = Buffer.from(chunk);
          chunk[0] = chunk[0]! ^ 0xff;
          flipped = true;
        }
        if (gate && sent >= gate.after && sent - chunk.length < gate.after) {
          res.write(chunk);
          up.pause();
          void gate.open.then(() => up.resume());
        } else if (!res.write(chunk)) {
          up.pause();
          res.once('drain', () => up.resume());
        }
      });
      up.on('end', () => res.end());
      up.on('error', () => res.destroy());
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return proxy;
}
