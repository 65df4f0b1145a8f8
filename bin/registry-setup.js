#!/usr/bin/env node
// The CLI lives in the esbuild bundle so that `npx registry-setup` needs no TypeScript at run time.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/cli.mjs', import.meta.url));
if (!existsSync(bundle)) {
  console.error('registry-setup: dist/cli.mjs is missing; run `npm run build` in the package directory first.');
  process.exit(1);
}
const { main } = await import(bundle);
process.exitCode = await main(process.argv);
