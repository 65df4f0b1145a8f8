// `npm run build`: the registry payload (dist/registry: registry.mjs and the chunks it loads on
// demand) and the CLI (dist/cli.mjs). The payload bundles the web UI (the CLI's `serve` runs the
// payload, so the CLI holds no UI); its script is browser TypeScript, bundled first and put in place
// of src/registry/ui/assets/script.ts. The CLI build gets the same plugin, so that neither output
// could import esbuild (a dev dependency) at run time.
import { rmSync } from 'node:fs';
import { build, type Plugin } from 'esbuild';
import { bundleBrowserScript } from '../src/registry/ui/browser-bundle.js';

const appJs = bundleBrowserScript();

const uiScript: Plugin = {
  name: 'ui-script',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]registry[\\/]ui[\\/]assets[\\/]script\.ts$/ }, () => ({
      contents: `export const APP_JS = ${JSON.stringify(appJs)};`,
      loader: 'js',
    }));
  },
};

rmSync('dist/registry', { recursive: true, force: true });
await Promise.all([
  build({
    entryPoints: ['src/registry/main.ts'],
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    outdir: 'dist/registry',
    entryNames: 'registry',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    plugins: [uiScript],
  }),
  build({
    entryPoints: ['src/cli/main.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    packages: 'external',
    outfile: 'dist/cli.mjs',
    plugins: [uiScript],
  }),
]);
