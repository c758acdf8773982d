// Signing in with a bearer token kept in sessionStorage: it lives as long as the browser tab and
// is never written anywhere else. Shared by the tenant console and the admin pages, each with its
// own storage slot, so signing in to one never signs in to the other.

import { client, signInProblem, type Fetcher } from './api';
import { h, replace } from './dom';

export interface SignIn {
  /** sessionStorage slot. */
  slot: string;
  what: 'API key' | 'admin token';
  title: string;
  intro: string;
  /** A call that succeeds only with a good token (the check before it is kept). */
  check(api: Fetcher): Promise<unknown>;
}

export function storedToken(slot: string): string | null {
  return sessionStorage.getItem(slot);
}

export function forget(slot: string): void {
  sessionStorage.removeItem(slot);
}

/** Renders the sign-in form into `root`; calls `signedIn` with a checked token. */
export function signInForm(root: HTMLElement, s: SignIn, signedIn: (token: string) => void, message?: string): void {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const problem = h('div', { id: 'sign-in-problem' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'sign-in', 'aria-describedby': 'sign-in-intro' },
    h('h1', {}, s.title),
    h('p', { id: 'sign-in-intro' }, s.intro),
    h('label', { for: 'token' }, s.what),
    input,
    button,
    problem,
  );
  if (message) replace(problem, h('p', { class: 'notice error', role: 'alert' }, message));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    replace(problem, h('p', { role: 'status' }, 'Checking…'));
    try {
      await s.check(client(token));
      sessionStorage.setItem(s.slot, token);
      signedIn(token);
    } catch (e) {
      replace(problem, h('p', { class: 'notice error', role: 'alert' }, signInProblem(e, s.what)));
      input.focus();
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  replace(root, h('main', { id: 'main', class: 'narrow' }, form));
  input.focus();
}
