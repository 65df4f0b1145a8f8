import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { MirrorCredentials, MirrorSettings } from './settings.js';
import { readMirrorCredentials } from './settings.js';

const MAX_REDIRECTS = 5;
const MAX_TOKEN_BYTES = 64 * 1024;
/** Tokens without expires_in last 60 s (the token spec's default); renewed a little early. */
const DEFAULT_TOKEN_SECONDS = 60;
const TOKEN_EARLY_MS = 10_000;

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 32 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 32 }),
};

/** The upstream could not be asked (refused, timed out, broke off) or answered with an error status. */
export class UpstreamError extends Error {
  constructor(
    message: string,
    /** the upstream's HTTP status; absent when it never answered */
    readonly status?: number,
  ) {
    super(message);
  }
  /** Down, overloaded or rate-limiting: a cached copy may stand in. */
  get unavailable(): boolean {
    return this.status === undefined || this.status === 429 || this.status >= 500;
  }
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

/**
 * One upstream registry, spoken to as Docker Hub, GHCR and Quay expect: the distribution token
 * flow (anonymous, or with the mirror's credentials), Basic where that is what it asks for,
 * redirects to blob storage followed without our Authorization, and every wait bounded.
 */
export class Upstream {
  private readonly tokens = new Map<string, { value: string; until: number }>();

  constructor(
    readonly settings: MirrorSettings,
    private readonly timeoutMs: number,
  ) {}

  private credentials(): MirrorCredentials | undefined {
    // read on use: a replaced file takes effect without a restart, and the secret is not kept around
    return this.settings.credentialsFile ? readMirrorCredentials(this.settings.credentialsFile) : undefined;
  }

  /**
   * `method` on `/v2/<path>` of the upstream. `repository` is the upstream name, for the pull
   * scope of a token. Resolves with the final answer (after sign-in and redirects); any status.
   */
  async request(method: 'GET' | 'HEAD', path: string, repository: string, headers: Record<string, string> = {}): Promise<UpstreamResponse> {
    const url = `${this.settings.url}/v2/${path}`;
    const scope = `repository:${repository}:pull`;
    let auth = this.cachedAuth(scope);
    let res = await this.follow(method, url, headers, auth);
    if (res.status === 401) {
      const challenge = String(res.headers['www-authenticate'] ?? '');
      res.body.resume();
      auth = await this.signIn(challenge, scope);
      if (auth === undefined) throw new UpstreamError(`${this.settings.url} asks for credentials: give them with --mirror-credentials ${this.settings.prefix}=FILE`, 401);
      res = await this.follow(method, url, headers, auth);
    }
    return res;
  }

  private cachedAuth(scope: string): string | undefined {
    const token = this.tokens.get(scope);
    if (token && token.until > Date.now()) return `Bearer ${token.value}`;
    const creds = this.basicIfKnown;
    return creds;
  }

  /** Set once the upstream has asked for Basic: later requests send it at once. */
  private basicIfKnown: string | undefined;

  private async signIn(challenge: string, scope: string): Promise<string | undefined> {
    const scheme = /^\s*(\w+)/.exec(challenge)?.[1]?.toLowerCase();
    const creds = this.credentials();
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;
    if (scheme === 'basic') {
      this.basicIfKnown = basic;
      return basic;
    }
    if (scheme !== 'bearer') throw new UpstreamError(`${this.settings.url} asks for an unknown kind of sign-in: ${challenge.slice(0, 80)}`, 401);
    const params: Record<string, string> = {};
    for (const m of challenge.matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
    if (!params.realm) throw new UpstreamError(`${this.settings.url} sent a Bearer challenge without a realm`, 401);
    const realm = new URL(params.realm);
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? scope);
    const res = await this.send('GET', realm.toString(), basic ? { Authorization: basic } : {});
    const body = await readLimited(res.body, MAX_TOKEN_BYTES);
    if (res.status !== 200) throw new UpstreamError(`the token service ${realm.origin} answered ${res.status}${creds ? ' (check the mirror credentials)' : ''}`, res.status === 401 ? 401 : res.status);
    let parsed: { token?: string; access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw new UpstreamError(`the token service ${realm.origin} did not answer JSON`, 502);
    }
    const value = parsed.token ?? parsed.access_token;
    if (!value) throw new UpstreamError(`the token service ${realm.origin} answered without a token`, 502);
    const seconds = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_SECONDS;
    this.tokens.set(scope, { value, until: Date.now() + seconds * 1000 - TOKEN_EARLY_MS });
    return `Bearer ${value}`;
  }

  /** Follows redirects; Authorization goes only to the upstream's own origin (never to a CDN). */
  private async follow(method: string, url: string, headers: Record<string, string>, auth: string | undefined): Promise<UpstreamResponse> {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sameOrigin = new URL(current).origin === this.settings.url;
      const res = await this.send(method, current, { ...headers, ...(auth && sameOrigin ? { Authorization: auth } : {}) });
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      res.body.resume();
      current = new URL(location, current).toString();
    }
    throw new UpstreamError(`${this.settings.url}: more than ${MAX_REDIRECTS} redirects`, 502);
  }

  /** One HTTP exchange; no byte for `timeoutMs` (connecting, waiting, or mid-body) ends it with an error. */
  private send(method: string, url: string, headers: Record<string, string>): Promise<UpstreamResponse> {
    const u = new URL(url);
    const lib = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(u, { method, headers: { 'User-Agent': 'registry-setup-mirror', ...headers }, agent: agents[u.protocol as 'http:' | 'https:'], timeout: this.timeoutMs }, (res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      req.on('timeout', () => req.destroy(new UpstreamError(`${u.origin} sent nothing for ${Math.round(this.timeoutMs / 1000)} s`)));
      req.on('error', (err) => reject(err instanceof UpstreamError ? err : new UpstreamError(`${u.origin} unreachable: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
      req.end();
    });
  }
}

/** A whole small body, refused past `limit` bytes. */
export async function readLimited(body: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new UpstreamError(`the upstream sent more than ${limit} bytes where a small document was expected`, 502);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
