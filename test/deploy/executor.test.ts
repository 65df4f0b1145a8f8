import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Executor } from '../../src/deploy/executor.js';
import type { ExecResult, RemoteHost } from '../../src/remote/index.js';
import { preflightCommands, type Probe } from '../../src/provision/index.js';

/** A host whose commands each take a few milliseconds; it records how many ran at once. */
function slowHost() {
  let running = 0;
  const seen = { maxAtOnce: 0, commands: [] as string[], sudo: [] as (boolean | undefined)[] };
  const host = {
    async exec(argv: readonly string[], opts: { sudo?: boolean } = {}): Promise<ExecResult> {
      running++;
      seen.maxAtOnce = Math.max(seen.maxAtOnce, running);
      seen.commands.push(argv.join(' '));
      seen.sudo.push(opts.sudo);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      const failing = argv[0] === 'false';
      return { code: failing ? 1 : 0, stdout: failing ? '' : `out of ${argv.join(' ')}`, stderr: failing ? 'nope' : '' };
    },
  };
  return { host: host as unknown as RemoteHost, seen };
}

test('preflight probes run a few at a time and every result lands under its own id', async () => {
  const { host, seen } = slowHost();
  const probes = preflightCommands({ dir: '/opt/registry-setup', dataDir: '/opt/registry-setup/data' });
  const results = await new Executor(host, false).probe(probes);
  assert.equal(seen.commands.length, probes.length, 'each probe ran once');
  assert.ok(seen.maxAtOnce > 1, `concurrent (at most ${seen.maxAtOnce} at once)`);
  assert.ok(seen.maxAtOnce <= 4, `bounded (${seen.maxAtOnce} at once)`);
  for (const p of probes) assert.equal(results[p.id]?.stdout, `out of ${p.argv.join(' ')}`, p.id);
  assert.deepEqual(seen.sudo, probes.map((p) => p.needsSudo), 'sudo only where a probe needs it');
});

test('a failing probe is recorded, not thrown', async () => {
  const { host } = slowHost();
  const probes = [
    { id: 'arch', argv: ['false'] },
    { id: 'os-release', argv: ['cat', '/etc/os-release'] },
  ] as Probe[];
  const results = await new Executor(host, false).probe(probes);
  assert.deepEqual(results.arch, { code: 1, stdout: '', stderr: 'nope' });
  assert.equal(results['os-release']?.code, 0);
});
