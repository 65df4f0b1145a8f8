import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Action } from '../auth/access-policy.js';
import { RegistryError } from '../errors.js';
import { MEDIA_TYPES, parseManifest, type Descriptor } from '../manifest-info.js';
import { looksLikeDigest, splitDigest } from '../names.js';
import { mirrorLastPullPath, tagCurrentLinkPath } from '../storage/paths.js';
import type { Registry } from '../registry.js';
import { BlobFlight } from './blob-flight.js';
import type { MirrorSettings } from './settings.js';
import { readLimited, Upstream, UpstreamError } from './upstream.js';

/** Every manifest type a registry may hold, so the upstream answers with its bytes unconverted. */
const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.ociIndex,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.docker.distribution.manifest.v1+json',
].join(', ');

const LAST_PULL_EVERY_MS = 60_000;
const MAX_REFERRERS_BYTES = 4 * 1024 * 1024;

/** A request's repository as the mirror sees it: where it is cached and what it is called upstream. */
export interface MirrorTarget {
  prefix: string;
  url: string;
  /** The name the cache keeps it under (always with the prefix). */
  storeName: string;
  /** The name upstream. */
  upstreamName: string;
  upstream: Upstream;
}

/**
 * The pull-through cache: names under a mirror's prefix are filled from its upstream on demand
 * (manifests byte for byte, blobs verified by digest, one upstream fetch per blob however many
 * clients ask at once) and then served by the ordinary read paths.
 */
export class Mirrors {
  private readonly entries: { settings: MirrorSettings; upstream: Upstream }[];
  private readonly flights = new Map<string, BlobFlight>();
  private readonly notedPulls = new Map<string, number>();

  constructor(
    private readonly registry: Registry,
    private readonly log: (line: string) => void,
  ) {
    const { mirrors, mirrorTimeoutMs } = registry.config;
    this.entries = mirrors.map((settings) => ({ settings, upstream: new Upstream(settings, mirrorTimeoutMs) }));
  }

  /** The mirror a stored name belongs to (by its prefix), for the web UI and the gc. */
  match(name: string): MirrorTarget | undefined {
    for (const { settings, upstream } of this.entries) {
      if (name.startsWith(`${settings.prefix}/`)) {
        return { prefix: settings.prefix, url: settings.url, storeName: name, upstreamName: name.slice(settings.prefix.length + 1), upstream };
      }
    }
    return undefined;
  }

  /**
   * Where a request on `name` goes: a mirror (a name under its prefix, or with a default mirror an
   * unprefixed name that is no local repository, for reads) or, undefined, the local repository.
   * A push under a prefix is refused: the upstream owns those names.
   */
  async resolve(name: string, action: Action): Promise<MirrorTarget | undefined> {
    const target = this.match(name);
    if (target) {
      if (action === 'create' || action === 'update') {
        throw new RegistryError('DENIED', `${name} is under the mirror prefix ${target.prefix}/ (a read-only cache of ${target.url}): push to a name outside it`, {
          repository: name,
          mirror: target.prefix,
        });
      }
      return target;
    }
    const fallback = this.registry.config.mirrorDefault;
    if (fallback === undefined || action !== 'read') return undefined;
    if (await this.registry.manifests.repositoryExists(name)) return undefined;
    const entry = this.entries.find((e) => e.settings.prefix === fallback)!;
    return { prefix: fallback, url: entry.settings.url, storeName: `${fallback}/${name}`, upstreamName: name, upstream: entry.upstream };
  }

  /** Records that the repository was pulled from now (cheaply: one small write per minute at most). */
  async notePull(storeName: string): Promise<void> {
    const now = Date.now();
    if (now - (this.notedPulls.get(storeName) ?? 0) < LAST_PULL_EVERY_MS) return;
    this.notedPulls.set(storeName, now);
    await this.registry.driver.putContent(mirrorLastPullPath(storeName), new Date(now).toISOString(), { durable: false }).catch(() => undefined);
  }

