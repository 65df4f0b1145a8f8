// Build-time only (esbuild is a dev dependency): bundles the page's script, browser TypeScript
// under ./browser/, into the one file served as ui/app.js. The payload build (scripts/build.ts)
// calls this and puts the text in place of assets/script.ts, so the payload carries the finished
// script and never imports esbuild; run from source (tests, tsx) assets/script.ts calls it itself.
import { buildSync } from 'esbuild';
import { fileURLToPath } from 'node:url';

const BROWSER_DIR = fileURLToPath(new URL('./browser/', import.meta.url));

export function bundleBrowserScript(): string {
  const result = buildSync({
    entryPoints: [`${BROWSER_DIR}app.ts`],
    tsconfig: `${BROWSER_DIR}tsconfig.json`,
    bundle: true,
    // served as <script type="module">; nothing is exported, so the file is plain statements
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    charset: 'utf8',
    legalComments: 'none',
    logLevel: 'warning',
    write: false,
  });
  return result.outputFiles[0]!.text;
}
