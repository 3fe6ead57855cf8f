// The operator's console: sign-in with the master key, then one page at a time by the URL's #fragment.
// Nothing here is secret: the files are public, and every piece of data comes from the key API with the key.
import { ApiError, api, onUnauthorized, session } from './api.js';
import * as instances from './instances.js';
import * as keys from './keys.js';
import * as requests from './requests.js';
import * as spend from './spend.js';

const PAGES = { keys, spend, requests, instances };
const $ = (id) => document.getElementById(id);
let current = null;

function signedIn() {
  $('signin').hidden = true;
  $('nav').hidden = false;
  route();
}

/** Forgets the key and everything shown with it: the page starts again from the sign-in form. */
function signOut(reason) {
  session.clear();
  keys.hideNewKey();
  current?.hide?.();
  current = null;
  for (const name of Object.keys(PAGES)) $(name).hidden = true;
  $('nav').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = reason ?? '';
  window.location.replace('#');
  $('signin-key').focus();
}

function route() {
  if (!session.key) return;
  const name = window.location.hash.slice(1) in PAGES ? window.location.hash.slice(1) : 'keys';
  current?.hide?.();
  current = PAGES[name];
  for (const page of Object.keys(PAGES)) $(page).hidden = page !== name;
  for (const link of $('nav').querySelectorAll('a')) {
    if (link.hash === `#${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  $(`${name}-title`).focus(); // keyboard and screen-reader users land on the page they chose
  current.show();
}

async function signIn(event) {
  event.preventDefault();
  const key = $('signin-key').value.trim();
  $('signin-error').textContent = '';
  if (!key) {
    $('signin-error').textContent = 'Enter the master key.';
    return;
  }
  try {
    await api('/key/list?size=1', { key }); // only the master key may list keys
  } catch (error) {
    const refused = error instanceof ApiError && (error.status === 401 || error.status === 403);
    // A key other than the master key gets 403 admin_only whether or not it exists (a wrong one included).
    $('signin-error').textContent = refused ? 'The gateway refused this key: the console needs the master key.'
      : `The gateway could not be asked: ${error.message}`;
    return;
  }
  $('signin-key').value = '';
  session.set(key);
  signedIn();
}

for (const page of Object.values(PAGES)) page.setup?.();
$('signin-form').addEventListener('submit', signIn);
$('sign-out').addEventListener('click', () => signOut());
window.addEventListener('hashchange', route);
onUnauthorized(() => signOut('The gateway no longer accepts the key: sign in again.'));
if (session.key) signedIn();
else $('signin-key').focus();
