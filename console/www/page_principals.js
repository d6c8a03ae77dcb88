// Principals and plugin policies (admin): who may call kmsd with which roles (GET
// /v1/principals), and for each plugin the keys and operations its policy allows (GET
// /v1/principals/{name}/policy). Creating principals and editing policies stay in kmsctl for
// now (docs/console.md, "What is left").
import * as api from './api.js';
import { h, table, time, fields } from './ui.js';

export async function render() {
  const list = await api.call('GET', '/v1/principals');
  const plugins = list.principals.filter((p) => p.roles.includes('plugin'));
  const policies = await Promise.all(plugins.map((p) => api.call('GET', `/v1/principals/${encodeURIComponent(p.name)}/policy`)));
  return h('section', { id: 'page-principals' },
    h('h1', {}, 'Principals'),
    table([
      ['Name', (p) => p.name],
      ['Roles', (p) => p.roles.join(', ')],
      ['Created', (p) => `${time(p.createdAt)} by ${p.createdBy || '—'}`],
      ['Disabled', (p) => (p.disabled ? 'yes' : 'no')],
    ], list.principals, { id: 'principals-table' }),
    h('h2', {}, 'Plugin policies'),
    policies.length ? policies.map((pol) => h('div', { class: 'card' }, h('h2', {}, pol.principal), pol.defined
      ? fields([['Keys', pol.keys.join(', ')], ['Operations', pol.operations.join(', ')], ['Updated', time(pol.updatedAt)]])
      : h('p', { class: 'muted' }, 'No policy: this plugin may do nothing with keys.')))
      : h('p', { class: 'muted' }, 'No principal holds the plugin role.'));
}
