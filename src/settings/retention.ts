// The `retention:` section of registry-setup.yaml is zot's shape, checked by the registry's own
// parser (one rule, one place): what deploy accepts is exactly what the host's timer will run.
import { ConfigError } from '../registry/config-error.js';
import { parseRetention } from '../registry/retention/policy.js';

/** undefined when the section is valid; otherwise what is wrong, naming the key (`policy 1: keepTags 2: …`). */
export function retentionProblem(section: unknown): string | undefined {
  try {
    parseRetention(section, 'retention');
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err.message.replace(/^retention: /, '');
    throw err;
  }
}
