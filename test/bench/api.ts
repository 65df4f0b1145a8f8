// Registry API operations on top of HttpTarget, each verifying what the server answers:
// statuses, Docker-Content-Digest, sizes, and the sha256 of every blob and manifest body.
import { BenchError, check, HttpTarget, type BlobSource, type Reply } from './client.js';

export const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar';
const OCTET = 'application/octet-stream';

const GET_MANIFEST_HEADERS = { accept: MANIFEST_TYPE };

export interface Blob {
  digest: string;
  size: number;
}

function header(reply: Reply, name: string): string | undefined {
  const v = reply.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export class RegistryApi {
  constructor(readonly http: HttpTarget) {}

  get label(): string {
    return this.http.label;
  }

  private location(reply: Reply, what: string): URL {
    const loc = header(reply, 'location');
    if (!loc) throw new BenchError(`${this.label}: ${what}: no Location header`);
    return this.http.resolve(loc);
  }

  private checkDigestHeader(reply: Reply, what: string, digest: string): void {
    check(`${this.label}: ${what}: Docker-Content-Digest`, header(reply, 'docker-content-digest'), digest);
  }

  /** POST /blobs/uploads/ → the upload URL. */
  async startUpload(repo: string): Promise<URL> {
    const reply = await this.http.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/`, headers: { 'content-length': 0 }, expect: 202 });
    return this.location(reply, `POST /v2/${repo}/blobs/uploads/`);
  }

  /** Monolithic push: POST, then PUT ?digest= with the whole body (a Buffer or a streamed source). */
  async pushMonolithic(repo: string, body: Buffer | BlobSource, digest: string): Promise<void> {
    const url = await this.startUpload(repo);
    const size = Buffer.isBuffer(body) ? body.length : body.size;
    const reply = await this.http.request({
      method: 'PUT',
      path: withDigest(url, digest),
      headers: { 'content-type': OCTET, 'content-length': size },
      body: Buffer.isBuffer(body) ? body : body.chunks(),
      expect: 201,
    });
    this.checkDigestHeader(reply, `PUT blob ${digest}`, digest);
  }

  /**
   * Chunked push: POST, one PATCH per `chunkSize` bytes (inclusive Content-Range, following the
   * Location of every answer), then PUT ?digest= without a body. Returns each PATCH's duration.
   */
  async pushChunked(repo: string, source: BlobSource, chunkSize: number, onPatch: (ms: number) => void): Promise<void> {
    let url = await this.startUpload(repo);
    for (let start = 0; start < source.size; start += chunkSize) {
      const end = Math.min(source.size, start + chunkSize);
      const t0 = performance.now();
      const reply = await this.http.request({
        method: 'PATCH',
        path: url.pathname + url.search,
        headers: { 'content-type': OCTET, 'content-length': end - start, 'content-range': `${start}-${end - 1}` },
        body: source.chunks(start, end),
        expect: 202,
      });
      onPatch(performance.now() - t0);
      check(`${this.label}: PATCH ${start}-${end - 1}: Range`, header(reply, 'range'), `0-${end - 1}`);
      url = this.location(reply, 'PATCH');
    }
    const digest = source.digest();
    const reply = await this.http.request({ method: 'PUT', path: withDigest(url, digest), headers: { 'content-length': 0 }, expect: 201 });
    this.checkDigestHeader(reply, `PUT (close chunked upload) ${digest}`, digest);
  }

  async headBlob(repo: string, blob: Blob): Promise<void> {
    const reply = await this.http.request({ method: 'HEAD', path: `/v2/${repo}/blobs/${blob.digest}`, expect: 200 });
    check(`${this.label}: HEAD blob ${blob.digest}: Content-Length`, Number(header(reply, 'content-length')), blob.size);
    this.checkDigestHeader(reply, `HEAD blob ${blob.digest}`, blob.digest);
  }

  /** GET a blob, hashing the body as it arrives; returns the bytes received. */
  /** GET a blob and check its size and sha256; `drain`: read it whole first, then hash it (see BodyFetcher). */
  async getBlob(repo: string, blob: Blob, drain = false): Promise<number> {
    const reply = await this.http.getHashed(`/v2/${repo}/blobs/${blob.digest}`, 200, drain);
    check(`${this.label}: GET blob ${blob.digest}: size`, reply.bytes, blob.size);
    check(`${this.label}: GET blob ${blob.digest}: sha256 of the body`, reply.digest, blob.digest);
    return reply.bytes;
  }

  async putManifest(repo: string, tag: string, bytes: Buffer, digest: string): Promise<void> {
    const reply = await this.http.request({
      method: 'PUT',
      path: `/v2/${repo}/manifests/${tag}`,
      headers: { 'content-type': MANIFEST_TYPE, 'content-length': bytes.length },
      body: bytes,
      expect: 201,
    });
    this.checkDigestHeader(reply, `PUT manifest ${repo}:${tag}`, digest);
  }

  async getManifest(repo: string, ref: string, digest: string): Promise<void> {
    const reply = await this.http.request({ method: 'GET', path: `/v2/${repo}/manifests/${ref}`, headers: GET_MANIFEST_HEADERS, expect: 200, hash: true });
    check(`${this.label}: GET manifest ${repo}:${ref}: sha256 of the body`, reply.digest, digest);
    this.checkDigestHeader(reply, `GET manifest ${repo}:${ref}`, digest);
  }

  /**
   * Walks /tags/list?n=<pageSize> following Link headers (at most maxPages pages).
   * Returns every tag seen, in order, and the number of pages.
   */
  async listTags(repo: string, pageSize: number, maxPages: number, onPage: (ms: number) => void): Promise<{ tags: string[]; pages: number }> {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repo}/tags/list?n=${pageSize}`;
    let pages = 0;
    while (path) {
      if (++pages > maxPages) throw new BenchError(`${this.label}: tag listing of ${repo} did not end within ${maxPages} pages`);
      const t0 = performance.now();
      const reply = await this.http.request({ method: 'GET', path, expect: 200, keep: true });
      onPage(performance.now() - t0);
      let page: { name?: string; tags?: string[] | null };
      try {
        page = JSON.parse(reply.body!.toString('utf8')) as typeof page;
      } catch (e) {
        throw new BenchError(`${this.label}: GET ${path}: body is not JSON: ${(e as Error).message}`);
      }
      check(`${this.label}: GET ${path}: name`, page.name, repo);
      tags.push(...(page.tags ?? []));
      path = nextLink(header(reply, 'link'), this.http);
    }
    return { tags, pages };
  }
}

/**
 * The path and query of an upload URL with `digest=` added, the rest of the query kept byte for
 * byte: an S3-backed registry's Locations carry a signed `?_state=` token already.
 */
export function withDigest(upload: URL, digest: string): string {
  return `${upload.pathname}${upload.search}${upload.search ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

/** The target of a `Link: <url>; rel="next"` header, as a path+query; undefined when there is none. */
export function nextLink(link: string | undefined, target: HttpTarget): string | undefined {
  if (!link) return undefined;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  if (!m) return undefined;
  const url = target.resolve(m[1]!);
  return url.pathname + url.search;
}

/** A small OCI image manifest over the given config and layer, made unique by an annotation. */
export function imageManifest(config: Blob, layer: Blob, annotation: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: { mediaType: CONFIG_TYPE, digest: config.digest, size: config.size },
      layers: [{ mediaType: LAYER_TYPE, digest: layer.digest, size: layer.size }],
      annotations: { 'org.example.bench': annotation },
    }),
  );
}
