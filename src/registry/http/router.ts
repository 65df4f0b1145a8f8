import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthenticationRequiredError, RegistryError } from '../errors.js';
import type { Action } from '../auth/access-policy.js';
import { challenge, identify, issueToken, requireAccess, TOKEN_PATH } from './access.js';
import { isValidName } from '../names.js';
import type { Registry } from '../registry.js';
import { sendError, sendJSON } from './respond.js';
import type { Ctx, Handler } from './context.js';
import { deleteBlob, getBlob } from './blobs.js';
import { cancelUpload, finishUpload, patchUpload, startUpload, uploadStatus } from './uploads.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { listCatalog, listTags } from './listing.js';
import { listReferrers } from './referrers.js';
import { RegistryUi } from '../ui/ui.js';

/** A handler and the action on the route's repository it needs under an access policy. */
type Guarded = [Handler, Action];

interface Route {
  /** Group 1 is the repository name, group 2 (when present) the last segment. */
  pattern: RegExp;
  /** Routes without a repository (base, catalog) have no action: they check for themselves. */
  methods: Record<string, Guarded | Handler>;
}

const base: Handler = async (ctx) => sendJSON(ctx.res, 200, {});

// Names may contain `/`, so each pattern anchors on its fixed tail and the name is what is left.
// Uploads are part of pushing, so all their steps (cancel included) need `create`; a manifest
// PUT needs `create`, and `update` as well when it moves an existing tag (checked in putManifest).
const ROUTES: Route[] = [
  { pattern: /^\/v2\/$/, methods: { GET: base, HEAD: base } },
  { pattern: /^\/v2\/_catalog$/, methods: { GET: listCatalog } },
  { pattern: /^\/v2\/(.+)\/tags\/list$/, methods: { GET: [listTags, 'read'] } },
  {
    pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/,
    methods: { GET: [getManifest, 'read'], HEAD: [getManifest, 'read'], PUT: [putManifest, 'create'], DELETE: [deleteManifest, 'delete'] },
  },
  { pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/, methods: { POST: [startUpload, 'create'] } },
  {
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    methods: { GET: [uploadStatus, 'create'], PATCH: [patchUpload, 'create'], PUT: [finishUpload, 'create'], DELETE: [cancelUpload, 'create'] },
  },
  { pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, methods: { GET: [getBlob, 'read'], HEAD: [getBlob, 'read'], DELETE: [deleteBlob, 'delete'] } },
  { pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, methods: { GET: [listReferrers, 'read'] } },
];

/**
 * Routes match the decoded path, as distribution's do: clients that build URLs with
 * encodeURIComponent send `sha256%3A...` and `org%2Frepo`. A malformed escape stays as it is and
 * fails the name, tag or digest check with that check's error code.
 */
function decodePath(pathname: string): string {
  if (!pathname.includes('%')) return pathname;
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

const COMMON_HEADERS = { 'Docker-Distribution-Api-Version': 'registry/2.0' };

export function createHandler(registry: Registry, log: (line: string) => void) {
  // The web UI (config.ui) answers `/` and `/ui/...`; every other non-/v2 path stays a 404.
  const ui = registry.config.ui ? new RegistryUi(registry, log) : undefined;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    registry.requests.started++;
    registry.requests.active++;
    try {
      await handle(req, res);
    } finally {
      registry.requests.active--;
    }
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(COMMON_HEADERS)) res.setHeader(k, v);
    const url = new URL(req.url ?? '/', 'http://registry.invalid');
    try {
      if (ui && !url.pathname.startsWith('/v2') && (await ui.handle(req, res, url))) return;
      if (!url.pathname.startsWith('/v2')) throw new RegistryError('NAME_UNKNOWN', 'not a registry API path', undefined, 404);
      if (registry.access && url.pathname === TOKEN_PATH) {
        await issueToken(registry, req, res);
        return;
      }
      const who = await identify(registry, req);
      // Without a policy every signed-in user may do everything and nobody else anything; with
      // one, requests without credentials go on as anonymous and the policy decides. The ping
      // (`/v2/`) always challenges them, so that clients learn how to sign in.
      const path = url.pathname === '/v2' ? '/v2/' : decodePath(url.pathname);
      if (who === 'invalid' || (registry.auth && who === null && (!registry.access || path === '/v2/'))) {
        throw new AuthenticationRequiredError();
      }
      for (const route of ROUTES) {
        const m = route.pattern.exec(path);
        if (!m) continue;
        const name = m[1] !== undefined && route.pattern.source.includes('(.+)') ? m[1] : '';
        if (name && !isValidName(name)) throw new RegistryError('NAME_INVALID', 'invalid repository name', { name });
        const method = route.methods[req.method ?? ''];
        if (!method) throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here`);
        const [handler, action] = Array.isArray(method) ? method : [method, undefined];
        const ctx: Ctx = { req, res, url, registry, name, ref: m[2] ?? '', who, log };
        if (action) requireAccess(ctx, name, action);
        await handler(ctx);
        return;
      }
      throw new RegistryError('NAME_UNKNOWN', 'no such API route', { path: url.pathname }, 404);
    } catch (err) {
      if (err instanceof AuthenticationRequiredError) {
        sendError(res, err, { 'WWW-Authenticate': challenge(registry, req) });
        return;
      }
      if (err instanceof RegistryError) {
        sendError(res, err);
        return;
      }
      // A request whose body was read to the end is destroyed too (autoDestroy): that alone does
      // not mean the client went away, and its failure must still get an answer and a log line.
      if (res.destroyed || req.socket.destroyed || (req.destroyed && !req.complete)) {
        res.destroy(); // the client went away mid-request; its upload is simply incomplete
        return;
      }
      log(`error: ${req.method} ${url.pathname}: ${(err as Error).stack ?? String(err)}`);
      sendError(res, new RegistryError('UNKNOWN', 'internal error'));
    }
  }
}
