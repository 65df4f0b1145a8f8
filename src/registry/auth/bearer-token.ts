import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Short-lived tokens of the registry's own token endpoint (`/v2/token`). They say who the caller
 * is, nothing more: what the caller may do is decided per request by the access policy in force,
 * so a policy change applies at once. They carry a fingerprint of the credential they were issued
 * for, so a changed password or a replaced CI token ends them as well.
 *
 * Why a token endpoint at all: Docker learns how to authenticate only from its `GET /v2/` ping. A
 * Basic challenge there makes an anonymous `docker pull` fail ("no basic auth credentials"); no
 * challenge makes a signed-in Docker send no credentials at all. A Bearer challenge serves both:
 * Docker fetches a token, with the user's credentials or without any.
 */
export interface TokenSubject {
  /** the signed-in name; null for a token issued without credentials */
  user: string | null;
  /** identifies the credential the token was issued for (see the credential stores) */
  credential: string;
}

export const TOKEN_TTL_SECONDS = 300;

export class TokenSigner {
  private readonly key: Buffer;

  constructor(secret?: string) {
    // Without a shared secret, tokens are good on this process only (clients fetch new ones on 401).
    this.key = secret ? createHmac('sha256', 'registry-setup bearer token').update(secret).digest() : randomBytes(32);
  }

  issue(subject: TokenSubject, now = Date.now(), ttlSeconds = TOKEN_TTL_SECONDS): string {
    const payload = Buffer.from(JSON.stringify({ u: subject.user, c: subject.credential, e: Math.floor(now / 1000) + ttlSeconds })).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /** The subject of a valid, unexpired token; null otherwise. */
  verify(token: string, now = Date.now()): TokenSubject | null {
    const dot = token.indexOf('.');
    if (dot <= 0) return null;
    const payload = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.mac(payload));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    let body: { u?: unknown; c?: unknown; e?: unknown };
    try {
      body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof body;
    } catch {
      return null;
    }
    if (typeof body.e !== 'number' || body.e * 1000 <= now) return null;
    if ((body.u !== null && typeof body.u !== 'string') || typeof body.c !== 'string') return null;
    return { user: body.u, credential: body.c };
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
