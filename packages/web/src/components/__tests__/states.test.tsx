// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { ErrorBox, Loading } from '../states.js';

afterEach(cleanup);

describe('state components', () => {
  it('Loading announces itself politely to screen readers', () => {
    render(<Loading what="Loading nodes" />);
    const status = screen.getByRole('status');
    expect(status.textContent).toContain('Loading nodes…');
    expect(status.getAttribute('aria-live')).toBe('polite');
  });

  it('ErrorBox shows the message as an alert and retries on click', () => {
    const retry = vi.fn();
    render(<ErrorBox error={new Error('the server does not answer')} retry={retry} />);
    expect(screen.getByRole('alert').textContent).toContain('the server does not answer');
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(retry).toHaveBeenCalledTimes(1);
  });
});
