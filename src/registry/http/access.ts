import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Action, Decision, Who } from '../auth/access-policy.js';
import { decideAccess } from '../auth/decide.js';
import { parseBasic } from '../auth/htpasswd.js';
import { TOKEN_TTL_SECONDS } from '../auth/bearer-token.js';
import { AuthenticationRequiredError, RegistryError } from '../errors.js';
import type { Registry } from '../registry.js';
import { publicHost } from '../ui/security.js';
import { isSecureRequest } from '../ui/session.js';
import { readBody, sendJSON } from './respond.js';
import type { Ctx } from './context.js';

export const TOKEN_PATH = '/v2/token';

/** Who sent the request: a signed-in user, null (no credentials), or 'invalid' (wrong ones). */
export type Identity = Who | 'invalid';

/**
 * The caller's identity from Basic credentials (an htpasswd user or a CI token) or one of our
 * bearer tokens. Basic credentials with an empty name and password (what skopeo sends when it has
 * none) are no credentials.
 */
export async function identify(registry: Registry, req: IncomingMessage): Promise<Identity> {
  const header = req.headers.authorization;
  if (!header || !registry.auth) return null;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) {
    const subject = registry.bearer.verify(bearer[1]!);
    if (!subject) return 'invalid';
    if (subject.user === null) return null;
    if (credentialOf(registry, subject.user) !== subject.credential) return 'invalid';
    if (registry.ciTokens?.value.has(subject.user)) registry.tokenUsage?.note(subject.user);
    return subject.user;
  }
  const creds = parseBasic(header);
  if (!creds) return 'invalid';
  return verifyPassword(registry, creds.user, creds.password);
}

/**
 * A name and password: a CI token when the name is one (its secret only; an expired token is a
 * 401 that says so), else an htpasswd user. Empty name and password: no credentials.
 */
async function verifyPassword(registry: Registry, user: string, password: string): Promise<Identity> {
  if (user === '' && password === '') return null;
  const tokens = registry.ciTokens?.value;
  if (tokens?.has(user)) {
    const check = tokens.check(user, password);
    if (check.ok) {
      registry.tokenUsage?.note(user);
      return user;
    }
    if (check.reason === 'expired') {
      throw new AuthenticationRequiredError(`token ${user} expired at ${new Date(check.token!.expires!).toISOString()}; create a new one`);
    }
    return 'invalid';
  }
  return (await registry.auth!.verify(user, password)) ?? 'invalid';
}

/** The current credential of a name, so that bearer tokens end with the password or CI token they came from. */
function credentialOf(registry: Registry, user: string): string | null {
  const tokens = registry.ciTokens?.value;
  if (tokens?.has(user)) return tokens.credentialOf(user);
  return registry.auth?.credentialOf(user) ?? null;
}

/**
 * The WWW-Authenticate challenge. Basic, as distribution sends, unless the policy lets anonymous
 * requests do something: then Bearer with our token endpoint, the only challenge with which Docker
 * both pulls without a login and sends its credentials after one (see bearer-token.ts).
 */
export function challenge(registry: Registry, req: IncomingMessage): string {
  const realm = registry.config.realm.replace(/["\\]/g, '');
  if (registry.access?.value.allowsAnonymous) {
    const scheme = isSecureRequest(req) ? 'https' : 'http';
    return `Bearer realm="${scheme}://${publicHost(req)}${TOKEN_PATH}",service="${realm}"`;
  }
  return `Basic realm="${realm}"`;
}

/**
 * What the caller may do: a CI token only within its own scope, and everyone only what the access
 * policy gives (everything, without a policy).
 */
export function decide(registry: Registry, who: Who, repository: string, action: Action): Decision {
  return decideAccess(registry.access?.value, registry.ciTokens?.value, who, repository, action);
}

/** True when some caller may be refused something (a policy or CI tokens are in force). */
export function isRestricted(registry: Registry): boolean {
  return registry.access !== undefined || registry.ciTokens !== undefined;
}

/**
 * Refuses the request unless the caller may do `action` on `repository`: 401 (with the challenge)
 * without credentials, 403 DENIED with them. The answer depends on the policy and the token scope
 * alone, never on the storage, so a repository one may not read and a missing one look the same.
 */
export function requireAccess(ctx: Ctx, repository: string, action: Action): void {
  if (!isRestricted(ctx.registry)) return;
  const decision = decide(ctx.registry, ctx.who, repository, action);
  if (decision.allowed) return;
  if (ctx.who === null) throw new AuthenticationRequiredError();
  ctx.log?.(`access: denied user ${JSON.stringify(ctx.who)} ${action} on ${repository}: ${decision.rule}`);
  throw new RegistryError('DENIED', `requested access to the resource is denied: ${ctx.who} may not ${action} ${repository}`, {
    repository,
    action,
  });
}

/** True when the caller may do `action` on `repository` (always, when nothing is restricted). */
export function mayDo(ctx: Pick<Ctx, 'registry' | 'who'>, repository: string, action: Action): boolean {
  return !isRestricted(ctx.registry) || decide(ctx.registry, ctx.who, repository, action).allowed;
}

/**
 * `GET /v2/token` (and the OAuth2 password grant as `POST`, which containerd tries first): a
 * token for the credentials given, or an anonymous one without any. Wrong credentials are 401.
 */
export async function issueToken(registry: Registry, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let who: Identity;
  if (req.method === 'POST') {
    const form = new URLSearchParams((await readBody(req, 16_384, 'token request')).toString('utf8'));
    if (form.get('grant_type') !== 'password') {
      throw new RegistryError('UNSUPPORTED', 'only grant_type=password is supported; or GET with Basic credentials', undefined, 400);
    }
    who = await verifyPassword(registry, form.get('username') ?? '', form.get('password') ?? '');
  } else if (req.method === 'GET' || req.method === 'HEAD') {
    who = await identify(registry, req);
  } else {
    throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here`);
  }
  if (who === 'invalid') {
    sendJSON(res, 401, new RegistryError('UNAUTHORIZED', 'wrong user name or password').toJSON());
    return;
  }
  const credential = who === null ? '' : (credentialOf(registry, who) ?? '');
  const token = registry.bearer.issue({ user: who, credential });
  const issued = new Date().toISOString();
  sendJSON(res, 200, { token, access_token: token, expires_in: TOKEN_TTL_SECONDS, issued_at: issued }, { 'Cache-Control': 'no-store' });
}
