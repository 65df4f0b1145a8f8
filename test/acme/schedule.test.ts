// The turns of several hosts that each order a certificate for the same name (src/acme/schedule.ts):
// simulated years of twice-daily timer runs, counting the certificates of every 7-day window
// against Let's Encrypt's 5 duplicate certificates per week.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRenewalSlot, renewalSchedule, slotAllowsOrder, timerCalendar, type RenewalSlot } from '../../src/acme/schedule.js';
import { renewalDueAt } from '../../src/acme/certificate.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

/** A deterministic pseudo-random sequence (the timer's randomized delay), so a failure replays. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

interface Simulation {
  /** [time, host] of every certificate ordered */
  orders: Array<[number, number]>;
  /** the least lifetime fraction left on a certificate when its host ordered its successor */
  minLeftAtOrder: number;
  expired: boolean;
}

/**
 * n hosts start with one certificate (deploy orders it once and installs it everywhere); every host's
 * timer runs at its calendar hours plus up to 1 h; a run orders when slotAllowsOrder says so and the
 * order succeeds unless `fails(host, t)`.
 */
function simulate(o: { n: number; lifetimeDays: number; years: number; start: number; seed: number; fails?: (host: number, t: number) => boolean; noTurns?: boolean }): Simulation {
  const L = o.lifetimeDays * DAY;
  const random = rng(o.seed);
  const certs = Array.from({ length: o.n }, () => ({ notBefore: new Date(o.start), notAfter: new Date(o.start + L) }));
  const orders: Array<[number, number]> = [];
  let minLeftAtOrder = 1;
  let expired = false;
  const day0 = Math.floor(o.start / DAY) * DAY;
  for (let day = 0; day < o.years * 366; day++) {
    const runs: Array<[number, number]> = [];
    for (let h = 0; h < o.n; h++) {
      const slot: RenewalSlot = { index: o.noTurns ? 0 : h, count: o.noTurns ? 1 : o.n };
      const hours = /(\d\d),(\d\d):00:00$/.exec(timerCalendar(slot))!.slice(1).map(Number);
      for (const hour of hours) runs.push([day0 + day * DAY + hour * HOUR + random() * HOUR, h]);
    }
    runs.sort((a, b) => a[0] - b[0]);
    for (const [t, h] of runs) {
      if (t < o.start) continue;
      const cert = certs[h]!;
      if (t >= cert.notAfter.getTime()) expired = true;
      if (!slotAllowsOrder(cert, new Date(t), o.noTurns ? undefined : { index: h, count: o.n }).order) continue;
      if (o.fails?.(h, t)) continue;
      minLeftAtOrder = Math.min(minLeftAtOrder, (cert.notAfter.getTime() - t) / L);
      orders.push([t, h]);
      certs[h] = { notBefore: new Date(t), notAfter: new Date(t + L) };
    }
  }
  return { orders, minLeftAtOrder, expired };
}

/** The most certificates ordered in any 7-day window. */
function maxPerWeek(orders: Array<[number, number]>): number {
  const times = orders.map(([t]) => t).sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= WEEK) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/** The shortest time between two orders of different hosts. */
function minGapBetweenHosts(orders: Array<[number, number]>): number {
  const sorted = [...orders].sort((a, b) => a[0] - b[0]);
  let gap = Infinity;
  for (let i = 1; i < sorted.length; i++) if (sorted[i]![1] !== sorted[i - 1]![1]) gap = Math.min(gap, sorted[i]![0] - sorted[i - 1]![0]);
  return gap;
}

