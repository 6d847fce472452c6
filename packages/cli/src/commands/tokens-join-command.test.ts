import { describe, expect, it } from 'vitest';
import { encodeJoinToken, generateEd25519 } from '@gpufleet/protocol';
import { joinCommand } from './tokens.js';

describe('joinCommand', () => {
  it('pins the roots the token names, so the host refuses any other', () => {
    const a = generateEd25519().did;
    const b = generateEd25519().did;
    const token = encodeJoinToken({ url: 'https://fleet.example:7420', caFingerprint: 'ab'.repeat(32), roots: [a, b], tokenId: 't1', secret: 's' });
    expect(joinCommand(token)).toBe(`gpufleet-agent join ${token} --root ${a} --root ${b}`);
  });

  it('prints a token without roots, or one it cannot read, as is', () => {
    const token = encodeJoinToken({ url: 'http://127.0.0.1:7420', caFingerprint: null, roots: [], tokenId: 't1', secret: 's' });
    expect(joinCommand(token)).toBe(`gpufleet-agent join ${token}`);
    expect(joinCommand('gfj1.@@@')).toBe('gpufleet-agent join gfj1.@@@');
  });
});
