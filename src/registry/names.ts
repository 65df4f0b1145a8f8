// Validation patterns from the OCI distribution spec; anything that fails them never reaches the filesystem.
const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
// Any well-formed digest shape, so that an unsupported algorithm is told apart from garbage.
const DIGEST_SHAPE_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
/** distribution refuses repository names longer than this. */
export const MAX_NAME_LENGTH = 255;

export type Algorithm = 'sha256' | 'sha512';

export function isValidName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function isValidDigest(digest: string): boolean {
  return DIGEST_RE.test(digest);
}

export function looksLikeDigest(ref: string): boolean {
  return ref.includes(':') && DIGEST_SHAPE_RE.test(ref);
}

export function splitDigest(digest: string): { algorithm: Algorithm; hex: string } {
  const i = digest.indexOf(':');
  return { algorithm: digest.slice(0, i) as Algorithm, hex: digest.slice(i + 1) };
}
