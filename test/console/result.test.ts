// The --json convention: JSON lines, each with a type; the command's result is the last line, one
// result for several hosts with a `hosts` list.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Output, printResult } from '../../src/console/output.js';

async function stdoutOf(fn: () => Promise<void> | void): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    await fn();
  } finally {
    process.stdout.write = write;
  }
  return lines.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('printResult', () => {
  test('one host: its result, flat, after the progress events', async () => {
    const events = await stdoutOf(async () => {
      const output = new Output({ json: true });
      await output.step('collect', 'Collect', async () => ({ status: 'skipped' as const }));
      printResult(output, [{ host: 'a', result: { healthy: true } }], false);
    });
    assert.deepEqual(events.map((e) => e.type), ['step-start', 'step-end', 'result']);
    assert.equal(events.at(-1)!.healthy, true);
    assert.equal(events.at(-1)!.host, undefined);
  });

  test('several hosts: one result with an entry per host', async () => {
    const events = await stdoutOf(() => printResult(new Output({ json: true }), [{ host: 'a', result: { n: 1 } }, { host: 'b', result: { n: 2 } }], true));
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]!.hosts, [{ host: 'a', n: 1 }, { host: 'b', n: 2 }]);
  });

  test('without --json nothing is printed on stdout', async () => {
    assert.deepEqual(await stdoutOf(() => printResult(new Output(), [{ host: 'a', result: { n: 1 } }], false)), []);
  });
});
