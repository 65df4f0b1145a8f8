// Builds OCI image layouts (oci-layout, index.json, blobs/sha256/...) with random content, so that
// every test pushes blobs no registry has seen before.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface BuiltImage {
  manifestDigest: string;
  manifestSize: number;
  /** the exact manifest bytes */
  manifest: Buffer;
  configDigest: string;
  /** digests of the compressed layer blobs, in manifest order */
  layerDigests: string[];
  /** digests of the uncompressed layer tars, in order */
  diffIds: string[];
  platform: Platform;
}

export interface BuiltIndex {
  indexDigest: string;
  indexSize: number;
  index: Buffer;
  children: BuiltImage[];
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// tar

export interface TarEntry {
  name: string;
  data: Buffer;
  mode?: number;
  mtime?: number;
}

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** A POSIX ustar archive of regular files (names < 100 bytes). */
export function makeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    if (name.length >= 100) throw new Error(`tar entry name too long: ${e.name}`);
    const h = Buffer.alloc(512, 0);
    name.copy(h, 0);
    h.write(octal(e.mode ?? 0o644, 8), 100, 'ascii');
    h.write(octal(0, 8), 108, 'ascii'); // uid
    h.write(octal(0, 8), 116, 'ascii'); // gid
    h.write(octal(e.data.length, 12), 124, 'ascii');
    h.write(octal(e.mtime ?? 1_700_000_000, 12), 136, 'ascii');
    h.write('        ', 148, 'ascii'); // checksum placeholder: 8 spaces
    h.write('0', 156, 'ascii'); // regular file
    h.write('ustar\0', 257, 'ascii');
    h.write('00', 263, 'ascii');
    h.write('root', 265, 'ascii');
    h.write('root', 297, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
    parts.push(h, e.data);
    const pad = (512 - (e.data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0)); // end of archive
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// layout

async function writeBlob(layoutDir: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const dir = join(layoutDir, 'blobs', 'sha256');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, digest.slice('sha256:'.length)), data);
  return digest;
}

export async function readBlob(layoutDir: string, digest: string): Promise<Buffer> {
  const [alg, hex] = digest.split(':');
  return readFile(join(layoutDir, 'blobs', alg!, hex!));
}

interface IndexJson {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export async function readLayoutIndex(layoutDir: string): Promise<IndexJson> {
  return JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as IndexJson;
}

/** Initialises the layout if needed and points `tag` at `desc` in index.json (replacing an older entry). */
async function tagInLayout(layoutDir: string, tag: string, desc: Descriptor): Promise<void> {
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  let index: IndexJson = { schemaVersion: 2, mediaType: MEDIA.index, manifests: [] };
  try {
    index = await readLayoutIndex(layoutDir);
  } catch {
    // new layout
  }
  index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag);
  index.manifests.push({ ...desc, annotations: { ...desc.annotations, [REF_NAME]: tag } });
  await writeFile(join(layoutDir, 'index.json'), JSON.stringify(index));
}

/** The descriptor that `tag` names in a layout's index.json. */
export async function layoutRef(layoutDir: string, tag: string): Promise<Descriptor> {
  const index = await readLayoutIndex(layoutDir);
  const found = index.manifests.filter((m) => m.annotations?.[REF_NAME] === tag);
  if (found.length !== 1) throw new Error(`${layoutDir}: expected one index.json entry for tag ${tag}, found ${found.length}`);
  return found[0]!;
}

export interface ImageOptions {
  /** sizes of the uncompressed random payload of each layer (one file per layer) */
  layerSizes?: readonly number[];
  platform?: Platform;
}

const DEFAULT_LAYER_SIZES = [1_024, 150_000, 2_500_000];

