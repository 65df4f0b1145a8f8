import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../errors.js';
import { isValidName } from '../names.js';
import type { Registry } from '../registry.js';
import { parseBasic } from '../auth/htpasswd.js';
import { sendError, sendJSON } from './respond.js';
import type { Ctx, Handler } from './context.js';
import { deleteBlob, getBlob } from './blobs.js';
import { cancelUpload, finishUpload, patchUpload, startUpload, uploadStatus } from './uploads.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { listCatalog, listTags } from './listing.js';
import { listReferrers } from './referrers.js';
import { RegistryUi } from '../ui/ui.js';

interface Route {
  /** Group 1 is the repository name, group 2 (when present) the last segment. */
  pattern: RegExp;
  methods: Record<string, Handler>;
}

const base: Handler = async (ctx) => sendJSON(ctx.res, 200, {});

// Names may contain `/`, so each pattern anchors on its fixed tail and the name is what is left.
const ROUTES: Route[] = [
  { pattern: /^\/v2\/$/, methods: { GET: base, HEAD: base } },
  { pattern: /^\/v2\/_catalog$/, methods: { GET: listCatalog } },
  { pattern: /^\/v2\/(.+)\/tags\/list$/, methods: { GET: listTags } },
  { pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, methods: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest } },
  { pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/, methods: { POST: startUpload } },
  {
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    methods: { GET: uploadStatus, PATCH: patchUpload, PUT: finishUpload, DELETE: cancelUpload },
  },
  { pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, methods: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob } },
  { pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, methods: { GET: listReferrers } },
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

async function authenticate(registry: Registry, req: IncomingMessage): Promise<boolean> {
  if (!registry.auth) return true;
  const creds = parseBasic(req.headers.authorization);
  if (!creds) return false;
  return (await registry.auth.verify(creds.user, creds.password)) !== null;
}

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
      if (!(await authenticate(registry, req))) {
        const realm = registry.config.realm.replace(/["\\]/g, '');
        sendError(res, new RegistryError('UNAUTHORIZED', 'authentication required'), { 'WWW-Authenticate': `Basic realm="${realm}"` });
        return;
      }
      const path = url.pathname === '/v2' ? '/v2/' : decodePath(url.pathname);
      for (const route of ROUTES) {
        const m = route.pattern.exec(path);
        if (!m) continue;
        const name = m[1] !== undefined && route.pattern.source.includes('(.+)') ? m[1] : '';
        if (name && !isValidName(name)) throw new RegistryError('NAME_INVALID', 'invalid repository name', { name });
        const handler = route.methods[req.method ?? ''];
        if (!handler) throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here`);
        const ctx: Ctx = { req, res, url, registry, name, ref: m[2] ?? '' };
        await handler(ctx);
        return;
      }
      throw new RegistryError('NAME_UNKNOWN', 'no such API route', { path: url.pathname }, 404);
    } catch (err) {
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
