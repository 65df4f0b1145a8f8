// What writing a set of files would change on the host: create / update (with a unified diff) /
// unchanged. Pure: the executor fetches the remote contents (and, if it can, modes) first.
import { createHash } from 'node:crypto';
import { formatMode, type FileSpec } from './step.js';

export type FileAction = 'create' | 'update' | 'unchanged';

export interface RemoteFile {
  content: string | Buffer;
  /** permission bits, if known: a different mode alone makes the file 'update' */
  mode?: number;
  uid?: number;
  gid?: number;
}

/** A file's state on the host: absent (null/undefined), its content, or content plus mode/owner. */
export type RemoteState = string | Buffer | RemoteFile | null | undefined;

export interface FilePlan {
  path: string;
  action: FileAction;
  /** unified diff for text files that are not sensitive and not too large */
  diff?: string;
  /** a one-line explanation when there is no diff to show (sensitive, binary, large, mode only) */
  note?: string;
}

/** Files larger than this get a size/hash summary instead of a diff. */
export const MAX_DIFF_BYTES = 256 * 1024;
const CONTEXT = 3;

function toBuffer(content: string | Buffer): Buffer {
  return typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
}

function normalizeRemote(state: RemoteState): RemoteFile | undefined {
  if (state === null || state === undefined) return undefined;
  if (typeof state === 'string' || Buffer.isBuffer(state)) return { content: state };
  return state;
}

function isText(buf: Buffer): boolean {
  if (buf.includes(0)) return false;
  return Buffer.from(buf.toString('utf8'), 'utf8').equals(buf);
}

function summary(buf: Buffer): string {
  return `${buf.length} bytes, sha256 ${createHash('sha256').update(buf).digest('hex').slice(0, 12)}`;
}

function ownerMatches(expected: number | string | undefined, actual: number | undefined): boolean {
  if (actual === undefined) return true;
  const want = expected ?? 0;
  return typeof want === 'number' || /^\d+$/.test(want) ? Number(want) === actual : true;
}

export function planDiff(local: readonly FileSpec[], remote: ReadonlyMap<string, RemoteState> | Readonly<Record<string, RemoteState>>): FilePlan[] {
  const lookup = (path: string): RemoteState => (remote instanceof Map ? remote.get(path) : (remote as Record<string, RemoteState>)[path]);
  return local.map((file): FilePlan => {
    const want = toBuffer(file.content);
    const have = normalizeRemote(lookup(file.path));
    if (!have) return { path: file.path, action: 'create', ...(file.sensitive ? { note: 'sensitive: content not shown' } : {}) };
    const got = toBuffer(have.content);
    const notes: string[] = [];
    if (have.mode !== undefined && (have.mode & 0o7777) !== file.mode) notes.push(`mode ${formatMode(have.mode & 0o7777)} → ${formatMode(file.mode)}`);
    if (!ownerMatches(file.owner, have.uid) || !ownerMatches(file.group, have.gid)) {
      notes.push(`owner ${have.uid ?? '?'}:${have.gid ?? '?'} → ${file.owner ?? 0}:${file.group ?? 0}`);
    }
    if (got.equals(want)) {
      return notes.length ? { path: file.path, action: 'update', note: notes.join('; ') } : { path: file.path, action: 'unchanged' };
    }
    if (file.sensitive) notes.unshift('sensitive: content changed, not shown');
    else if (!isText(want) || !isText(got)) notes.unshift(`binary: ${summary(got)} → ${summary(want)}`);
    else if (want.length > MAX_DIFF_BYTES || got.length > MAX_DIFF_BYTES) notes.unshift(`large file: ${summary(got)} → ${summary(want)}`);
    else {
      const diff = unifiedDiff(got.toString('utf8'), want.toString('utf8'), file.path);
      return { path: file.path, action: 'update', diff, ...(notes.length ? { note: notes.join('; ') } : {}) };
    }
    return { path: file.path, action: 'update', note: notes.join('; ') };
  });
}

// ---------------------------------------------------------------------------------------------
// A small line diff: common prefix/suffix trimmed, LCS on the rest (bounded), unified hunks.

type Op = { kind: ' ' | '-' | '+'; line: string };

/** Lines keep their '\n', so a missing final newline is a difference like any other. */
function splitLines(text: string): string[] {
  if (text === '') return [];
  const parts = text.split('\n');
  const lines = parts.slice(0, -1).map((l) => `${l}\n`);
  const last = parts[parts.length - 1]!;
  if (last !== '') lines.push(last);
  return lines;
}

const MAX_LCS_CELLS = 4_000_000;

function diffLines(a: string[], b: string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA -= 1;
    endB -= 1;
  }
  const ops: Op[] = a.slice(0, start).map((line) => ({ kind: ' ', line }));
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const n = midA.length;
  const m = midB.length;
  if (n * m > MAX_LCS_CELLS) {
    for (const line of midA) ops.push({ kind: '-', line });
    for (const line of midB) ops.push({ kind: '+', line });
  } else {
    // lcs[i][j] = LCS length of midA[i..] and midB[j..], in one flat array
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i -= 1) {
      for (let j = m - 1; j >= 0; j -= 1) {
        lcs[i * w + j] = midA[i] === midB[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && midA[i] === midB[j]) {
        ops.push({ kind: ' ', line: midA[i]! });
        i += 1;
        j += 1;
      } else if (i < n && (j === m || lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!)) {
        // deletions before insertions, as diff -u prints them
        ops.push({ kind: '-', line: midA[i]! });
        i += 1;
      } else {
        ops.push({ kind: '+', line: midB[j]! });
        j += 1;
      }
    }
  }
  for (const line of a.slice(endA)) ops.push({ kind: ' ', line });
  return ops;
}

function formatLine(op: Op): string {
  return op.line.endsWith('\n') ? `${op.kind}${op.line}` : `${op.kind}${op.line}\n\\ No newline at end of file\n`;
}

/** A unified diff (`--- a/path`, `+++ b/path`, `@@` hunks with 3 lines of context); '' when equal. */
export function unifiedDiff(oldText: string, newText: string, path: string): string {
  const ops = diffLines(splitLines(oldText), splitLines(newText));
  const changed = ops.map((op, k) => (op.kind !== ' ' ? k : -1)).filter((k) => k >= 0);
  if (changed.length === 0) return '';
  // group changes whose context windows touch into hunks
  const hunks: Array<[number, number]> = [];
  for (const k of changed) {
    const from = Math.max(0, k - CONTEXT);
    const to = Math.min(ops.length, k + CONTEXT + 1);
    const last = hunks[hunks.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else hunks.push([from, to]);
  }
  const rel = path.replace(/^\/+/, '');
  let out = `--- a/${rel}\n+++ b/${rel}\n`;
  // line numbers before each op
  let oldLine = 1;
  let newLine = 1;
  const oldAt: number[] = [];
  const newAt: number[] = [];
  for (const op of ops) {
    oldAt.push(oldLine);
    newAt.push(newLine);
    if (op.kind !== '+') oldLine += 1;
    if (op.kind !== '-') newLine += 1;
  }
  for (const [from, to] of hunks) {
    const slice = ops.slice(from, to);
    const oldCount = slice.filter((o) => o.kind !== '+').length;
    const newCount = slice.filter((o) => o.kind !== '-').length;
    const oldStart = oldCount === 0 ? oldAt[from]! - 1 : oldAt[from]!;
    const newStart = newCount === 0 ? newAt[from]! - 1 : newAt[from]!;
    out += `@@ -${oldStart},${oldCount} +${newStart},${newCount} @@\n`;
    out += slice.map(formatLine).join('');
  }
  return out;
}
