import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from '../registry.js';
import type { Ctx } from '../http/context.js';
import { RegistryError } from '../errors.js';
import { isValidDigest, isValidName, isValidTag, looksLikeDigest } from '../names.js';
import { readBody, sendJSON } from '../http/respond.js';
import { mayDo } from '../http/access.js';
import type { Action } from '../auth/access-policy.js';
import { referrersOf } from '../http/referrers.js';
import { kindOf, type LoadedManifest } from './inspect.js';
import { mapLimit } from '../map-limit.js';
import { isSameOriginRequest, publicHost } from './security.js';
import { clearedSessionCookie, isSecureRequest, readCookie, sessionCookie, SESSION_COOKIE, type Session } from './session.js';
import type { RegistryUi } from './ui.js';

export interface UiCtx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  ui: RegistryUi;
  registry: Registry;
  /** The signed-in user's session; null without auth (or on public routes when signed out). */
  session: Session | null;
}

interface ApiHandler {
  run(ctx: UiCtx): Promise<void>;
  /** Reachable without signing in. */
  public?: boolean;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
/** A repository's size is summed over at most this many tags; beyond, it is marked as a lower bound. */
export const SIZE_TAG_LIMIT = 300;

// ---------------------------------------------------------------------------------------------
// parameters

function badRequest(message: string, detail?: unknown): never {
  throw new RegistryError('NAME_INVALID', message, detail, 400);
}

function intParam(q: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `${name} must be a whole number`, { [name]: raw });
  return Math.min(Math.max(Number(raw), min), max);
}

function page(q: URLSearchParams): { offset: number; limit: number } {
  return { offset: intParam(q, 'offset', 0, 0, Number.MAX_SAFE_INTEGER), limit: intParam(q, 'limit', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE) };
}

function repoParam(q: URLSearchParams): string {
  const name = q.get('repo') ?? '';
  if (!isValidName(name)) badRequest('invalid repository name', { repo: name });
  return name;
}

/** Case-insensitive: every word of the filter must occur in the name. */
export function matches(filter: string): (value: string) => boolean {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  return (value) => {
    const v = value.toLowerCase();
    return words.every((w) => v.includes(w));
  };
}

/** The signed-in user as the access policy sees them. */
function who(ctx: UiCtx): string | null {
  return ctx.session?.user ?? null;
}

/** What the access policy lets the signed-in user do here (everything without a policy). */
function may(ctx: UiCtx, name: string, action: Action): boolean {
  return mayDo({ registry: ctx.registry, who: who(ctx) }, name, action);
}

/** A repository the user may not read answers exactly like a missing one. */
async function requireRepository(ctx: UiCtx, name: string): Promise<void> {
  if (!may(ctx, name, 'read') || !(await ctx.registry.manifests.repositoryExists(name))) {
    throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name });
  }
}

function requireSameOrigin(ctx: UiCtx): void {
  if (!isSameOriginRequest(ctx.req)) throw new RegistryError('DENIED', 'request did not come from this registry’s page', undefined, 403);
}

function canDelete(registry: Registry): boolean {
  return !registry.config.readOnly && registry.config.deleteEnabled;
}

/** Deletes in `name` by this user: unreadable is unknown, readable but not deletable is DENIED. */
function requireDeletable(ctx: UiCtx, name: string): void {
  requireSameOrigin(ctx);
  if (ctx.registry.config.readOnly) throw new RegistryError('UNSUPPORTED', 'the registry is in read-only mode');
  if (!ctx.registry.config.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled on this registry');
  if (!may(ctx, name, 'read')) throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name });
  if (!may(ctx, name, 'delete')) throw new RegistryError('DENIED', `${who(ctx)} may not delete in ${name}`, { repo: name }, 403);
}

/** Whether the page may offer deletes in `name` to this user. */
function canDeleteIn(ctx: UiCtx, name: string): boolean {
  return canDelete(ctx.registry) && may(ctx, name, 'delete');
}

// ---------------------------------------------------------------------------------------------
// session

