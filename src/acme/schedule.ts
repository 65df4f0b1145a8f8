// When each of several hosts may order its own certificate for the shared name.
//
// Every host orders its own certificate (no private key leaves a host). Let's Encrypt allows 5
// certificates per week for one set of names, so the hosts take turns: time is cut into slots of
// a twelfth of the certificate lifetime (7.5 days for 90-day certificates), numbered from the Unix
// epoch, and host i of k (k = the number of hosts, at most SLOT_CYCLE) orders only in the slots
// numbered i modulo k. A slot lasts at least a week for 90-day certificates, so any 7-day window
// touches at most two slots: at most two hosts can order in it, and each at most once (a new
// certificate is not due again for weeks). A host becomes due earlier than a lone host would, by
// the longest wait for its slot ((k-1) slots), so it has always renewed by the time a lone host
// would start (a third of the lifetime left). A host whose slot passed with failures orders in any
// slot once only a sixth of the lifetime is left, rather than let its certificate expire.
// One host (k = 1) keeps the plain rule: due with a third of the lifetime left, any time.
// The timers of the slots also run at different hours of the day (timerCalendar), so two hosts never
// order at the same moment even then.

/** Host `index` (0-based) of `count` hosts sharing one name. */
export interface RenewalSlot {
  index: number;
  count: number;
}

/** Hosts beyond this many share slots (host 5 takes turns with host 1, and so on). */
export const SLOT_CYCLE = 4;

/** A slot is this fraction of the certificate's lifetime. */
export const SLOT_FRACTION = 1 / 12;

/** Below this fraction of the lifetime left, a host orders whatever the slot. */
export const EMERGENCY_FRACTION = 1 / 6;

/** Parses `I/N` (1-based: `2/4` is the second of four hosts), as the renew command's --slot takes it. */
export function parseRenewalSlot(text: string): RenewalSlot {
  const m = /^\s*(\d{1,3})\s*\/\s*(\d{1,3})\s*$/.exec(text);
  const n = m ? Number(m[2]) : 0;
  const i = m ? Number(m[1]) : 0;
  if (!m || n < 1 || i < 1 || i > n) throw new Error(`--slot wants I/N with 1 <= I <= N (this host's place among N hosts), got ${JSON.stringify(text)}`);
  return { index: i - 1, count: n };
}

export function formatRenewalSlot(slot: RenewalSlot): string {
  return `${slot.index + 1}/${slot.count}`;
}

/** How many slots take turns, and which is this host's. */
function turn(slot: RenewalSlot | undefined): { k: number; own: number } {
  const k = Math.min(Math.max(slot?.count ?? 1, 1), SLOT_CYCLE);
  return { k, own: (slot?.index ?? 0) % k };
}

export interface CertificateTimes {
  notBefore: Date;
  notAfter: Date;
}

export interface RenewalSchedule {
  /** from here on the host orders in its own slots: notAfter minus (1/3 + (k-1)/12) of the lifetime */
  dueFrom: Date;
  /** from here on the host orders in any slot: notAfter minus a sixth of the lifetime */
  emergencyFrom: Date;
  /** the first moment the host may order: its first own slot from dueFrom on (or emergencyFrom) */
  orderFrom: Date;
  slotMs: number;
}

const slotNumber = (t: number, slotMs: number): number => Math.floor(t / slotMs);

export function renewalSchedule(cert: CertificateTimes, slot?: RenewalSlot): RenewalSchedule {
  const { k, own } = turn(slot);
  const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
  const slotMs = Math.max(lifetime * SLOT_FRACTION, 1);
  const dueFrom = cert.notAfter.getTime() - lifetime * (1 / 3 + (k - 1) * SLOT_FRACTION);
  const emergencyFrom = cert.notAfter.getTime() - lifetime * EMERGENCY_FRACTION;
  let orderFrom = dueFrom;
  if (k > 1) {
    const n = slotNumber(dueFrom, slotMs);
    const ahead = (((own - n) % k) + k) % k;
    if (ahead > 0) orderFrom = (n + ahead) * slotMs;
  }
  // at most (k-1) slots after dueFrom: a third of the lifetime is still left, before emergencyFrom
  return { dueFrom: new Date(dueFrom), emergencyFrom: new Date(emergencyFrom), orderFrom: new Date(orderFrom), slotMs };
}

/** Whether the host may order now, and why (for the log). */
export function slotAllowsOrder(cert: CertificateTimes, now: Date, slot?: RenewalSlot): { order: boolean; reason: string } {
  const s = renewalSchedule(cert, slot);
  const t = now.getTime();
  const at = (d: Date): string => d.toISOString();
  if (t < s.dueFrom.getTime()) return { order: false, reason: `renewal due at ${at(s.orderFrom)}` };
  const { k, own } = turn(slot);
  if (k === 1) return { order: true, reason: `renewal is due since ${at(s.dueFrom)} (less than a third of the lifetime left)` };
  const where = `host ${formatRenewalSlot(slot!)}`;
  if (slotNumber(t, s.slotMs) % k === own) return { order: true, reason: `renewal is due since ${at(s.dueFrom)} and this is the turn of ${where}` };
  if (t >= s.emergencyFrom.getTime()) return { order: true, reason: `less than a sixth of the lifetime is left (since ${at(s.emergencyFrom)}): ${where} orders out of turn` };
  const next = (slotNumber(t, s.slotMs) + ((((own - slotNumber(t, s.slotMs)) % k) + k) % k)) * s.slotMs;
  return { order: false, reason: `due since ${at(s.dueFrom)}, but ${where} takes its turn at ${at(new Date(Math.min(next, s.emergencyFrom.getTime())))}` };
}

/**
 * The renewal timer's OnCalendar for a slot: twice a day, 3 hours apart between slots (with the
 * timer's one-hour random delay and a run of 30 minutes at most, the windows never overlap).
 */
export function timerCalendar(slot?: RenewalSlot): string {
  const { own } = turn(slot);
  const h = (own * 3) % 12;
  const two = (n: number): string => String(n).padStart(2, '0');
  return `*-*-* ${two(h)},${two(h + 12)}:00:00`;
}
