/**
 * Repository globs as zot matches them (doublestar v4, `/` the separator):
 *   `*`  any run of characters within one path component, `?` one such character
 *   `**` as a whole component: zero or more components (`a/**` matches `a`, `a/b`, `a/b/c`;
 *        `**` alone matches every name); elsewhere it is a plain `*` (`abc**` = `abc*`)
 *   `[abc]` `[a-z]` `[^a-z]` `[!a-z]`: one character of a class (never `/`)
 *   `{x,y}`: either alternative (alternatives may hold `/` and other globs)
 *   `\c`: the character c itself
 * A glob is compiled once into a regular expression; matching is one regex test.
 */
export class GlobError extends Error {}

const MAX_ALTERNATIVES = 256;

export interface CompiledGlob {
  readonly pattern: string;
  matches(name: string): boolean;
}

export function compileGlob(pattern: string): CompiledGlob {
  if (pattern === '') throw new GlobError('an empty glob matches nothing');
  const alternatives = expandBraces(pattern);
  const re = new RegExp(`^(?:${alternatives.map(toRegExpSource).join('|')})$`);
  return { pattern, matches: (name) => re.test(name) };
}

/** `a{b,c}d` → [`abd`, `acd`], nested braces included; escapes are kept for toRegExpSource. */
function expandBraces(pattern: string): string[] {
  const open = findUnescaped(pattern, '{', 0);
  if (open < 0) {
    if (findUnescaped(pattern, '}', 0) >= 0) throw new GlobError(`"}" without "{" in ${JSON.stringify(pattern)}`);
    return [pattern];
  }
  // the matching close brace and the top-level commas between
  let depth = 0;
  const commas: number[] = [];
  let close = -1;
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '[') {
      i = classEnd(pattern, i);
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) {
        close = i;
        break;
      }
    } else if (c === ',' && depth === 1) commas.push(i);
  }
  if (close < 0) throw new GlobError(`"{" without "}" in ${JSON.stringify(pattern)}`);
  const head = pattern.slice(0, open);
  const tail = pattern.slice(close + 1);
  const bounds = [open, ...commas, close];
  const out: string[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const middle = pattern.slice(bounds[k]! + 1, bounds[k + 1]);
    for (const expanded of expandBraces(head + middle + tail)) {
      out.push(expanded);
      if (out.length > MAX_ALTERNATIVES) throw new GlobError(`${JSON.stringify(pattern)} expands to more than ${MAX_ALTERNATIVES} alternatives`);
    }
  }
  return out;
}

function findUnescaped(s: string, ch: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '[') i = classEnd(s, i);
    else if (s[i] === ch) return i;
  }
  return -1;
}

/** Index of the `]` closing the class that opens at `start`. */
function classEnd(s: string, start: number): number {
  let i = start + 1;
  if (s[i] === '^' || s[i] === '!') i++;
  if (s[i] === ']') throw new GlobError(`empty character class in ${JSON.stringify(s)}`);
  for (; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === ']') return i;
  }
  throw new GlobError(`"[" without "]" in ${JSON.stringify(s)}`);
}

const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/** One brace-free glob as a regular expression source (not anchored). */
function toRegExpSource(glob: string): string {
  // `**` as a whole component: zero or more components, with the separators it absorbs
  // `**/**` is `**`
  const parts = glob.split('/').filter((part, i, all) => !(part === '**' && all[i - 1] === '**'));
  let out = '';
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    const first = p === 0;
    const last = p === parts.length - 1;
    if (part === '**') {
      if (first && last) out += '.*';
      else if (first) out += '(?:.*/)?'; // `**/x`: x, a/x, a/b/x
      else if (last) out += '(?:/.*)?'; // `a/**`: a, a/, a/b, a/b/c
      else out += '(?:/.*)?/'; // `a/**/b`: a/b, a/x/b
      continue;
    }
    // after a `**` component the separator is already part of its group
    if (!first && parts[p - 1] !== '**') out += '/';
    out += componentSource(part, glob);
  }
  return out;
}

function componentSource(part: string, glob: string): string {
  let out = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (c === '\\') {
      if (i + 1 >= part.length) throw new GlobError(`${JSON.stringify(glob)} ends with a lone "\\"`);
      out += escapeRe(part[++i]!);
    } else if (c === '*') {
      while (part[i + 1] === '*') i++;
      out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = classEnd(part, i);
      let body = part.slice(i + 1, end);
      let negate = false;
      if (body[0] === '^' || body[0] === '!') {
        negate = true;
        body = body.slice(1);
      }
      const chars = body.replace(/\\(.)/g, (_m, ch: string) => (ch === '-' || ch === ']' || ch === '\\' || ch === '^' ? `\\${ch}` : ch));
      out += negate ? `[^/${chars}]` : `(?!/)[${chars}]`;
      i = end;
    } else out += escapeRe(c);
  }
  return out;
}
