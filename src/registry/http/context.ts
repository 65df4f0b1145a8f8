import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from '../registry.js';
import type { Who } from '../auth/access-policy.js';
import { RegistryError } from '../errors.js';
import { isValidDigest, looksLikeDigest } from '../names.js';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  registry: Registry;
  /** Repository name (validated), empty for routes without one. */
  name: string;
  /** The last path segment: a tag, digest or upload id, depending on the route. */
  ref: string;
  /** The signed-in user; null for a request without credentials (or a registry without users). */
  who: Who;
  log?: (line: string) => void;
}

export type Handler = (ctx: Ctx) => Promise<void>;

/** A digest from the URL or query: a malformed one is the client's mistake (400), never a 500. */
export function requireDigest(value: string | null, what = 'digest'): string {
  if (!value || !isValidDigest(value)) {
    const unsupported = value && looksLikeDigest(value) && !value.startsWith('sha256:') && !value.startsWith('sha512:');
    throw new RegistryError('DIGEST_INVALID', unsupported ? `unsupported digest algorithm in ${what}` : `invalid ${what}`, { [what]: value });
  }
  return value;
}

export function requireWritable(ctx: Ctx): void {
  if (ctx.registry.config.readOnly) throw new RegistryError('UNSUPPORTED', 'the registry is in read-only mode');
}

export function requireDeletable(ctx: Ctx): void {
  requireWritable(ctx);
  if (!ctx.registry.config.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled on this registry');
}
