import { describe, expect, it } from 'vitest';
import { demoTryLines } from './demo-setup.js';

const root = { isRoot: true, created: true, roots: ['did:key:z6MkDemo'] } as unknown as Parameters<typeof demoTryLines>[0]['root'];

describe('the demo banner', () => {
  it('teaches a signed job with the demo key when the key is the fleet root', () => {
    const text = demoTryLines({ keyArg: './gpufleet-data/demo-operator.key', root, nvidiaHost: 'sim-h100-001', dataDirArg: null, faultsEveryMs: null });
    expect(text).toContain('npx gpufleet jobs run examples/jobs/llama.yaml --key ./gpufleet-data/demo-operator.key');
    expect(text).toContain('npx gpufleet sim inject llama/web-0 xid 79');
    expect(text).toContain('npx gpufleet pools apply examples/pools/sim.yaml');
  });

  it('does not offer a job it could not sign', () => {
    const foreign = { ...root, isRoot: false } as typeof root;
    expect(demoTryLines({ keyArg: './k', root: foreign, nvidiaHost: null, dataDirArg: null, faultsEveryMs: null })).not.toContain('jobs run');
  });
});