  /**
   * Makes the manifest `reference` (tag or digest) present in the cache: fetched when missing, a
   * tag checked upstream with a HEAD once it is older than the TTL. When the upstream is down or
   * rate-limits, a cached copy is served with a `Warning` header and a log line.
   */
  async fillManifest(target: MirrorTarget, reference: string, res: ServerResponse): Promise<void> {
    const { manifests } = this.registry;
    void this.notePull(target.storeName);
    if (looksLikeDigest(reference)) {
      if (await manifests.has(target.storeName, reference)) return;
      try {
        await this.fetchManifest(target, reference);
      } catch (err) {
        throw this.asRegistryError(err, target, reference, 'MANIFEST_UNKNOWN');
      }
      return;
    }
    const cached = await manifests.resolveTag(target.storeName, reference);
    const have = cached !== null && (await manifests.has(target.storeName, cached));
    if (have) {
      const link = await this.registry.driver.stat(tagCurrentLinkPath(target.storeName, reference));
      if (link && Date.now() - link.modTime.getTime() < this.registry.config.mirrorTagTtlMs) return;
    }
    try {
      if (have) {
        const head = await target.upstream.request('HEAD', `${target.upstreamName}/manifests/${reference}`, target.upstreamName, { Accept: MANIFEST_ACCEPT });
        head.body.resume();
        if (head.status === 200 && head.headers['docker-content-digest'] === cached) {
          await manifests.tag(target.storeName, reference, cached); // fresh again for another TTL
          return;
        }
        if (head.status !== 200) throw new UpstreamError(`${target.url} answered ${head.status} for ${target.upstreamName}:${reference}`, head.status);
      }
      await this.fetchManifest(target, reference);
    } catch (err) {
      if (have && err instanceof UpstreamError && err.unavailable) {
        // a header value: printable ASCII only, whatever the upstream's answer contained
        const why = err.message.replace(/[^\x20-\x7e]/g, ' ').replace(/"/g, "'");
        res.setHeader('Warning', `110 registry-setup "Response is Stale: served from the cache, upstream unavailable: ${why}"`);
        this.log(`mirror: served ${target.storeName}:${reference} from the cache: upstream unavailable: ${err.message}`);
        return;
      }
      throw this.asRegistryError(err, target, reference, 'MANIFEST_UNKNOWN');
    }
  }

  /** GETs a manifest upstream, checks its digest and stores the bytes exactly as sent. */
  private async fetchManifest(target: MirrorTarget, reference: string): Promise<void> {
    const res = await target.upstream.request('GET', `${target.upstreamName}/manifests/${reference}`, target.upstreamName, { Accept: MANIFEST_ACCEPT });
    if (res.status !== 200) {
      res.body.resume();
      throw new UpstreamError(`${target.url} answered ${res.status} for ${target.upstreamName}:${reference}`, res.status);
    }
    const bytes = await readLimited(res.body, this.registry.config.maxManifestBytes);
    const byDigest = looksLikeDigest(reference);
    const algorithm = byDigest ? splitDigest(reference).algorithm : 'sha256';
    const digest = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
    const claimed = res.headers['docker-content-digest'];
    if ((byDigest && digest !== reference) || (typeof claimed === 'string' && claimed.startsWith(`${algorithm}:`) && claimed !== digest)) {
      throw new UpstreamError(`${target.url} sent a manifest for ${target.upstreamName}:${reference} whose digest is ${digest}: not stored`, 502);
    }
    try {
      parseManifest(bytes);
    } catch (err) {
      throw new UpstreamError(`${target.url} sent a manifest for ${target.upstreamName}:${reference} that is not one: ${(err as Error).message}`, 502);
    }
    await this.registry.manifests.put(target.storeName, digest, bytes, byDigest ? undefined : reference);
  }

  /**
   * A blob the cache does not have in `target`: linked when the store has its bytes (another
   * repository pulled it), else streamed from the one shared upstream fetch. Resolves false when
   * the caller should serve it from the store as usual.
   */
  async sendBlob(target: MirrorTarget, digest: string, method: string, range: string | undefined, res: ServerResponse): Promise<boolean> {
    const { blobs } = this.registry;
    if ((await blobs.size(digest)) !== null) {
      await blobs.link(target.storeName, digest);
      return false;
    }
    let flight = this.flights.get(digest);
    if (!flight || !flight.join()) {
      if (method === 'HEAD') return this.headUpstream(target, digest, res);
      const started = new BlobFlight(target.upstream, this.registry.uploads, target.storeName, target.upstreamName, digest, this.log);
      flight = started;
      this.flights.set(digest, started);
      started.join();
      void started.run().then(() => {
        if (this.flights.get(digest) === started) this.flights.delete(digest);
      });
    }
    await flight.started;
    if (flight.error) {
      flight.leave();
      throw this.asRegistryError(flight.error, target, digest, 'BLOB_UNKNOWN');
    }
    const headers = { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': digest, ETag: `"${digest}"`, 'Accept-Ranges': 'bytes' };
    if (method === 'HEAD') {
      flight.leave();
      res.writeHead(200, { ...headers, 'Content-Length': flight.size }).end();
      return true;
    }
    let start = 0;
    let end = flight.size - 1;
    const m = range ? /^bytes=(\d+)-(\d*)$/.exec(range.trim()) : null;
    if (m && Number(m[1]) < flight.size) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), end) : end;
    }
    const partial = start > 0 || end < flight.size - 1;
    res.writeHead(partial ? 206 : 200, {
      ...headers,
      'Content-Length': end - start + 1,
      ...(partial ? { 'Content-Range': `bytes ${start}-${end}/${flight.size}` } : {}),
    });
    if (end < start) {
      flight.leave();
      res.end();
      return true;
    }
    try {
      await flight.sendTo(res, start, end);
    } catch {
      res.destroy(); // the fetch failed mid-way: the client sees a short body, never wrong bytes
    }
    return true;
  }

  private async headUpstream(target: MirrorTarget, digest: string, res: ServerResponse): Promise<boolean> {
    let size: number;
    try {
      const head = await target.upstream.request('HEAD', `${target.upstreamName}/blobs/${digest}`, target.upstreamName);
      head.body.resume();
      if (head.status !== 200) throw new UpstreamError(`${target.url} answered ${head.status} for blob ${digest}`, head.status);
      size = Number(head.headers['content-length']);
    } catch (err) {
      throw this.asRegistryError(err, target, digest, 'BLOB_UNKNOWN');
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': digest, 'Content-Length': size, 'Accept-Ranges': 'bytes' }).end();
    return true;
  }

  /** The upstream's referrers of `subject` when it serves the referrers API, else null. */
  async upstreamReferrers(target: MirrorTarget, subject: string): Promise<Descriptor[] | null> {
    try {
      const res = await target.upstream.request('GET', `${target.upstreamName}/referrers/${subject}`, target.upstreamName, { Accept: MEDIA_TYPES.ociIndex });
      if (res.status !== 200) {
        res.body.resume();
        return null;
      }
      const doc = JSON.parse((await readLimited(res.body, MAX_REFERRERS_BYTES)).toString('utf8')) as { manifests?: Descriptor[] };
      return Array.isArray(doc.manifests) ? doc.manifests : null;
    } catch {
      return null; // down, or not the referrers API: what the cache has
    }
  }

  /** What the client is told about an upstream failure: the spec's code, and what happened. */
  private asRegistryError(err: unknown, target: MirrorTarget, reference: string, notFound: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN'): RegistryError {
    if (err instanceof RegistryError) return err;
    if (!(err instanceof UpstreamError)) return new RegistryError('UNKNOWN', `mirror ${target.prefix}: ${(err as Error).message}`, undefined, 502);
    const detail = { upstream: target.url, repository: target.upstreamName, reference };
    if (err.status === 404) return new RegistryError(notFound, `${target.upstreamName}:${reference} not found at ${target.url}`, detail);
    if (err.status === 401 || err.status === 403) return new RegistryError('DENIED', `the upstream ${target.url} refused: ${err.message}`, detail);
    if (err.status === 429) return new RegistryError('TOOMANYREQUESTS', `the upstream ${target.url} is rate-limiting and ${reference} is not cached`, detail);
    return new RegistryError('UNKNOWN', `${target.upstreamName}:${reference} is not cached and the upstream failed: ${err.message}`, detail, 502);
  }
}
