// The page's script is browser TypeScript (src/registry/ui/browser) bundled by esbuild: the built
// payload must carry the finished script, byte for byte what a run from source serves, and
// neither the payload nor the CLI may need esbuild (a dev dependency) when they run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ASSETS } from '../../src/registry/ui/assets/index.js';
import { repoRoot, startOurRegistry, type RunningRegistry } from '../helpers/registries.js';

describe('the UI script in the built payload', () => {
  let registry: RunningRegistry;
  before(async () => {
    registry = await startOurRegistry();
  });
  after(async () => registry?.stop());

  it('serves the script bundled at build time, the same bytes as the source bundles', async () => {
    const res = await fetch(`${registry.url}/ui/app.js`);
    assert.equal(res.status, 200, registry.logTail());
    const served = Buffer.from(await res.arrayBuffer());
    const fromSource = ASSETS.get('/ui/app.js')!.body;
    assert.ok(served.equals(fromSource), `the payload's ui/app.js (${served.length} bytes) differs from the source's (${fromSource.length} bytes)`);
    // the page's code, not a stub: the sign-in form and the router are in it
    assert.match(served.toString('utf8'), /function renderSignIn\(/);
    assert.match(served.toString('utf8'), /addEventListener\("hashchange"/);
  });

  it('neither the payload nor the CLI imports esbuild when it runs', () => {
    const dist = path.join(repoRoot, 'dist');
    const files = [
      path.join(dist, 'cli.mjs'),
      path.join(dist, 'registry', 'registry.mjs'),
      ...readdirSync(path.join(dist, 'registry', 'chunks')).map((f) => path.join(dist, 'registry', 'chunks', f)),
    ];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      assert.doesNotMatch(text, /(?:from\s*|import\s*\(\s*|require\s*\(\s*)["']esbuild["']/, `${path.relative(repoRoot, file)} loads esbuild`);
      assert.doesNotMatch(text, /bundleBrowserScript/, `${path.relative(repoRoot, file)} bundles the script at run time`);
    }
  });
});
