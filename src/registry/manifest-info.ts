import { RegistryError } from './errors.js';
import { isValidDigest } from './names.js';

export const MEDIA_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
} as const;

const IMAGE_TYPES = new Set<string>([MEDIA_TYPES.dockerManifest, MEDIA_TYPES.ociManifest]);
const INDEX_TYPES = new Set<string>([MEDIA_TYPES.dockerList, MEDIA_TYPES.ociIndex]);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** What the registry needs to know about a manifest, parsed once per digest (content never changes). */
export interface ManifestInfo {
  mediaType: string;
  isIndex: boolean;
  /** Blobs it needs (config and layers) for an image; child manifests for an index. */
  blobs: Descriptor[];
  children: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

function fail(message: string, detail?: unknown): never {
  throw new RegistryError('MANIFEST_INVALID', message, detail);
}

function descriptor(value: unknown, where: string): Descriptor {
  if (typeof value !== 'object' || value === null) fail(`${where} is not a descriptor`);
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string') fail(`${where}.mediaType is missing`);
  if (typeof d.digest !== 'string' || !isValidDigest(d.digest)) fail(`${where}.digest is not a valid digest`, { digest: d.digest });
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) fail(`${where}.size is not a non-negative integer`);
  return d as unknown as Descriptor;
}

/**
 * Parses and validates a manifest. `contentType` is the request's Content-Type on push (it must
 * agree with the document's own mediaType); on read it is absent and the document decides.
 */
export function parseManifest(bytes: Buffer, contentType?: string): ManifestInfo {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    fail('manifest is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('manifest is not a JSON object');
  if (doc.schemaVersion === 1) {
    throw new RegistryError('MANIFEST_INVALID', 'Docker schema 1 manifests are not supported; push with a current client', undefined, 400);
  }
  if (doc.schemaVersion !== 2) fail('manifest schemaVersion must be 2');
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const type = contentType?.split(';')[0]?.trim();
  if (declared && type && type !== declared) fail(`Content-Type ${type} does not match the manifest's mediaType ${declared}`);
  const mediaType = declared ?? (type || (Array.isArray(doc.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest));
  const info: ManifestInfo = { mediaType, isIndex: INDEX_TYPES.has(mediaType), blobs: [], children: [] };
  if (IMAGE_TYPES.has(mediaType)) {
    info.blobs.push(descriptor(doc.config, 'config'));
    if (!Array.isArray(doc.layers)) fail('layers must be an array');
    doc.layers.forEach((l, i) => info.blobs.push(descriptor(l, `layers[${i}]`)));
  } else if (info.isIndex) {
    if (!Array.isArray(doc.manifests)) fail('manifests must be an array');
    doc.manifests.forEach((m, i) => info.children.push(descriptor(m, `manifests[${i}]`)));
  } else {
    fail(`unsupported manifest media type ${mediaType}`);
  }
  if (doc.subject !== undefined) info.subject = descriptor(doc.subject, 'subject');
  if (typeof doc.artifactType === 'string') info.artifactType = doc.artifactType;
  if (doc.annotations && typeof doc.annotations === 'object') info.annotations = doc.annotations as Record<string, string>;
  return info;
}

/**
 * Stored manifests were validated on push, but a data directory may come from another registry
 * (schema 1, unknown types): describe what can be described instead of failing the read.
 */
function parseStored(bytes: Buffer): ManifestInfo {
  try {
    return parseManifest(bytes);
  } catch {
    let doc: Record<string, unknown> = {};
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch {
      // not JSON at all: served as an opaque OCI manifest
    }
    const mediaType =
      typeof doc.mediaType === 'string'
        ? doc.mediaType
        : doc.schemaVersion === 1
          ? doc.signatures ? MEDIA_TYPES.dockerSchema1Signed : MEDIA_TYPES.dockerSchema1
          : MEDIA_TYPES.ociManifest;
    return { mediaType, isIndex: INDEX_TYPES.has(mediaType), blobs: [], children: [] };
  }
}

/** Manifest content is immutable per digest, so parsed facts can be cached without invalidation. */
export class ManifestInfoCache {
  private readonly entries = new Map<string, ManifestInfo>();
  constructor(private readonly limit = 20_000) {}

  get(digest: string, bytes: Buffer): ManifestInfo {
    let info = this.entries.get(digest);
    if (!info) {
      info = parseStored(bytes);
      if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(digest, info);
    }
    return info;
  }
}
