import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SyncWhileFast } from '../../src/registry/storage/filesystem/sync-while-fast.js';

/** A synchronous call that takes at least `ms` (standing for a read that waited for the disk). */
function busy(ms: number): 'sync' {
  const end = performance.now() + ms;
  while (performance.now() < end);
  return 'sync';
}

async function until(what: string, ok: () => boolean, deadlineMs = 5000): Promise<void> {
  const deadline = performance.now() + deadlineMs;
  while (!ok()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('SyncWhileFast', () => {
  const deferred = async () => 'deferred' as const;

  it('stays synchronous while calls are fast', async () => {
    const calls = new SyncWhileFast({ slowCallMs: 50 });
    for (let i = 0; i < 20; i++) assert.equal(await calls.run(() => 'sync' as const, deferred), 'sync');
    assert.equal(calls.deferredForMs, 0);
  });

  it('after a slow call defers for a while, then probes synchronously again', async () => {
    const calls = new SyncWhileFast({ slowCallMs: 5, minDeferMs: 200, maxDeferMs: 10_000 });
    assert.equal(await calls.run(() => busy(10), deferred), 'sync');
    assert.ok(calls.deferredForMs > 0 && calls.deferredForMs <= 200, `deferred for ${calls.deferredForMs} ms`);
    assert.equal(await calls.run(() => busy(10), deferred), 'deferred', 'the next call goes through the thread pool');
    await until('the pause to end', () => calls.deferredForMs === 0);
    // The probe is slow again: the pause doubles.
    assert.equal(await calls.run(() => busy(10), deferred), 'sync');
    assert.ok(calls.deferredForMs > 200 && calls.deferredForMs <= 400, `deferred for ${calls.deferredForMs} ms`);
    await until('the second pause to end', () => calls.deferredForMs === 0);
    // A fast probe ends it: synchronous again, and the next slow call pauses for the shortest time.
    assert.equal(await calls.run(() => 'sync' as const, deferred), 'sync');
    assert.equal(calls.deferredForMs, 0);
    await calls.run(() => busy(10), deferred);
    assert.ok(calls.deferredForMs <= 200, `deferred for ${calls.deferredForMs} ms`);
  });

  it('a failing synchronous call still counts its time and passes its error on', async () => {
    const calls = new SyncWhileFast({ slowCallMs: 5, minDeferMs: 1000 });
    const enoent = Object.assign(new Error('missing'), { code: 'ENOENT' });
    await assert.rejects(
      calls.run(() => {
        busy(10);
        throw enoent;
      }, deferred),
      enoent,
    );
    assert.ok(calls.deferredForMs > 0);
  });
});

describe('SyncWhileFast in a loop', () => {
  it('a long run of fast synchronous calls lets timers and I/O run in between', async () => {
    const calls = new SyncWhileFast({ slowCallMs: 1000 });
    let turns = 0;
    const timer = setInterval(() => turns++, 1);
    try {
      // ~200 ms of back-to-back calls, each well under the slow threshold
      for (let i = 0; i < 200; i++) await calls.run(() => busy(1), async () => 'deferred' as const);
    } finally {
      clearInterval(timer);
    }
    assert.ok(turns >= 5, `the event loop ran only ${turns} timer turns during 200 ms of calls`);
  });
});
