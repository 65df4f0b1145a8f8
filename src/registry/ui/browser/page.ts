// What every view shares: the session, the current view's number, the main area, and the
// filtered, paginated list.
import { failure, type ListPage, type Session } from './api.js';
import { formatCount, h, plural, type Child } from './dom.js';

export const PAGE_SIZE = 50;

export const page = {
  /** { authRequired, user, readOnly, deleteEnabled, canDelete } once known. */
  session: null as Session | null,
  /** Bumped on every navigation so that late answers for an old view are dropped. */
  renderSeq: 0,
  focusHeading: false,
};

export const main = document.getElementById('main')!;

/** Replaces the main area with a new view; after a navigation the heading takes the focus. */
export function show(title: string, ...nodes: Child[]): void {
  document.title = title + ' · Registry';
  main.replaceChildren(...((nodes as unknown[]).flat(Infinity).filter(Boolean) as Node[]));
  if (page.focusHeading) {
    const h1 = main.querySelector('h1');
    if (h1) h1.focus();
    page.focusHeading = false;
  }
}

/** Shown where the user may delete: the view's own answer says so under an access policy. */
export function gcBanner(canDelete = page.session?.canDelete ?? false): HTMLElement | null {
  if (!page.session || !canDelete) return null;
  return h(
    'p',
    { class: 'banner', id: 'gc-banner' },
    'Deleting a tag removes only the name; deleting a manifest removes it and every tag that points at it. ',
    'Neither frees disk space by itself: the space is reclaimed when garbage collection runs (',
    h('code', null, 'registry-setup gc <host>'),
    '; add ',
    h('code', null, '--delete-untagged'),
    ' to also drop manifests that no tag points at).',
  );
}

interface FilteredListOptions<P extends ListPage<unknown>> {
  id: string;
  label: string;
  placeholder: string;
  filter: string;
  page: number;
  /** the view's number: answers that arrive after a navigation are dropped */
  seq: number;
  load(filter: string, offset: number): Promise<P>;
  render(data: P): Node;
  href(filter: string, page: number): string;
}

/**
 * A filter box with a paginated list under it. The filter rewrites the address without a
 * navigation (so typing keeps the focus); the pager is made of plain links, so Back works.
 */
export interface FilteredList {
  node: HTMLElement;
  load(): Promise<void>;
}

export function filteredList<P extends ListPage<unknown>>(opts: FilteredListOptions<P>): FilteredList {
  let filter = opts.filter;
  let current = opts.page;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let loadSeq = 0;
  const input = h('input', {
    id: opts.id,
    type: 'search',
    value: filter,
    placeholder: opts.placeholder,
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-controls': opts.id + '-results',
  });
  const results = h('div', { id: opts.id + '-results', 'aria-busy': 'false' });
  // Screen readers hear the new count after each filter or page change, not the whole table.
  const announce = h('p', { class: 'sr-only', 'aria-live': 'polite' });
  async function load(): Promise<void> {
    const mine = ++loadSeq;
    results.setAttribute('aria-busy', 'true');
    try {
      const data = await opts.load(filter, (current - 1) * PAGE_SIZE);
      if (mine !== loadSeq || opts.seq !== page.renderSeq) return;
      results.replaceChildren(...[opts.render(data), pager(data, (p) => opts.href(filter, p))].filter((n): n is HTMLElement => Boolean(n)));
      const count = results.querySelector('.count');
      announce.textContent = count ? count.textContent : '';
    } catch (e) {
      const { handled, message } = failure(e);
      if (handled || mine !== loadSeq || opts.seq !== page.renderSeq) return;
      results.replaceChildren(h('p', { class: 'error' }, 'Could not load the list: ' + message));
    } finally {
      if (mine === loadSeq) results.setAttribute('aria-busy', 'false');
    }
  }
  function apply(): void {
    clearTimeout(timer);
    const next = input.value.trim();
    if (next === filter) return;
    filter = next;
    current = 1;
    history.replaceState(null, '', opts.href(filter, 1));
    load();
  }
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(apply, 200);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      apply();
    }
  });
  const node = h('div', null, h('div', { class: 'filter', role: 'search' }, h('label', { for: opts.id }, opts.label), input), announce, results);
  return { node, load };
}

function pager(data: ListPage<unknown>, hrefFor: (page: number) => string): HTMLElement | null {
  const pages = Math.max(1, Math.ceil(data.total / data.limit));
  const current = Math.floor(data.offset / data.limit) + 1;
  if (pages <= 1) return null;
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    current > 1 ? h('a', { href: hrefFor(current - 1), rel: 'prev' }, '← Previous') : h('span', { class: 'disabled' }, '← Previous'),
    h('span', null, 'Page ' + current + ' of ' + pages),
    current < pages ? h('a', { href: hrefFor(current + 1), rel: 'next' }, 'Next →') : h('span', { class: 'disabled' }, 'Next →'),
  );
}

export function countLine(data: ListPage<unknown>, noun: string, nouns: string): HTMLElement {
  const first = data.total === 0 ? 0 : data.offset + 1;
  const last = Math.min(data.offset + data.items.length, data.total);
  const range = data.total > data.items.length ? formatCount(first) + '–' + formatCount(last) + ' of ' : '';
  return h('p', { class: 'count' }, range + plural(data.total, noun, nouns) + (data.q ? ' matching “' + data.q + '”' : ''));
}
