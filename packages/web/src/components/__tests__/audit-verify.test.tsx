// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { AuditVerifyPanel, auditVerdictText, type AuditVerifyReply } from '../audit-verify.js';

afterEach(cleanup);

describe('audit verification panel', () => {
  it('words each verdict the server can give', () => {
    expect(auditVerdictText({ ok: true, checked: 1200, legacy: 3 })).toBe('Intact: 1,200 records checked (3 older records predate the chain).');
    expect(auditVerdictText({ ok: false, checked: 5, legacy: 0, firstBroken: { id: 5, reason: 'the record does not match its hash' } })).toBe(
      'Broken at record 5: the record does not match its hash. 5 records checked.',
    );
    expect(auditVerdictText({ ok: false, checked: 9, legacy: 0, checkpoint: { status: 'truncated', id: 11, reason: 'the newest records were removed' } })).toBe(
      "The chain does not match the control plane's signed checkpoint (truncated): the newest records were removed.",
    );
  });

  it('checks on click and shows an intact, signed chain as a status', async () => {
    const reply: AuditVerifyReply = { ok: true, checked: 1, legacy: 0, checkpoint: { status: 'ok', id: 1, at: Date.now() - 5000, unsigned: 2 } };
    render(<AuditVerifyPanel verify={async () => reply} />);
    expect(screen.queryByTestId('audit-verify-result')).toBeNull();
    fireEvent.click(screen.getByTestId('audit-verify-run'));
    const result = await screen.findByTestId('audit-verify-result');
    expect(result.getAttribute('role')).toBe('status');
    expect(result.textContent).toMatch(/Chain intact\. Intact: 1 record checked\. Signed up to record 1 .*; 2 newer records not yet signed\./);
  });

  it('shows a broken chain as an alert, and a failed check as an error', async () => {
    let fail = false;
    render(
      <AuditVerifyPanel
        verify={async () => {
          if (fail) throw new Error('the server does not answer');
          return { ok: false, checked: 3, legacy: 0, checkpoint: { status: 'mismatch', id: 3, reason: 'record 3 no longer has the signed hash' } };
        }}
      />,
    );
    fireEvent.click(screen.getByTestId('audit-verify-run'));
    const result = await screen.findByTestId('audit-verify-result');
    expect(result.getAttribute('role')).toBe('alert');
    expect(result.dataset.ok).toBe('false');
    expect(result.textContent).toContain('record 3 no longer has the signed hash');
    fail = true;
    fireEvent.click(screen.getByTestId('audit-verify-run'));
    expect((await screen.findByRole('alert')).textContent).toContain('Could not check: the server does not answer');
  });
});
