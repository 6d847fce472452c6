import './sort-header.css';
import type { ReactNode } from 'react';

/** The sort a table is in: a column key and a direction. */
export interface SortState<K extends string> {
  key: K;
  descending: boolean;
}

export interface SortHeaderProps<K extends string> {
  column: K;
  sort: SortState<K>;
  onSort: (next: SortState<K>) => void;
  /** Direction of the first click on this column: readings read best biggest-first. */
  firstDescending?: boolean;
  className?: string;
  testId?: string;
  children: ReactNode;
}

/**
 * A column header that sorts: a real button (Tab reaches it, Enter and Space press it) inside
 * the columnheader, which carries aria-sort. The first click sorts by the column, the next ones
 * flip the direction.
 */
export function SortHeader<K extends string>({ column, sort, onSort, firstDescending = false, className, testId, children }: SortHeaderProps<K>) {
  const active = sort.key === column;
  const ariaSort = active ? (sort.descending ? 'descending' : 'ascending') : 'none';
  const next: SortState<K> = active ? { key: column, descending: !sort.descending } : { key: column, descending: firstDescending };
  return (
    <span role="columnheader" aria-sort={ariaSort} className={className}>
      <button
        type="button"
        className="sort-header"
        onClick={() => onSort(next)}
        data-testid={testId}
        data-sort={ariaSort}
        title={`Sort by ${typeof children === 'string' ? children.toLowerCase() : column}, ${next.descending ? 'descending' : 'ascending'}`}
      >
        {children}
        <span className="sort-mark" aria-hidden="true">
          {active ? (sort.descending ? '▼' : '▲') : '↕'}
        </span>
      </button>
    </span>
  );
}
