import type { Readable } from 'node:stream';
import { RegistryError } from '../errors.js';
import { isValidName } from '../names.js';
import { checkDeclaredSize, isValidUploadId } from '../storage/upload-sessions.js';
import { signUpload, verifyUpload } from './upload-token.js';
import { hasBody, send } from './respond.js';
import { isRestricted, mayDo } from './access.js';
import { requireDigest, requireWritable, type Ctx } from './context.js';

function uploadLocation(ctx: Ctx, id: string): string {
  const secret = ctx.registry.config.uploadSecret;
  const path = `/v2/${ctx.name}/blobs/uploads/${id}`;
  return secret ? `${path}?_state=${signUpload(secret, ctx.name, id)}` : path;
}

function progressHeaders(ctx: Ctx, id: string, size: number): Record<string, string> {
  return {
    Location: uploadLocation(ctx, id),
    Range: `0-${Math.max(size - 1, 0)}`,
    'Docker-Upload-UUID': id,
  };
}

function created(ctx: Ctx, digest: string): void {
  send(ctx.res, 201, { Location: `/v2/${ctx.name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

/** Content-Range of a chunk, `<start>-<end>` inclusive; absent means "append at the end". */
function chunkStart(ctx: Ctx): number | undefined {
  const header = ctx.req.headers['content-range'];
  if (header === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)$/.exec(header.trim());
  if (!m) throw new RegistryError('BLOB_UPLOAD_INVALID', `malformed Content-Range "${header}"`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) throw new RegistryError('RANGE_INVALID', `Content-Range "${header}" ends before it starts`, undefined, 416);
  const length = ctx.req.headers['content-length'];
  if (length !== undefined && Number(length) !== end - start + 1) {
    throw new RegistryError('RANGE_INVALID', `Content-Range "${header}" does not match Content-Length ${length}`, undefined, 416);
  }
  return start;
}

function declaredSize(ctx: Ctx): number | undefined {
  const declared = ctx.req.headers['content-length'];
  return declared === undefined ? undefined : Number(declared);
}

async function appendBody(ctx: Ctx, id: string, start?: number): Promise<number> {
  const { before, after } = await ctx.registry.uploads.append(ctx.name, id, ctx.req as Readable, start);
  checkDeclaredSize(after - before, declaredSize(ctx));
  return after;
}

/** A body that ends the upload, then the commit. */
function appendAndCommit(ctx: Ctx, id: string, digest: string, start?: number): Promise<number> {
  return ctx.registry.uploads.appendAndCommit(ctx.name, id, ctx.req as Readable, start, digest, declaredSize(ctx));
}

export async function startUpload(ctx: Ctx): Promise<void> {
  requireWritable(ctx);
  const { registry, name, url } = ctx;
  const mount = url.searchParams.get('mount');
  if (mount !== null) {
    const digest = requireDigest(mount, 'mount');
    const from = url.searchParams.get('from');
    let mountable = false;
    if (from !== null) {
      if (!isValidName(from)) throw new RegistryError('NAME_INVALID', 'invalid repository name in "from"', { from });
      // A source the caller may not read is not looked at: the answer is the same upload session
      // whether the blob is there or not, and the client uploads the bytes it has.
      mountable = mayDo(ctx, from, 'read') && (await registry.blobs.sizeInRepo(from, digest)) !== null;
    } else if (registry.config.autoMount && !isRestricted(registry)) {
      // (not under a policy: the blob may be only in repositories the caller may not read)
      mountable = (await registry.blobs.size(digest)) !== null;
    }
    if (mountable) {
      await registry.blobs.link(name, digest);
      created(ctx, digest);
      return;
    }
    // Not mountable: the spec says to fall back to an ordinary upload session.
  }
  const digestParam = url.searchParams.get('digest');
  if (digestParam !== null) {
    const digest = requireDigest(digestParam);
    const id = await registry.uploads.create(name);
    try {
      await appendAndCommit(ctx, id, digest);
    } catch (err) {
      await registry.uploads.cancel(name, id);
      throw err;
    }
    created(ctx, digest);
    return;
  }
  const id = await registry.uploads.create(name);
  send(ctx.res, 202, progressHeaders(ctx, id, 0));
}

/**
 * The upload id of the URL; with an upload secret its `_state` token must be valid too. A write
 * (`adopt`) to a session this process does not know but whose URL carries a valid token continues
 * it as an empty session: the registry process that started it kept it in memory (no bytes yet)
 * and has since been replaced (a gapless upgrade switches processes between two requests of one
 * push). The token grants nothing a new POST would not.
 */
async function uploadId(ctx: Ctx, adopt = false): Promise<string> {
  const unknown = () => new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload unknown', { id: ctx.ref });
  if (!isValidUploadId(ctx.ref)) throw unknown();
  const secret = ctx.registry.config.uploadSecret;
  if (secret) {
    try {
      verifyUpload(secret, ctx.name, ctx.ref, ctx.url.searchParams.get('_state'));
    } catch (err) {
      // An upload that does not exist is reported as such, whatever its URL carries.
      if ((await ctx.registry.uploads.size(ctx.name, ctx.ref)) === null) throw unknown();
      throw err;
    }
    if (adopt) await ctx.registry.uploads.adopt?.(ctx.name, ctx.ref);
  }
  return ctx.ref;
}

export async function patchUpload(ctx: Ctx): Promise<void> {
  requireWritable(ctx);
  const id = await uploadId(ctx, true);
  const size = await appendBody(ctx, id, chunkStart(ctx));
  send(ctx.res, 202, progressHeaders(ctx, id, size));
}

export async function finishUpload(ctx: Ctx): Promise<void> {
  requireWritable(ctx);
  const id = await uploadId(ctx, true);
  const digest = requireDigest(ctx.url.searchParams.get('digest'));
  if (hasBody(ctx.req)) await appendAndCommit(ctx, id, digest, chunkStart(ctx));
  else await ctx.registry.uploads.commit(ctx.name, id, digest);
  created(ctx, digest);
}

export async function uploadStatus(ctx: Ctx): Promise<void> {
  const id = await uploadId(ctx);
  const size = await ctx.registry.uploads.size(ctx.name, id);
  if (size === null) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload unknown', { id });
  send(ctx.res, 204, progressHeaders(ctx, id, size));
}

export async function cancelUpload(ctx: Ctx): Promise<void> {
  requireWritable(ctx);
  const id = await uploadId(ctx);
  if (!(await ctx.registry.uploads.cancel(ctx.name, id))) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload unknown', { id });
  send(ctx.res, 204);
}
