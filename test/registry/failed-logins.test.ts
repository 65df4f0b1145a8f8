import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FailedLogins, type FailedLoginLimits } from '../../src/registry/auth/failed-logins.js';

const LIMITS: FailedLoginLimits = {
  freeFailures: 3,
  firstWaitMs: 1_000,
  maxWaitMs: 8_000,
  forgetAfterMs: 60_000,
  globalBurst: 100,
  globalPerSecond: 10,
};

function limiter(limits: Partial<FailedLoginLimits> = {}) {
  let t = 1_000_000;
  const logins = new FailedLogins({ ...LIMITS, ...limits }, () => t);
  return { logins, advance: (ms: number) => (t += ms) };
}

describe('failed sign-in limits', () => {
  it('a name gets its free failures, then waits twice as long after each further one, up to the cap', () => {
    const { logins, advance } = limiter();
    assert.equal(logins.failed('alice'), 0);
    assert.equal(logins.failed('alice'), 0);
    assert.equal(logins.waitMs('alice'), 0);
    assert.equal(logins.failed('alice'), 1_000, 'the third failure imposes the first wait');
    assert.equal(logins.waitMs('alice'), 1_000);
    advance(400);
    assert.equal(logins.waitMs('alice'), 600);
    assert.equal(logins.waitMs('bob'), 0, 'other names are not held back');
    advance(600);
    assert.equal(logins.waitMs('alice'), 0);
    const waits = [1, 2, 3, 4, 5].map(() => {
      const w = logins.failed('alice');
      advance(w);
      return w;
    });
    assert.deepEqual(waits, [2_000, 4_000, 8_000, 8_000, 8_000]);
  });

  it('a success clears the name, and failures are forgotten after a quiet period', () => {
    const { logins, advance } = limiter();
    for (let i = 0; i < 3; i++) logins.failed('alice');
    assert.ok(logins.waitMs('alice') > 0);
    logins.succeeded('alice');
    assert.equal(logins.waitMs('alice'), 0);
    assert.equal(logins.failed('alice'), 0, 'counting starts again');

    for (let i = 0; i < 2; i++) logins.failed('carol');
    advance(60_001);
    assert.equal(logins.failed('carol'), 0, 'the two old failures no longer count');
  });

  it('guesses spread over many names share one budget that refills over time', () => {
    const { logins, advance } = limiter({ globalBurst: 5, globalPerSecond: 2 });
    for (let i = 0; i < 5; i++) logins.failed(`random-${i}`);
    assert.equal(logins.waitMs('anyone'), 500, 'one token comes back in half a second');
    advance(500);
    assert.equal(logins.waitMs('anyone'), 0);
  });

  it('an attempt counts from its start, so guesses sent in parallel cannot all pass the check', () => {
    const { logins } = limiter();
    // 200 guesses for one name start before any of them has failed
    const waits = Array.from({ length: 200 }, () => logins.begin('admin'));
    assert.equal(waits.filter((w) => w === 0).length, 3, 'only the free failures start');
    assert.ok(waits.slice(3).every((w) => w > 0));
    assert.equal(logins.imposedMs('admin'), 1_000);
  });

  it('a success gives back what its attempt took, and names that signed in lately are not held back by the shared budget', () => {
    const { logins, advance } = limiter({ globalBurst: 3, globalPerSecond: 1 });
    assert.equal(logins.begin('alice'), 0);
    logins.succeeded('alice');
    assert.equal(logins.begin('bob'), 0);
    logins.succeeded('bob');
    // someone burns the shared budget on random names
    for (let i = 0; i < 3; i++) assert.equal(logins.begin(`random-${i}`), 0);
    assert.ok(logins.begin('random-x') > 0, 'the budget is spent');
    assert.ok(logins.begin('carol') > 0, 'a name never seen to succeed waits for the budget');
    assert.equal(logins.begin('alice'), 0, 'alice signed in lately: only her own failures count');
    logins.succeeded('alice');
    advance(24 * 3600_000 + 1);
    for (let i = 0; i < 3; i++) logins.begin(`random-late-${i}`);
    assert.ok(logins.begin('bob') > 0, 'a day later bob is an unknown name again');
  });

  it('tracks long names by their first 256 characters', () => {
    const { logins } = limiter();
    const long = 'x'.repeat(300);
    for (let i = 0; i < 3; i++) logins.failed(`${long}${i}`);
    assert.ok(logins.waitMs(`${'x'.repeat(256)}y`) > 0);
  });
});
