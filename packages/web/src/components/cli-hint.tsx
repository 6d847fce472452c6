import { CopyButton } from '../pages/tokens.js';

/** The `gpufleet` command that does what a page does, to copy into a terminal. */
export function CliHint({ command, testid = 'cli-hint', label = 'From a terminal' }: { command: string; testid?: string; label?: string }) {
  return (
    <section className="card section" aria-label={label}>
      <p className="muted" style={{ margin: '0 0 6px' }}>
        {label}:
      </p>
      <div className="copy-box">
        <code data-testid={testid}>{command}</code>
        <CopyButton text={command} testid={`${testid}-copy`} />
      </div>
    </section>
  );
}
