// Several hosts side by side: the runner that reports which hosts failed, how hosts are named, and
// each host's part of the output.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eachHost, HostsFailed, Output, StepError } from '../../src/console/output.js';
import { hostLabels } from '../../src/session/connect.js';

describe('several hosts side by side', () => {
  test('eachHost: all run to the end; one host rethrows as is, several name every failed host', async () => {
    const ran: string[] = [];
    assert.deepEqual(await eachHost(['a', 'b'], (h) => h, async (h) => h.toUpperCase()), ['A', 'B']);
    const single = new Error('only one');
    await assert.rejects(eachHost(['a'], (h) => h, async () => Promise.reject(single)), (e) => e === single);
    const err = await eachHost(['a', 'b', 'c'], (h) => h, async (h) => {
      await new Promise((r) => setTimeout(r, h === 'c' ? 50 : 1));
      ran.push(h);
      if (h !== 'b') throw Object.assign(new StepError('Check the host', new Error(`${h} is down`)), { hint: `log of ${h}` });
    }).catch((e: unknown) => e);
    assert.deepEqual(ran.sort(), ['a', 'b', 'c'], 'a failure does not cut the others short');
    assert.ok(err instanceof HostsFailed);
    assert.equal(err.message, '2 of 3 hosts failed:\n  a: Check the host: a is down\n  c: Check the host: c is down');
    assert.equal(err.hint, 'log of a\nlog of c');
  });

  test('host labels: the target, or target:dir when one target is listed twice', () => {
    assert.deepEqual(hostLabels([{ target: 'root@a' }, { target: 'root@b', dir: '/x' }]), ['root@a', 'root@b']);
    assert.deepEqual(hostLabels([{ target: 'root@a', dir: '/opt/a' }, { target: 'root@a' }]), ['root@a:/opt/a', 'root@a:/opt/registry-setup']);
  });

  test("a host's output: lines prefixed, JSON events carry the host", async () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    const out = new Output({ stream }).forHost('root@a:/opt/a');
    await out.step('preflight', 'Check the host', async () => ({ status: 'skipped' as const, detail: 'fine' }));
    out.warn('careful');
    assert.match(lines[0]!, /^ℹ \[root@a:\/opt\/a\] Check the host \(skipped: fine, \d+ ms\)\n$/);
    assert.equal(lines[1], '! [root@a:/opt/a] careful\n');
    const written: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => written.push(s) > 0) as typeof process.stdout.write;
    try {
      new Output({ json: true }).forHost('h1').event('step-end', { id: 'x' });
    } finally {
      process.stdout.write = original;
    }
    assert.deepEqual({ ...JSON.parse(written[0]!), time: undefined }, { type: 'step-end', time: undefined, host: 'h1', id: 'x' });
  });
});
