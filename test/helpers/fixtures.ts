// Shared end-to-end steps: push test images into a registry with skopeo and pull them back,
// asserting that every digest survives the round trip. Failures carry the registry's log tail.
import assert from 'node:assert/strict';
import { basicAuth } from './net.js';
import { buildOciImage, buildOciIndex, layoutRef, MEDIA, readLayoutImage, readLayoutIndexImage, type BuiltImage, type BuiltIndex } from './oci.js';
import type { RunningRegistry } from './registries.js';
import { dockerRef, ociRef, skopeoCopy, skopeoInspectRaw } from './skopeo.js';
import type { TempDirs } from './tmp.js';

/**
 * Runs `fn`; if it throws, appends the log tails of the given registries to the error, so that a
 * failed assertion shows what the server said.
 */
export async function withLogs<T>(registries: RunningRegistry | readonly RunningRegistry[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const list = Array.isArray(registries) ? registries : [registries as RunningRegistry];
    const logs = list.map((r) => `[${r.kind} registry at ${r.url}]\n${r.logTail(80)}`).join('\n');
    if (e instanceof Error) {
      e.message += `\n${logs}`;
      if (e.stack) e.stack += `\n${logs}`;
      throw e;
    }
    throw new Error(`${String(e)}\n${logs}`);
  }
}

export interface Fixtures {
  repo: string;
  image: BuiltImage;
  /** tags that all point at `image` */
  imageTags: string[];
  index: BuiltIndex;
  indexTag: string;
}

export interface AuthOptions {
  authfile?: string;
}

/** Builds a multi-layer image and a multi-arch index and pushes them into `repo` with skopeo. */
export async function pushFixtures(reg: RunningRegistry, tmp: TempDirs, repo: string, opts: AuthOptions & { imageTags?: string[]; indexTag?: string } = {}): Promise<Fixtures> {
  const imageTags = opts.imageTags ?? ['v1'];
  const indexTag = opts.indexTag ?? 'multi';
  const layout = await tmp.make('rs-oci-src-');
  const image = await buildOciImage(layout, imageTags[0]!);
  const index = await buildOciIndex(layout, indexTag);
  for (const tag of imageTags) {
    await skopeoCopy(ociRef(layout, imageTags[0]!), dockerRef(reg.host, repo, tag), { destAuthfile: opts.authfile });
  }
  await skopeoCopy(ociRef(layout, indexTag), dockerRef(reg.host, repo, indexTag), { all: true, destAuthfile: opts.authfile });
  return { repo, image, imageTags, index, indexTag };
}

/** Pulls `repo:tag` into a fresh OCI layout with --preserve-digests; asserts manifest, config and layer digests. */
export async function assertImageRoundTrip(reg: RunningRegistry, tmp: TempDirs, repo: string, tag: string, image: BuiltImage, opts: AuthOptions = {}): Promise<void> {
  const remote = dockerRef(reg.host, repo, tag);
  const inspected = await skopeoInspectRaw(remote, { authfile: opts.authfile });
  assert.equal(inspected.digest, image.manifestDigest, `digest of ${remote} as served`);
  assert.ok(inspected.raw.equals(image.manifest), `${remote}: served manifest bytes differ from the pushed ones`);
  const byDigest = await skopeoInspectRaw(dockerRef(reg.host, repo, image.manifestDigest), { authfile: opts.authfile });
  assert.equal(byDigest.digest, image.manifestDigest, `digest of ${repo}@${image.manifestDigest} as served`);

  const dest = await tmp.make('rs-oci-dst-');
  await skopeoCopy(remote, ociRef(dest, tag), { preserveDigests: true, srcAuthfile: opts.authfile });
  const desc = await layoutRef(dest, tag);
  assert.equal(desc.digest, image.manifestDigest, `manifest digest after pulling ${remote}`);
  assert.equal(desc.mediaType, MEDIA.manifest);
  const pulled = await readLayoutImage(dest, desc.digest);
  assert.equal(pulled.configDigest, image.configDigest, `config digest after pulling ${remote}`);
  assert.deepEqual(pulled.layerDigests, image.layerDigests, `layer digests after pulling ${remote}`);
}

/** Pulls `repo:tag` (an index) with --all --preserve-digests; asserts index, child and layer digests. */
export async function assertIndexRoundTrip(reg: RunningRegistry, tmp: TempDirs, repo: string, tag: string, index: BuiltIndex, opts: AuthOptions = {}): Promise<void> {
  const remote = dockerRef(reg.host, repo, tag);
  const inspected = await skopeoInspectRaw(remote, { authfile: opts.authfile });
  assert.equal(inspected.digest, index.indexDigest, `digest of ${remote} as served`);
  assert.ok(inspected.raw.equals(index.index), `${remote}: served index bytes differ from the pushed ones`);
  for (const child of index.children) {
    const c = await skopeoInspectRaw(dockerRef(reg.host, repo, child.manifestDigest), { authfile: opts.authfile });
    assert.equal(c.digest, child.manifestDigest, `digest of child ${repo}@${child.manifestDigest} (${child.platform.architecture}) as served`);
  }

  const dest = await tmp.make('rs-oci-dst-');
  await skopeoCopy(remote, ociRef(dest, tag), { all: true, preserveDigests: true, srcAuthfile: opts.authfile });
  const desc = await layoutRef(dest, tag);
  assert.equal(desc.digest, index.indexDigest, `index digest after pulling ${remote} --all`);
  assert.equal(desc.mediaType, MEDIA.index);
  const pulled = await readLayoutIndexImage(dest, desc.digest);
  assert.deepEqual(
    pulled.children.map((c) => ({ manifest: c.manifestDigest, config: c.configDigest, layers: c.layerDigests })),
    index.children.map((c) => ({ manifest: c.manifestDigest, config: c.configDigest, layers: c.layerDigests })),
    `child manifests after pulling ${remote} --all`,
  );
}

/** Asserts the whole set pushed by pushFixtures. */
export async function assertFixturesRoundTrip(reg: RunningRegistry, tmp: TempDirs, fx: Fixtures, opts: AuthOptions = {}): Promise<void> {
  for (const tag of fx.imageTags) await assertImageRoundTrip(reg, tmp, fx.repo, tag, fx.image, opts);
  await assertIndexRoundTrip(reg, tmp, fx.repo, fx.indexTag, fx.index, opts);
}

export interface TagsList {
  name: string;
  tags: string[];
}

/** GET /v2/<name>/tags/list (one page; the test repos hold few tags). */
export async function getTagsList(reg: RunningRegistry, repo: string, creds?: { user: string; password: string }): Promise<TagsList> {
  const headers: Record<string, string> = {};
  if (creds) headers.authorization = basicAuth(creds.user, creds.password);
  const res = await fetch(`${reg.url}/v2/${repo}/tags/list`, { headers, signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  assert.equal(res.status, 200, `GET /v2/${repo}/tags/list on ${reg.kind}: HTTP ${res.status} ${body}`);
  return JSON.parse(body) as TagsList;
}