function sessionInfo(ctx: UiCtx, session: Session | null) {
  const authRequired = ctx.registry.auth !== undefined;
  if (authRequired && !session) return { authRequired, user: null };
  const { readOnly, deleteEnabled } = ctx.registry.config;
  return { authRequired, user: session?.user ?? null, readOnly, deleteEnabled, canDelete: canDelete(ctx.registry) };
}

const getSession: ApiHandler = {
  public: true,
  run: async (ctx) => sendJSON(ctx.res, 200, sessionInfo(ctx, ctx.session)),
};

const signIn: ApiHandler = {
  public: true,
  run: async (ctx) => {
    requireSameOrigin(ctx);
    const type = ctx.req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') throw new RegistryError('UNSUPPORTED', 'send the credentials as application/json', undefined, 415);
    const auth = ctx.registry.auth;
    if (!auth) {
      sendJSON(ctx.res, 200, sessionInfo(ctx, null));
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse((await readBody(ctx.req, 8192, 'sign-in request')).toString('utf8'));
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      badRequest('the sign-in request is not JSON');
    }
    const { user, password } = (body ?? {}) as { user?: unknown; password?: unknown };
    if (typeof user !== 'string' || typeof password !== 'string' || !user) badRequest('give a user and a password');
    const secure = isSecureRequest(ctx.req);
    if ((await auth.verify(user, password)) === null) {
      const from = ctx.req.socket.remoteAddress ?? 'unknown address';
      ctx.ui.log(`ui: failed sign-in for user ${JSON.stringify(user.slice(0, 64))} from ${from}`);
      sendJSON(ctx.res, 401, new RegistryError('UNAUTHORIZED', 'wrong user name or password').toJSON());
      return;
    }
    ctx.ui.sessions.delete(readCookie(ctx.req, SESSION_COOKIE)); // a new session, never a reused token
    const token = ctx.ui.sessions.create(user, password);
    const session = ctx.ui.sessions.get(token);
    sendJSON(ctx.res, 200, sessionInfo(ctx, session), { 'Set-Cookie': sessionCookie(token, secure) });
  },
};

const signOut: ApiHandler = {
  public: true,
  run: async (ctx) => {
    requireSameOrigin(ctx);
    ctx.ui.sessions.delete(readCookie(ctx.req, SESSION_COOKIE));
    sendJSON(ctx.res, 200, sessionInfo(ctx, null), { 'Set-Cookie': clearedSessionCookie(isSecureRequest(ctx.req)) });
  },
};

// ---------------------------------------------------------------------------------------------
// storage summary, repositories, tags

const getSummary: ApiHandler = {
  run: async (ctx) => {
    const { disk, ...summary } = await ctx.ui.summary.get();
    // the numbers only: where the data lives on the host is none of a signed-in user's business
    const space = disk ? { size: disk.size, free: disk.free, available: disk.available } : null;
    sendJSON(ctx.res, 200, { ...summary, disk: space, readOnly: ctx.registry.config.readOnly, deleteEnabled: ctx.registry.config.deleteEnabled });
  },
};

/** Sum of the distinct blobs (configs and layers) of the repository's tagged manifests. */
async function repositorySize(ctx: UiCtx, name: string, tags: string[]): Promise<{ size: number; partial: boolean }> {
  const { inspector } = ctx.ui;
  const blobs = new Map<string, number>();
  const counted = tags.slice(0, SIZE_TAG_LIMIT);
  const digests = new Set<string>();
  for (const tag of counted) {
    const digest = await ctx.registry.manifests.resolveTag(name, tag);
    if (digest) digests.add(digest);
  }
  for (const digest of digests) {
    const m = await inspector.load(name, digest);
    if (!m) continue;
    for (const [d, s] of await inspector.blobsOf(name, m)) blobs.set(d, s);
  }
  let size = 0;
  for (const s of blobs.values()) size += s;
  return { size, partial: tags.length > counted.length };
}

