// `deploy` is the default command, so `registry-setup stauts host` would take "stauts" for a host
// to deploy to. A bare first word that is one slip away from a command name is refused instead.

/** Edit distance with adjacent transpositions (optimal string alignment). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The command `word` is probably a misspelling of, or undefined. Targets with `@`, `.`, `:` or `/`
 * are never taken for one; names of two letters (gc) are too short to guess at.
 */
export function misspelledCommand(word: string, commands: readonly string[]): string | undefined {
  if (word.startsWith('-') || /[@.:/]/.test(word) || commands.includes(word)) return undefined;
  const lower = word.toLowerCase();
  for (const name of commands) {
    if (name.length < 3) continue;
    if (lower === name || distance(lower, name) <= (name.length <= 4 ? 1 : 2)) return name;
  }
  return undefined;
}
