// The UI's script, served as ui/app.js (a module), bundled by esbuild into the payload. Plain DOM,
// no dependencies: every node is built with createElement and textContent (the CSP forbids
// HTML-string sinks), it calls only the relative URLs ui/api/..., and it keeps no credentials:
// the session is an HttpOnly cookie. This file: the account area, sign-in, and routing.
import { api, failure, whenSignedOut, type Session } from './api.js';
import { h, heading } from './dom.js';
import { renderError, renderImage } from './image.js';
import { renderHome, renderRepo, type Route } from './lists.js';
import { page, show } from './page.js';

const account = document.getElementById('account')!;

function renderAccount(): void {
  const parts: HTMLElement[] = [];
  const session = page.session;
  if (session && session.readOnly) parts.push(h('span', { class: 'badge' }, 'read-only'));
  if (session && session.user) {
    parts.push(h('span', null, 'Signed in as ', h('strong', { id: 'current-user' }, session.user)));
    parts.push(h('button', { type: 'button', id: 'sign-out', onclick: signOut }, 'Sign out'));
  }
  account.replaceChildren(...parts);
}

async function signOut(): Promise<void> {
  try {
    await api('session', { method: 'DELETE' });
  } catch {
    // the cookie is gone or the server forgot it; either way we are signed out
  }
  page.session = { authRequired: true, user: null };
  renderAccount();
  renderSignIn('You have signed out.');
}

function renderSignIn(message?: string): void {
  page.renderSeq++;
  const user = h('input', { id: 'user', name: 'username', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { id: 'sign-in-error', class: 'error', role: 'alert' });
  const note = message ? h('p', { class: 'muted', id: 'sign-in-note' }, message) : null;
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'signin', method: 'post', action: 'ui/api/session', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title', tabindex: '-1' }, 'Sign in'),
    note,
    h('p', { class: 'muted' }, 'Use your registry user name and password, the ones docker login takes.'),
    h('div', { class: 'field' }, h('label', { for: 'user' }, 'User name'), user),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
    error,
    button,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    button.disabled = true;
    try {
      page.session = await api<Session>('session', { method: 'POST', body: { user: user.value, password: password.value }, signingIn: true });
      password.value = '';
      renderAccount();
      page.focusHeading = true;
      await route();
    } catch (e) {
      const { status, message } = failure(e);
      error.textContent = status === 401 ? 'Wrong user name or password.' : 'Could not sign in: ' + message;
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
// routing: #/ (repositories), #/repo/<name>, #/image/<name>/<tag or digest>

function parseRoute(): Route {
  const raw = location.hash.replace(/^#/, '') || '/';
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const params = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
  let parts: string[];
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = [];
  }
  if (parts[0] === 'repo' && parts.length === 2) return { view: 'repo', repo: parts[1], params };
  if (parts[0] === 'image' && parts.length === 3) return { view: 'image', repo: parts[1], ref: parts[2], params };
  return { view: 'home', params };
}

async function route(): Promise<void> {
  const seq = ++page.renderSeq;
  const session = page.session;
  if (!session) return;
  if (session.authRequired && !session.user) {
    renderSignIn();
    return;
  }
  const r = parseRoute();
  try {
    if (r.view === 'repo') await renderRepo(seq, r as Route & { repo: string });
    else if (r.view === 'image') await renderImage(seq, r as Route & { repo: string; ref: string });
    else await renderHome(seq, r);
  } catch (e) {
    if (seq === page.renderSeq && !failure(e).handled) renderError(e);
  }
}

async function start(): Promise<void> {
  // Any call that finds the session gone shows the sign-in form instead of its own error.
  whenSignedOut(() => {
    page.session = { authRequired: true, user: null };
    renderAccount();
    renderSignIn('Your session has ended; sign in again.');
  });
  window.addEventListener('hashchange', () => {
    page.focusHeading = true;
    route();
  });
  try {
    page.session = await api<Session>('session', { signingIn: true });
  } catch (e) {
    show('Error', heading('The registry did not answer'), h('p', { class: 'notice' }, failure(e).message));
    return;
  }
  renderAccount();
  await route();
}

start();