describe('renewal turns of several hosts', () => {
  it('--slot takes I/N, 1-based, and refuses anything else', () => {
    assert.deepEqual(parseRenewalSlot('2/4'), { index: 1, count: 4 });
    assert.deepEqual(parseRenewalSlot(' 1 / 1 '), { index: 0, count: 1 });
    for (const bad of ['0/2', '3/2', '2', '1/0', 'a/b', '-1/2', '1/2/3']) assert.throws(() => parseRenewalSlot(bad), /--slot wants I\/N/, bad);
  });

  it('one host keeps the plain rule: due with a third of the lifetime left, at any time', () => {
    const cert = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2026-04-01T00:00:00Z') };
    const due = renewalDueAt(cert.notBefore, cert.notAfter);
    for (const slot of [undefined, { index: 0, count: 1 }]) {
      assert.equal(renewalSchedule(cert, slot).orderFrom.toISOString(), due.toISOString());
      assert.equal(slotAllowsOrder(cert, new Date(due.getTime() - 1), slot).order, false);
      assert.equal(slotAllowsOrder(cert, due, slot).order, true);
    }
  });

  it('a host waits for its turn, orders in it, and out of turn only with a sixth of the lifetime left', () => {
    const start = Date.parse('2026-01-01T00:00:00Z');
    const L = 90 * DAY;
    const cert = { notBefore: new Date(start), notAfter: new Date(start + L) };
    for (let index = 0; index < 4; index++) {
      const slot = { index, count: 4 };
      const s = renewalSchedule(cert, slot);
      // due earlier than a lone host by the longest wait (3 slots of 7.5 days), in turn by a lone host's due time
      assert.equal(s.dueFrom.getTime(), start + L - L * (1 / 3 + 3 / 12));
      assert.ok(s.orderFrom >= s.dueFrom && s.orderFrom.getTime() <= renewalDueAt(cert.notBefore, cert.notAfter).getTime(), `host ${index + 1}`);
      assert.equal(Math.floor(s.orderFrom.getTime() / s.slotMs) % 4, index, 'orderFrom is in the host\'s own slot');
      assert.equal(slotAllowsOrder(cert, s.orderFrom, slot).order, true);
      assert.equal(slotAllowsOrder(cert, new Date(s.orderFrom.getTime() - 1), slot).order, false);
      // the slot after its own (another host's turn): it waits, until the emergency point
      const other = new Date(s.orderFrom.getTime() + s.slotMs + HOUR);
      if (other < s.emergencyFrom) assert.match(slotAllowsOrder(cert, other, slot).reason, /takes its turn at/);
      assert.equal(slotAllowsOrder(cert, s.emergencyFrom, slot).order, true);
    }
  });

  it('the timers of four hosts run at different hours, never within 3 hours of each other', () => {
    const calendars = [0, 1, 2, 3].map((index) => timerCalendar({ index, count: 4 }));
    assert.deepEqual(calendars, ['*-*-* 00,12:00:00', '*-*-* 03,15:00:00', '*-*-* 06,18:00:00', '*-*-* 09,21:00:00']);
    assert.equal(timerCalendar(), '*-*-* 00,12:00:00');
    assert.equal(timerCalendar({ index: 4, count: 5 }), '*-*-* 00,12:00:00', 'a fifth host shares the first one\'s turn');
  });

  for (const n of [2, 3, 4]) {
    it(`${n} hosts with 90-day certificates: at most 2 per week over 3 years, never at the same moment, renewed with a third left`, () => {
      for (const seed of [1, 7, 42]) {
        const start = Date.parse('2026-03-01T00:00:00Z') + seed * 13 * HOUR;
        const sim = simulate({ n, lifetimeDays: 90, years: 3, start, seed });
        assert.equal(sim.expired, false);
        assert.ok(sim.orders.length >= n * 15, `every host keeps renewing (${sim.orders.length} orders)`);
        for (let h = 0; h < n; h++) assert.ok(sim.orders.some(([, host]) => host === h), `host ${h + 1} orders`);
        assert.ok(maxPerWeek(sim.orders) <= 2, `at most 2 certificates in any 7 days, got ${maxPerWeek(sim.orders)} (seed ${seed})`);
        assert.ok(minGapBetweenHosts(sim.orders) >= 2 * HOUR, 'two hosts never order within 2 hours of each other');
        // no host waits past the point a lone host renews at (a third of the lifetime left)
        assert.ok(sim.minLeftAtOrder >= 1 / 3 - 1 / 90, `ordered with ${(sim.minLeftAtOrder * 90).toFixed(1)} days left`);
      }
    });
  }

  it('control: without turns, 4 hosts that share a certificate order all 4 in one week, at the same moments', () => {
    const sim = simulate({ n: 4, lifetimeDays: 90, years: 1, start: Date.parse('2026-03-01T00:00:00Z'), seed: 1, noTurns: true });
    assert.equal(maxPerWeek(sim.orders), 4);
    assert.ok(minGapBetweenHosts(sim.orders) < HOUR);
  });

  it('4 hosts with 45-day certificates (Let\'s Encrypt from 2028): at most 3 per week', () => {
    const sim = simulate({ n: 4, lifetimeDays: 45, years: 2, start: Date.parse('2028-02-15T00:00:00Z'), seed: 3 });
    assert.equal(sim.expired, false);
    assert.ok(maxPerWeek(sim.orders) <= 3, `got ${maxPerWeek(sim.orders)}`);
  });

  it('a host whose whole turn fails orders out of turn before expiry, and the week stays under the limit', () => {
    // host 2's orders fail for its whole first turn (the CA unreachable from it for 10 days)
    const start = Date.parse('2026-03-01T00:00:00Z');
    let failingUntil: number | undefined;
    const sim = simulate({
      n: 4,
      lifetimeDays: 90,
      years: 1,
      start,
      seed: 5,
      fails: (h, t) => {
        if (h !== 1) return false;
        failingUntil ??= t + 10 * DAY;
        return t < failingUntil;
      },
    });
    assert.equal(sim.expired, false);
    const first = sim.orders.find(([, h]) => h === 1)!;
    assert.ok(first[0] >= failingUntil!, 'host 2 orders once the CA is back');
    assert.ok(sim.minLeftAtOrder >= 1 / 6 - 1 / 90, 'in the emergency it still orders with a sixth of the lifetime left');
    assert.ok(maxPerWeek(sim.orders) <= 3, `got ${maxPerWeek(sim.orders)}`);
  });
});

