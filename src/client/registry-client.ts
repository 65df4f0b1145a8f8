import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import tls from 'node:tls';
import { gzipSync } from 'node:zlib';

export interface ClientOptions {
  /** `https://registry.example.com` or `http://127.0.0.1:5000` (with port when not the default). */
  baseUrl: string;
  user?: string;
  password?: string;
  /** Extra CA certificates to trust (PEM), e.g. a self-signed deployment's own certificate. */
  ca?: string | Buffer;
  /** Connect to this address instead of resolving the host name (TLS name and Host header unchanged). */
  connectTo?: string;
  timeoutMs?: number;
}

export interface ClientResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class RegistryClientError extends Error {}

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Just enough of a registry client to prove a deployment works: ping, push and pull. */
export class RegistryClient {
  private readonly base: URL;
  constructor(private readonly options: ClientOptions) {
    this.base = new URL(options.baseUrl);
  }

  request(method: string, path: string, opts: { body?: Buffer; headers?: Record<string, string>; auth?: boolean } = {}): Promise<ClientResponse> {
    const url = new URL(path, this.base);
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.auth !== false && this.options.user !== undefined) {
      headers.Authorization = `Basic ${Buffer.from(`${this.options.user}:${this.options.password ?? ''}`).toString('base64')}`;
    }
    if (opts.body) headers['Content-Length'] = String(opts.body.length);
    const connectTo = this.options.connectTo;
    const lookup: LookupFunction | undefined = connectTo
      ? (_host, options, callback) => {
          const family = connectTo.includes(':') ? 6 : 4;
          if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: connectTo, family }]);
          else callback(null, connectTo, family);
        }
      : undefined;
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        url,
        {
          method,
          headers,
          lookup,
          timeout: this.options.timeoutMs ?? 30_000,
          ...(url.protocol === 'https:' && this.options.ca ? { ca: [...tls.rootCertificates, this.options.ca] } : {}),
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new RegistryClientError(`${method} ${url.href}: no answer within ${this.options.timeoutMs ?? 30_000} ms`)));
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  private async expect(res: ClientResponse, want: number, what: string): Promise<ClientResponse> {
    if (res.status !== want) {
      throw new RegistryClientError(`${what}: expected HTTP ${want}, got ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
    }
    return res;
  }

  /** Status of `/v2/` without and with credentials (401 and 200 on a healthy protected registry). */
  async ping(): Promise<{ anonymous: number; authenticated: number }> {
    const anonymous = (await this.request('GET', '/v2/', { auth: false })).status;
    const authenticated = (await this.request('GET', '/v2/')).status;
    return { anonymous, authenticated };
  }

  async pushBlob(name: string, data: Buffer): Promise<string> {
    const digest = sha256(data);
    const head = await this.request('HEAD', `/v2/${name}/blobs/${digest}`);
    if (head.status === 200) return digest;
    const post = await this.expect(await this.request('POST', `/v2/${name}/blobs/uploads/`), 202, 'start upload');
    const location = new URL(String(post.headers.location), this.base);
    location.searchParams.set('digest', digest);
    await this.expect(
      await this.request('PUT', location.pathname + location.search, { body: data, headers: { 'Content-Type': 'application/octet-stream' } }),
      201,
      'finish upload',
    );
    return digest;
  }

  async pushManifest(name: string, ref: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.expect(await this.request('PUT', `/v2/${name}/manifests/${ref}`, { body: bytes, headers: { 'Content-Type': mediaType } }), 201, 'push manifest');
    return String(res.headers['docker-content-digest']);
  }

  async pullBlob(name: string, digest: string): Promise<Buffer> {
    const res = await this.expect(await this.request('GET', `/v2/${name}/blobs/${digest}`), 200, `pull blob ${digest}`);
    if (sha256(res.body) !== digest) throw new RegistryClientError(`blob ${digest} came back with different content`);
    return res.body;
  }

  /**
   * Pushes a tiny generated image (one small layer) and pulls it back, checking every digest.
   * Returns the manifest digest.
   */
  async pushAndPullTinyImage(name: string, tag: string): Promise<string> {
    const layer = gzipSync(tarOneFile('hello.txt', Buffer.from(`registry-setup check ${new Date().toISOString()}\n`)));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} }));
    const configDigest = await this.pushBlob(name, config);
    const layerDigest = await this.pushBlob(name, layer);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
      }),
    );
    const digest = await this.pushManifest(name, tag, manifest, 'application/vnd.oci.image.manifest.v1+json');
    if (digest !== sha256(manifest)) throw new RegistryClientError(`registry reported manifest digest ${digest}, expected ${sha256(manifest)}`);
    const pulled = await this.expect(
      await this.request('GET', `/v2/${name}/manifests/${tag}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } }),
      200,
      'pull manifest',
    );
    if (!pulled.body.equals(manifest)) throw new RegistryClientError('pulled manifest differs from the pushed one');
    await this.pullBlob(name, configDigest);
    await this.pullBlob(name, layerDigest);
    return digest;
  }
}

/** A ustar archive holding one regular file. */
function tarOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(content.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}
