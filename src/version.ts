import { existsSync, readFileSync } from 'node:fs';
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

/** The registry payload shipped in the package (dist/registry.mjs, made by `npm run build`). */
export function readRegistryBundle(): Buffer {
  const file = path.join(packageRoot(), 'dist', 'registry.mjs');
  if (!existsSync(file)) throw new Error(`${file} is missing; run \`npm run build\` in the registry-setup package`);
  return readFileSync(file);
}
