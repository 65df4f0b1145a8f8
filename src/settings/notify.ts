// `notify:` of registry-setup.yaml: the registry's webhook endpoints, checked by the registry's own
// parser (one rule, one place). An HMAC secret stays in its local file (hmacSecretFile) until
// deploy uploads it 0600 for the registry: never in compose.yaml, argv or the settings record.
import { readFile } from 'node:fs/promises';
import { ConfigError, parseDuration } from '../registry/config.js';
import { parseEndpointList } from '../registry/events/endpoints.js';

/** undefined when the list is valid (the secret files are read at deploy); otherwise what is wrong. */
export function notifyProblem(list: unknown): string | undefined {
  if (!Array.isArray(list)) return 'must be a list of endpoints';
  try {
    parseEndpointList(list, 'notify', parseDuration, () => 'x'.repeat(32));
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err.message.replace(/^notify: /, '');
    throw err;
  }
}

/** The name the registry gives an endpoint (its own, or endpoint-N), which names its secret file. */
export function endpointName(e: Record<string, unknown>, index: number): string {
  return typeof e.name === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(e.name) ? e.name : `endpoint-${index + 1}`;
}

export class NotifySecretError extends ConfigError {}

/** The HMAC secrets, by endpoint name, read from the local files now (deploy uploads them). */
export async function readNotifySecrets(list: readonly Record<string, unknown>[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [i, e] of list.entries()) {
    if (e.hmacSecretFile === undefined) continue;
    const file = String(e.hmacSecretFile);
    let secret: string;
    try {
      secret = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      throw new NotifySecretError(`notify: endpoint ${i + 1}: cannot read hmacSecretFile ${file} here (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); deploy from the machine that holds it`);
    }
    if (secret.length < 16 || /[\r\n]/.test(secret)) throw new NotifySecretError(`notify: endpoint ${i + 1}: hmacSecretFile ${file} must hold one line of at least 16 characters`);
    out[endpointName(e, i)] = secret;
  }
  return out;
}
