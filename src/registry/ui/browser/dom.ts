// DOM and formatting helpers. Every node is built with createElement and textContent: the page's
// CSP refuses HTML-string sinks (innerHTML and friends) outright.

/** What `h` takes as a child: nodes, text, nothing, or (nested) lists of those. */
export type Child = Node | string | number | null | undefined | false | readonly Child[];
type PropValue = string | number | boolean | null | undefined | ((event: Event) => unknown);
export type Props = Record<string, PropValue> | null;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    for (const key of Object.keys(props)) {
      const value = props[key];
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value as string;
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (key === 'value') (el as HTMLInputElement).value = value as string;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  for (const child of (children as unknown[]).flat(Infinity) as Child[]) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function formatBytes(n: unknown): string {
  if (typeof n !== 'number') return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + units[i];
}

export function formatCount(n: unknown): string {
  return typeof n === 'number' ? n.toLocaleString('en-US') : '–';
}

export function timeNode(iso: string | null | undefined): HTMLElement {
  if (!iso) return h('span', { class: 'muted' }, 'unknown');
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return h('span', null, iso);
  return h('time', { datetime: iso, title: iso }, t.toLocaleString());
}

export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return digest.slice(0, i + 13);
}

export function plural(n: number, one: string, many: string): string {
  return formatCount(n) + ' ' + (n === 1 ? one : many);
}

export function kindLabel(item: { kind: string; artifactType?: string | null }): string {
  if (item.kind === 'index') return 'multi-arch index';
  if (item.kind === 'artifact') return item.artifactType ? 'artifact: ' + item.artifactType : 'artifact';
  return 'image';
}

export function query(params: Record<string, string | number | null | undefined>): string {
  const s = new URLSearchParams();
  for (const key of Object.keys(params)) {
    const v = params[key];
    if (v !== undefined && v !== null && v !== '') s.set(key, String(v));
  }
  return s.toString();
}

export const repoHref = (name: string, params?: string): string => '#/repo/' + encodeURIComponent(name) + (params ? '?' + params : '');
export const imageHref = (name: string, ref: string): string => '#/image/' + encodeURIComponent(name) + '/' + encodeURIComponent(ref);
export const homeHref = (params?: string): string => '#/' + (params ? '?' + params : '');

const statusBox = document.getElementById('status')!;
let statusTimer: ReturnType<typeof setTimeout> | undefined;

/** A line in the status area (announced to screen readers), cleared after a while. */
export function say(message: string): void {
  clearTimeout(statusTimer);
  statusBox.textContent = message;
  statusTimer = setTimeout(() => {
    statusBox.textContent = '';
  }, 6000);
}

async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall back below
  }
  const area = h('textarea', { class: 'sr-only', readonly: true, 'aria-hidden': 'true' });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

export function copyButton(text: string, label: string): HTMLButtonElement {
  return h(
    'button',
    {
      type: 'button',
      class: 'copy',
      'data-copy': text,
      'aria-label': label,
      title: label,
      onclick: async (event: Event) => {
        const button = event.currentTarget as HTMLButtonElement;
        const ok = await copyText(text);
        say(ok ? 'Copied: ' + text : 'Could not copy: select the text and copy it yourself.');
        if (ok) {
          button.textContent = 'Copied';
          setTimeout(() => {
            button.textContent = 'Copy';
          }, 2000);
        }
      },
    },
    'Copy',
  );
}

/** A breadcrumb trail of [label, href] pairs; the last one is the current page. */
export function crumbs(items: [string, string?][]): HTMLElement {
  return h(
    'nav',
    { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h(
      'ol',
      null,
      items.map((item, i) => h('li', null, item[1] && i < items.length - 1 ? h('a', { href: item[1] }, item[0]) : h('span', { 'aria-current': 'page' }, item[0]))),
    ),
  );
}

export function heading(text: string): HTMLHeadingElement {
  return h('h1', { tabindex: '-1' }, text);
}
