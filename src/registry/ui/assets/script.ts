// The UI's script, served as ui/app.js (a module). Plain DOM, no dependencies. It builds every node
// with createElement and textContent (the CSP forbids HTML-string sinks), calls only the relative
// URLs ui/api/..., and keeps no credentials: the session is an HttpOnly cookie.
// Kept free of backticks and dollar-brace so it can sit in this String.raw template unchanged.
export const APP_JS = String.raw`'use strict';

const PAGE_SIZE = 50;
const main = document.getElementById('main');
const account = document.getElementById('account');
const statusBox = document.getElementById('status');

/** { authRequired, user, readOnly, deleteEnabled, canDelete } once known. */
let session = null;
/** Bumped on every navigation so that late answers for an old view are dropped. */
let renderSeq = 0;
let focusHeading = false;

// ---------------------------------------------------------------------------------------------
// DOM and formatting helpers

function h(tag, props) {
  const el = document.createElement(tag);
  if (props) {
    for (const key of Object.keys(props)) {
      const value = props[key];
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (key === 'value') el.value = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  const children = Array.prototype.slice.call(arguments, 2).flat(Infinity);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function formatBytes(n) {
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

function formatCount(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : '–';
}

function timeNode(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'unknown');
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return h('span', null, iso);
  return h('time', { datetime: iso, title: iso }, t.toLocaleString());
}

function shortDigest(digest) {
  const i = digest.indexOf(':');
  return digest.slice(0, i + 13);
}

function plural(n, one, many) {
  return formatCount(n) + ' ' + (n === 1 ? one : many);
}

function kindLabel(item) {
  if (item.kind === 'index') return 'multi-arch index';
  if (item.kind === 'artifact') return item.artifactType ? 'artifact: ' + item.artifactType : 'artifact';
  return 'image';
}

function query(params) {
  const s = new URLSearchParams();
  for (const key of Object.keys(params)) {
    const v = params[key];
    if (v !== undefined && v !== null && v !== '') s.set(key, String(v));
  }
  return s.toString();
}

const repoHref = (name, params) => '#/repo/' + encodeURIComponent(name) + (params ? '?' + params : '');
const imageHref = (name, ref) => '#/image/' + encodeURIComponent(name) + '/' + encodeURIComponent(ref);
const homeHref = (params) => '#/' + (params ? '?' + params : '');

let statusTimer;
function say(message) {
  clearTimeout(statusTimer);
  statusBox.textContent = message;
  statusTimer = setTimeout(() => { statusBox.textContent = ''; }, 6000);
}

async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (e) {
    // fall back below
  }
  const area = h('textarea', { class: 'sr-only', readonly: true, 'aria-hidden': 'true' });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch (e) {
    ok = false;
  }
  area.remove();
  return ok;
}

function copyButton(text, label) {
  return h('button', {
    type: 'button',
    class: 'copy',
    'data-copy': text,
    'aria-label': label,
    title: label,
    onclick: async (event) => {
      const button = event.currentTarget;
      const ok = await copyText(text);
      say(ok ? 'Copied: ' + text : 'Could not copy: select the text and copy it yourself.');
      if (ok) {
        button.textContent = 'Copied';
        setTimeout(() => { button.textContent = 'Copy'; }, 2000);
      }
    },
  }, 'Copy');
}

function crumbs(items) {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('ol', null, items.map((item, i) =>
      h('li', null, item[1] && i < items.length - 1 ? h('a', { href: item[1] }, item[0]) : h('span', { 'aria-current': 'page' }, item[0])))));
}

function heading(text) {
  return h('h1', { tabindex: '-1' }, text);
}

/** Replaces the main area with a new view; after a navigation the heading takes the focus. */
function show(title) {
  document.title = title + ' · Registry';
  main.replaceChildren.apply(main, Array.prototype.slice.call(arguments, 1).flat(Infinity).filter(Boolean));
  if (focusHeading) {
    const h1 = main.querySelector('h1');
    if (h1) h1.focus();
    focusHeading = false;
  }
}

function gcBanner() {
  if (!session || !session.canDelete) return null;
  return h('p', { class: 'banner', id: 'gc-banner' },
    'Deleting a tag removes only the name; deleting a manifest removes it and every tag that points at it. ',
    'Neither frees disk space by itself: the space is reclaimed when garbage collection runs (',
    h('code', null, 'registry-setup gc <host>'),
    '; add ', h('code', null, '--delete-untagged'), ' to also drop manifests that no tag points at).');
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    this.handled = false;
  }
}

async function api(path, options) {
  const opts = options || {};
  const init = { method: opts.method || 'GET', headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
  if (opts.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch('ui/api/' + path, init);
  } catch (e) {
    throw new ApiError(0, 'NETWORK', 'the registry did not answer (' + e.message + ')');
  }
  let data = null;
  try {
    data = await res.json();
  } catch (e) {
    data = null;
  }
  if (res.ok) return data;
  const first = data && data.errors && data.errors[0];
  const err = new ApiError(res.status, first ? first.code : 'HTTP_' + res.status, first ? first.message : res.status + ' ' + res.statusText);
  if (res.status === 401 && !opts.signingIn) {
    session = { authRequired: true, user: null };
    renderAccount();
    renderSignIn('Your session has ended; sign in again.');
    err.handled = true;
  }
  throw err;
}

// ---------------------------------------------------------------------------------------------
// sign-in and the account area

function renderAccount() {
  const parts = [];
  if (session && session.readOnly) parts.push(h('span', { class: 'badge' }, 'read-only'));
  if (session && session.user) {
    parts.push(h('span', null, 'Signed in as ', h('strong', { id: 'current-user' }, session.user)));
    parts.push(h('button', { type: 'button', id: 'sign-out', onclick: signOut }, 'Sign out'));
  }
  account.replaceChildren.apply(account, parts);
}

async function signOut() {
  try {
    await api('session', { method: 'DELETE' });
  } catch (e) {
    // the cookie is gone or the server forgot it; either way we are signed out
  }
  session = { authRequired: true, user: null };
  renderAccount();
  renderSignIn('You have signed out.');
}

function renderSignIn(message) {
  renderSeq++;
  const user = h('input', { id: 'user', name: 'username', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { id: 'sign-in-error', class: 'error', role: 'alert' });
  const note = message ? h('p', { class: 'muted', id: 'sign-in-note' }, message) : null;
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'signin', method: 'post', action: 'ui/api/session', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title', tabindex: '-1' }, 'Sign in'),
    note,
    h('p', { class: 'muted' }, 'Use your registry user name and password, the ones docker login takes.'),
    h('div', { class: 'field' }, h('label', { for: 'user' }, 'User name'), user),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
    error,
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    button.disabled = true;
    try {
      session = await api('session', { method: 'POST', body: { user: user.value, password: password.value }, signingIn: true });
      password.value = '';
      renderAccount();
      focusHeading = true;
      await route();
    } catch (e) {
      error.textContent = e.status === 401 ? 'Wrong user name or password.' : 'Could not sign in: ' + e.message;
      password.value = '';
      password.focus();
    } finally {
      button.disabled = false;
    }
  });
  show('Sign in', form);
  user.focus();
}

// ---------------------------------------------------------------------------------------------
// a filter box with a paginated list under it

/**
 * opts: { id, label, placeholder, filter, page, load(filter, offset) -> data, render(data) -> node,
 *         href(filter, page) -> hash, seq }. The filter rewrites the address without a navigation
 * (so typing keeps the focus); the pager is made of plain links, so Back works.
 */
function filteredList(opts) {
  let filter = opts.filter;
  let page = opts.page;
  let timer;
  let loadSeq = 0;
  const input = h('input', {
    id: opts.id, type: 'search', value: filter, placeholder: opts.placeholder, autocomplete: 'off', spellcheck: 'false',
    'aria-controls': opts.id + '-results',
  });
  const results = h('div', { id: opts.id + '-results', 'aria-busy': 'false' });
  // Screen readers hear the new count after each filter or page change, not the whole table.
  const announce = h('p', { class: 'sr-only', 'aria-live': 'polite' });
  async function load() {
    const mine = ++loadSeq;
    results.setAttribute('aria-busy', 'true');
    try {
      const data = await opts.load(filter, (page - 1) * PAGE_SIZE);
      if (mine !== loadSeq || opts.seq !== renderSeq) return;
      results.replaceChildren(...[opts.render(data), pager(data, (p) => opts.href(filter, p))].filter(Boolean));
      const count = results.querySelector('.count');
      announce.textContent = count ? count.textContent : '';
    } catch (e) {
      if (e.handled || mine !== loadSeq || opts.seq !== renderSeq) return;
      results.replaceChildren(h('p', { class: 'error' }, 'Could not load the list: ' + e.message));
    } finally {
      if (mine === loadSeq) results.setAttribute('aria-busy', 'false');
    }
  }
  function apply() {
    clearTimeout(timer);
    const next = input.value.trim();
    if (next === filter) return;
    filter = next;
    page = 1;
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

function pager(data, hrefFor) {
  const pages = Math.max(1, Math.ceil(data.total / data.limit));
  const current = Math.floor(data.offset / data.limit) + 1;
  if (pages <= 1) return null;
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    current > 1 ? h('a', { href: hrefFor(current - 1), rel: 'prev' }, '← Previous') : h('span', { class: 'disabled' }, '← Previous'),
    h('span', null, 'Page ' + current + ' of ' + pages),
    current < pages ? h('a', { href: hrefFor(current + 1), rel: 'next' }, 'Next →') : h('span', { class: 'disabled' }, 'Next →'));
}

function countLine(data, noun, nouns) {
  const first = data.total === 0 ? 0 : data.offset + 1;
  const last = Math.min(data.offset + data.items.length, data.total);
  const range = data.total > data.items.length ? formatCount(first) + '–' + formatCount(last) + ' of ' : '';
  return h('p', { class: 'count' }, range + plural(data.total, noun, nouns) + (data.q ? ' matching “' + data.q + '”' : ''));
}

// ---------------------------------------------------------------------------------------------
// views

function stat(label, value, extra) {
  return h('div', null, h('dt', null, label), h('dd', null, value), extra || null);
}

async function loadSummary(box, seq) {
  try {
    const s = await api('summary');
    if (seq !== renderSeq) return;
    const disk = s.disk;
    box.replaceChildren(h('h2', { class: 'sr-only' }, 'Storage'), h('dl', { class: 'stats', id: 'storage-summary' },
      stat('Repositories', formatCount(s.repositories)),
      stat('Tags', formatCount(s.tags)),
      stat('Registry data', formatBytes(s.blobBytes), h('dd', { class: 'sub' }, plural(s.blobs, 'blob', 'blobs'))),
      disk ? stat('Free disk', formatBytes(disk.available),
        h('dd', { class: 'sub' }, h('meter', { min: 0, max: disk.size, value: disk.size - disk.available, 'aria-label': 'Disk in use', title: formatBytes(disk.size - disk.available) + ' of ' + formatBytes(disk.size) + ' in use' }),
          'of ' + formatBytes(disk.size))) : null));
  } catch (e) {
    if (!e.handled && seq === renderSeq) box.replaceChildren(h('p', { class: 'muted' }, 'Storage summary unavailable: ' + e.message));
  }
}

function repoTable(data) {
  if (data.items.length === 0) {
    return h('p', { class: 'count' }, data.q
      ? 'No repository matches “' + data.q + '”.'
      : 'No repositories yet: push an image and it shows up here.');
  }
  return h('div', null, countLine(data, 'repository', 'repositories'),
    h('table', { class: 'list', id: 'repositories' },
      h('caption', { class: 'sr-only' }, 'Repositories'),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col', class: 'num' }, 'Tags'),
        h('th', { scope: 'col', class: 'num' }, 'Size'))),
      h('tbody', null, data.items.map((r) => h('tr', null,
        h('td', { class: 'primary', 'data-label': 'Name' }, h('a', { href: repoHref(r.name) }, r.name)),
        h('td', { class: 'num', 'data-label': 'Tags' }, formatCount(r.tags)),
        h('td', { class: 'num', 'data-label': 'Size', title: formatCount(r.size) + ' bytes' }, (r.sizePartial ? '≥ ' : '') + formatBytes(r.size)))))));
}

async function renderHome(seq, r) {
  const summary = h('section', { class: 'summary', 'aria-label': 'Storage' }, h('p', { class: 'muted' }, 'Counting storage…'));
  const list = filteredList({
    id: 'filter',
    label: 'Filter repositories',
    placeholder: 'part of a name, e.g. team/app',
    filter: r.params.get('q') || '',
    page: Math.max(1, Number(r.params.get('page')) || 1),
    seq,
    load: (filter, offset) => api('repositories?' + query({ q: filter, offset, limit: PAGE_SIZE })),
    render: repoTable,
    href: (filter, page) => homeHref(query({ q: filter, page: page > 1 ? page : '' })),
  });
  show('Repositories', heading('Repositories'), summary, list.node);
  loadSummary(summary, seq);
  await list.load();
}

function pullLine(host, repo, tag, digest) {
  const line = 'docker pull ' + host + '/' + repo + (tag ? ':' + tag : '@' + digest);
  return h('div', { class: 'pull' }, h('code', { class: 'pull-line' }, line), copyButton(line, 'Copy the pull command for ' + repo + (tag ? ':' + tag : '')));
}

function digestWithCopy(digest, what) {
  return h('span', { class: 'digest' }, h('code', { title: digest }, shortDigest(digest)), copyButton(digest, 'Copy the digest of ' + what));
}

async function confirmDelete(title, body, confirmLabel) {
  const previous = document.activeElement;
  const answer = await new Promise((resolve) => {
    const cancel = h('button', { type: 'button', id: 'confirm-cancel' }, 'Cancel');
    const ok = h('button', { type: 'button', class: 'danger solid', id: 'confirm-ok' }, confirmLabel);
    const dialog = h('dialog', { class: 'confirm', id: 'confirm', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-body' },
      h('h2', { id: 'confirm-title' }, title),
      h('div', { id: 'confirm-body' }, body),
      h('div', { class: 'actions' }, cancel, ok));
    const finish = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    cancel.addEventListener('click', () => finish(false));
    ok.addEventListener('click', () => finish(true));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
  if (previous && previous.isConnected && typeof previous.focus === 'function') previous.focus();
  return answer;
}

async function deleteTag(repo, tag, digest) {
  const ok = await confirmDelete('Delete the tag ' + repo + ':' + tag + '?', [
    h('p', null, 'This goes:'),
    h('ul', null, h('li', null, 'the tag ', h('code', null, repo + ':' + tag))),
    h('p', null, 'The manifest ', h('code', null, digest), ' it points at stays, and so do other tags that point at it. Disk space comes back only after garbage collection.'),
  ], 'Delete tag');
  if (!ok) return false;
  try {
    await api('tag?' + query({ repo, tag, digest }), { method: 'DELETE' });
    say('Deleted the tag ' + repo + ':' + tag + '.');
    return true;
  } catch (e) {
    if (!e.handled) say('Could not delete the tag: ' + e.message);
    return false;
  }
}

async function deleteManifest(repo, digest, tags, referrers) {
  const items = [h('li', null, 'the manifest ', h('code', null, repo + '@' + digest))];
  for (const tag of tags) items.push(h('li', null, 'the tag ', h('code', null, repo + ':' + tag)));
  const ok = await confirmDelete('Delete the manifest ' + repo + '@' + shortDigest(digest) + '?', [
    h('p', null, 'This goes:'),
    h('ul', null, items),
    referrers > 0
      ? h('p', null, plural(referrers, 'referrer (a signature, SBOM or other artifact) stays', 'referrers (signatures, SBOMs or other artifacts) stay') + ', pointing at a manifest that is gone, until deleted too.')
      : null,
    h('p', null, 'An index that lists this manifest breaks. Disk space comes back only after garbage collection.'),
  ], tags.length ? 'Delete manifest and ' + plural(tags.length, 'tag', 'tags') : 'Delete manifest');
  if (!ok) return false;
  try {
    await api('manifest?' + query({ repo, digest }), { method: 'DELETE' });
    say('Deleted the manifest ' + repo + '@' + shortDigest(digest) + (tags.length ? ' and ' + plural(tags.length, 'tag', 'tags') : '') + '.');
    return true;
  } catch (e) {
    if (!e.handled) say('Could not delete the manifest: ' + e.message);
    return false;
  }
}

function tagCards(repo, data, reload) {
  if (data.items.length === 0) {
    return h('p', { class: 'count' }, data.q ? 'No tag matches “' + data.q + '”.' : 'This repository has no tags.');
  }
  return h('div', null, countLine(data, 'tag', 'tags'),
    h('ul', { class: 'cards', id: 'tags' }, data.items.map((t) => {
      if (!t.digest) {
        return h('li', { class: 'card', 'data-tag': t.tag }, h('span', { class: 'card-title' }, t.tag), ' ', h('span', { class: 'error' }, 'points at a missing manifest'));
      }
      const del = data.canDelete ? h('button', {
        type: 'button', class: 'danger', 'aria-label': 'Delete the tag ' + t.tag,
        onclick: async () => {
          if (!(await deleteTag(repo, t.tag, t.digest))) return;
          // The list reloads in place; the button is gone, so the heading takes the focus.
          await reload();
          const h1 = main.querySelector('h1');
          if (h1) h1.focus();
        },
      }, 'Delete') : null;
      return h('li', { class: 'card', 'data-tag': t.tag },
        h('div', { class: 'card-head' },
          h('span', null, h('a', { class: 'card-title', href: imageHref(repo, t.tag) }, t.tag), ' ', h('span', { class: 'badge' }, kindLabel(t))),
          del),
        h('div', { class: 'facts' },
          digestWithCopy(t.digest, repo + ':' + t.tag),
          h('span', { title: formatCount(t.size) + ' bytes' }, formatBytes(t.size)),
          h('span', null, 'created ', timeNode(t.created)),
          t.platforms.length ? h('span', { class: 'platforms' }, t.platforms.join(', ')) : null),
        pullLine(data.pullHost, repo, t.tag));
    })));
}

async function renderRepo(seq, r) {
  const repo = r.repo;
  let list = null;
  list = filteredList({
    id: 'tag-filter',
    label: 'Filter tags',
    placeholder: 'part of a tag, e.g. 1.2',
    filter: r.params.get('q') || '',
    page: Math.max(1, Number(r.params.get('page')) || 1),
    seq,
    load: (filter, offset) => api('tags?' + query({ repo, q: filter, offset, limit: PAGE_SIZE })),
    render: (data) => tagCards(repo, data, () => list.load()),
    href: (filter, page) => repoHref(repo, query({ q: filter, page: page > 1 ? page : '' })),
  });
  show(repo, crumbs([['Repositories', '#/'], [repo]]), heading(repo), gcBanner(), list.node);
  await list.load();
}

function detailsRow(label, value) {
  if (value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) return null;
  return [h('dt', null, label), h('dd', null, value)];
}

function codeList(values) {
  return h('ul', { class: 'inline' }, values.map((v) => h('li', null, h('code', null, v))));
}

function platformsSection(d) {
  if (d.kind !== 'index') return null;
  return [h('h2', { id: 'platforms-title' }, 'Platforms'),
    h('table', { class: 'list', id: 'platforms', 'aria-labelledby': 'platforms-title' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Platform'), h('th', { scope: 'col' }, 'Manifest'), h('th', { scope: 'col', class: 'num' }, 'Size'))),
      h('tbody', null, d.platforms.map((p) => h('tr', null,
        h('td', { class: 'primary', 'data-label': 'Platform' }, p.platform, p.attestation ? [' ', h('span', { class: 'badge' }, 'attestation')] : null),
        h('td', { 'data-label': 'Manifest' }, p.present ? h('a', { href: imageHref(d.repo, p.digest), title: p.digest }, h('code', null, shortDigest(p.digest))) : [h('code', null, shortDigest(p.digest)), ' (missing)']),
        h('td', { class: 'num', 'data-label': 'Size', title: formatCount(p.size) + ' bytes' }, formatBytes(p.size))))))];
}

function configSection(d) {
  const c = d.config;
  if (!c) return null;
  const labels = Object.keys(c.labels).sort();
  return [h('h2', null, 'Configuration'),
    h('dl', { class: 'details', id: 'config' },
      detailsRow('Platform', c.os ? [c.os, c.architecture, c.variant].filter(Boolean).join('/') : null),
      detailsRow('Entrypoint', c.entrypoint ? h('code', null, JSON.stringify(c.entrypoint)) : null),
      detailsRow('Command', c.cmd ? h('code', null, JSON.stringify(c.cmd)) : null),
      detailsRow('Working directory', c.workingDir ? h('code', null, c.workingDir) : null),
      detailsRow('User', c.user ? h('code', null, c.user) : null),
      detailsRow('Exposed ports', c.exposedPorts.length ? codeList(c.exposedPorts) : null),
      detailsRow('Volumes', c.volumes.length ? codeList(c.volumes) : null),
      detailsRow('Environment', c.env.length ? [codeList(c.env), h('span', { class: 'muted' }, 'names only; values are not shown')] : null),
      detailsRow('Author', c.author)),
    labels.length ? [h('h2', null, 'Labels'),
      h('table', { class: 'list', id: 'labels' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Label'), h('th', { scope: 'col' }, 'Value'))),
        h('tbody', null, labels.map((k) => h('tr', null, h('td', { class: 'primary', 'data-label': 'Label' }, h('code', null, k)), h('td', { 'data-label': 'Value' }, c.labels[k])))))] : null];
}

function layersSection(d) {
  if (d.kind === 'index') return null;
  const total = d.layers.reduce((a, l) => a + l.size, 0);
  return [h('h2', { id: 'layers-title' }, d.kind === 'artifact' ? 'Blobs' : 'Layers'),
    d.layers.length === 0 ? h('p', { class: 'muted' }, 'None.') :
      h('table', { class: 'list', id: 'layers', 'aria-labelledby': 'layers-title' },
        h('thead', null, h('tr', null, h('th', { scope: 'col', class: 'num' }, '#'), h('th', { scope: 'col' }, 'Digest'), h('th', { scope: 'col' }, 'Media type'), h('th', { scope: 'col', class: 'num' }, 'Size'))),
        h('tbody', null, d.layers.map((l, i) => h('tr', null,
          h('td', { class: 'num', 'data-label': '#' }, String(i + 1)),
          h('td', { 'data-label': 'Digest' }, digestWithCopy(l.digest, 'layer ' + (i + 1))),
          h('td', { 'data-label': 'Media type' }, h('span', { class: 'mono' }, l.mediaType)),
          h('td', { class: 'num', 'data-label': 'Size', title: formatCount(l.size) + ' bytes' }, formatBytes(l.size)))),
          h('tr', null, h('td', { 'data-label': '' }), h('td', { 'data-label': '' }, h('strong', null, 'Total')), h('td', { 'data-label': '' }),
            h('td', { class: 'num', 'data-label': 'Total', title: formatCount(total) + ' bytes' }, h('strong', null, formatBytes(total))))))];
}

function referrersSection(d) {
  return [h('h2', { id: 'referrers-title' }, 'Referrers'),
    h('p', { class: 'muted' }, 'Signatures, SBOMs, attestations and other artifacts whose subject is this manifest.'),
    d.referrers.length === 0 ? h('p', { id: 'no-referrers' }, 'Nothing refers to this manifest.') :
      h('table', { class: 'list', id: 'referrers', 'aria-labelledby': 'referrers-title' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Artifact type'), h('th', { scope: 'col' }, 'Manifest'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col', class: 'num' }, 'Manifest size'))),
        h('tbody', null, d.referrers.map((x) => h('tr', null,
          h('td', { 'data-label': 'Artifact type' }, h('span', { class: 'mono artifact-type' }, x.artifactType || x.mediaType)),
          h('td', { 'data-label': 'Manifest' }, h('a', { href: imageHref(d.repo, x.digest), title: x.digest }, h('code', null, shortDigest(x.digest))),
            x.tags.length ? [' ', h('span', { class: 'muted' }, x.tags.join(', '))] : null),
          h('td', { 'data-label': 'Created' }, timeNode(x.created)),
          h('td', { class: 'num', 'data-label': 'Manifest size' }, formatBytes(x.size))))))];
}

async function renderImage(seq, r) {
  const d = await api('manifest?' + query({ repo: r.repo, ref: r.ref }));
  if (seq !== renderSeq) return;
  const title = d.tag ? d.repo + ':' + d.tag : d.repo + '@' + shortDigest(d.digest);
  const otherTags = d.tags.filter((t) => t !== d.tag);
  const actions = d.canDelete ? h('div', { class: 'actions' },
    d.tag ? h('button', {
      type: 'button', class: 'danger', id: 'delete-tag',
      onclick: async () => {
        if (await deleteTag(d.repo, d.tag, d.digest)) location.hash = repoHref(d.repo);
      },
    }, 'Delete tag ' + d.tag) : null,
    h('button', {
      type: 'button', class: 'danger', id: 'delete-manifest',
      onclick: async () => {
        if (await deleteManifest(d.repo, d.digest, d.tags, d.referrers.length)) location.hash = repoHref(d.repo);
      },
    }, 'Delete manifest')) : null;
  show(title,
    crumbs([['Repositories', '#/'], [d.repo, repoHref(d.repo)], [d.tag || shortDigest(d.digest)]]),
    heading(title),
    gcBanner(),
    h('dl', { class: 'details', id: 'summary' },
      detailsRow('Digest', h('span', { class: 'digest' }, h('code', { id: 'digest' }, d.digest), copyButton(d.digest, 'Copy the digest'))),
      detailsRow('Kind', kindLabel(d)),
      detailsRow('Media type', h('span', { class: 'mono' }, d.mediaType)),
      detailsRow('Size', h('span', { title: formatCount(d.size) + ' bytes' }, formatBytes(d.size) + (d.kind === 'index' ? ' (all platforms)' : ' (config and layers, compressed)'))),
      detailsRow('Created', timeNode(d.created)),
      detailsRow(d.tag ? 'Other tags' : 'Tags', (d.tag ? otherTags : d.tags).length ? h('ul', { class: 'inline' }, (d.tag ? otherTags : d.tags).map((t) => h('li', null, h('a', { href: imageHref(d.repo, t) }, t)))) : null),
      detailsRow('Subject', d.subject ? h('a', { href: imageHref(d.repo, d.subject.digest), id: 'subject' }, h('code', null, d.subject.digest)) : null),
      detailsRow('Pull', pullLine(d.pullHost, d.repo, d.tag, d.digest))),
    actions,
    platformsSection(d),
    configSection(d),
    layersSection(d),
    referrersSection(d));
}

function renderError(e) {
  const notFound = e.status === 404;
  show(notFound ? 'Not found' : 'Error',
    crumbs([['Repositories', '#/'], [notFound ? 'Not found' : 'Error']]),
    heading(notFound ? 'Not found' : 'Something went wrong'),
    h('p', { class: 'notice' }, e.message || String(e)),
    h('p', null, h('a', { href: '#/' }, 'Back to the repositories')));
}

// ---------------------------------------------------------------------------------------------
// routing: #/ (repositories), #/repo/<name>, #/image/<name>/<tag or digest>

function parseRoute() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const params = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
  let parts;
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch (e) {
    parts = [];
  }
  if (parts[0] === 'repo' && parts.length === 2) return { view: 'repo', repo: parts[1], params };
  if (parts[0] === 'image' && parts.length === 3) return { view: 'image', repo: parts[1], ref: parts[2], params };
  return { view: 'home', params };
}

async function route() {
  const seq = ++renderSeq;
  if (!session) return;
  if (session.authRequired && !session.user) {
    renderSignIn();
    return;
  }
  const r = parseRoute();
  try {
    if (r.view === 'repo') await renderRepo(seq, r);
    else if (r.view === 'image') await renderImage(seq, r);
    else await renderHome(seq, r);
  } catch (e) {
    if (seq === renderSeq && !e.handled) renderError(e);
  }
}

async function start() {
  window.addEventListener('hashchange', () => {
    focusHeading = true;
    route();
  });
  try {
    session = await api('session', { signingIn: true });
  } catch (e) {
    show('Error', heading('The registry did not answer'), h('p', { class: 'notice' }, e.message));
    return;
  }
  renderAccount();
  await route();
}

start();
`;
