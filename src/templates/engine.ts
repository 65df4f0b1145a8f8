// The template engine: templates/*.tmpl with {{name}} placeholders and nothing else (variants are
// assembled in code from small pieces, so the templates stay logic-free).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export class TemplateError extends Error {
  override name = 'TemplateError';
}


export type TemplateValues = Readonly<Record<string, string | number>>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * Replaces every `{{name}}` in `template` with `values[name]`, in one pass (inserted values are not
 * scanned again). Throws on a placeholder without a value, on a malformed placeholder, and on a
 * value that the template never uses (a typo on either side).
 */
export function renderString(template: string, values: TemplateValues, what = 'template'): string {
  const used = new Set<string>();
  const out = template.replace(PLACEHOLDER, (_all, raw: string) => {
    if (!NAME.test(raw)) throw new TemplateError(`${what}: malformed placeholder {{${raw}}}`);
    if (!Object.hasOwn(values, raw)) throw new TemplateError(`${what}: no value for placeholder {{${raw}}}`);
    const value = values[raw];
    if (value === undefined || value === null) throw new TemplateError(`${what}: no value for placeholder {{${raw}}}`);
    used.add(raw);
    return String(value);
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) throw new TemplateError(`${what}: unknown placeholder(s) ${unused.map((k) => `{{${k}}}`).join(', ')} (not in the template)`);
  return out;
}

let cachedDir: string | undefined;

/**
 * The package's templates/ directory, found by walking up from this module: works from src/ (tsx)
 * and from the bundled dist/cli.mjs alike. REGISTRY_SETUP_TEMPLATES overrides it.
 */
export function templatesDir(): string {
  const override = process.env.REGISTRY_SETUP_TEMPLATES;
  if (override) return override;
  if (cachedDir) return cachedDir;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i += 1) {
    const candidate = join(dir, 'templates');
    if (existsSync(join(candidate, 'nginx.conf.tmpl'))) {
      cachedDir = candidate;
      return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new TemplateError(`cannot find the templates/ directory above ${fileURLToPath(import.meta.url)}`);
}

const templateCache = new Map<string, string>();

export function loadTemplate(name: string): string {
  if (!/^[A-Za-z0-9._-]+\.tmpl$/.test(name)) throw new TemplateError(`bad template name "${name}"`);
  let text = templateCache.get(name);
  if (text === undefined) {
    text = readFileSync(join(templatesDir(), name), 'utf8');
    templateCache.set(name, text);
  }
  return text;
}

/** Renders templates/<name> (e.g. `nginx.conf.tmpl`). */
export function renderTemplate(name: string, values: TemplateValues): string {
  return renderString(loadTemplate(name), values, name);
}
