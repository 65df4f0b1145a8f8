import { RegistryError } from '../errors.js';
import { blobDataPath, STORAGE_ROOT } from '../storage/paths.js';
import { send } from './respond.js';
import { requireDeletable, requireDigest, type Ctx } from './context.js';

/** `bytes=a-b`, `bytes=a-` or `bytes=-n` against a blob of `size` bytes; null when unsatisfiable. */
export function parseRange(header: string, size: number): { start: number; end: number } | null | 'ignore' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'ignore';
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return null;
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return null;
  return { start, end };
}

export async function getBlob(ctx: Ctx): Promise<void> {
  const digest = requireDigest(ctx.ref);
  const size = await ctx.registry.blobs.sizeInRepo(ctx.name, digest);
  if (size === null) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
  const headers = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    ETag: `"${digest}"`,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
  };
  const rangeHeader = ctx.req.headers.range;
  let range: { start: number; end: number } | undefined;
  if (rangeHeader && size > 0) {
    const parsed = parseRange(rangeHeader, size);
    if (parsed === null) {
      send(ctx.res, 416, { 'Content-Range': `bytes */${size}` });
      return;
    }
    if (parsed !== 'ignore') range = parsed;
  }
  const length = range ? range.end - range.start + 1 : size;
  if (ctx.req.method === 'HEAD' || length === 0) {
    send(ctx.res, 200, { ...headers, 'Content-Length': size });
    return;
  }
  const accel = ctx.registry.config.accelRedirect;
  if (accel && !ctx.registry.config.s3) {
    // nginx sends the bytes from its read-only mount (sendfile; it answers the Range itself). The
    // path comes from the digest checked above, never from the request.
    send(ctx.res, 200, { ...headers, 'X-Accel-Redirect': `${accel}${STORAGE_ROOT}/${blobDataPath(digest)}` });
    return;
  }
  const redirect = await ctx.registry.blobs.redirectUrl(digest);
  if (redirect) {
    send(ctx.res, 307, { Location: redirect, 'Docker-Content-Digest': digest });
    return;
  }
  // Opened before answering so a blob that vanished (GC) becomes a clean 404, not a broken 200.
  const file = await ctx.registry.blobs.openForSend(digest);
  if (!file) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
  try {
    ctx.res.writeHead(range ? 206 : 200, {
      ...headers,
      'Content-Length': length,
      ...(range ? { 'Content-Range': `bytes ${range.start}-${range.end}/${size}` } : {}),
    });
    await file.send(ctx.res, range);
  } catch {
    // The client went away mid-download (or the file shrank): the response cannot be completed.
    ctx.res.destroy();
  } finally {
    await file.close();
  }
}

export async function deleteBlob(ctx: Ctx): Promise<void> {
  requireDeletable(ctx);
  const digest = requireDigest(ctx.ref);
  if (!(await ctx.registry.blobs.unlink(ctx.name, digest))) {
    throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
  }
  send(ctx.res, 202, { 'Docker-Content-Digest': digest });
}
