import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;

/** The package root, from the bundle (dist/) or from the sources (src/, run by tsx in tests). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'templates'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the registry-setup package directory');
}

/** One file of the registry payload, by its path inside the payload directory (`registry.mjs`, `chunks/…`). */
export interface PayloadFile {
  path: string;
  content: Buffer;
}

/**
 * The registry payload shipped in the package: dist/registry/ (made by `npm run build`), the entry
 * `registry.mjs` and the chunks it loads on demand (the S3 client, ACME renewal, gc), so that a
 * serving registry never parses code it does not run.
 */
export function readRegistryPayload(): PayloadFile[] {
  // tests: another payload (e.g. a registry that fails its health check, for upgrade's rollback)
  const dir = process.env.REGISTRY_SETUP_PAYLOAD_DIR || path.join(packageRoot(), 'dist', 'registry');
  if (!existsSync(path.join(dir, 'registry.mjs'))) throw new Error(`${dir}/registry.mjs is missing; run \`npm run build\` in the registry-setup package`);
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)).split(path.sep).join('/'))
    .sort()
    .map((rel) => ({ path: rel, content: readFileSync(path.join(dir, rel)) }));
}
