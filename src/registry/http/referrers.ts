import { MEDIA_TYPES, type Descriptor } from '../manifest-info.js';
import { compareBytes } from '../storage/manifest-store.js';
import { sendJSON } from './respond.js';
import { requireDigest, type Ctx } from './context.js';

/**
 * Manifests in the repository whose `subject` is the given digest. Found by reading the
 * repository's revisions (parsed once per digest), so data written by other registries counts too.
 */
export async function referrersOf(ctx: Ctx, subject: string): Promise<Descriptor[]> {
  const { registry, name } = ctx;
  const out: Descriptor[] = [];
  for (const digest of await registry.manifests.revisions(name)) {
    const bytes = await registry.manifests.get(name, digest);
    if (!bytes) continue;
    const info = registry.manifestInfo.get(digest, bytes);
    if (info.subject?.digest !== subject) continue;
    const artifactType = info.artifactType ?? (info.isIndex ? undefined : info.blobs[0]?.mediaType);
    out.push({
      mediaType: info.mediaType,
      digest,
      size: bytes.length,
      ...(artifactType ? { artifactType } : {}),
      ...(info.annotations ? { annotations: info.annotations } : {}),
    });
  }
  return out.sort((a, b) => compareBytes(a.digest, b.digest));
}

export async function listReferrers(ctx: Ctx): Promise<void> {
  const subject = requireDigest(ctx.ref);
  // a mirror's upstream knows referrers the cache has not seen yet (signatures pushed later)
  let manifests = (ctx.mirror ? await ctx.registry.mirrors!.upstreamReferrers(ctx.mirror, subject) : null) ?? (await referrersOf(ctx, subject));
  const filter = ctx.url.searchParams.get('artifactType');
  const headers: Record<string, string> = { 'Content-Type': MEDIA_TYPES.ociIndex };
  if (filter !== null) {
    manifests = manifests.filter((m) => m.artifactType === filter);
    headers['OCI-Filters-Applied'] = 'artifactType';
  }
  sendJSON(ctx.res, 200, { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests }, headers);
}
