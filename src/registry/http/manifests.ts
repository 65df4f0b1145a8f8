import { createHash } from 'node:crypto';
import { RegistryError } from '../errors.js';
import { isValidTag, looksLikeDigest, splitDigest } from '../names.js';
import { parseManifest, type ManifestInfo } from '../manifest-info.js';
import { layerLinkPath } from '../storage/paths.js';
import { readBody, send } from './respond.js';
import { mayDo, requireAccess } from './access.js';
import { requireDeletable, requireDigest, requireWritable, type Ctx } from './context.js';

type Reference = { digest: string; tag?: undefined } | { tag: string; digest?: undefined };

/**
 * The reference of a request that writes it (PUT): a malformed tag is TAG_INVALID. Reads and
 * deletes use `existingReference`, for which no such tag can exist.
 */
function parseReference(ref: string): Reference {
  if (looksLikeDigest(ref)) return { digest: requireDigest(ref) };
  if (!isValidTag(ref)) throw new RegistryError('TAG_INVALID', 'invalid tag', { tag: ref });
  return { tag: ref };
}

/**
 * A reference to look up: one that is neither a tag nor a digest names nothing, so it is 404
 * MANIFEST_UNKNOWN as the spec and distribution answer (the conformance suite asks for
 * `.INVALID_MANIFEST_NAME`); a digest of a malformed shape stays the client's 400.
 */
function existingReference(ref: string): Reference {
  if (!looksLikeDigest(ref) && !isValidTag(ref)) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown', { reference: ref });
  return parseReference(ref);
}

/** Media types the client said it accepts; null when it accepts anything. */
function acceptedTypes(header: string | string[] | undefined): Set<string> | null {
  const values = (Array.isArray(header) ? header : header ? [header] : [])
    .flatMap((h) => h.split(','))
    .map((v) => v.split(';')[0]!.trim())
    .filter(Boolean);
  if (values.length === 0 || values.includes('*/*')) return null;
  return new Set(values);
}

async function load(ctx: Ctx, digest: string): Promise<{ bytes: Buffer; info: ManifestInfo } | null> {
  const bytes = await ctx.registry.manifests.get(ctx.name, digest);
  if (!bytes) return null;
  return { bytes, info: ctx.registry.manifestInfo.get(digest, bytes) };
}

export async function getManifest(ctx: Ctx): Promise<void> {
  const ref = existingReference(ctx.ref);
  const unknown = () => new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown', { reference: ctx.ref });
  let digest = ref.digest ?? (await ctx.registry.manifests.resolveTag(ctx.name, ref.tag!));
  if (!digest) throw unknown();
  let found = await load(ctx, digest);
  if (!found) throw unknown();
  // By digest the client asked for exactly these bytes. By tag, an old client that cannot read an
  // index gets the linux/amd64 image from it, as distribution does.
  const accepted = ref.tag ? acceptedTypes(ctx.req.headers.accept) : null;
  if (accepted && !accepted.has(found.info.mediaType)) {
    const child = found.info.isIndex
      ? found.info.children.find((c) => c.platform?.os === 'linux' && c.platform.architecture === 'amd64' && accepted.has(c.mediaType))
      : undefined;
    const childFound = child ? await load(ctx, child.digest) : null;
    if (!child || !childFound) {
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest is ${found.info.mediaType}, which the Accept header does not include`, {
        reference: ctx.ref,
      });
    }
    digest = child.digest;
    found = childFound;
  }
  send(
    ctx.res,
    200,
    {
      'Content-Type': found.info.mediaType,
      'Docker-Content-Digest': digest,
      ETag: `"${digest}"`,
    },
    found.bytes, // Node sends no body for HEAD but keeps this Content-Length
  );
}

/**
 * Everything an image or index refers to must already be in this repository (subject excepted).
 * A config or layer must be a blob pushed as one (its `_layers` link): distribution refuses a
 * manifest of the repository in that place with MANIFEST_BLOB_UNKNOWN, whatever media type the
 * descriptor claims, so data written here stays servable by distribution.
 */
async function checkReferences(ctx: Ctx, info: ManifestInfo): Promise<void> {
  const { registry, name } = ctx;
  for (const blob of info.blobs) {
    if (blob.urls && blob.urls.length > 0) continue; // foreign layer, fetched from its URLs
    if (!(await isPushedBlob(ctx, blob.digest)) || (await registry.blobs.size(blob.digest)) === null) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry', { digest: blob.digest });
    }
  }
  for (const child of info.children) {
    if (!(await registry.manifests.has(name, child.digest))) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'manifest unknown to registry', { digest: child.digest });
    }
  }
}

async function isPushedBlob(ctx: Ctx, digest: string): Promise<boolean> {
  const link = await ctx.registry.driver.getContent(layerLinkPath(ctx.name, digest));
  return link !== null && link.toString('utf8').trim() === digest;
}

export async function putManifest(ctx: Ctx): Promise<void> {
  requireWritable(ctx);
  const ref = parseReference(ctx.ref);
  const bytes = await readBody(ctx.req, ctx.registry.config.maxManifestBytes, 'manifest');
  const info = parseManifest(bytes, ctx.req.headers['content-type']);
  const algorithm = ref.digest ? splitDigest(ref.digest).algorithm : 'sha256';
  const digest = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
  if (ref.digest && ref.digest !== digest) {
    throw new RegistryError('DIGEST_INVALID', 'manifest digest did not match the reference', { expected: ref.digest, actual: digest });
  }
  // Moving an existing tag to other content is an update; pointing it at what it already names
  // (a repeated push) changes nothing and needs no more than the create the router checked.
  if (ref.tag && !mayDo(ctx, ctx.name, 'update')) {
    const current = await ctx.registry.manifests.resolveTag(ctx.name, ref.tag);
    if (current !== null && current !== digest) requireAccess(ctx, ctx.name, 'update');
  }
  await checkReferences(ctx, info);
  await ctx.registry.manifests.put(ctx.name, digest, bytes, ref.tag);
  send(ctx.res, 201, {
    Location: `/v2/${ctx.name}/manifests/${digest}`,
    'Docker-Content-Digest': digest,
    ...(info.subject ? { 'OCI-Subject': info.subject.digest } : {}),
  });
}

export async function deleteManifest(ctx: Ctx): Promise<void> {
  requireDeletable(ctx);
  const ref = existingReference(ctx.ref);
  const deleted = ref.tag
    ? await ctx.registry.manifests.deleteTag(ctx.name, ref.tag)
    : await ctx.registry.manifests.delete(ctx.name, ref.digest!);
  if (!deleted) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown', { reference: ctx.ref });
  send(ctx.res, 202);
}
