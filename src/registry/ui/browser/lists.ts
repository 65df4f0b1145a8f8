// The two list views: the repositories (#/, with the storage summary) and a repository's tags.
import { api, failure, type ListPage, type RepositoryItem, type StorageSummary, type TagPage } from './api.js';
import { deleteTag, digestWithCopy, pullLine } from './actions.js';
import { crumbs, formatBytes, formatCount, h, heading, homeHref, imageHref, kindLabel, plural, query, repoHref, timeNode } from './dom.js';
import { countLine, filteredList, gcBanner, main, page, PAGE_SIZE, show, type FilteredList } from './page.js';

/** The parts of the address a view reads: `#/repo/<name>?q=…&page=…`. */
export interface Route {
  view: 'home' | 'repo' | 'image';
  repo?: string;
  ref?: string;
  params: URLSearchParams;
}

function stat(label: string, value: string, extra?: HTMLElement | null): HTMLElement {
  return h('div', null, h('dt', null, label), h('dd', null, value), extra || null);
}

async function loadSummary(box: HTMLElement, seq: number): Promise<void> {
  try {
    const s = await api<StorageSummary>('summary');
    if (seq !== page.renderSeq) return;
    const disk = s.disk;
    box.replaceChildren(
      h('h2', { class: 'sr-only' }, 'Storage'),
      h(
        'dl',
        { class: 'stats', id: 'storage-summary' },
        stat('Repositories', formatCount(s.repositories)),
        stat('Tags', formatCount(s.tags)),
        stat('Registry data', formatBytes(s.blobBytes), h('dd', { class: 'sub' }, plural(s.blobs, 'blob', 'blobs'))),
        disk
          ? stat(
              'Free disk',
              formatBytes(disk.available),
              h(
                'dd',
                { class: 'sub' },
                h('meter', {
                  min: 0,
                  max: disk.size,
                  value: disk.size - disk.available,
                  'aria-label': 'Disk in use',
                  title: formatBytes(disk.size - disk.available) + ' of ' + formatBytes(disk.size) + ' in use',
                }),
                'of ' + formatBytes(disk.size),
              ),
            )
          : null,
      ),
    );
  } catch (e) {
    const { handled, message } = failure(e);
    if (!handled && seq === page.renderSeq) box.replaceChildren(h('p', { class: 'muted' }, 'Storage summary unavailable: ' + message));
  }
}

function repoTable(data: ListPage<RepositoryItem>): HTMLElement {
  if (data.items.length === 0) {
    return h('p', { class: 'count' }, data.q ? 'No repository matches “' + data.q + '”.' : 'No repositories yet: push an image and it shows up here.');
  }
  return h(
    'div',
    null,
    countLine(data, 'repository', 'repositories'),
    h(
      'table',
      { class: 'list', id: 'repositories' },
      h('caption', { class: 'sr-only' }, 'Repositories'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col', class: 'num' }, 'Tags'), h('th', { scope: 'col', class: 'num' }, 'Size'))),
      h(
        'tbody',
        null,
        data.items.map((r) =>
          h(
            'tr',
            null,
            h('td', { class: 'primary', 'data-label': 'Name' }, h('a', { href: repoHref(r.name) }, r.name)),
            h('td', { class: 'num', 'data-label': 'Tags' }, formatCount(r.tags)),
            h('td', { class: 'num', 'data-label': 'Size', title: formatCount(r.size) + ' bytes' }, (r.sizePartial ? '≥ ' : '') + formatBytes(r.size)),
          ),
        ),
      ),
    ),
  );
}

export async function renderHome(seq: number, r: Route): Promise<void> {
  const summary = h('section', { class: 'summary', 'aria-label': 'Storage' }, h('p', { class: 'muted' }, 'Counting storage…'));
  const list = filteredList({
    id: 'filter',
    label: 'Filter repositories',
    placeholder: 'part of a name, e.g. team/app',
    filter: r.params.get('q') || '',
    page: Math.max(1, Number(r.params.get('page')) || 1),
    seq,
    load: (filter, offset) => api<ListPage<RepositoryItem>>('repositories?' + query({ q: filter, offset, limit: PAGE_SIZE })),
    render: repoTable,
    href: (filter, p) => homeHref(query({ q: filter, page: p > 1 ? p : '' })),
  });
  show('Repositories', heading('Repositories'), summary, list.node);
  loadSummary(summary, seq);
  await list.load();
}

function tagCards(repo: string, data: TagPage, reload: () => Promise<void>): HTMLElement {
  if (data.items.length === 0) {
    return h('p', { class: 'count' }, data.q ? 'No tag matches “' + data.q + '”.' : 'This repository has no tags.');
  }
  return h(
    'div',
    null,
    countLine(data, 'tag', 'tags'),
    h(
      'ul',
      { class: 'cards', id: 'tags' },
      data.items.map((t) => {
        const digest = t.digest;
        if (!digest) {
          return h('li', { class: 'card', 'data-tag': t.tag }, h('span', { class: 'card-title' }, t.tag), ' ', h('span', { class: 'error' }, 'points at a missing manifest'));
        }
        const del = data.canDelete
          ? h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'aria-label': 'Delete the tag ' + t.tag,
                onclick: async () => {
                  if (!(await deleteTag(repo, t.tag, digest))) return;
                  // The list reloads in place; the button is gone, so the heading takes the focus.
                  await reload();
                  const h1 = main.querySelector('h1');
                  if (h1) h1.focus();
                },
              },
              'Delete',
            )
          : null;
        return h(
          'li',
          { class: 'card', 'data-tag': t.tag },
          h('div', { class: 'card-head' }, h('span', null, h('a', { class: 'card-title', href: imageHref(repo, t.tag) }, t.tag), ' ', h('span', { class: 'badge' }, kindLabel(t))), del),
          h(
            'div',
            { class: 'facts' },
            digestWithCopy(digest, repo + ':' + t.tag),
            h('span', { title: formatCount(t.size) + ' bytes' }, formatBytes(t.size)),
            h('span', null, 'created ', timeNode(t.created)),
            t.platforms.length ? h('span', { class: 'platforms' }, t.platforms.join(', ')) : null,
          ),
          pullLine(data.pullHost, repo, t.tag),
        );
      }),
    ),
  );
}

export async function renderRepo(seq: number, r: Route & { repo: string }): Promise<void> {
  const repo = r.repo;
  const list: FilteredList = filteredList<TagPage>({
    id: 'tag-filter',
    label: 'Filter tags',
    placeholder: 'part of a tag, e.g. 1.2',
    filter: r.params.get('q') || '',
    page: Math.max(1, Number(r.params.get('page')) || 1),
    seq,
    load: (filter, offset) => api<TagPage>('tags?' + query({ repo, q: filter, offset, limit: PAGE_SIZE })),
    render: (data) => tagCards(repo, data, () => list.load()),
    href: (filter, p) => repoHref(repo, query({ q: filter, page: p > 1 ? p : '' })),
  });
  show(repo, crumbs([['Repositories', '#/'], [repo]]), heading(repo), gcBanner(), list.node);
  await list.load();
}
