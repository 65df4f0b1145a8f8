import { createHmac, timingSafeEqual } from 'node:crypto';
import { RegistryError } from '../errors.js';

/**
 * The `_state` query parameter of an upload's Location: the repository and upload id signed
 * with the secret every replica shares, so a replica that did not start an upload can still
 * tell that the client was given this Location by one of its peers.
 */
function mac(secret: string, name: string, id: string): string {
  return createHmac('sha256', secret).update(`${name}\n${id}`).digest('base64url');
}

export function signUpload(secret: string, name: string, id: string): string {
  return mac(secret, name, id);
}

export function verifyUpload(secret: string, name: string, id: string, token: string | null): void {
  if (token === null) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload URL lacks its _state token; use the Location the registry returned');
  }
  const expected = Buffer.from(mac(secret, name, id));
  const given = Buffer.from(token);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload token invalid: the upload was started by a registry with a different upload secret');
  }
}
