import { describe, expect, it } from 'vitest';
import { EMPTY_RUN_FORM, execCliCommand, parseEnvLines, parseTimeoutText, readRunForm, type RunForm } from './run-form.js';
import { splitShellWords } from './shell-words.js';

const form = (over: Partial<RunForm>): RunForm => ({ ...EMPTY_RUN_FORM, ...over });

describe('the New run form', () => {
  it('reads a command line into argv, every host when the selector is blank', () => {
    const r = readRunForm(form({ commandLine: 'echo hello-from-browser' }));
    expect(r.errors).toEqual({});
    expect(r.request).toEqual({
      command: { kind: 'argv', argv: ['echo', 'hello-from-browser'] },
      target: '*',
      timeoutMs: 60_000,
      env: {},
      cwd: null,
      runAs: null,
    });
    expect(r.batch).toEqual({});
  });

  it('reads a shell script, environment, folder, user and the batch policy as the CLI flags do', () => {
    const r = readRunForm(
      form({
        selector: ' gpu.model=H100 ',
        mode: 'shell',
        script: 'dmesg | tail -5',
        timeout: '10m',
        env: 'A=1\n\nB=x=y\r\n',
        cwd: '/opt',
        runAs: ' nobody ',
        batchSize: '25%',
        failureThreshold: '2',
        maxParallel: '8',
      }),
    );
    expect(r.errors).toEqual({});
    expect(r.request).toEqual({
      command: { kind: 'shell', script: 'dmesg | tail -5' },
      target: 'gpu.model=H100',
      timeoutMs: 600_000,
      env: { A: '1', B: 'x=y' },
      cwd: '/opt',
      runAs: 'nobody',
    });
    expect(r.batch).toEqual({ batchSize: '25%', failureThreshold: 2, maxParallel: 8 });
  });

  it('names every field that is wrong and offers nothing to sign', () => {
    const r = readRunForm(
      form({
        selector: 'region in (eu',
        commandLine: "echo 'open",
        timeout: 'soon',
        env: 'NOEQUALS',
        batchSize: '0',
        failureThreshold: '150%',
        maxParallel: '0',
      }),
    );
    expect(r.request).toBeNull();
    expect(Object.keys(r.errors).sort()).toEqual(['batchSize', 'commandLine', 'env', 'failureThreshold', 'maxParallel', 'selector', 'timeout']);
    expect(r.errors.commandLine).toBe('a single quote is not closed');
    expect(r.errors.batchSize).toBe('a batch is at least 1 host');
    expect(r.errors.failureThreshold).toMatch(/whole number or a percentage/);
    expect(readRunForm(form({})).errors).toEqual({ commandLine: 'say what to run' });
    expect(readRunForm(form({ mode: 'shell', script: '  ' })).errors).toEqual({ script: 'say what to run' });
  });

  it('timeouts are 1s to 7d; environment names are checked', () => {
    expect(parseTimeoutText('90s')).toBe(90_000);
    expect(parseTimeoutText('7d')).toBe(7 * 86_400_000);
    expect(parseTimeoutText('500ms')).toMatch(/from 1s to 7d/);
    expect(parseTimeoutText('8d')).toMatch(/from 1s to 7d/);
    expect(parseTimeoutText('1 hour')).toMatch(/not a duration/);
    expect(parseEnvLines('9X=1')).toMatch(/environment name '9X'/);
  });
});

describe('the equivalent gpufleet exec command', () => {
  it('round-trips through a shell: the words are the flags the form means', () => {
    const f = form({
      selector: 'region=eu,pool in (a,b)',
      mode: 'shell',
      script: `echo "it's $HOME"`,
      timeout: '10m',
      env: 'A=one two',
      cwd: '/opt/app',
      runAs: 'ops',
      batchSize: '10%',
      failureThreshold: '2',
      maxParallel: '4',
    });
    const words = splitShellWords(execCliCommand(f, { keyName: 'laptop', capFile: 'cap.json' }));
    expect(words).toEqual([
      'gpufleet',
      'exec',
      '-l',
      'region=eu,pool in (a,b)',
      '--key',
      'laptop',
      '--cap',
      'cap.json',
      '--timeout',
      '10m',
      '--env',
      'A=one two',
      '--cwd',
      '/opt/app',
      '--run-as',
      'ops',
      '--max-parallel',
      '4',
      '--batch-size',
      '10%',
      '--failure-threshold',
      '2',
      '--sh',
      `echo "it's $HOME"`,
    ]);
  });

  it('puts argv words after --, every host as *, and leaves out defaults', () => {
    expect(execCliCommand(form({ commandLine: `grep -i 'xid 79' /var/log/kern.log` }), { keyName: 'default', capFile: null })).toBe(
      `gpufleet exec -l '*' -- grep -i 'xid 79' /var/log/kern.log`,
    );
    expect(execCliCommand(form({}), { keyName: null, capFile: null })).toBe(`gpufleet exec -l '*' -- COMMAND`);
  });
});
