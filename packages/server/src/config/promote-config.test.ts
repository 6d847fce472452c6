import { describe, expect, it } from 'vitest';
import { resolveServerConfig } from './server-config.js';

describe('promote settings', () => {
  it('default to gpufleet-agent in /var/lib/gpufleet-agent with no install command', () => {
    const c = resolveServerConfig({});
    expect(c).toMatchObject({ promoteAgentCommand: 'gpufleet-agent', promoteDataDir: '/var/lib/gpufleet-agent', agentInstallCommand: null });
  });

  it('come from flags, GPUFLEET_* variables and YAML keys like the others', () => {
    const env = {
      GPUFLEET_PROMOTE_AGENT_COMMAND: 'node /opt/gpufleet/agent/dist/bin.js',
      GPUFLEET_PROMOTE_DATA_DIR: '/srv/agent/',
      GPUFLEET_AGENT_INSTALL_COMMAND: 'apt-get install -y gpufleet-agent',
    };
    expect(resolveServerConfig({ env })).toMatchObject({
      promoteAgentCommand: 'node /opt/gpufleet/agent/dist/bin.js',
      promoteDataDir: '/srv/agent',
      agentInstallCommand: 'apt-get install -y gpufleet-agent',
    });
    expect(resolveServerConfig({ env, flags: { promoteDataDir: '/data/agent' } }).promoteDataDir).toBe('/data/agent');
  });

  it('refuse a relative data dir, the root folder and a quoted agent command, naming the key', () => {
    expect(() => resolveServerConfig({ flags: { promoteDataDir: 'agent' } })).toThrow(/'promote-data-dir': 'agent' must be an absolute folder/);
    expect(() => resolveServerConfig({ flags: { promoteDataDir: '/' } })).toThrow(/promote-data-dir/);
    expect(() => resolveServerConfig({ env: { GPUFLEET_PROMOTE_AGENT_COMMAND: "'my agent'" } })).toThrow(
      /environment variable 'promote-agent-command'.*without quotes/,
    );
  });
});
