// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { ConfirmProvider, useConfirm, type ConfirmOptions } from '../dialog.js';

afterEach(cleanup);

/** A page with one button that asks; each answer lands in `answers` (null for a cancel). */
function setup(opts: ConfirmOptions) {
  const answers: Array<string | null> = [];
  function Asker() {
    const confirm = useConfirm();
    return (
      <button type="button" data-testid="opener" onClick={() => void confirm(opts).then((r) => answers.push(r))}>
        ask
      </button>
    );
  }
  render(
    <ConfirmProvider>
      <Asker />
    </ConfirmProvider>,
  );
  const opener = screen.getByTestId('opener');
  const open = () => {
    opener.focus();
    fireEvent.click(opener);
    return screen.getByTestId('confirm-dialog');
  };
  // Lets the confirm promise's `then` run before the test reads `answers`.
  const settled = () => act(() => Promise.resolve());
  return { answers, opener, open, settled };
}

describe('confirm dialog', () => {
  it('opens on request with its title and body, as an open dialog with the focus inside', () => {
    const { open } = setup({ title: 'Cordon gpu-a?', body: 'No new work is placed on it.', confirmLabel: 'Cordon' });
    expect(screen.queryByTestId('confirm-dialog')).toBeNull();
    const dialog = open();
    expect(dialog.tagName).toBe('DIALOG');
    // jsdom has no showModal: the component falls back to the open attribute.
    expect(dialog.hasAttribute('open')).toBe(true);
    expect(screen.getByRole('heading', { name: 'Cordon gpu-a?' })).toBeTruthy();
    expect(dialog.textContent).toContain('No new work is placed on it.');
    expect(screen.getByTestId('confirm-ok').textContent).toBe('Cordon');
    expect(dialog.contains(document.activeElement)).toBe(true);
    expect(dialog.getAttribute('aria-labelledby')).toBe(screen.getByRole('heading').id);
  });

  it('keeps confirm off while a required reason is blank, then returns the reason trimmed', async () => {
    const { answers, open, settled } = setup({ title: 'Clear health?', reason: 'required' });
    open();
    const ok = screen.getByTestId('confirm-ok') as HTMLButtonElement;
    const reason = screen.getByTestId('confirm-reason') as HTMLInputElement;
    expect(document.activeElement).toBe(reason);
    expect(ok.disabled).toBe(true);
    fireEvent.change(reason, { target: { value: '   ' } });
    expect(ok.disabled).toBe(true);
    // Enter in the field does not get round the gate either.
    fireEvent.submit(reason.form!);
    await settled();
    expect(answers).toEqual([]);
    fireEvent.change(reason, { target: { value: '  replaced the riser card ' } });
    expect(ok.disabled).toBe(false);
    fireEvent.click(ok);
    await settled();
    expect(answers).toEqual(['replaced the riser card']);
    expect(screen.queryByTestId('confirm-dialog')).toBeNull();
  });

  it('an optional reason may stay empty: confirm returns an empty string, not null', async () => {
    const { answers, open, settled } = setup({ title: 'Drain?', reason: 'optional' });
    open();
    expect((screen.getByTestId('confirm-ok') as HTMLButtonElement).disabled).toBe(false);
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await settled();
    expect(answers).toEqual(['']);
  });

  it('Esc cancels: resolves null, closes, and gives the focus back to the opener', async () => {
    const { answers, opener, open, settled } = setup({ title: 'Drain?', reason: 'optional' });
    const dialog = open();
    fireEvent.change(screen.getByTestId('confirm-reason'), { target: { value: 'typed but cancelled' } });
    fireEvent.keyDown(screen.getByTestId('confirm-reason'), { key: 'Escape' });
    await settled();
    expect(answers).toEqual([null]);
    expect(dialog.isConnected).toBe(false);
    expect(document.activeElement).toBe(opener);
  });

  it("the browser's cancel event (Esc on a modal dialog) and the Cancel button also resolve null", async () => {
    const { answers, open, settled } = setup({ title: 'Revoke?', danger: true });
    fireEvent(open(), new Event('cancel', { cancelable: true }));
    await settled();
    open();
    // A danger dialog starts on Cancel, so a stray Enter does not destroy anything.
    expect(document.activeElement).toBe(screen.getByTestId('confirm-cancel'));
    fireEvent.click(screen.getByTestId('confirm-cancel'));
    await settled();
    expect(answers).toEqual([null, null]);
  });

  it('a danger confirm is styled as such and a typed name gates it', async () => {
    const { answers, open, settled } = setup({ title: 'Remove gpu-a?', danger: true, typeToConfirm: 'gpu-a', confirmLabel: 'Remove node' });
    open();
    const ok = screen.getByTestId('confirm-ok') as HTMLButtonElement;
    expect(ok.className).toContain('btn-danger-solid');
    expect(ok.disabled).toBe(true);
    fireEvent.change(screen.getByTestId('confirm-type'), { target: { value: 'gpu-b' } });
    expect(ok.disabled).toBe(true);
    fireEvent.change(screen.getByTestId('confirm-type'), { target: { value: 'gpu-a' } });
    expect(ok.disabled).toBe(false);
    fireEvent.click(ok);
    await settled();
    expect(answers).toEqual(['']);
  });

  it('a second request replaces the first, which counts as cancelled', async () => {
    const { answers, opener, settled } = setup({ title: 'First?' });
    fireEvent.click(opener);
    fireEvent.click(opener);
    await settled();
    expect(answers).toEqual([null]);
    expect(screen.getAllByTestId('confirm-dialog')).toHaveLength(1);
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await settled();
    expect(answers).toEqual([null, '']);
  });

  it('useConfirm outside the provider says what is missing', () => {
    function Lonely() {
      useConfirm();
      return null;
    }
    // React logs the thrown error; the assertion is on the message.
    const spy = console.error;
    console.error = () => {};
    try {
      expect(() => render(<Lonely />)).toThrow(/useConfirm outside ConfirmProvider/);
    } finally {
      console.error = spy;
    }
  });
});
