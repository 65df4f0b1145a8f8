// `systemd-analyze verify` over the units a plan renders: the unit files go into a temporary unit
// directory (with a stand-in docker.service they depend on), the other files where they say.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { execa } from 'execa';
import type { FileSpec } from '../../src/provision/index.js';
import { makeTempDir, removeDir } from './tmp.js';

/** Renders with an install directory of its own (`render(installDir)`) and verifies the units. */
export async function verifyRenderedUnits(t: TestContext, prefix: string, render: (installDir: string) => readonly FileSpec[]): Promise<void> {
  const which = await execa('sh', ['-c', 'command -v systemd-analyze'], { reject: false });
  if (which.exitCode !== 0) {
    if (process.env.CI) assert.fail('systemd-analyze is missing: .ci/run installs the systemd package');
    t.skip('systemd-analyze is not installed here');
    return;
  }
  const dir = await makeTempDir(prefix);
  try {
    const installDir = path.join(dir, 'install');
    mkdirSync(installDir, { recursive: true });
    const units: string[] = [];
    for (const f of render(installDir)) {
      const out = f.path.includes('/etc/systemd/system/') ? path.join(dir, path.basename(f.path)) : f.path;
      writeFileSync(out, f.content, { mode: f.mode });
      if (out.endsWith('.service') || out.endsWith('.timer')) units.push(out);
    }
    // docker.service is not installed as a unit here; let verify find a stand-in beside ours.
    writeFileSync(path.join(dir, 'docker.service'), '[Service]\nExecStart=/bin/true\n');
    const r = await execa('systemd-analyze', ['verify', '--man=no', ...units], { reject: false, env: { SYSTEMD_UNIT_PATH: `${dir}:` } });
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  } finally {
    await removeDir(dir);
  }
}
