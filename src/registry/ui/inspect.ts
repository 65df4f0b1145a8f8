import type { Registry } from '../registry.js';
import type { Descriptor, ManifestInfo } from '../manifest-info.js';
import { compareBytes } from '../storage/manifest-store.js';
import type { ConfigSummary, PlatformEntry } from './api-types.js';

export type { ConfigSummary, PlatformEntry };

/** Config media types whose JSON is an image configuration (entrypoint, env, labels, created). */
export const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const CREATED_ANNOTATION = 'org.opencontainers.image.created';

export interface LoadedManifest {
  digest: string;
  bytes: Buffer;
  info: ManifestInfo;
}

export type ManifestKind = 'image' | 'index' | 'artifact';


/** A small bounded cache; manifest and config content never changes for a digest. */
class Bounded<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly limit: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    if (this.map.size >= this.limit) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, value);
  }
}

export function platformOf(d: Descriptor): string {
  const p = d.platform;
  if (!p?.os && !p?.architecture) return 'unknown';
  return [p.os ?? 'unknown', p.architecture ?? 'unknown', ...(p.variant ? [p.variant] : [])].join('/');
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || platformOf(d) === 'unknown/unknown';
}

export function kindOf(info: ManifestInfo): ManifestKind {
  if (info.isIndex) return 'index';
  const config = info.blobs[0];
  if (config && IMAGE_CONFIG_TYPES.has(config.mediaType) && !info.artifactType) return 'image';
  return 'artifact';
}

const stringArray = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function summarizeConfig(desc: Descriptor, doc: Record<string, unknown>): ConfigSummary {
  const c = (doc.config && typeof doc.config === 'object' ? doc.config : {}) as Record<string, unknown>;
  const labels: Record<string, string> = {};
  if (c.Labels && typeof c.Labels === 'object') {
    for (const [k, v] of Object.entries(c.Labels as Record<string, unknown>)) labels[k] = String(v);
  }
  const keys = (v: unknown) => (v && typeof v === 'object' ? Object.keys(v).sort(compareBytes) : []);
  return {
    digest: desc.digest,
    mediaType: desc.mediaType,
    size: desc.size,
    created: str(doc.created),
    os: str(doc.os),
    architecture: str(doc.architecture),
    variant: str(doc.variant),
    author: str(doc.author),
    entrypoint: stringArray(c.Entrypoint),
    cmd: stringArray(c.Cmd),
    workingDir: str(c.WorkingDir),
    user: str(c.User),
    env: (stringArray(c.Env) ?? []).map((e) => e.split('=')[0]!).filter(Boolean),
    labels,
    exposedPorts: keys(c.ExposedPorts),
    volumes: keys(c.Volumes),
  };
}

/** Reads manifests and image configs of a repository and works out what the UI shows about them. */
export class Inspector {
  private readonly blobSets = new Bounded<Map<string, number>>(20_000);
  private readonly configs = new Bounded<ConfigSummary | null>(5_000);

  constructor(private readonly registry: Registry) {}

  async load(name: string, digest: string): Promise<LoadedManifest | null> {
    const bytes = await this.registry.manifests.get(name, digest);
    if (!bytes) return null;
    return { digest, bytes, info: this.registry.manifestInfo.get(digest, bytes) };
  }

  async loadTag(name: string, tag: string): Promise<LoadedManifest | null> {
    const digest = await this.registry.manifests.resolveTag(name, tag);
    return digest ? this.load(name, digest) : null;
  }

  /**
   * Blobs (digest → size, as the descriptors say) an image needs: its config and layers; for an
   * index, those of every child present in the repository. Not the manifests themselves.
   */
  async blobsOf(name: string, m: LoadedManifest, depth = 0): Promise<Map<string, number>> {
    const cached = this.blobSets.get(m.digest);
    if (cached) return cached;
    const out = new Map<string, number>();
    for (const b of m.info.blobs) out.set(b.digest, b.size);
    if (depth < 4) {
      for (const child of m.info.children) {
        const loaded = await this.load(name, child.digest);
        if (!loaded) continue;
        for (const [d, s] of await this.blobsOf(name, loaded, depth + 1)) out.set(d, s);
      }
    }
    this.blobSets.set(m.digest, out);
    return out;
  }