/** Writes one image's blobs (layers, config, manifest) into the layout without tagging it. */
async function writeImageBlobs(layoutDir: string, opts: ImageOptions): Promise<BuiltImage> {
  const platform = opts.platform ?? { architecture: 'amd64', os: 'linux' };
  const sizes = opts.layerSizes ?? DEFAULT_LAYER_SIZES;
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const [i, size] of sizes.entries()) {
    // random bytes: unique across runs (no accidental cross-mounting) and incompressible
    const tar = makeTar([{ name: `layer-${i}/payload-${randomBytes(4).toString('hex')}.bin`, data: randomBytes(size) }]);
    diffIds.push(sha256(tar));
    const gz = gzipSync(tar);
    layers.push({ mediaType: MEDIA.layerGzip, digest: await writeBlob(layoutDir, gz), size: gz.length });
  }
  const config = Buffer.from(
    JSON.stringify({
      created: '2024-01-01T00:00:00Z',
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Labels: { 'registry-setup.test': randomBytes(8).toString('hex') } },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `test layer ${i}` })),
    }),
  );
  const configDigest = await writeBlob(layoutDir, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, digest: configDigest, size: config.length },
      layers,
      annotations: { 'org.opencontainers.image.title': 'registry-setup test image' },
    }),
  );
  const manifestDigest = await writeBlob(layoutDir, manifest);
  return {
    manifestDigest,
    manifestSize: manifest.length,
    manifest,
    configDigest,
    layerDigests: layers.map((l) => l.digest),
    diffIds,
    platform,
  };
}

/** A single-platform image with random gzip'd tar layers, tagged `tag` in the layout. */
export async function buildOciImage(layoutDir: string, tag: string, opts: ImageOptions = {}): Promise<BuiltImage> {
  const img = await writeImageBlobs(layoutDir, opts);
  await tagInLayout(layoutDir, tag, { mediaType: MEDIA.manifest, digest: img.manifestDigest, size: img.manifestSize });
  return img;
}

export interface IndexOptions {
  platforms?: readonly Platform[];
  layerSizes?: readonly number[];
}

/** A multi-platform image index (linux/amd64 + linux/arm64 by default), tagged `tag` in the layout. */
export async function buildOciIndex(layoutDir: string, tag: string, opts: IndexOptions = {}): Promise<BuiltIndex> {
  const platforms = opts.platforms ?? [
    { architecture: 'amd64', os: 'linux' },
    { architecture: 'arm64', os: 'linux', variant: 'v8' },
  ];
  const children: BuiltImage[] = [];
  for (const platform of platforms) {
    children.push(await writeImageBlobs(layoutDir, { platform, layerSizes: opts.layerSizes ?? [2_048, 80_000] }));
  }
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.index,
      manifests: children.map((c) => ({ mediaType: MEDIA.manifest, digest: c.manifestDigest, size: c.manifestSize, platform: c.platform })),
    }),
  );
  const indexDigest = await writeBlob(layoutDir, index);
  await tagInLayout(layoutDir, tag, { mediaType: MEDIA.index, digest: indexDigest, size: index.length });
  return { indexDigest, indexSize: index.length, index, children };
}

// ---------------------------------------------------------------------------------------------
// reading a layout back

export interface LayoutImage {
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
}

/** Reads an image manifest from a layout, checking that every referenced blob is present and intact. */
export async function readLayoutImage(layoutDir: string, manifestDigest: string): Promise<LayoutImage> {
  const raw = await readBlob(layoutDir, manifestDigest);
  if (sha256(raw) !== manifestDigest) throw new Error(`manifest blob ${manifestDigest} has digest ${sha256(raw)}`);
  const m = JSON.parse(raw.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
  for (const d of [m.config, ...m.layers]) {
    const blob = await readBlob(layoutDir, d.digest);
    if (sha256(blob) !== d.digest || blob.length !== d.size) {
      throw new Error(`blob ${d.digest} in ${layoutDir} is corrupt (digest ${sha256(blob)}, size ${blob.length}/${d.size})`);
    }
  }
  return { manifestDigest, configDigest: m.config.digest, layerDigests: m.layers.map((l) => l.digest) };
}

/** Reads an image index and all its child images from a layout. */
export async function readLayoutIndexImage(layoutDir: string, indexDigest: string): Promise<{ indexDigest: string; children: LayoutImage[] }> {
  const raw = await readBlob(layoutDir, indexDigest);
  if (sha256(raw) !== indexDigest) throw new Error(`index blob ${indexDigest} has digest ${sha256(raw)}`);
  const idx = JSON.parse(raw.toString('utf8')) as { manifests: Descriptor[] };
  const children: LayoutImage[] = [];
  for (const d of idx.manifests) children.push(await readLayoutImage(layoutDir, d.digest));
  return { indexDigest, children };
}
