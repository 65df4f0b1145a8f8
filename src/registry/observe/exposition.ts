// Prometheus text exposition format 0.0.4, written by hand: the registry needs counters, one
// histogram family and gauges, which fit in this file, and the payload stays free of a metrics
// library and its global default registry.

type Labels = Record<string, string>;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(names: readonly string[], values: readonly string[], extra = ''): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function numberText(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

export interface Family {
  render(out: string[]): void;
}

function header(out: string[], name: string, help: string, type: string): void {
  out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
}

/** A counter family; the key of a series is its label values joined by a byte no value holds. */
export class Counter implements Family {
  private readonly series = new Map<string, { values: string[]; n: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
  ) {}

  inc(values: readonly string[] = [], by = 1): void {
    const key = values.join('\u0000');
    const s = this.series.get(key);
    if (s) s.n += by;
    else this.series.set(key, { values: [...values], n: by });
  }

  render(out: string[]): void {
    header(out, this.name, this.help, 'counter');
    if (this.series.size === 0 && this.labelNames.length === 0) out.push(`${this.name} 0`);
    for (const s of this.series.values()) out.push(`${this.name}${labelText(this.labelNames, s.values)} ${numberText(s.n)}`);
  }
}

/** Cumulative buckets as Prometheus expects them, plus _sum and _count. */
export class Histogram implements Family {
  private readonly series = new Map<string, { values: string[]; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {}

  observe(values: readonly string[], v: number): void {
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      s = { values: [...values], counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    // counted in the first bucket that holds it; render() makes them cumulative
    let i = 0;
    while (i < this.buckets.length && v > this.buckets[i]!) i++;
    if (i < this.buckets.length) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  render(out: string[]): void {
    header(out, this.name, this.help, 'histogram');
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i]!;
        out.push(`${this.name}_bucket${labelText(this.labelNames, s.values, `le="${numberText(le)}"`)} ${cumulative}`);
      });
      out.push(`${this.name}_bucket${labelText(this.labelNames, s.values, 'le="+Inf"')} ${s.count}`);
      out.push(`${this.name}_sum${labelText(this.labelNames, s.values)} ${numberText(s.sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, s.values)} ${s.count}`);
    }
  }
}

/** A gauge (or a counter kept elsewhere) whose series are read when scraped. */
export class Sampled implements Family {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'gauge' | 'counter',
    readonly read: () => { labels?: Labels; value: number }[],
  ) {}

  render(out: string[]): void {
    const samples = this.read();
    if (samples.length === 0) return;
    header(out, this.name, this.help, this.type);
    for (const s of samples) {
      const names = Object.keys(s.labels ?? {});
      out.push(`${this.name}${labelText(names, names.map((n) => s.labels![n]!))} ${numberText(s.value)}`);
    }
  }
}

export function renderFamilies(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) f.render(out);
  return `${out.join('\n')}\n`;
}
