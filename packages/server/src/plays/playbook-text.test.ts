import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isConnectionVar, parsePlaybook, withRolling } from './playbook-text.js';

const GOOD = `# a comment
- name: one
  hosts: all
  tasks:
    - ansible.builtin.ping:
- import_playbook: other.yml
`;

describe('playbook text', () => {
  it('accepts a list of plays with hosts and tasks, and an import_playbook', () => {
    expect(() => parsePlaybook(GOOD)).not.toThrow();
    expect(() => parsePlaybook('- hosts: gpu\n  roles: [x]\n')).not.toThrow();
  });

  it.each([
    ['tasks: [', /line 1:\d+/],
    ['hosts: all\ntasks: []\n', /line 1:1: a playbook is a list of plays/],
    ['- hosts: all\n  tasks: []\n- 42\n', /line 3:3: play 2 is the value "42"/],
    ['- name: x\n  tasks: []\n', /line 1:3: play 1 has no hosts/],
    ['- hosts: all\n  name: nothing to do\n', /line 1:3: play 1 has no tasks, roles or import_playbook/],
    ['- hosts: all\n  hosts: again\n  tasks: []\n', /line 2:\d+: Map keys must be unique/],
    ['[]', /the list of plays is empty/],
    ['', /a playbook is a list of plays \(- hosts: \.\.\.\), not empty/],
  ])('refuses %j with where and why', (text, message) => {
    expect(() => parsePlaybook(text)).toThrow(message);
    try {
      parsePlaybook(text);
    } catch (err) {
      expect((err as { code: string }).code).toBe('invalid_argument');
    }
  });

  it('sets serial and max_fail_percentage on every play, leaving imports and comments alone', () => {
    const out = withRolling(GOOD, { serial: '25%', maxFailPercentage: 10 });
    expect(parse(out)).toEqual([
      { name: 'one', hosts: 'all', tasks: [{ 'ansible.builtin.ping': null }], serial: '25%', max_fail_percentage: 10 },
      { import_playbook: 'other.yml' },
    ]);
    expect(out).toContain('# a comment');
    expect(parse(withRolling(GOOD, { serial: '1', maxFailPercentage: null }))[0].serial).toBe(1);
    expect(withRolling(GOOD, { serial: null, maxFailPercentage: null })).toBe(GOOD);
  });

  it('knows the variables that say how Ansible connects', () => {
    for (const v of ['ansible_host', 'ansible_ssh_common_args', 'ansible_ssh_extra_args', 'ansible_password', 'ansible_connection', 'ansible_port']) {
      expect(isConnectionVar(v)).toBe(true);
    }
    for (const v of ['ansible_python_interpreter', 'nvidia_driver_version', 'host']) expect(isConnectionVar(v)).toBe(false);
  });
});
