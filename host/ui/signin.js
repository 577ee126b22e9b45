// The sign-in screen: paste a token (an admin gives it, or the server printed
// one at start as http://.../#token=...); it is exchanged for a session cookie.

import { h, clear, errorBox } from './dom.js';

/** Draws the form in `main`; `onToken(token)` signs in (throws to show why not). */
export function render(main, message, onToken) {
  clear(main);
  const input = h('input', { id: 'signin-token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'signin-help' });
  const errors = h('div', { id: 'signin-error', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'button primary', id: 'signin-submit' }, 'Sign in');
  const form = h('form', { class: 'card signin', 'aria-label': 'Sign in' },
    h('div', { class: 'field' }, h('label', { for: 'signin-token' }, 'Access token'), input,
      h('p', { class: 'muted', id: 'signin-help' }, 'The server prints the first admin\u2019s sign-in link when it starts (and keeps the token in its data directory, file admin-token); an admin gives everyone else a token.')),
    errors, button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(errors);
    button.disabled = true;
    try {
      await onToken(input.value.trim());
    } catch (err) {
      errors.append(errorBox(err.status === 401 ? 'That token is not valid (unknown, expired or revoked, or its user is disabled).' : err.message));
      button.disabled = false;
      input.focus();
    }
  });
  main.append(h('h1', {}, 'Sign in'), message ? h('p', { id: 'signin-message' }, message) : null, form);
  requestAnimationFrame(() => input.focus());
}