describe('renew --slot', () => {
  it('a malformed --slot fails the run with one line saying what it wants, before any request', async () => {
    const { runRenew } = await import('../../src/acme/renew-command.js');
    let err = '';
    const code = await runRenew(
      { domain: ['registry.example.com'], stateDir: '/nonexistent/acme', tlsDir: '/nonexistent/tls', webroot: '/nonexistent/www', httpPort: '80', preflight: false, directory: 'https://127.0.0.1:1/dir', slot: '3/2' },
      { out: () => undefined, err: (t) => void (err += t), setExitCode: () => undefined, now: () => new Date() },
    );
    assert.equal(code, 1);
    assert.match(err, /^renew: failed: --slot wants I\/N with 1 <= I <= N .*"3\/2"\n$/);
  });
});

describe('certs status of a host that takes turns', () => {
  it('shows its own turn as the due time and calls it stalled 2 days into its turn, before a lone host\'s rule would', async () => {
    const { caSignedCert } = await import('./support.js');
    const { certificateStatus, parseCertificate } = await import('../../src/acme/certificate.js');
    const { TempDirs } = await import('../helpers/tmp.js');
    const tmp = new TempDirs();
    try {
      const cert = await caSignedCert(await tmp.make('rs-slot-status-'), ['registry.example.com'], 90);
      const info = parseCertificate(cert.certPem);
      for (let index = 0; index < 4; index++) {
        const slot = { index, count: 4 };
        const s = renewalSchedule(info, slot);
        const before = certificateStatus(cert.certPem, undefined, new Date(s.orderFrom.getTime() - HOUR), slot);
        assert.equal(before.due, false);
        assert.equal(before.dueAt, s.orderFrom.toISOString());
        const late = new Date(s.orderFrom.getTime() + 3 * DAY);
        assert.match(certificateStatus(cert.certPem, undefined, late, slot).warning ?? '', /is the renewal timer running\?/, `host ${index + 1}`);
        // the lone-host rule (a third of the lifetime left) would not notice yet
        if (late < renewalDueAt(info.notBefore, info.notAfter)) assert.equal(certificateStatus(cert.certPem, undefined, late).warning, undefined);
      }
    } finally {
      await tmp.cleanup();
    }
  });
});
