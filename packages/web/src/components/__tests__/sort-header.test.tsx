// @vitest-environment jsdom
import { useState } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { SortHeader, type SortState } from '../sort-header.js';

afterEach(cleanup);

type Key = 'hostname' | 'temp';

/** Two sortable headers over one sort state, as a table has them. */
function Headers({ initial, seen }: { initial: SortState<Key>; seen: SortState<Key>[] }) {
  const [sort, setSort] = useState(initial);
  const onSort = (next: SortState<Key>) => {
    seen.push(next);
    setSort(next);
  };
  return (
    <div role="row">
      <SortHeader column="hostname" sort={sort} onSort={onSort} testId="h-hostname">
        Hostname
      </SortHeader>
      <SortHeader column="temp" sort={sort} onSort={onSort} firstDescending testId="h-temp">
        Temp
      </SortHeader>
    </div>
  );
}

const ariaSort = (name: string) => screen.getByRole('columnheader', { name: new RegExp(name) }).getAttribute('aria-sort');

describe('<SortHeader>', () => {
  it('marks the sorted column with aria-sort and the others with none', () => {
    render(<Headers initial={{ key: 'hostname', descending: false }} seen={[]} />);
    expect(ariaSort('Hostname')).toBe('ascending');
    expect(ariaSort('Temp')).toBe('none');
  });

  it('sorts by a new column in its first direction, then toggles on each click', () => {
    const seen: SortState<Key>[] = [];
    render(<Headers initial={{ key: 'hostname', descending: false }} seen={seen} />);
    const temp = screen.getByTestId('h-temp');
    fireEvent.click(temp);
    expect(ariaSort('Temp')).toBe('descending');
    expect(ariaSort('Hostname')).toBe('none');
    fireEvent.click(temp);
    expect(ariaSort('Temp')).toBe('ascending');
    fireEvent.click(screen.getByTestId('h-hostname'));
    expect(ariaSort('Hostname')).toBe('ascending');
    fireEvent.click(screen.getByTestId('h-hostname'));
    expect(ariaSort('Hostname')).toBe('descending');
    expect(seen).toEqual([
      { key: 'temp', descending: true },
      { key: 'temp', descending: false },
      { key: 'hostname', descending: false },
      { key: 'hostname', descending: true },
    ]);
  });

  it('is a real button, so the keyboard reaches and presses it', () => {
    render(<Headers initial={{ key: 'hostname', descending: false }} seen={[]} />);
    const button = screen.getByRole('button', { name: /Temp/ });
    expect(button.tagName).toBe('BUTTON');
    expect(button.getAttribute('type')).toBe('button');
    button.focus();
    expect(document.activeElement).toBe(button);
    // The arrow is decoration: the accessible name is the column's.
    expect(button.querySelector('[aria-hidden="true"]')).not.toBeNull();
  });
});
