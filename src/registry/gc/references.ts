import { isValidDigest } from '../names.js';

/** What a stored manifest points at, as far as garbage collection is concerned. */
export interface ManifestRefs {
  /** Blobs it needs: config and layers (image), `blobs` (OCI artifact manifest), `fsLayers` (schema 1). */
  blobs: string[];
  /** Manifests it needs: the entries of an index or manifest list. */
  children: string[];
  /** The manifest it refers to (OCI referrers); it does not keep the subject alive. */
  subject?: string;
}

export const NO_REFS: ManifestRefs = Object.freeze({ blobs: [], children: [] }) as ManifestRefs;

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function digestOf(v: unknown, key = 'digest'): string | undefined {
  if (!isObject(v)) return undefined;
  const d = v[key];
  return typeof d === 'string' && isValidDigest(d) ? d : undefined;
}

/**
 * Extracts references from any manifest a registry may hold, including ones our push path would
 * refuse (schema 1, artifact manifests, unknown media types) because the data directory may come
 * from another registry. Over-marking is harmless; under-marking deletes data, so every field that
 * can name a needed digest is read whatever the declared media type.
 */
export function manifestRefs(bytes: Buffer): ManifestRefs {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return NO_REFS;
  }
  if (!isObject(doc)) return NO_REFS;
  const blobs: string[] = [];
  const children: string[] = [];
  const push = (to: string[], d: string | undefined) => {
    if (d) to.push(d);
  };
  push(blobs, digestOf(doc.config));
  for (const l of list(doc.layers)) push(blobs, digestOf(l));
  for (const b of list(doc.blobs)) push(blobs, digestOf(b));
  for (const f of list(doc.fsLayers)) push(blobs, digestOf(f, 'blobSum'));
  for (const m of list(doc.manifests)) push(children, digestOf(m));
  const subject = digestOf(doc.subject);
  return subject ? { blobs, children, subject } : { blobs, children };
}
