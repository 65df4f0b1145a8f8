// The UI's script (ui/app.js): browser TypeScript in ../browser/, type-checked with its own
// tsconfig and bundled by esbuild. The payload build replaces this module with the bundled text
// (scripts/build.ts); run from source, it bundles the script when first imported.
import { bundleBrowserScript } from '../browser-bundle.js';

export const APP_JS: string = bundleBrowserScript();