const listRepositories: ApiHandler = {
  run: async (ctx) => {
    const q = ctx.url.searchParams;
    const { offset, limit } = page(q);
    const filter = (q.get('q') ?? '').trim();
    const all = (await ctx.ui.repositories.get()).filter((name) => may(ctx, name, 'read'));
    const names = filter ? all.filter(matches(filter)) : all;
    const items = await mapLimit(names.slice(offset, offset + limit), 8, async (name) => {
      const tags = await ctx.registry.manifests.tags(name);
      const { size, partial } = await repositorySize(ctx, name, tags);
      return { name, tags: tags.length, size, ...(partial ? { sizePartial: true } : {}), canDelete: canDeleteIn(ctx, name) };
    });
    sendJSON(ctx.res, 200, { q: filter, total: names.length, repositories: all.length, offset, limit, items });
  },
};

async function tagRow(ctx: UiCtx, name: string, tag: string) {
  const { inspector } = ctx.ui;
  const m = await inspector.loadTag(name, tag);
  if (!m) return { tag, digest: null, missing: true };
  const platforms = m.info.isIndex ? (await inspector.platforms(name, m)).filter((p) => !p.attestation).map((p) => p.platform) : [];
  if (!m.info.isIndex) {
    const config = await inspector.config(m);
    if (config?.os && config.architecture) platforms.push([config.os, config.architecture, ...(config.variant ? [config.variant] : [])].join('/'));
  }
  return {
    tag,
    digest: m.digest,
    mediaType: m.info.mediaType,
    kind: kindOf(m.info),
    ...(m.info.artifactType ? { artifactType: m.info.artifactType } : {}),
    size: await inspector.sizeOf(name, m),
    created: (await inspector.created(name, m)) ?? null,
    platforms,
  };
}

const listTags: ApiHandler = {
  run: async (ctx) => {
    const q = ctx.url.searchParams;
    const name = repoParam(q);
    const { offset, limit } = page(q);
    await requireRepository(ctx, name);
    const filter = (q.get('q') ?? '').trim();
    const all = await ctx.registry.manifests.tags(name);
    const tags = filter ? all.filter(matches(filter)) : all;
    const items = await mapLimit(tags.slice(offset, offset + limit), 8, (tag) => tagRow(ctx, name, tag));
    sendJSON(ctx.res, 200, {
      repo: name,
      q: filter,
      total: tags.length,
      tags: all.length,
      offset,
      limit,
      pullHost: publicHost(ctx.req),
      canDelete: canDeleteIn(ctx, name),
      items,
    });
  },
};

// ---------------------------------------------------------------------------------------------
// one manifest

async function referrers(ctx: UiCtx, name: string, digest: string, tagIndex: Map<string, string[]>) {
  const fake: Ctx = { req: ctx.req, res: ctx.res, url: ctx.url, registry: ctx.registry, name, ref: digest, who: who(ctx) };
  const found = await referrersOf(fake, digest);
  return mapLimit(found, 8, async (d) => {
    const m = await ctx.ui.inspector.load(name, d.digest);
    return {
      ...d,
      kind: m ? kindOf(m.info) : 'artifact',
      created: (m && (await ctx.ui.inspector.created(name, m))) ?? null,
      tags: tagIndex.get(d.digest) ?? [],
    };
  });
}

async function manifestDetails(ctx: UiCtx, name: string, m: LoadedManifest, tag: string | undefined) {
  const { inspector } = ctx.ui;
  const { info } = m;
  const config = info.isIndex ? null : await inspector.config(m);
  const tagIndex = await inspector.tagIndex(name); // every tag read once for the page
  return {
    repo: name,
    ...(tag ? { tag } : {}),
    digest: m.digest,
    mediaType: info.mediaType,
    kind: kindOf(info),
    ...(info.artifactType ? { artifactType: info.artifactType } : {}),
    manifestSize: m.bytes.length,
    size: await inspector.sizeOf(name, m),
    created: (await inspector.created(name, m)) ?? null,
    tags: tagIndex.get(m.digest) ?? [],
    pullHost: publicHost(ctx.req),
    canDelete: canDeleteIn(ctx, name),
    annotations: info.annotations ?? {},
    subject: info.subject ? { digest: info.subject.digest, mediaType: info.subject.mediaType } : null,
    platforms: info.isIndex ? await inspector.platforms(name, m) : [],
    config,
    // blobs[0] of an image or artifact is its config; the rest are its layers.
    configBlob: info.isIndex || !info.blobs[0] ? null : { digest: info.blobs[0].digest, mediaType: info.blobs[0].mediaType, size: info.blobs[0].size },
    layers: info.isIndex ? [] : info.blobs.slice(1).map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, ...(l.annotations ? { annotations: l.annotations } : {}) })),
    referrers: await referrers(ctx, name, m.digest, tagIndex),
  };
}

