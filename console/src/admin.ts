// The admin pages (/console/admin/): projects and their API keys, behind the operator's
// ADMIN_TOKEN. A separate bundle with its own sign-in slot, so the tenant console never holds the
// admin token and never shows admin actions.

import { ApiFailure, client, enc, type Fetcher } from './api';
import { h, notice, replace, table, when } from './dom';
import { forget, signInForm, storedToken, type SignIn } from './session';

interface Project {
  id: string;
  name: string;
  created_at: string;
}
interface ApiKey {
  id: string;
  project: string;
  label: string;
  last4: string;
  created_at: string;
  revoked_at: string | null;
}

const SIGN_IN: SignIn = {
  slot: 'rtcgate.admin.token',
  what: 'admin token',
  title: 'rtcgate admin',
  intro: 'Sign in with the server\'s ADMIN_TOKEN to manage projects and their API keys. It is kept for this browser tab only.',
  // Listing the keys of a project that does not exist: 404 with a good token, 401/403 without.
  check: (api) =>
    api('GET', '/v1/admin/projects/prj_check/keys').catch((e) => {
      if (e instanceof ApiFailure && e.status === 404) return null;
      throw e;
    }),
};

const root = document.getElementById('app') as HTMLElement;

function start(message?: string): void {
  const token = storedToken(SIGN_IN.slot);
  if (!token) signInForm(root, SIGN_IN, (t) => admin(client(t)), message);
  else admin(client(token));
}

function describe(e: unknown): string {
  return e instanceof ApiFailure ? e.describe() : String(e);
}

function admin(api: Fetcher): void {
  const main = h('main', { id: 'main', tabindex: '-1' });
  replace(
    root,
    h(
      'header',
      { class: 'top' },
      h('span', { class: 'brand' }, 'rtcgate admin'),
      h('nav', { 'aria-label': 'Admin' }, h('ul', {}, h('li', { class: 'sign-out' }, h('button', { type: 'button', onclick: () => (forget(SIGN_IN.slot), start()) }, 'Sign out')))),
    ),
    main,
  );

  const projectName = h('input', { id: 'project-name', required: true, maxlength: 128, autocomplete: 'off' });
  const projectResult = h('div');
  const createProject = h(
    'form',
    { class: 'inline', 'aria-label': 'Create a project' },
    h('div', { class: 'field' }, h('label', { for: 'project-name' }, 'Project name'), projectName),
    h('button', { type: 'submit' }, 'Create project'),
  );
  const projectId = h('input', { id: 'project-id', required: true, autocomplete: 'off', placeholder: 'prj_…' });
  const openProject = h(
    'form',
    { class: 'inline', 'aria-label': 'Open a project' },
    h('div', { class: 'field' }, h('label', { for: 'project-id' }, 'Project id'), projectId),
    h('button', { type: 'submit' }, 'Show keys'),
  );
  const keys = h('section', { 'aria-label': 'API keys' });
  replace(main, h('h1', {}, 'Projects and API keys'), createProject, projectResult, openProject, keys);

  createProject.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const { project } = await api<{ project: Project }>('POST', '/v1/admin/projects', { name: projectName.value.trim() });
      replace(projectResult, notice(`Created project ${project.name}: ${project.id}`));
      projectId.value = project.id;
      await showKeys(project.id);
    } catch (e) {
      replace(projectResult, notice(describe(e), 'error'));
    }
  });
  openProject.addEventListener('submit', (ev) => {
    ev.preventDefault();
    showKeys(projectId.value.trim()).catch((e) => replace(keys, notice(describe(e), 'error')));
  });

  async function showKeys(project: string): Promise<void> {
    const label = h('input', { id: 'key-label', required: true, maxlength: 128, autocomplete: 'off' });
    const created = h('div');
    const form = h(
      'form',
      { class: 'inline', 'aria-label': 'Create an API key' },
      h('div', { class: 'field' }, h('label', { for: 'key-label' }, 'New key label'), label),
      h('button', { type: 'submit' }, 'Create key'),
    );
    const list = h('div');
    const render = async () => {
      const page = await api<{ items: ApiKey[] }>('GET', `/v1/admin/projects/${enc(project)}/keys`);
      replace(
        list,
        table(
          `API keys of ${project}`,
          ['Label', 'Key', 'Created', 'Revoked', ''],
          page.items.map((k) => [
            k.label,
            h('code', {}, `…${k.last4}`),
            when(k.created_at),
            when(k.revoked_at),
            k.revoked_at
              ? ''
              : h(
                  'button',
                  {
                    type: 'button',
                    'aria-label': `Revoke key ${k.label} ending ${k.last4}`,
                    onclick: async () => {
                      if (!confirm(`Revoke ${k.label} (…${k.last4})? Requests with it fail at once.`)) return;
                      try {
                        await api('POST', `/v1/admin/keys/${enc(k.id)}/revoke`);
                        await render();
                      } catch (e) {
                        replace(created, notice(describe(e), 'error'));
                      }
                    },
                  },
                  'Revoke',
                ),
          ]),
          'This project has no keys yet.',
        ),
      );
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const k = await api<{ key: ApiKey; secret: string }>('POST', `/v1/admin/projects/${enc(project)}/keys`, { label: label.value.trim() });
        replace(
          created,
          h('div', { class: 'notice ok', role: 'status' }, h('p', {}, `Key ${k.key.label} created. It is shown this once:`), h('pre', { class: 'payload secret', tabindex: '0' }, k.secret)),
        );
        label.value = '';
        await render();
      } catch (e) {
        replace(created, notice(describe(e), 'error'));
      }
    });
    replace(keys, h('h2', {}, `Keys of ${project}`), form, created, list);
    await render();
  }
}

start();
