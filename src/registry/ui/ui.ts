import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from '../registry.js';
import { RegistryError } from '../errors.js';
import { send, sendJSON, type Headers } from '../http/respond.js';
import { ASSETS } from './assets/index.js';
import { Cached } from './cached.js';
import { Inspector } from './inspect.js';
import { RESOURCE_CSP, PAGE_CSP, securityHeaders } from './security.js';
import { SessionStore, readCookie, SESSION_COOKIE, type Session } from './session.js';
import { storageSummary, type StorageSummary } from './storage-summary.js';
import { API_ROUTES, type UiCtx } from './api.js';

export const API_PREFIX = '/ui/api/';

/**
 * The web UI: a static single page at `/` (assets under `/ui/`), and the JSON API it calls under
 * `/ui/api/`. All URLs the page uses are relative, so a reverse proxy can serve it unchanged.
 */
export class RegistryUi {
  readonly sessions = new SessionStore();
  readonly inspector: Inspector;
  /** Repository names (a walk over the whole store), shared by the list and the summary. */
  readonly repositories: Cached<string[]>;
  readonly summary: Cached<StorageSummary>;

  constructor(
    readonly registry: Registry,
    readonly log: (line: string) => void = () => {},
  ) {
    this.inspector = new Inspector(registry);
    this.repositories = new Cached(() => registry.manifests.repositories(), { freshMs: 5_000, staleMs: 300_000, slowMs: 250 });
    this.summary = new Cached(async () => storageSummary(registry, await this.repositories.get()), {
      freshMs: 15_000,
      staleMs: 600_000,
      slowMs: 250,
    });
  }

  /** Answers the UI's paths; false for anything else (the caller sends its usual 404). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const path = url.pathname;
    const asset = ASSETS.get(path === '/index.html' ? '/' : path);
    if (asset) {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here`);
      const headers: Headers = {
        ...securityHeaders(asset.type.startsWith('text/html') ? PAGE_CSP : RESOURCE_CSP),
        'Content-Type': asset.type,
        'Cache-Control': 'no-cache',
        ETag: asset.etag,
      };
      if (req.headers['if-none-match'] === asset.etag) {
        res.writeHead(304, headers);
        res.end();
      } else {
        send(res, 200, headers, asset.body);
      }
      return true;
    }
    if (!path.startsWith(API_PREFIX)) return false;
    const route = API_ROUTES[path.slice(API_PREFIX.length)];
    if (!route) return false;
    const headers: Headers = { ...securityHeaders(RESOURCE_CSP), 'Cache-Control': 'no-store' };
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    const handler = route[req.method ?? ''];
    if (!handler) throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here`);
    const session = await this.currentSession(req);
    if (handler.public !== true && this.registry.auth && !session) {
      // No WWW-Authenticate: that would make the browser pop up its own Basic dialog.
      sendJSON(res, 401, new RegistryError('UNAUTHORIZED', 'sign in first').toJSON());
      return true;
    }
    const ctx: UiCtx = { req, res, url, ui: this, registry: this.registry, session };
    await handler.run(ctx);
    return true;
  }

  /** The request's session, checked against the htpasswd file as it is now; null when none. */
  async currentSession(req: IncomingMessage): Promise<Session | null> {
    const auth = this.registry.auth;
    if (!auth) return null;
    const token = readCookie(req, SESSION_COOKIE);
    const session = this.sessions.get(token);
    if (!session) return null;
    if ((await auth.verify(session.user, session.password)) === null) {
      this.sessions.delete(token);
      return null;
    }
    return session;
  }
}