const getManifest: ApiHandler = {
  run: async (ctx) => {
    const q = ctx.url.searchParams;
    const name = repoParam(q);
    const ref = q.get('ref') ?? '';
    await requireRepository(ctx, name);
    const { inspector } = ctx.ui;
    let m: LoadedManifest | null;
    let tag: string | undefined;
    if (looksLikeDigest(ref)) {
      if (!isValidDigest(ref)) throw new RegistryError('DIGEST_INVALID', 'invalid digest', { ref });
      m = await inspector.load(name, ref);
    } else {
      if (!isValidTag(ref)) throw new RegistryError('TAG_INVALID', 'invalid tag', { ref });
      tag = ref;
      m = await inspector.loadTag(name, ref);
    }
    if (!m) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown', { repo: name, ref });
    sendJSON(ctx.res, 200, await manifestDetails(ctx, name, m, tag));
  },
};

// ---------------------------------------------------------------------------------------------
// deletes

const deleteTag: ApiHandler = {
  run: async (ctx) => {
    const q = ctx.url.searchParams;
    const name = repoParam(q);
    requireDeletable(ctx, name);
    const tag = q.get('tag') ?? '';
    if (!isValidTag(tag)) throw new RegistryError('TAG_INVALID', 'invalid tag', { tag });
    const digest = await ctx.registry.manifests.resolveTag(name, tag);
    if (!digest) throw new RegistryError('MANIFEST_UNKNOWN', 'no such tag', { repo: name, tag });
    // the page confirmed deleting the tag of the manifest it showed: a tag moved since stays
    const shown = q.get('digest');
    if (shown !== null && shown !== digest) {
      throw new RegistryError('DENIED', `the tag now points at ${digest}, not at ${shown}: reload the page`, { repo: name, tag, digest }, 409);
    }
    if (!(await ctx.registry.manifests.deleteTag(name, tag))) throw new RegistryError('MANIFEST_UNKNOWN', 'no such tag', { repo: name, tag });
    ctx.ui.summary.invalidate();
    ctx.ui.log(`ui: ${ctx.session?.user ?? 'anonymous'} deleted tag ${name}:${tag} (was ${digest})`);
    sendJSON(ctx.res, 200, { deleted: { repo: name, tag, digest } });
  },
};

const deleteManifest: ApiHandler = {
  run: async (ctx) => {
    const q = ctx.url.searchParams;
    const name = repoParam(q);
    requireDeletable(ctx, name);
    const digest = q.get('digest') ?? '';
    if (!isValidDigest(digest)) throw new RegistryError('DIGEST_INVALID', 'invalid digest', { digest });
    const tags = await ctx.ui.inspector.tagsOf(name, digest);
    if (!(await ctx.registry.manifests.delete(name, digest))) {
      throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown', { repo: name, digest });
    }
    ctx.ui.summary.invalidate();
    const withTags = tags.length ? ` and its tag(s) ${tags.join(', ')}` : '';
    ctx.ui.log(`ui: ${ctx.session?.user ?? 'anonymous'} deleted manifest ${name}@${digest}${withTags}`);
    sendJSON(ctx.res, 200, { deleted: { repo: name, digest, tags } });
  },
};

/** Paths below `/ui/api/`, then methods. */
export const API_ROUTES: Record<string, Record<string, ApiHandler>> = {
  session: { GET: getSession, POST: signIn, DELETE: signOut },
  summary: { GET: getSummary },
  repositories: { GET: listRepositories },
  tags: { GET: listTags },
  tag: { DELETE: deleteTag },
  manifest: { GET: getManifest, DELETE: deleteManifest },
};
