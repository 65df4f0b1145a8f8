import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FilesystemDriver } from '../../src/registry/storage/filesystem/driver.js';
import { collectGarbage, type GcOptions, type GcReport } from '../../src/registry/gc/collect.js';
import { OCI_INDEX, OCI_MANIFEST, pushBlob, sha256, type TestRegistry } from '../registry/harness.js';

export { sleep };

export const v2 = (dataDir: string) => path.join(dataDir, 'docker/registry/v2');

export function blobFile(dataDir: string, digest: string): string {
  const hex = digest.slice(digest.indexOf(':') + 1);
  return path.join(v2(dataDir), 'blobs', digest.slice(0, digest.indexOf(':')), hex.slice(0, 2), hex, 'data');
}

export const hasBlob = (dataDir: string, digest: string) => existsSync(blobFile(dataDir, digest));

/** GC over a test registry's data dir: no grace and a short settle unless told otherwise. */
export async function gc(dataDir: string, opts: Partial<GcOptions> = {}): Promise<GcReport> {
  // mtimes have millisecond (or coarser) resolution: let "pushed before the run" be strictly before it.
  await sleep(15);
  return collectGarbage({ driver: new FilesystemDriver(dataDir), graceMs: 0, settleMs: 10, ...opts });
}

/**
 * The invariant GC must leave behind: every `_layers` link and revision link names a blob whose data
 * exists, and nothing of a finished run is left in `_gc/`. Returns the offending links.
 */
export function danglingLinks(dataDir: string): string[] {
  const bad: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name === 'link' && /\/(_layers|_manifests\/revisions)\//.test(p)) {
        const digest = readFileSync(p, 'utf8').trim();
        if (!hasBlob(dataDir, digest)) bad.push(path.relative(v2(dataDir), p));
      }
    }
  };
  if (existsSync(path.join(v2(dataDir), 'repositories'))) walk(path.join(v2(dataDir), 'repositories'));
  return bad;
}

export function assertConsistent(dataDir: string): void {
  assert.deepEqual(danglingLinks(dataDir), [], 'links naming missing blobs');
  const trash = path.join(v2(dataDir), '_gc');
  const left = existsSync(trash) ? readdirSync(trash).filter((e) => !e.endsWith('.tmp')) : [];
  assert.deepEqual(left, [], 'left in _gc/');
}

/** Every file under the registry root with its size and mtime, to prove a dry run changed nothing. */
export function snapshot(dataDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        out[`${path.relative(dataDir, p)}/`] = 'dir';
        walk(p);
      } else {
        const s = statSync(p);
        out[path.relative(dataDir, p)] = `${s.size}@${s.mtimeMs}`;
      }
    }
  };
  walk(dataDir);
  return out;
}

export async function putManifest(reg: TestRegistry, name: string, doc: object, ref?: string): Promise<{ digest: string; bytes: Buffer }> {
  const bytes = Buffer.from(JSON.stringify(doc));
  const digest = sha256(bytes);
  const mediaType = (doc as { mediaType?: string }).mediaType ?? OCI_MANIFEST;
  const res = await reg.fetch(`/v2/${name}/manifests/${ref ?? digest}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': mediaType } });
  assert.equal(res.status, 201, `PUT ${name} manifest: ${await res.text()}`);
  return { digest, bytes };
}

export interface Pushed {
  digest: string;
  size: number;
  config: string;
  layers: string[];
  /** every digest the image needs, manifest included */
  all: string[];
}

/** An OCI image manifest doc over blobs that must already be in the repository. */
export function imageDoc(config: { digest: string; size: number; mediaType?: string }, layers: { digest: string; size: number }[], extra: object = {}): object {
  return {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: config.mediaType ?? 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
    ...extra,
  };
}

/** Pushes config + layers (unique to `seed` unless `layers` is given) and the manifest, by tag or by digest. */
export async function pushImage(
  reg: TestRegistry,
  name: string,
  seed: string,
  opts: { tag?: string; layers?: string[]; extra?: object; configMediaType?: string } = {},
): Promise<Pushed> {
  const configBody = JSON.stringify({ architecture: 'amd64', os: 'linux', seed });
  const config = await pushBlob(reg, name, configBody);
  const bodies = opts.layers ?? [`layer one of ${seed}`, `layer two of ${seed}`];
  const layers: { digest: string; size: number }[] = [];
  for (const b of bodies) layers.push({ digest: await pushBlob(reg, name, b), size: Buffer.byteLength(b) });
  const doc = imageDoc({ digest: config, size: Buffer.byteLength(configBody), mediaType: opts.configMediaType }, layers, opts.extra);
  const { digest, bytes } = await putManifest(reg, name, doc, opts.tag);
  return { digest, size: bytes.length, config, layers: layers.map((l) => l.digest), all: [digest, config, ...layers.map((l) => l.digest)] };
}

export async function pushIndex(reg: TestRegistry, name: string, children: Pushed[], tag?: string): Promise<{ digest: string; size: number }> {
  const archs = ['amd64', 'arm64', 'riscv64', 's390x'];
  const doc = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((c, i) => ({ mediaType: OCI_MANIFEST, digest: c.digest, size: c.size, platform: { os: 'linux', architecture: archs[i % 4] } })),
  };
  const { digest, bytes } = await putManifest(reg, name, doc, tag);
  return { digest, size: bytes.length };
}

const ACCEPT = [OCI_MANIFEST, OCI_INDEX, 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');

/** Pulls a manifest and everything under it; every answer must be 200 with the right digest. Returns the digests fetched. */
export async function pull(reg: { fetch: TestRegistry['fetch'] }, name: string, ref: string): Promise<string[]> {
  const res = await reg.fetch(`/v2/${name}/manifests/${ref}`, { headers: { Accept: ACCEPT } });
  assert.equal(res.status, 200, `GET ${name}:${ref}: ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  const digest = sha256(bytes);
  if (ref.includes(':')) assert.equal(digest, ref);
  const doc = JSON.parse(bytes.toString('utf8')) as { config?: { digest: string }; layers?: { digest: string }[]; manifests?: { digest: string }[] };
  const fetched = [digest];
  for (const child of doc.manifests ?? []) fetched.push(...(await pull(reg, name, child.digest)));
  for (const blob of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) {
    const b = await reg.fetch(`/v2/${name}/blobs/${blob.digest}`);
    assert.equal(b.status, 200, `GET blob ${name}@${blob.digest}: ${b.status}`);
    assert.equal(sha256(Buffer.from(await b.arrayBuffer())), blob.digest, 'blob content');
    fetched.push(blob.digest);
  }
  return fetched;
}

export async function status(reg: TestRegistry, pathname: string, method = 'GET'): Promise<number> {
  const res = await reg.fetch(pathname, { method, headers: { Accept: ACCEPT } });
  await res.arrayBuffer();
  return res.status;
}