  async sizeOf(name: string, m: LoadedManifest): Promise<number> {
    let total = 0;
    for (const s of (await this.blobsOf(name, m)).values()) total += s;
    return total;
  }

  /** The image configuration of an image manifest, or null for indexes and artifacts. */
  async config(m: LoadedManifest): Promise<ConfigSummary | null> {
    const desc = m.info.isIndex ? undefined : m.info.blobs[0];
    if (!desc || !IMAGE_CONFIG_TYPES.has(desc.mediaType)) return null;
    const cached = this.configs.get(desc.digest);
    if (cached !== undefined) return cached;
    let summary: ConfigSummary | null = null;
    const size = await this.registry.blobs.size(desc.digest);
    if (size !== null && size <= MAX_CONFIG_BYTES) {
      const bytes = await this.registry.blobs.read(desc.digest);
      try {
        const doc = JSON.parse(bytes?.toString('utf8') ?? 'null') as unknown;
        if (doc && typeof doc === 'object' && !Array.isArray(doc)) summary = summarizeConfig(desc, doc as Record<string, unknown>);
      } catch {
        // not JSON: nothing to show
      }
    }
    this.configs.set(desc.digest, summary);
    return summary;
  }

  async platforms(name: string, m: LoadedManifest): Promise<PlatformEntry[]> {
    const out: PlatformEntry[] = [];
    // an index may list one child many times: each is loaded and sized once
    const sizes = new Map<string, { loaded: boolean; size: number }>();
    for (const child of m.info.children) {
      let known = sizes.get(child.digest);
      if (!known) {
        const loaded = await this.load(name, child.digest);
        known = { loaded: loaded !== null, size: loaded ? await this.sizeOf(name, loaded) : 0 };
        sizes.set(child.digest, known);
      }
      out.push({
        platform: platformOf(child),
        digest: child.digest,
        mediaType: child.mediaType,
        size: known.size,
        attestation: isAttestation(child),
        present: known.loaded,
      });
    }
    return out;
  }

  /** When it was built: the config's `created`; for an index the newest of its images. */
  async created(name: string, m: LoadedManifest): Promise<string | undefined> {
    const annotated = m.info.annotations?.[CREATED_ANNOTATION];
    if (m.info.isIndex) {
      let newest: string | undefined;
      const seen = new Set<string>();
      for (const child of m.info.children) {
        if (isAttestation(child) || seen.has(child.digest)) continue;
        seen.add(child.digest);
        const loaded = await this.load(name, child.digest);
        const created = loaded ? (await this.config(loaded))?.created : undefined;
        if (created && (!newest || Date.parse(created) > Date.parse(newest))) newest = created;
      }
      return newest ?? annotated;
    }
    return (await this.config(m))?.created ?? annotated;
  }

  /** Every tag of the repository whose current manifest is `digest`. */
  async tagsOf(name: string, digest: string): Promise<string[]> {
    return (await this.tagIndex(name)).get(digest) ?? [];
  }

  /**
   * Each manifest's tags, every tag read once: a page that needs the tags of several manifests
   * (an image and its referrers) asks this once instead of reading every tag per manifest.
   */
  async tagIndex(name: string): Promise<Map<string, string[]>> {
    const index = new Map<string, string[]>();
    for (const tag of await this.registry.manifests.tags(name)) {
      const digest = await this.registry.manifests.resolveTag(name, tag);
      if (!digest) continue;
      const list = index.get(digest);
      if (list) list.push(tag);
      else index.set(digest, [tag]);
    }
    return index;
  }
}

