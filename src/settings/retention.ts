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

/** Sections only registry-setup.yaml gives (no flag does). */
export const CONFIG_SECTIONS = ['retention', 'notify', 'access'] as const;

/**
 * With --config, a section comes from that file alone: removing `retention:` there removes it from
 * the deployment (the host's record would otherwise bring it back). Without --config the host's
 * record keeps it, as every other setting.
 */
export function withConfigSections<T extends Partial<Record<(typeof CONFIG_SECTIONS)[number], unknown>>>(merged: T, file: Partial<Record<(typeof CONFIG_SECTIONS)[number], unknown>>): T {
  const out = { ...merged };
  for (const key of CONFIG_SECTIONS) {
    if (file[key] === undefined) delete out[key];
    else (out as Record<string, unknown>)[key] = file[key];
  }
  return out;
}
