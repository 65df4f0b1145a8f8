import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Action, Who } from '../auth/access-policy.js';
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
 * The caller's identity from Basic credentials or one of our bearer tokens. Basic credentials
 * with an empty name and password (what skopeo sends when it has none) are no credentials.
 */
export async function identify(registry: Registry, req: IncomingMessage): Promise<Identity> {
  const header = req.headers.authorization;
  if (!header || !registry.auth) return null;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) {
    const subject = registry.tokens.verify(bearer[1]!);
    if (!subject) return 'invalid';
    if (subject.user === null) return null;
    return registry.auth.credentialOf(subject.user) === subject.credential ? subject.user : 'invalid';
  }
  const creds = parseBasic(header);
  if (!creds) return 'invalid';
  if (creds.user === '' && creds.password === '') return null;
  return (await registry.auth.verify(creds.user, creds.password)) ?? 'invalid';
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
 * Refuses the request unless the policy in force lets the caller do `action` on `repository`:
 * 401 (with the challenge) without credentials, 403 DENIED with them. The answer depends on the
 * policy alone, never on the storage, so a repository one may not read and a missing one look
 * the same.
 */
export function requireAccess(ctx: Ctx, repository: string, action: Action): void {
  const policy = ctx.registry.access?.value;
  if (!policy) return;
  const decision = policy.decide(ctx.who, repository, action);
  if (decision.allowed) return;
  if (ctx.who === null) throw new AuthenticationRequiredError();
  ctx.log?.(`access: denied user ${JSON.stringify(ctx.who)} ${action} on ${repository}: ${decision.rule}`);
  throw new RegistryError('DENIED', `requested access to the resource is denied: ${ctx.who} may not ${action} ${repository}`, {
    repository,
    action,
  });
}

/** True when the caller may do `action` on `repository` (always, without a policy). */
export function mayDo(ctx: Pick<Ctx, 'registry' | 'who'>, repository: string, action: Action): boolean {
  const policy = ctx.registry.access?.value;
  return !policy || policy.can(ctx.who, repository, action);
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
    const user = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    who = user === '' && password === '' ? null : ((await registry.auth!.verify(user, password)) ?? 'invalid');
  } else if (req.method === 'GET' || req.method === 'HEAD') {
    who = await identify(registry, req);
  } else {
    throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here`);
  }
  if (who === 'invalid') {
    sendJSON(res, 401, new RegistryError('UNAUTHORIZED', 'wrong user name or password').toJSON());
    return;
  }
  const credential = who === null ? '' : (registry.auth!.credentialOf(who) ?? '');
  const token = registry.tokens.issue({ user: who, credential });
  const issued = new Date().toISOString();
  sendJSON(res, 200, { token, access_token: token, expires_in: TOKEN_TTL_SECONDS, issued_at: issued }, { 'Cache-Control': 'no-store' });
}
