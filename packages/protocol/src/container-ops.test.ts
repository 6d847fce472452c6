import { describe, expect, it } from 'vitest';
import { abilityForContainerOp, CommandSpec, CONTAINER_OPS } from './remote-ops.js';
import { commandAbilities } from './signed-command.js';

describe('container operations in commands', () => {
  it('each operation needs its own ability; listing is reading', () => {
    expect(Object.fromEntries(CONTAINER_OPS.map((op) => [op, abilityForContainerOp(op)]))).toEqual({
      ls: 'container/logs',
      logs: 'container/logs',
      restart: 'container/restart',
      stop: 'container/stop',
      start: 'container/start',
    });
  });

  it('the verifier asks for the same ability as the helper', () => {
    for (const op of CONTAINER_OPS) expect(commandAbilities({ kind: 'container', op, container: 'x' })).toEqual([abilityForContainerOp(op)]);
  });

  it("the schema takes 'ls' and refuses unknown operations", () => {
    expect(CommandSpec.safeParse({ kind: 'container', op: 'ls', container: '*' }).success).toBe(true);
    expect(CommandSpec.safeParse({ kind: 'container', op: 'rm', container: 'web' }).success).toBe(false);
    expect(CommandSpec.safeParse({ kind: 'container', op: 'logs', container: '' }).success).toBe(false);
  });
});
